// Starting a session's child as sshd's do_child does: through the user's
// login shell, in a new session (the pty as its controlling terminal, or
// pipes for its standard descriptors), in the home directory, with the
// environment sshd builds. Also the signal names of the "signal" and
// "exit-signal" requests.
#ifndef TESSERA_SSH_SERVER_CHILD_PROCESS_H_
#define TESSERA_SSH_SERVER_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/session_policy.h"
#include "tessera/key/error.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

// sshd's PATH for a user (_PATH_STDPATH) and for root (SUPERUSER_PATH), as
// Debian builds them.
inline constexpr std::string_view kUserPath = "/usr/local/bin:/usr/bin:/bin:/usr/games";
inline constexpr std::string_view kSuperUserPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
inline constexpr std::string_view kMailDirectory = "/var/mail";
inline constexpr std::string_view kDefaultShell = "/bin/sh";

// What a session adds to the environment of its child.
struct SessionEnvironment {
  std::vector<std::pair<std::string, std::string>> accepted;  // env requests that AcceptEnv let through
  std::string term;                                           // TERM from pty-req ("" when none)
  std::string tty;                                            // SSH_TTY ("" without a pty)
  std::optional<std::string> original_command;                // with a forced command
  std::string agent_socket;                                   // SSH_AUTH_SOCK ("" when not forwarding)
};

// The child's environment, NAME=VALUE each, in sshd's order (a later
// setting of a name replaces the earlier one in place): accepted env,
// USER, LOGNAME, HOME, PATH, MAIL, SHELL, TZ (ours, when set), TERM,
// SSH_AUTH_SOCK, the key's environment=, SetEnv, SSH_CLIENT,
// SSH_CONNECTION, SSH_TTY, SSH_ORIGINAL_COMMAND.
std::vector<std::string> session_environment(const SessionPolicy& policy, const SessionEnvironment& session);

// The user's shell, or /bin/sh when the account names none.
std::string login_shell(const SessionUser& user);

// argv for the shell: {"-sh"} for a login shell (command nullopt), else
// {"sh", "-c", command} (the shell's base name).
std::vector<std::string> shell_argv(const std::string& shell, const std::optional<std::string>& command);

struct ChildSetup {
  std::string program;            // the shell's path
  std::vector<std::string> argv;
  std::vector<std::string> environment;
  std::string home;               // chdir here; when that fails the child says so on stderr and stays in /
  int terminal = -1;              // a pty slave: the child's stdin, stdout, stderr and controlling terminal
  // Set: written to the child's stderr instead of running anything, and
  // the child exits 254 (/etc/nologin's text).
  std::optional<std::string> refusal;
  // Set: run first in the home directory with `environment`, its stdin
  // empty, its stdout and stderr the child's, and waited for (~/.ssh/rc).
  struct Rc {
    std::vector<std::string> argv;  // argv[0] is the program's path
    std::string file;               // for "Could not run FILE: reason"
  };
  std::optional<Rc> rc;
};

// ~/.ssh/rc or the system rc for a session, as sshd picks it: nullopt when
// neither runs. `shell` runs the user's rc; the system one runs with /bin/sh.
std::optional<ChildSetup::Rc> rc_command(const SessionPolicy& policy, const std::string& shell, bool subsystem);

// /etc/nologin's text for a user it keeps out (not root), nullopt when it
// lets the user in (no such file).
std::optional<std::string> nologin_refusal(const SessionPolicy& policy);

struct StartedChild {
  pid_t pid = -1;
  // Without a terminal, our ends of the child's pipes (close-on-exec).
  sys::Fd stdin_write, stdout_read, stderr_read;
};

// Forks and execs setup.program in a new session. Between fork and exec the
// child only makes async-signal-safe calls (everything is prepared before
// the fork), so this is safe in a process with threads. The child's signal
// dispositions are the defaults and none is blocked; every descriptor but
// 0, 1 and 2 is closed. Returns once the child leads its new session and
// process group (so killpg reaches it). When exec fails the child writes "PROGRAM: reason"
// to its stderr and exits 1 (as sshd). The caller reaps the child.
// kIo when pipes or the fork fail.
key::Result<StartedChild> start_child(const ChildSetup& setup);

// RFC 4254 section 6.10 names (without "SIG") of the signals a client may
// send, as sshd accepts them: HUP INT KILL QUIT TERM USR1 USR2. nullopt for
// any other name.
std::optional<int> signal_from_name(std::string_view name);
// The name of the signal that killed a child, for exit-signal: ABRT ALRM
// FPE HUP ILL INT KILL PIPE QUIT SEGV TERM USR1 USR2, else
// "SIG@openssh.com" (as sshd).
std::string signal_name(int signal_number);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_CHILD_PROCESS_H_
