// The embedded server (tessera/ssh/server.h): a listening socket on the
// event loop, one ServerConnection per client with a LocalKexAuthority over
// the host keys and a decider that asks the program's callbacks, and each
// accepted channel's handler on a thread of its own (io/server_channel.h
// carries data between that thread and the loop).
//
// Everything here but the handler threads runs on the loop's thread. What a
// connection's callbacks would destroy (the connection itself, a channel's
// loop-side object) is destroyed by a task posted from them, never inside
// the call that reported it.
#include "tessera/ssh/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <optional>
#include <thread>
#include <vector>

#include "auth/server_auth.h"
#include "connection/connection.h"
#include "io/host_keys_file.h"
#include "io/server_channel.h"
#include "io/server_connection.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_authority.h"

namespace tessera::ssh {

using key::Errc;
using key::Error;

namespace {

// How long accepting pauses when the process is out of descriptors.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
constexpr int kListenBacklog = 128;
constexpr std::string_view kHostKeysRequest = "hostkeys-00@openssh.com";
constexpr std::string_view kHostKeysProveRequest = "hostkeys-prove-00@openssh.com";
// Most keys one hostkeys-prove-00 request may ask about (each costs a signature).
constexpr size_t kMaxProvedHostKeys = 16;

std::string errno_text() { return std::strerror(errno); }

// The numeric address and port of a socket address; IPv4-mapped IPv6
// addresses as plain IPv4 (as sshd logs them).
void describe(const sockaddr_storage& sa, socklen_t len, std::string& address, uint16_t& port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&sa), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    address = "UNKNOWN";
    port = 0;
    return;
  }
  address = host;
  if (address.rfind("::ffff:", 0) == 0 && address.find('.') != std::string::npos) address.erase(0, 7);
  port = static_cast<uint16_t>(std::strtoul(serv, nullptr, 10));
}

// "host:port", "[v6]:port", ":port".
key::Status split_address(std::string_view address, std::string& host, std::string& port) {
  const std::string text(address);
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return Error(Errc::kInvalidArgument, "listen address " + text + ": expected [address]:port");
    }
    host = std::string(address.substr(1, close - 1));
    port = std::string(address.substr(close + 2));
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return Error(Errc::kInvalidArgument, "listen address " + text + ": expected host:port");
    }
    host = std::string(address.substr(0, colon));
    port = std::string(address.substr(colon + 1));
    if (host.find(':') != std::string::npos) {
      return Error(Errc::kInvalidArgument, "listen address " + text + ": write an IPv6 address in brackets");
    }
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Error(Errc::kInvalidArgument, "listen address " + text + ": bad port '" + port + "'");
  }
  return key::ok_status();
}

// Whether a public key algorithm a client names fits the key (a query is
// refused early for a name that could never verify).
bool algorithm_fits(std::string_view algorithm, const key::PublicKey& pub) {
  if (const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm)) {
    return !a->certificate && a->key_type == pub.type();
  }
  return (algorithm == "sk-ssh-ed25519@openssh.com" && pub.type() == key::KeyType::kSkEd25519) ||
         (algorithm == "sk-ecdsa-sha2-nistp256@openssh.com" && pub.type() == key::KeyType::kSkEcdsaP256);
}

}  // namespace

ChannelDecision ChannelDecision::refuse(OpenRefusal reason, std::string description) {
  ChannelDecision d;
  d.kind = Kind::kRefuse;
  d.reason = reason;
  d.description = std::move(description);
  return d;
}

ChannelDecision ChannelDecision::session() {
  ChannelDecision d;
  d.kind = Kind::kSession;
  return d;
}

ChannelDecision ChannelDecision::stream(Handler handler) {
  ChannelDecision d;
  d.kind = Kind::kStream;
  d.handler = std::move(handler);
  return d;
}

// ---- the server's state ----------------------------------------------------

struct Server::State {
  struct Conn;

