// What an authenticated connection's sessions may do, and how the session
// service reaches the I/O layer that carries the connection. The caller
// (tessera-sshd's session process, or a program that embeds the server)
// fills SessionPolicy from sshd_config and the options of the key that
// authenticated; the session service only reads it.
#ifndef TESSERA_SSH_SERVER_SESSION_POLICY_H_
#define TESSERA_SSH_SERVER_SESSION_POLICY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::ssh::server {

// The account the sessions run as. The session process already is this
// user (setuid done by the caller): the service never changes identity.
struct SessionUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;  // empty: /bin/sh, as sshd
};

// One entry of PermitOpen or of a key's permitopen=: host "*" is any host
// (only the whole word, as sshd; hosts are otherwise compared exactly),
// port kAnyPort any port.
struct PermitOpen {
  static constexpr int kAnyPort = -1;
  std::string host;
  int port = kAnyPort;
};

struct SessionPolicy {
  SessionUser user;

  // ForceCommand, or else the key's command=: run instead of what the
  // client asked for (exec, shell or subsystem), with the client's command
  // in SSH_ORIGINAL_COMMAND. nullopt: none.
  std::optional<std::string> forced_command;

  // PermitTTY and no no-pty.
  bool permit_pty = true;
  // AllowAgentForwarding and no no-agent-forwarding.
  bool permit_agent_forwarding = true;
  // AllowTcpForwarding yes/all/local and no no-port-forwarding (direct-tcpip).
  bool permit_tcp_forwarding = true;
  // PermitOpen: nullopt for "any" (no limit), an empty list for "none".
  std::optional<std::vector<PermitOpen>> permit_open;
  // The key's permitopen= entries; empty: the key sets no limit. A target
  // must pass both lists.
  std::vector<PermitOpen> key_permit_open;

  // Subsystem NAME COMMAND...: the command line runs through the user's
  // shell with -c. "internal-sftp" is refused (tessera has no in-process
  // sftp server).
  std::vector<std::pair<std::string, std::string>> subsystems;

  // AcceptEnv patterns ('*' and '?' wildcards), one pattern an entry.
  std::vector<std::string> accept_env;
  // SetEnv NAME=VALUE entries.
  std::vector<std::pair<std::string, std::string>> set_env;
  // The key's environment= entries; the caller passes them only when
  // PermitUserEnvironment allows them (and filters by its pattern list).
  std::vector<std::pair<std::string, std::string>> key_environment;

  // Before each session's command: ~/.ssh/rc when permit_user_rc (the
  // caller's PermitUserRC, less a key's no-user-rc and ForceCommand) and the
  // session is no subsystem; otherwise system_rc when it exists; as sshd.
  bool permit_user_rc = true;
  std::string system_rc = "/etc/ssh/sshrc";
  // While this file exists, every session of a user but root prints it on
  // stderr and exits 254 (sshd without PAM).
  std::string nologin_file = "/etc/nologin";

  // PrintMotd is always off: the service prints neither /etc/motd nor a
  // last-login line.

  // The connection's addresses, for SSH_CLIENT ("client_ip client_port
  // server_port") and SSH_CONNECTION ("client_ip client_port server_ip
  // server_port").
  std::string client_ip;
  uint16_t client_port = 0;
  std::string server_ip;
  uint16_t server_port = 0;

  // MaxSessions: session channels at once (a session counts until both its
  // channel is closed and its child is reaped). 0 refuses every session.
  size_t max_sessions = 10;

  // A pty session's login (after its child started: tty is the slave's
  // path, "/dev/pts/N") and logout (the child exited or the channel went).
  // tessera-sshd hands these to its monitor, which keeps utmp and wtmp.
  // Unset: nothing is recorded.
  std::function<void(const std::string& tty, pid_t pid, bool login)> record_login;
};

// What the caller's I/O layer does for the session service.
struct ServiceHooks {
  // Writes what the transport has queued (it must not read from the peer:
  // the service may call it from inside a Connection callback). Required.
  std::function<void()> flush;
  // Bytes queued for the peer and not yet written; above a limit the
  // service stops reading its children and sockets until output_drained().
  // Unset: only the channel windows hold the service back.
  std::function<size_t()> pending_bytes;
  // One line for the log per event worth a line (sessions started,
  // refusals, forwarding): sshd logs these at VERBOSE. Unset: no logging.
  std::function<void(std::string_view)> log;
  // The lines sshd logs at INFO (a user kept out by /etc/nologin, a
  // subsystem not found, a forwarding refused). Unset: through `log`.
  std::function<void(std::string_view)> notice;
};

// A line for hooks.notice, or for hooks.log when that is unset.
inline void log_notice(const ServiceHooks& hooks, std::string_view line) {
  if (hooks.notice) {
    hooks.notice(line);
  } else if (hooks.log) {
    hooks.log(line);
  }
}

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_SESSION_POLICY_H_
