// The pre-auth child: every byte the client sends before it has
// authenticated is parsed here, by a process that is the unprivileged sshd
// account, chrooted to an empty directory and under a seccomp filter. It
// holds no host key and decides nothing: key exchanges and authentication
// go to the monitor. Once the monitor has accepted a signature the child
// writes what it owes the client, hands the connection's state to the
// monitor and exits.
#include <openssl/rand.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "io/server_connection.h"
#include "server/monitor.h"
#include "server/sandbox.h"
#include "sshd/connection_setup.h"
#include "sshd/sshd.h"
#include "tessera/sys/event_loop.h"

namespace tessera::ssh::sshd {

int run_preauth_child(const ConnectionSetup& setup, int monitor_fd, int in_fd, int out_fd) {
  auto loop = sys::EventLoop::create();
  if (!loop.ok()) {
    log_line(Level::kError, "pre-auth child: " + loop.error().message());
    return 1;
  }
  server::MonitorClient monitor(monitor_fd);
  server::RemoteKexAuthority authority(monitor);
  server::RemoteAuthDecider decider(monitor);
  bool authenticated = false;
  std::optional<key::Error> failure;
  io::ServerCallbacks callbacks;
  callbacks.on_authenticated = [&] {
    authenticated = true;
    (*loop)->stop();
  };
  callbacks.on_closed = [&](std::optional<key::Error> error) {
    failure = std::move(error);
    (*loop)->stop();
  };
  io::ServerIoConfig config = setup.preauth_io_config();
  config.stop_after_auth = true;
  io::ServerConnection conn(**loop, sys::Fd(in_fd), sys::Fd(out_fd == in_fd ? dup(in_fd) : out_fd), config, authority,
                            decider, std::move(callbacks));
  // Everything that needs a system call the sandbox forbids (descriptor
  // flags, epoll registration) happens in start(), which also sends our
  // identification and KEXINIT; nothing from the client is read before the
  // sandbox is in place.
  if (auto s = conn.start(); !s.ok()) {
    log_line(Level::kError, "pre-auth child: " + s.error().message());
    return 1;
  }
  // From here on the log is the monitor's (it adds " [preauth]"): the
  // sandboxed child holds no descriptor of it and needs no syslog socket.
  log_through_monitor(monitor_fd);
  server::SandboxOptions sandbox;
  sandbox.user = setup.settings().privsep_user;
  sandbox.chroot_dir = setup.settings().privsep_chroot;
  if (auto s = server::enter_preauth_sandbox(sandbox); !s.ok()) {
    log_line(Level::kError, "pre-auth child: cannot enter the sandbox: " + s.error().message());
    return 1;
  }

  (*loop)->run();
  if (!authenticated) {
    if (log_client_disconnect(conn.transport(), setup.peer_description())) return kPreauthClientDisconnected;
    if (failure) log_line(Level::kDebug1, failure->message());  // the monitor says how it ended
    return 1;
  }
  // What the client is owed (USERAUTH_SUCCESS) goes out first; anything
  // unwritten would travel in the state too.
  (void)conn.flush_blocking(std::chrono::seconds(10));
  auto state = conn.transport().export_state();
  if (!state.ok()) {
    log_line(Level::kError, "pre-auth child: cannot hand over: " + state.error().message());
    return 1;
  }
  key::Writer w;
  w.string(state->reveal());
  auto handed = monitor.call(server::MonitorRequest::kHandOver, w.data());
  if (!handed.ok()) {
    log_line(Level::kError, "pre-auth child: hand-over refused: " + handed.error().message());
    return 1;
  }
  conn.detach();
  return 0;
}

}  // namespace tessera::ssh::sshd