  // A channel's loop-side half: the Connection's handler for it.
  class ChannelAdapter final : public connection::ChannelHandler {
   public:
    ChannelAdapter(State& state, Conn& conn, uint64_t serial, std::shared_ptr<io::ChannelCore> core, Handler handler)
        : state_(state), conn_(conn), serial_(serial), core_(std::move(core)), handler_(std::move(handler)) {}

    void on_open_confirmed() override {
      if (handler_) start(std::move(handler_));  // a stream channel runs at once
    }
    void on_data(std::span<const uint8_t> data) override { deliver(data); }
    void on_extended_data(uint32_t, std::span<const uint8_t> data) override {
      // Nothing a server reads arrives as extended data; it only opens the window.
      conn_.sc->connection().consumed(channel_id(), data.size());
    }
    void on_eof() override {
      std::lock_guard<std::mutex> lock(core_->mutex);
      core_->in_eof = true;
      core_->changed.notify_all();
    }
    void on_closed() override {
      forgotten_ = true;
      {
        std::lock_guard<std::mutex> lock(core_->mutex);
        core_->closed = true;
        core_->out.clear();
        core_->out_bytes = 0;
        core_->changed.notify_all();
      }
      // This object goes, but not inside the Connection's call.
      State* state = &state_;
      const uint64_t conn_id = conn_.info.id;
      const uint64_t serial = serial_;
      state_.loop->post([state, conn_id, serial] { state->forget_channel(conn_id, serial); });
    }
    void on_send_room() override { service(); }
    bool on_request(std::string_view type, key::Reader& data) override;

    // Moves the handler's writes into the client's window, opens our window
    // for what it has read, and sends EOF, exit-status and CLOSE at its end.
    void service();
    bool started() const { return started_; }
    // Closes a session that has not started (a shutdown).
    void close_idle() {
      if (!started_ && !forgotten_) {
        conn_.sc->connection().close(channel_id());
      }
    }
    const std::shared_ptr<io::ChannelCore>& core() const { return core_; }

   private:
    void deliver(std::span<const uint8_t> data) {
      std::lock_guard<std::mutex> lock(core_->mutex);
      core_->in.append(key::as_text(data));
      core_->changed.notify_all();
    }
    void start(Handler handler) {
      started_ = true;
      state_.start_handler(serial_, core_, std::move(handler));
    }
    bool on_session_request(std::string_view type, key::Reader& data);

    State& state_;
    Conn& conn_;
    uint64_t serial_;
    std::shared_ptr<io::ChannelCore> core_;
    Handler handler_;  // a stream channel's, until it starts
    bool started_ = false;
    bool forgotten_ = false;
    bool eof_sent_ = false;
    bool close_sent_ = false;
    SessionRequest pending_;  // a session's env and pty before it starts
  };

  // Asks the program's callbacks, after checking signatures itself against
  // the session id its own LocalKexAuthority computed.
  class Decider final : public auth::ServerAuthDecider {
   public:
    Decider(State& state, Conn& conn) : state_(state), conn_(conn) {}

    auth::AuthDecision publickey(const auth::PublickeyAttempt& attempt) override {
      const ServerConfig& settings = state_.config;
      if (!settings.publickey) return {};
      if (attempt.algorithm.find("-cert-v01@openssh.com") != std::string::npos) return {};
      auto pub = key::PublicKey::from_blob(attempt.key_blob);
      if (!pub.ok() || !algorithm_fits(attempt.algorithm, *pub)) return {};
      if (attempt.signature &&
          !auth::verify_publickey_signature(conn_.authority->session_id(), attempt).ok()) {
        return {};
      }
      // Asked once per user and key: a query and the signed request that
      // follows it get the same answer.
      const auto asked = std::make_pair(attempt.user, attempt.key_blob);
      auto known = decided_.find(asked);
      bool accepted = false;
      if (known != decided_.end()) {
        accepted = known->second;
      } else {
        conn_.refresh_info();
        accepted = settings.publickey(conn_.info, attempt.user, *pub);
        if (decided_.size() < kMaxRememberedKeys) decided_.emplace(asked, accepted);
      }
      if (accepted && attempt.signature) conn_.info.key = *pub;
      return {accepted, std::nullopt};
    }
    bool allows_password() const override { return static_cast<bool>(state_.config.password); }
    auth::AuthDecision password(std::string_view user, std::string_view password) override {
      if (!state_.config.password) return {};
      conn_.refresh_info();
      const bool accepted = state_.config.password(conn_.info, user, password);
      if (accepted) conn_.info.key.reset();
      return {accepted, std::nullopt};
    }

