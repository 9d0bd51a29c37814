// The per-connection monitor: forks the pre-auth child before it loads any
// host key (so the child's address space never holds one), answers the
// child's requests (key exchanges, authentication) until a signature is
// accepted and the connection is handed over, then starts the session
// process as the user and serves its re-keys, host key proofs and pty
// records until it ends.
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "server/monitor.h"
#include "sshd/connection_setup.h"
#include "sshd/sshd.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"

namespace tessera::ssh::sshd {

using key::Errc;
using key::Error;

namespace {

constexpr std::chrono::steady_clock::time_point kNoDeadline = std::chrono::steady_clock::time_point::max();

// Serves requests on fd until the peer closes it, the service breaks, or
// `stop()` says so; with a deadline (not kNoDeadline), gives up when it
// passes. Returns false on a timeout.

template <typename Stop>
bool serve_requests(server::MonitorService& service, int fd, std::chrono::steady_clock::time_point deadline,
                    Stop stop) {
  while (!stop() && !service.broken()) {
    int timeout = -1;
    if (deadline != kNoDeadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      timeout = static_cast<int>(left.count());
    }
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return false;
    auto request = server::read_frame(fd);
    if (!request.ok()) return true;  // the process went away
    const key::Bytes reply = service.handle(request->reveal());
    if (!server::write_frame(fd, reply).ok()) return true;
  }
  return true;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// OpenSSL's configuration and providers, loaded once here rather than in
// the monitor and again in the pre-auth child: the child inherits them. Its
// random generators are not made before the fork, so that the child and the
// monitor each seed their own from the system and neither holds a copy of
// the state the other draws its secrets from.
bool load_openssl_config() { return OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) == 1; }

}  // namespace

int run_monitor(const Options& options, int in_fd, int out_fd, int startup_fd) {
  auto setup = ConnectionSetup::load(options, in_fd, out_fd);
  if (!setup.ok()) {
    log_line(Level::kError, setup.error().message());
    return 255;
  }
  ConnectionSetup& conn = **setup;
  log_setup(options, conn.settings().log_level);
  const std::string& from = conn.peer_description();  // "ADDR port N"
  log_line(Level::kVerbose, "Connection from " + conn.peer_address() + " port " + std::to_string(conn.peer_port()) +
                                " on " + conn.local_address() + " port " + std::to_string(conn.local_port()) +
                                " rdomain \"\"");

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    log_line(Level::kError, std::string("socketpair: ") + std::strerror(errno));
    return 255;
  }
  if (!load_openssl_config()) {
    log_line(Level::kError, "monitor: cannot load OpenSSL's configuration");
    return 255;
  }
  // The pre-auth child starts before any host key is loaded.
  const pid_t child = fork();
  if (child < 0) {
    log_line(Level::kError, std::string("fork: ") + std::strerror(errno));
    return 255;
  }
  if (child == 0) {
    close(sv[0]);
    if (startup_fd >= 0) close(startup_fd);
    _exit(run_preauth_child(conn, sv[1], in_fd, out_fd));
  }
  close(sv[1]);
  const int monitor_fd = sv[0];

