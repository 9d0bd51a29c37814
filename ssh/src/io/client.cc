// The blocking client API (tessera/ssh/client.h) over the event-driven
// pieces tessera-ssh uses: ClientConnection, Identities, the host key check.
#include "tessera/ssh/client.h"

#include <cstdlib>
#include <string>

#include "auth/client_auth.h"
#include "connection/connection.h"
#include "io/client_connection.h"
#include "io/connect.h"
#include "io/host_check.h"
#include "io/identities.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/path.h"

namespace tessera::ssh {

using key::Errc;
using key::Error;

namespace {

class KeysOnly final : public auth::ClientAuthDelegate {
 public:
  explicit KeysOnly(io::Identities& ids) : ids_(ids) {}
  std::vector<auth::ClientIdentity> identities() override { return ids_.list(); }
  void banner(std::string_view) override {}
  std::optional<std::vector<key::SecretBytes>> keyboard_interactive(std::string_view, std::string_view,
                                                                    const std::vector<auth::KbdPrompt>&) override {
    return std::nullopt;
  }
  std::optional<key::SecretBytes> password(int) override { return std::nullopt; }

 private:
  io::Identities& ids_;
};

// One exec request: input in, output and the exit status collected.
class CommandChannel final : public connection::ChannelHandler {
 public:
  CommandChannel(io::ClientConnection& conn, std::string command, std::string_view input, size_t max_output)
      : conn_(conn), command_(std::move(command)), input_(input), max_output_(max_output) {}

  void on_open_confirmed() override {
    key::Writer w;
    w.string(command_);
    conn_.connection().send_request(channel_id(), "exec", true, w.data());
    send_input();
    conn_.flush();
  }
  void on_open_failed(uint32_t, std::string_view description) override {
    error_ = Error(Errc::kIo, "channel open failed: " + std::string(description));
    done_ = true;
  }
  void on_request_reply(bool success) override {
    if (!success) {
      error_ = Error(Errc::kIo, "exec request failed");
      conn_.connection().close(channel_id());
      conn_.flush();
    }
  }
  void on_data(std::span<const uint8_t> data) override { keep(result_.out, data); }
  void on_extended_data(uint32_t, std::span<const uint8_t> data) override { keep(result_.err, data); }
  bool on_request(std::string_view type, key::Reader& data) override {
    if (type == "exit-status") {
      if (auto s = data.u32(); s.ok()) result_.exit_status = static_cast<int>(*s);
      return true;
    }
    if (type == "exit-signal") {
      if (auto name = data.text(); name.ok()) result_.exit_signal = std::string(*name);
      return true;
    }
    return false;
  }
  void on_send_room() override { send_input(); }
  void on_closed() override { done_ = true; }

  bool done() const { return done_; }
  key::Result<CommandResult> take() {
    if (error_) return *error_;
    return std::move(result_);
  }

 private:
  void keep(std::string& to, std::span<const uint8_t> data) {
    if (to.size() + data.size() > max_output_) {
      if (!error_) error_ = Error(Errc::kTooLarge, "command output is larger than " + std::to_string(max_output_));
    } else {
      to.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    conn_.connection().consumed(channel_id(), data.size());
  }
  void send_input() {
    if (eof_sent_) return;
    input_.remove_prefix(conn_.connection().send_data(channel_id(), key::as_bytes(input_)));
    if (input_.empty()) {
      conn_.connection().send_eof(channel_id());
      eof_sent_ = true;
    }
  }

  io::ClientConnection& conn_;
  std::string command_;
  std::string_view input_;
  size_t max_output_;
  bool eof_sent_ = false;
  bool done_ = false;
  CommandResult result_;
  std::optional<Error> error_;
};

}  // namespace

struct Client::State {
  std::unique_ptr<sys::EventLoop> loop;
  std::unique_ptr<io::Identities> identities;
  std::unique_ptr<KeysOnly> delegate;
  std::unique_ptr<io::ClientConnection> conn;
  std::optional<key::PublicKey> host_key;
  std::optional<Error> closed_with;
  bool closed = false;
  bool authenticated = false;
};

Client::Client(std::unique_ptr<State> state) : state_(std::move(state)) {}

Client::~Client() { close(); }

key::Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  auto state = std::make_unique<State>();
  TESSERA_ASSIGN_OR_RETURN(state->loop, sys::EventLoop::create());
  io::TcpSettings tcp;
  tcp.host = options.host;
  tcp.port = options.port;
  tcp.timeout_seconds = static_cast<int>(options.connect_timeout.count());
  TESSERA_ASSIGN_OR_RETURN(io::Endpoint endpoint, io::connect_tcp(tcp, [](const std::string&) {}));