   private:
    static constexpr size_t kMaxRememberedKeys = 64;
    State& state_;
    Conn& conn_;
    std::map<std::pair<std::string, key::Bytes>, bool> decided_;
  };

  // One client. Members are destroyed in reverse: the ServerConnection
  // (which the adapters and the authority serve) first.
  struct Conn {
    ConnectionInfo info;
    std::shared_ptr<const ConnectionInfo> authenticated_info;  // what handlers see
    std::unique_ptr<transport::LocalKexAuthority> authority;
    std::unique_ptr<Decider> decider;
    std::map<uint64_t, std::unique_ptr<ChannelAdapter>> channels;  // by serial
    std::optional<sys::EventLoop::TimerId> handshake_timer;
    bool authenticated = false;
    bool timed_out = false;
    bool closing = false;
    std::optional<Error> close_reason;  // ours, when we end it
    std::unique_ptr<io::ServerConnection> sc;

    void refresh_info() {
      if (info.client_version.empty() && sc) info.client_version = sc->transport().peer_version();
    }
  };

  ServerConfig config;
  std::unique_ptr<io::HostKeys> host_keys;
  std::unique_ptr<sys::EventLoop> loop;

  sys::Fd own_listener;  // made by listen()
  int listen_fd = -1;
  bool listening = false;  // watched on the loop
  std::atomic<uint16_t> bound_port{0};
  std::atomic<bool> serving{false};
  std::atomic<bool> shutdown_requested{false};
  std::atomic<size_t> connections_open{0};
  std::atomic<size_t> handlers_running{0};

  std::map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_conn_id = 1;
  uint64_t next_serial = 1;
  std::map<uint64_t, std::thread> threads;  // by channel serial
  bool draining = false;
  std::optional<sys::EventLoop::TimerId> deadline_timer;
  std::optional<sys::EventLoop::TimerId> accept_backoff;

  ~State() {
    // serve() joined every handler; a Server that never served has none.
    for (auto& [serial, t] : threads) {
      if (t.joinable()) t.join();
    }
  }

  // ---- accepting ----
  key::Status start_listening() {
    sys::set_nonblocking(listen_fd);
    TESSERA_TRY(loop->add_fd(listen_fd, EPOLLIN, [this](uint32_t) { on_acceptable(); }));
    listening = true;
    return key::ok_status();
  }
  void stop_listening() {
    if (listening) loop->remove_fd(listen_fd);
    listening = false;
    if (accept_backoff) loop->cancel_timer(*accept_backoff);
    accept_backoff.reset();
    own_listener.reset();
  }