  auto keys = conn.load_host_keys();
  if (!keys.ok()) {
    log_line(Level::kError, "host keys: " + keys.error().message());
    kill(child, SIGKILL);
    wait_child(child);
    return 255;
  }
  transport::LocalKexAuthority authority(conn.kex_config(), **keys);
  server::MonitorHooks hooks;
  hooks.check_key = [&](const auth::PublickeyAttempt& attempt) { return conn.check_key(attempt); };
  // As sshd's auth_log(): an accepted query is "Postponed" (VERBOSE), a
  // refusal "Failed" (VERBOSE until half of MaxAuthTries are used, INFO
  // from then on), a login "Accepted" (INFO); nothing for an invalid user.
  const server::MonitorService* judge = nullptr;  // set once made, before any request
  hooks.log_attempt = [&](const auth::PublickeyAttempt& attempt, bool accepted, const std::string& detail) {
    log_line(Level::kDebug1, std::string(accepted ? "Key is acceptable for " : "Key refused for ") + attempt.user +
                                 " from " + from + ": " + detail);
    if (!conn.valid_user()) return;
    if (accepted && !attempt.signature) {
      log_line(Level::kVerbose, "Postponed publickey for " + attempt.user + " from " + from + " ssh2 [preauth]");
      return;
    }
    const bool loud = accepted || judge->refusals() >= conn.settings().max_auth_tries / 2;
    log_line(loud ? Level::kInfo : Level::kVerbose,
             std::string(accepted ? "Accepted" : "Failed") + " publickey for " + attempt.user + " from " + from +
                 " ssh2: " + detail);
  };
  hooks.log = [&judge](uint8_t level, std::string_view line) {
    const bool preauth = judge->phase() == server::MonitorPhase::kPreAuth;
    log_line(static_cast<Level>(level), preauth ? std::string(line) + " [preauth]" : std::string(line));
  };
  hooks.record_pty = [&](bool login, std::string_view tty, uint32_t pid) {
    return conn.record_pty(login, tty, static_cast<pid_t>(pid));
  };
  server::MonitorService service(authority, std::move(hooks), conn.settings().max_auth_tries);
  judge = &service;

  const auto deadline = conn.settings().login_grace_time.count() > 0
                            ? std::chrono::steady_clock::now() + conn.settings().login_grace_time
                            : kNoDeadline;
  const bool in_time = serve_requests(service, monitor_fd, deadline, [&] { return service.handed_over().has_value(); });
  if (!service.handed_over()) {
    kill(child, SIGKILL);
    const int child_status = wait_child(child);
    const bool client_disconnected =
        WIFEXITED(child_status) && WEXITSTATUS(child_status) == kPreauthClientDisconnected;
    if (!in_time) {
      log_line(Level::kInfo, "Timeout before authentication for " + from);
    } else if (service.broken()) {
      // A request the monitor refused: a malformed or out-of-phase one from
      // the child, or a key exchange that failed here (a host key that
      // could not sign says why in its own line first).
      log_line(Level::kError, "monitor: " + service.failure() + "; closing connection from " + from);
    } else if (!service.authenticated()) {
      // sshd names the user it was trying ("invalid user" if no account).
      const std::string who = conn.user().empty()   ? ""
                              : conn.valid_user() ? "authenticating user " + conn.user() + " "
                                                  : "invalid user " + conn.user() + " ";
      if (!conn.user().empty() && service.refusals() >= conn.settings().max_auth_tries) {
        // The child disconnected the client for it, in OpenSSH's words.
        log_line(Level::kError, "maximum authentication attempts exceeded for " +
                                    std::string(conn.valid_user() ? "" : "invalid user ") + conn.user() + " from " +
                                    from + " ssh2 [preauth]");
        log_line(Level::kInfo, "Disconnecting " + who + from + ": Too many authentication failures [preauth]");
      } else {
        // As sshd: "Disconnected from" after the client's DISCONNECT (its
        // "Received disconnect" line came from the child), "Connection
        // closed by" when it just went away.
        log_line(Level::kInfo,
                 (client_disconnected ? "Disconnected from " : "Connection closed by ") + who + from + " [preauth]");
      }
    }
    return 255;
  }
  const int status = wait_child(child);
  if (status != 0) log_line(Level::kDebug1, "pre-auth child exited with status " + std::to_string(status));
  // Authenticated: the listener may count this connection as started.
  if (startup_fd >= 0) close(startup_fd);

  const auth::PublickeyAttempt& who = *service.authenticated();
  service.set_phase(server::MonitorPhase::kSession);
  close(monitor_fd);
  return conn.run_session_process(who, service.handed_over()->reveal(), [&](int fd) {
    serve_requests(service, fd, kNoDeadline, [] { return false; });
  });
}

}  // namespace tessera::ssh::sshd