  const std::string home = sys::home_directory();
  io::IdentitySettings ids;
  ids.identity_files = options.identity_files;
  if (options.agent_socket) {
    if (!options.agent_socket->empty()) ids.agent_socket = *options.agent_socket;
  } else if (const char* sock = std::getenv("SSH_AUTH_SOCK"); sock != nullptr && *sock != '\0') {
    ids.agent_socket = sock;
  }
  state->identities = std::make_unique<io::Identities>(ids, [](const std::string&) {}, [](const std::string&) {});
  state->delegate = std::make_unique<KeysOnly>(*state->identities);

  io::HostCheckSettings hc;
  hc.host = options.host;
  hc.port = options.port;
  hc.user_files = options.known_hosts_files;
  if (hc.user_files.empty()) {
    hc.user_files = {home + "/.ssh/known_hosts"};
    hc.global_files = {"/etc/ssh/ssh_known_hosts"};
  }
  hc.strict = options.accept_new_host_keys ? config::StrictHostKeyChecking::kAcceptNew
                                           : config::StrictHostKeyChecking::kYes;
  hc.batch_mode = true;

  transport::TransportConfig tc;
  tc.kex = options.kex_algorithms;
  tc.ciphers = options.ciphers;
  tc.macs = options.macs;
  tc.host_key = options.host_key_algorithms;
  auth::ClientAuthConfig ac;
  ac.user = options.user;
  if (ac.user.empty()) {
    if (const char* u = std::getenv("USER")) ac.user = u;
  }
  ac.methods = {"publickey"};

  State* st = state.get();
  io::ClientCallbacks cb;
  // The callbacks outlive this call: they hold copies, not references.
  cb.check_host_key = [st, hc, check = options.host_key_check](const transport::ServerHostKey& hk) -> key::Status {
    st->host_key = hk.key;
    if (check) return check(hk.key);
    std::string messages;
    io::HostCheckIo hio{[&](const std::string& m) { messages += m + "\n"; }, nullptr, nullptr};
    auto r = io::check_server_host_key(hc, hk, hio);
    if (!r.ok()) return Error(r.error().code(), messages + r.error().message());
    if (r->changed_key_accepted) return Error(Errc::kInvalidKey, "Host key verification failed.");
    return key::ok_status();
  };
  cb.on_transport_ready = [st] {
    if (agent::AgentClient* agent = st->identities->agent(); agent && st->conn->transport().server_host_key()) {
      const auto& hk = *st->conn->transport().server_host_key();
      (void)agent->session_bind({hk.key, hk.certificate, st->conn->transport().session_id(),
                                 st->conn->transport().session_signature(), false});
    }
  };
  cb.on_authenticated = [st] { st->authenticated = true; };
  cb.on_closed = [st](std::optional<key::Error> error) {
    st->closed = true;
    st->closed_with = std::move(error);
  };
  state->conn = std::make_unique<io::ClientConnection>(*state->loop, std::move(endpoint.in), std::move(endpoint.out),
                                                       tc, ac, *state->delegate, cb);
  TESSERA_TRY(state->conn->start());
  state->loop->run_until([st] { return st->authenticated || st->closed; });
  if (!st->authenticated) {
    if (st->closed_with) return *st->closed_with;
    return Error(Errc::kIo, "connection closed before authentication");
  }
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

key::Result<CommandResult> Client::run(std::string_view command, std::string_view input, size_t max_output) {
  State& st = *state_;
  if (st.closed) return st.closed_with ? *st.closed_with : Error(Errc::kIo, "connection is closed");
  CommandChannel channel(*st.conn, std::string(command), input, max_output);
  st.conn->connection().open("session", {}, channel);
  st.conn->flush();
  st.loop->run_until([&] { return channel.done() || st.closed; });
  if (!channel.done()) {
    return st.closed_with ? *st.closed_with : Error(Errc::kIo, "connection closed during the command");
  }
  return channel.take();
}

const key::PublicKey& Client::host_key() const { return *state_->host_key; }

std::string Client::algorithms() const {
  const auto& n = state_->conn->transport().negotiated();
  if (!n) return {};
  return n->kex + " " + n->cipher_c2s + (n->mac_c2s.empty() ? "" : " " + n->mac_c2s);
}

void Client::close() {
  if (!state_ || state_->closed) return;
  state_->conn->disconnect("disconnected by application");
  state_->closed = true;
}

}  // namespace tessera::ssh