  void on_acceptable() {
    for (;;) {
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof peer;
      const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: pause rather than spin on a ready socket.
          loop->remove_fd(listen_fd);
          listening = false;
          accept_backoff = loop->add_timer(loop->now() + kAcceptBackoff, [this] {
            accept_backoff.reset();
            if (!draining) (void)start_listening();
          });
        }
        return;
      }
      accept_one(sys::Fd(fd), peer, peer_len);
      if (draining) return;
    }
  }

  void accept_one(sys::Fd socket, const sockaddr_storage& peer, socklen_t peer_len) {
    auto conn = std::make_unique<Conn>();
    conn->info.id = next_conn_id++;
    describe(peer, peer_len, conn->info.remote_address, conn->info.remote_port);
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (getsockname(socket.get(), reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
      describe(local, local_len, conn->info.local_address, conn->info.local_port);
    }
    if (config.on_connection && !config.on_connection(conn->info).ok()) return;  // closes the socket
    const int one = 1;
    (void)setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sys::Fd out(fcntl(socket.get(), F_DUPFD_CLOEXEC, 0));
    if (!out.valid()) {
      report_handshake_failure(conn->info, Error(Errc::kIo, "duplicating the client's socket: " + errno_text()));
      return;
    }
    transport::ServerKexConfig kex{.kex = config.kex_algorithms,
                                   .host_key = config.host_key_algorithms,
                                   .ciphers = config.ciphers,
                                   .macs = config.macs};
    if (!config.moduli_file.empty()) kex.gex = transport::GexConfig{.moduli_file = config.moduli_file};
    conn->authority = std::make_unique<transport::LocalKexAuthority>(std::move(kex), *host_keys);
    conn->decider = std::make_unique<Decider>(*this, *conn);
    io::ServerIoConfig io_config;
    io_config.auth.max_auth_tries = config.max_auth_tries;
    io_config.client_alive_interval = config.client_alive_interval;
    io_config.client_alive_count_max = config.client_alive_count_max;
    Conn* c = conn.get();
    io::ServerCallbacks callbacks;
    callbacks.on_authenticated = [this, c] { on_authenticated(*c); };
    callbacks.on_closed = [this, c](std::optional<Error> error) {
      if (!c->close_reason && error) c->close_reason = std::move(error);
      const uint64_t id = c->info.id;
      loop->post([this, id] { drop(id); });
    };
    conn->sc = std::make_unique<io::ServerConnection>(*loop, std::move(socket), std::move(out), std::move(io_config),
                                                      *conn->authority, *conn->decider, std::move(callbacks));
    if (auto s = conn->sc->start(); !s.ok()) {
      report_handshake_failure(conn->info, s.error());
      return;
    }
    if (config.handshake_timeout.count() > 0) {
      const uint64_t id = c->info.id;
      conn->handshake_timer = loop->add_timer(loop->now() + config.handshake_timeout, [this, id] {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        Conn& timed = *it->second;
        timed.handshake_timer.reset();
        if (timed.authenticated || timed.sc->closed()) return;
        timed.timed_out = true;
        timed.close_reason = Error(Errc::kIo, "handshake timed out after " +
                                                  std::to_string(config.handshake_timeout.count()) + " ms");
        timed.sc->disconnect("Timeout before authentication");
      });
    }
    conns.emplace(c->info.id, std::move(conn));
    connections_open = conns.size();
    wire_connection(*c);
  }

  void report_handshake_failure(ConnectionInfo& info, const Error& error) {
    if (config.on_handshake_failed) config.on_handshake_failed(info, error);
  }

  void on_authenticated(Conn& c) {
    c.authenticated = true;
    if (c.handshake_timer) loop->cancel_timer(*c.handshake_timer);
    c.handshake_timer.reset();
    c.refresh_info();
    c.info.user = c.sc->user();
    c.authenticated_info = std::make_shared<const ConnectionInfo>(c.info);
    // hostkeys-00@openssh.com, as sshd after a login: the client may learn
    // keys it does not know yet (UpdateHostKeys), each proved on request.
    key::Writer blobs;
    for (const key::Bytes& blob : c.authority->host_key_blobs()) blobs.string(blob);
    c.sc->connection().send_global_request(kHostKeysRequest, false, blobs.data());
  }

  // The connection protocol's decisions.
  void wire_connection(Conn& c) {
    connection::Connection& connection = c.sc->connection();
    connection.on_open_request = [this, &c](std::string_view type, key::Reader& extra) {
      return on_open_request(c, type, extra);
    };
    connection.on_global_request = [&c](std::string_view name, key::Reader& data) -> std::optional<key::Bytes> {
      if (name != kHostKeysProveRequest) return std::nullopt;  // tcpip-forward, keepalives, ...
      std::vector<key::Bytes> blobs;
      while (!data.empty()) {
        auto blob = data.string();
        if (!blob.ok() || blobs.size() >= kMaxProvedHostKeys) return std::nullopt;
        blobs.emplace_back(blob->begin(), blob->end());
      }
      // The authority signs only its own keys, over data it builds from the
      // session id it computed.
      auto proofs = c.authority->prove_host_keys(blobs);
      if (!proofs.ok()) return std::nullopt;
      key::Writer reply;
      for (const key::Bytes& proof : *proofs) reply.string(proof);
      return reply.take();
    };
  }

  connection::IncomingChannel on_open_request(Conn& c, std::string_view type, key::Reader& extra) {
    connection::IncomingChannel refusal;
    if (draining || c.closing || !c.authenticated_info) {
      refusal.reason = static_cast<uint32_t>(OpenRefusal::kAdministrativelyProhibited);
      refusal.description = "the server is shutting down";
      return refusal;
    }
    const std::span<const uint8_t> extra_bytes = extra.rest();
    ChannelDecision decision;
    if (config.on_channel) {
      decision = config.on_channel(*c.authenticated_info, type, extra_bytes);
    } else if (type == "session") {
      decision = ChannelDecision::session();
    } else {
      decision = ChannelDecision::refuse(OpenRefusal::kUnknownChannelType, "unknown channel type");
    }
    if (decision.kind == ChannelDecision::Kind::kStream && !decision.handler) {
      decision = ChannelDecision::refuse(OpenRefusal::kAdministrativelyProhibited, "no handler");
    }
    if (decision.kind == ChannelDecision::Kind::kRefuse) {
      refusal.reason = static_cast<uint32_t>(decision.reason);
      refusal.description = decision.description;
      return refusal;
    }
    const uint64_t serial = next_serial++;
    auto core = std::make_shared<io::ChannelCore>();
    core->info = c.authenticated_info;
    core->type = std::string(type);
    core->open_data.assign(extra_bytes.begin(), extra_bytes.end());
    const uint64_t conn_id = c.info.id;
    sys::EventLoop* l = loop.get();
    core->post_service = [this, l, conn_id, serial] { l->post([this, conn_id, serial] { service(conn_id, serial); }); };
    const bool session = decision.kind == ChannelDecision::Kind::kSession;
    auto adapter = std::make_unique<ChannelAdapter>(*this, c, serial, std::move(core),
                                                    session ? Handler() : std::move(decision.handler));
    connection::IncomingChannel accept;
    accept.handler = adapter.get();
    if (session) {
      accept.window = connection::kSessionWindow;
      accept.max_packet = connection::kSessionMaxPacket;
    }
    c.channels.emplace(serial, std::move(adapter));
    return accept;
  }

  ChannelAdapter* find_channel(uint64_t conn_id, uint64_t serial) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return nullptr;
    auto ch = it->second->channels.find(serial);
    return ch == it->second->channels.end() ? nullptr : ch->second.get();
  }

  void service(uint64_t conn_id, uint64_t serial) {
    if (ChannelAdapter* a = find_channel(conn_id, serial)) a->service();
  }

  void forget_channel(uint64_t conn_id, uint64_t serial) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return;
    it->second->channels.erase(serial);
    if (draining) close_if_idle(*it->second);
  }

  // ---- handler threads ----
  void start_handler(uint64_t serial, std::shared_ptr<io::ChannelCore> core, Handler handler) {
    sys::EventLoop* l = loop.get();
    threads.emplace(serial, std::thread([this, l, serial, core, handler = std::move(handler)] {
                      {
                        Channel channel(core);
                        handler(channel);
                      }
                      {
                        std::lock_guard<std::mutex> lock(core->mutex);
                        core->handler_done = true;
                        core->request_service_locked();
                      }
                      l->post([this, serial] { handler_finished(serial); });
                    }));
    handlers_running = threads.size();
  }

  void handler_finished(uint64_t serial) {
    auto it = threads.find(serial);
    if (it == threads.end()) return;
    it->second.join();  // it has returned, or is about to
    threads.erase(it);
    handlers_running = threads.size();
    check_done();
  }

  // ---- closing ----
  void drop(uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    std::unique_ptr<Conn> c = std::move(it->second);
    conns.erase(it);
    connections_open = conns.size();
    if (c->handshake_timer) loop->cancel_timer(*c->handshake_timer);
    const Error why = c->close_reason ? *c->close_reason : Error(Errc::kIo, "connection closed");
    for (auto& [serial, adapter] : c->channels) adapter->core()->end(Error(Errc::kIo, "connection closed: " + why.message()));
    if (!c->authenticated) {
      c->refresh_info();
      report_handshake_failure(c->info, why);
    }
    c.reset();
    check_done();
  }

  // Ends a connection with a DISCONNECT (the drop follows from on_closed).
  void end_connection(Conn& c, const std::string& description, Error reason) {
    if (c.closing || c.sc->closed()) return;
    c.closing = true;
    if (!c.close_reason) c.close_reason = std::move(reason);
    c.sc->disconnect(description);
  }

  void close_if_idle(Conn& c) {
    if (!c.authenticated) {
      end_connection(c, "The server is shutting down", Error(Errc::kIo, "the server is shutting down"));
    } else if (c.sc->connection().channel_count() == 0) {
      end_connection(c, "The server is shutting down", Error(Errc::kIo, "the server shut down"));
    }
  }

  void begin_shutdown(sys::Clock::time_point deadline) {
    if (!deadline_timer || deadline < deadline_at) {
      if (deadline_timer) loop->cancel_timer(*deadline_timer);
      deadline_at = deadline;
      deadline_timer = loop->add_timer(deadline, [this] {
        deadline_timer.reset();
        on_deadline();
      });
    }
    if (draining) return;
    draining = true;
    stop_listening();
    std::vector<Conn*> all;
    for (auto& [id, c] : conns) all.push_back(c.get());
    for (Conn* c : all) {
      for (auto& [serial, adapter] : c->channels) adapter->close_idle();
      c->sc->flush();
      close_if_idle(*c);
    }
    check_done();
  }

  void on_deadline() {
    std::vector<Conn*> all;
    for (auto& [id, c] : conns) all.push_back(c.get());
    for (Conn* c : all) {
      for (auto& [serial, adapter] : c->channels) {
        adapter->core()->end(Error(Errc::kIo, "the server's shutdown deadline passed"));
      }
      end_connection(*c, "The server is shutting down", Error(Errc::kIo, "the server's shutdown deadline passed"));
    }
  }

  void check_done() {
    if (draining && conns.empty() && threads.empty()) {
      if (deadline_timer) loop->cancel_timer(*deadline_timer);
      deadline_timer.reset();
      loop->stop();
    }
  }

  sys::Clock::time_point deadline_at{};
};

