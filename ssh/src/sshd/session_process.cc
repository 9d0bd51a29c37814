// The session process: exec'd by the monitor as the authenticated user
// (so its address space starts empty of anything the monitor held), with
// the client's socket on fd 3 and the monitor's socket on fd 4. The first
// frame from the monitor carries the connection's state and what the
// session may do; from then on it runs channels, ptys, subsystems and
// forwarding, and asks the monitor for re-keys, host key proofs and utmp.
#include <unistd.h>

#include <string>

#include "io/server_connection.h"
#include "server/monitor.h"
#include "server/session_channel.h"
#include "sshd/session_setup.h"
#include "sshd/sshd.h"
#include "tessera/sys/event_loop.h"

namespace tessera::ssh::sshd {

namespace {

constexpr int kClientFd = 3;
constexpr int kMonitorFd = 4;
constexpr int kClientOutFd = 5;
constexpr std::string_view kHostKeys = "hostkeys-00@openssh.com";
constexpr std::string_view kHostKeysProve = "hostkeys-prove-00@openssh.com";

}  // namespace

int run_session(const Options& options) {
  auto first = server::read_frame(kMonitorFd);
  if (!first.ok()) {
    log_line(Level::kError, "session: no setup from the monitor: " + first.error().message());
    return 255;
  }
  auto setup = SessionSetup::parse(first->reveal());
  if (!setup.ok()) {
    log_line(Level::kError, "session: bad setup from the monitor: " + setup.error().message());
    return 255;
  }
  log_setup(options, setup->log_level);
  log_through_monitor(kMonitorFd);
  auto loop = sys::EventLoop::create();
  if (!loop.ok()) {
    log_line(Level::kError, "session: " + loop.error().message());
    return 255;
  }
  server::MonitorClient monitor(kMonitorFd);
  server::RemoteKexAuthority authority(monitor);
  io::ServerCallbacks callbacks;
  std::optional<key::Error> ended;
  server::SessionService* service_ptr = nullptr;  // set once the service exists
  callbacks.on_drained = [&] {
    if (service_ptr != nullptr) service_ptr->output_drained();
  };
  callbacks.on_closed = [&](std::optional<key::Error> error) {
    ended = std::move(error);
    (*loop)->stop();
  };
  auto conn = io::ServerConnection::resume(**loop, sys::Fd(kClientFd), sys::Fd(kClientOutFd), setup->io,
                                           authority, setup->state.reveal(), std::move(callbacks));
  if (!conn.ok()) {
    log_line(Level::kError, "session: " + conn.error().message());
    return 255;
  }
  io::ServerConnection& c = **conn;

  // "user NAME ADDR port N", as sshd names an authenticated connection.
  const std::string connection_id = "user " + setup->policy.user.name + " " + setup->policy.client_ip + " port " +
                                    std::to_string(setup->policy.client_port);
  const std::string client_address = setup->policy.client_ip + " port " + std::to_string(setup->policy.client_port);
  server::SessionPolicy policy = std::move(setup->policy);
  policy.record_login = [&](const std::string& tty, pid_t pid, bool login) {
    key::Writer w;
    w.boolean(login);
    w.string(tty);
    w.u32(static_cast<uint32_t>(pid));
    auto s = monitor.call(server::MonitorRequest::kPtyRecord, w.data());
    if (!s.ok()) log_line(Level::kError, "utmp: " + s.error().message());
  };
  server::ServiceHooks hooks;
  hooks.flush = [&] { c.flush(); };
  hooks.pending_bytes = [&] { return c.transport().pending_bytes(); };
  hooks.log = [](std::string_view line) { log_line(Level::kVerbose, line); };
  hooks.notice = [](std::string_view line) { log_line(Level::kInfo, line); };
  server::SessionService service(**loop, c.connection(), std::move(policy), std::move(hooks));
  service.install();
  service_ptr = &service;

  c.connection().on_global_request = [&](std::string_view name, key::Reader& data) -> std::optional<key::Bytes> {
    if (name == "no-more-sessions@openssh.com") {
      service.refuse_more_sessions();
      return std::nullopt;
    }
    if (name != kHostKeysProve) return std::nullopt;
    // The client asks us to prove the keys we announced: the monitor signs,
    // over its own session id.
    std::vector<key::Bytes> blobs;
    while (!data.empty()) {
      auto blob = data.string();
      if (!blob.ok() || blobs.size() >= 64) return std::nullopt;
      blobs.emplace_back(blob->begin(), blob->end());
    }
    auto proofs = authority.prove_host_keys(blobs);
    if (!proofs.ok()) return std::nullopt;
    key::Writer reply;
    for (const key::Bytes& p : *proofs) reply.string(p);
    return reply.take();
  };

  if (auto s = c.start(); !s.ok()) {
    log_line(Level::kError, "session: " + s.error().message());
    return 255;
  }
  // hostkeys-00: every host key, so that the client can learn rotated ones.
  const std::vector<key::Bytes> blobs = authority.host_key_blobs();
  if (!blobs.empty() && !c.closed()) {
    key::Writer w;
    for (const key::Bytes& b : blobs) w.string(b);
    c.connection().send_global_request(kHostKeys, false, w.data());
    c.flush();
  }
  if (!c.closed()) (*loop)->run();
  if (ended && ended->message() == io::kClientAliveTimeout) {
    log_line(Level::kInfo, ended->message() + " from " + connection_id);
  } else if (!log_client_disconnect(c.transport(), client_address) && ended) {
    log_line(Level::kVerbose, ended->message());
  }
  return 0;
}

}  // namespace tessera::ssh::sshd