// ---- a channel's requests and its traffic --------------------------------

bool Server::State::ChannelAdapter::on_request(std::string_view type, key::Reader& data) {
  if (core_->type != "session") return false;
  return on_session_request(type, data);
}

bool Server::State::ChannelAdapter::on_session_request(std::string_view type, key::Reader& data) {
  if (type == "window-change") {
    auto columns = data.u32();
    auto rows = data.u32();
    auto width = data.u32();
    auto height = data.u32();
    if (!columns.ok() || !rows.ok() || !width.ok() || !height.ok()) return false;
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (!core_->terminal) return false;
    core_->terminal->columns = *columns;
    core_->terminal->rows = *rows;
    core_->terminal->width_pixels = *width;
    core_->terminal->height_pixels = *height;
    return true;
  }
  if (started_) return false;  // one program per session
  if (type == "pty-req") {
    auto term = data.text();
    auto columns = data.u32();
    auto rows = data.u32();
    auto width = data.u32();
    auto height = data.u32();
    auto modes = data.string();
    if (!term.ok() || !columns.ok() || !rows.ok() || !width.ok() || !height.ok() || !modes.ok() || pending_.pty) {
      return false;
    }
    pending_.pty = PtyRequest{std::string(*term), *columns, *rows, *width, *height, std::string(key::as_text(*modes))};
    return true;
  }
  if (type == "env") {
    auto name = data.text();
    auto value = data.text();
    if (!name.ok() || !value.ok() || pending_.env.size() >= kMaxSessionEnv) return false;
    pending_.env.emplace_back(std::string(*name), std::string(*value));
    return true;
  }
  SessionRequest request = pending_;
  if (type == "shell") {
    request.kind = SessionRequest::Kind::kShell;
  } else if (type == "exec" || type == "subsystem") {
    auto command = data.text();
    if (!command.ok()) return false;
    request.kind = type == "exec" ? SessionRequest::Kind::kExec : SessionRequest::Kind::kSubsystem;
    request.command = std::string(*command);
  } else {
    return false;  // signal, break, x11-req, auth-agent-req@openssh.com, ...
  }
  if (!state_.config.on_session || state_.draining) return false;
  Handler handler = state_.config.on_session(*core_->info, request);
  if (!handler) return false;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->terminal = request.pty;
  }
  core_->session = std::move(request);
  start(std::move(handler));
  return true;
}

void Server::State::ChannelAdapter::service() {
  if (forgotten_ || conn_.sc->closed()) {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->service_pending = false;
    return;
  }
  connection::Connection& connection = conn_.sc->connection();
  const uint32_t id = channel_id();
  bool finish = false;
  std::optional<uint32_t> exit_status;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->service_pending = false;
    if (core_->consumed > 0) {
      connection.consumed(id, core_->consumed);
      core_->consumed = 0;
    }
    bool took = false;
    while (!core_->out.empty()) {
      io::ChannelCore::Segment& segment = core_->out.front();
      const std::span<const uint8_t> bytes = key::as_bytes(segment.bytes);
      const size_t n = segment.standard_error
                           ? connection.send_extended_data(id, connection::kExtendedDataStderr, bytes)
                           : connection.send_data(id, bytes);
      if (n > 0) took = true;
      core_->out_bytes -= n;
      if (n < segment.bytes.size()) {
        segment.bytes.erase(0, n);
        break;
      }
      core_->out.pop_front();
    }
    if (took) core_->changed.notify_all();
    if (core_->out.empty() && !close_sent_) {
      if ((core_->eof_requested || core_->handler_done) && !eof_sent_) {
        connection.send_eof(id);
        eof_sent_ = true;
      }
      if (core_->handler_done) {
        finish = true;
        if (core_->session) exit_status = core_->exit_status.value_or(0);
      }
    }
  }
  if (finish) {
    if (exit_status) {
      key::Writer w;
      w.u32(*exit_status);
      connection.send_request(id, "exit-status", false, w.data());
    }
    close_sent_ = true;
    connection.close(id);
  }
  conn_.sc->flush();
}

// ---- the public face ---------------------------------------------------------

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}
Server::~Server() = default;

key::Result<std::unique_ptr<Server>> Server::create(ServerConfig config) {
  auto state = std::make_unique<State>();
  // Files first, then keys in memory; for an embedding program every file
  // that cannot serve is an error (sshd only warns).
  TESSERA_ASSIGN_OR_RETURN(io::LoadedHostKeys loaded,
                           io::load_host_key_files(config.host_key_files, config.host_certificate_files,
                                                   std::move(config.host_keys)));
  if (!loaded.warnings.empty()) return Error(Errc::kInvalidArgument, loaded.warnings.front());
  state->host_keys = std::move(loaded.keys);
  config.host_keys.clear();
  TESSERA_ASSIGN_OR_RETURN(state->loop, sys::EventLoop::create());
  state->config = std::move(config);
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

key::Status Server::listen(std::string_view address) {
  State& st = *state_;
  if (st.listen_fd >= 0) return Error(Errc::kInvalidArgument, "the server is already listening");
  std::string host, port;
  TESSERA_TRY(split_address(address, host, port));
  const std::string where = "listen on " + std::string(address);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = AF_UNSPEC;
  // ":port": every address, through one dual-stack IPv6 socket when the
  // system has IPv6 (IPv4 alone otherwise).
  std::vector<std::string> hosts;
  if (host.empty()) {
    hosts = {"::", "0.0.0.0"};
  } else {
    hosts = {host};
  }
  std::string last_error = "no address";
  for (const std::string& h : hosts) {
    addrinfo* found = nullptr;
    const int gai = getaddrinfo(h.c_str(), port.c_str(), &hints, &found);
    if (gai != 0) {
      last_error = gai_strerror(gai);
      continue;
    }
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      sys::Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
      if (!fd.valid()) {
        last_error = errno_text();
        continue;
      }
      const int one = 1, zero = 0;
      (void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ai->ai_family == AF_INET6 && host.empty()) {
        (void)setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      }
      if (bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), kListenBacklog) != 0) {
        last_error = errno_text();
        continue;
      }
      freeaddrinfo(found);
      st.own_listener = std::move(fd);
      st.listen_fd = st.own_listener.get();
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      if (getsockname(st.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
        std::string ignored;
        uint16_t p = 0;
        describe(bound, len, ignored, p);
        st.bound_port = p;
      }
      return key::ok_status();
    }
    freeaddrinfo(found);
  }
  return Error(Errc::kIo, where + ": " + last_error);
}

key::Status Server::serve() {
  State& st = *state_;
  if (st.listen_fd < 0) return Error(Errc::kInvalidArgument, "serve() before listen()");
  if (st.serving.exchange(true)) return Error(Errc::kInvalidArgument, "the server is already serving");
  if (!st.shutdown_requested) TESSERA_TRY(st.start_listening());
  st.loop->run();
  // The loop stopped with everything closed; tasks left for closed
  // connections and finished handlers are moot.
  for (auto& [serial, t] : st.threads) {
    if (t.joinable()) t.join();
  }
  st.threads.clear();
  st.handlers_running = 0;
  st.stop_listening();
  return key::ok_status();
}

key::Status Server::listen_and_serve(std::string_view address) {
  TESSERA_TRY(listen(address));
  return serve();
}

key::Status Server::serve(int listening_fd) {
  State& st = *state_;
  if (st.listen_fd >= 0) return Error(Errc::kInvalidArgument, "the server is already listening");
  int accepting = 0;
  socklen_t len = sizeof accepting;
  if (getsockopt(listening_fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || accepting == 0) {
    return Error(Errc::kInvalidArgument, "descriptor " + std::to_string(listening_fd) + " is not a listening socket");
  }
  st.listen_fd = listening_fd;
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  if (getsockname(listening_fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
    std::string ignored;
    uint16_t p = 0;
    describe(bound, bound_len, ignored, p);
    st.bound_port = p;
  }
  return serve();
}

uint16_t Server::port() const { return state_->bound_port.load(); }
size_t Server::connection_count() const { return state_->connections_open.load(); }
size_t Server::handler_count() const { return state_->handlers_running.load(); }

void Server::shutdown(std::chrono::steady_clock::time_point deadline) {
  State* st = state_.get();
  st->shutdown_requested = true;
  st->loop->post([st, deadline] { st->begin_shutdown(deadline); });
}

}  // namespace tessera::ssh
