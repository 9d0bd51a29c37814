#include "server/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tessera::ssh::server {

using key::Errc;
using key::Error;

namespace {

// The highest descriptor the child closes one by one when the kernel lacks
// close_range(2).
constexpr int kMaxFdToClose = 65536;

void set_env(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (std::string& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

constexpr std::string_view kUserRc = ".ssh/rc";
// More of /etc/nologin than anyone reads on a terminal is not sent.
constexpr size_t kMaxNologinBytes = 64 * 1024;

// word quoted for sh: in single quotes, each ' as '\''.
std::string shell_quote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Everything the child needs, as plain pointers and numbers: made before
// the fork, so that the child does no allocation.
struct ChildPlan {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* home;
  int terminal;
  int in, out, err;  // the child's ends when there is no terminal
  int started;       // written to once the child leads its own session
  const char* chdir_message;  // "Could not chdir to home directory HOME: "
  size_t chdir_message_size;
  const char* exec_message;  // "PROGRAM: "
  size_t exec_message_size;
  const char* refusal;  // nullptr, or written to stderr before exiting 254
  size_t refusal_size;
  char* const* rc_argv;  // nullptr, or run and waited for before the program
  const char* rc_message;  // "Could not run RC: "
  size_t rc_message_size;
};

void write_error(const char* prefix, size_t prefix_size, int error) {
  const char* reason = strerrordesc_np(error);
  if (reason == nullptr) reason = "unknown error";
  (void)!write(2, prefix, prefix_size);
  (void)!write(2, reason, strlen(reason));
  (void)!write(2, "\n", 1);
}

// Runs the rc command with an empty stdin and waits for it (sshd's popen
// with nothing written). Async-signal-safe, like the rest of the child.
void run_rc(const ChildPlan& plan) {
  int empty[2];
  if (pipe2(empty, O_CLOEXEC) != 0) {
    write_error(plan.rc_message, plan.rc_message_size, errno);
    return;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    if (dup2(empty[0], 0) < 0) _exit(1);
    execve(plan.rc_argv[0], plan.rc_argv, plan.envp);
    write_error(plan.rc_message, plan.rc_message_size, errno);
    _exit(1);
  }
  const int fork_error = errno;
  (void)close(empty[0]);
  (void)close(empty[1]);
  if (pid < 0) {
    write_error(plan.rc_message, plan.rc_message_size, fork_error);
    return;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void run_child(const ChildPlan& plan) {
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  sigemptyset(&defaults.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) (void)sigaction(sig, &defaults, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, nullptr);

  (void)setsid();
  // The parent waits for this: a signal for the child's process group is
  // then never sent before the group exists.
  (void)!write(plan.started, "s", 1);
  (void)close(plan.started);
  int in = plan.in, out = plan.out, err = plan.err;
  if (plan.terminal >= 0) {
    (void)ioctl(plan.terminal, TIOCSCTTY, 0);
    in = out = err = plan.terminal;
  }
  // Lift the sources above 2 first: one of them may be 0, 1 or 2 itself
  // when our process runs with those closed.
  const int high_in = fcntl(in, F_DUPFD_CLOEXEC, 3);
  const int high_out = fcntl(out, F_DUPFD_CLOEXEC, 3);
  const int high_err = fcntl(err, F_DUPFD_CLOEXEC, 3);
  if (high_in < 0 || high_out < 0 || high_err < 0 || dup2(high_in, 0) < 0 || dup2(high_out, 1) < 0 ||
      dup2(high_err, 2) < 0) {
    _exit(1);
  }
  if (plan.refusal != nullptr) {
    (void)!write(2, plan.refusal, plan.refusal_size);
    _exit(254);
  }
  if (chdir(plan.home) != 0) {
    write_error(plan.chdir_message, plan.chdir_message_size, errno);
    (void)!chdir("/");
  }
  if (close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < kMaxFdToClose; ++fd) (void)close(fd);
  }
  if (plan.rc_argv != nullptr) run_rc(plan);
  execve(plan.program, plan.argv, plan.envp);
  write_error(plan.exec_message, plan.exec_message_size, errno);
  _exit(1);
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> p;
  p.reserve(strings.size() + 1);
  for (std::string& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

}  // namespace

std::string login_shell(const SessionUser& user) {
  return user.shell.empty() ? std::string(kDefaultShell) : user.shell;
}

std::vector<std::string> shell_argv(const std::string& shell, const std::optional<std::string>& command) {
  const size_t slash = shell.rfind('/');
  const std::string base = slash == std::string::npos ? shell : shell.substr(slash + 1);
  if (!command) return {"-" + base};
  return {base, "-c", *command};
}

std::optional<ChildSetup::Rc> rc_command(const SessionPolicy& policy, const std::string& shell, bool subsystem) {
  struct stat st;
  const std::string user_rc = policy.user.home + "/" + std::string(kUserRc);
  if (!subsystem && policy.permit_user_rc && stat(user_rc.c_str(), &st) == 0) {
    return ChildSetup::Rc{{shell, "-c", std::string(kDefaultShell) + " " + shell_quote(user_rc)}, user_rc};
  }
  if (!policy.system_rc.empty() && stat(policy.system_rc.c_str(), &st) == 0) {
    return ChildSetup::Rc{{std::string(kDefaultShell), policy.system_rc}, policy.system_rc};
  }
  return std::nullopt;
}

std::optional<std::string> nologin_refusal(const SessionPolicy& policy) {
  if (policy.user.uid == 0 || policy.nologin_file.empty()) return std::nullopt;
  struct stat st;
  if (stat(policy.nologin_file.c_str(), &st) != 0) return std::nullopt;
  // Its text when we can read it (sshd prints nothing when it cannot).
  std::string text;
  sys::Fd fd(open(policy.nologin_file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
    char buf[4096];
    ssize_t n;
    while (text.size() < kMaxNologinBytes && (n = read(fd.get(), buf, sizeof(buf))) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      text.append(buf, static_cast<size_t>(n));
    }
    if (text.size() > kMaxNologinBytes) text.resize(kMaxNologinBytes);
  }
  return text;
}

std::vector<std::string> session_environment(const SessionPolicy& policy, const SessionEnvironment& session) {
  std::vector<std::string> env;
  const SessionUser& user = policy.user;
  for (const auto& [name, value] : session.accepted) set_env(env, name, value);
  set_env(env, "USER", user.name);
  set_env(env, "LOGNAME", user.name);
  set_env(env, "HOME", user.home);
  set_env(env, "PATH", user.uid == 0 ? kSuperUserPath : kUserPath);
  set_env(env, "MAIL", std::string(kMailDirectory) + "/" + user.name);
  set_env(env, "SHELL", login_shell(user));
  if (const char* tz = std::getenv("TZ"); tz != nullptr) set_env(env, "TZ", tz);
  if (!session.term.empty()) set_env(env, "TERM", session.term);
  if (!session.agent_socket.empty()) set_env(env, "SSH_AUTH_SOCK", session.agent_socket);
  for (const auto& [name, value] : policy.key_environment) set_env(env, name, value);
  for (const auto& [name, value] : policy.set_env) set_env(env, name, value);
  set_env(env, "SSH_CLIENT",
          policy.client_ip + " " + std::to_string(policy.client_port) + " " + std::to_string(policy.server_port));
  set_env(env, "SSH_CONNECTION", policy.client_ip + " " + std::to_string(policy.client_port) + " " +
                                     policy.server_ip + " " + std::to_string(policy.server_port));
  if (!session.tty.empty()) set_env(env, "SSH_TTY", session.tty);
  if (session.original_command) set_env(env, "SSH_ORIGINAL_COMMAND", *session.original_command);
  return env;
}

key::Result<StartedChild> start_child(const ChildSetup& setup) {
  if (setup.argv.empty()) return Error(Errc::kInvalidArgument, "no program to run");
  std::vector<std::string> argv = setup.argv;
  std::vector<std::string> envp = setup.environment;
  std::vector<char*> argv_pointers = pointers_to(argv);
  std::vector<char*> envp_pointers = pointers_to(envp);
  const std::string chdir_message = "Could not chdir to home directory " + setup.home + ": ";
  const std::string exec_message = setup.program + ": ";
  std::vector<std::string> rc_argv = setup.rc ? setup.rc->argv : std::vector<std::string>{};
  std::vector<char*> rc_argv_pointers = pointers_to(rc_argv);
  const std::string rc_message = "Could not run " + (setup.rc ? setup.rc->file : std::string()) + ": ";

  TESSERA_ASSIGN_OR_RETURN(sys::Pipe started, sys::make_pipe());
  sys::Pipe in, out, err;
  if (setup.terminal < 0) {
    TESSERA_ASSIGN_OR_RETURN(in, sys::make_pipe());
    TESSERA_ASSIGN_OR_RETURN(out, sys::make_pipe());
    TESSERA_ASSIGN_OR_RETURN(err, sys::make_pipe());
  }
  const ChildPlan plan{.program = setup.program.c_str(),
                       .argv = argv_pointers.data(),
                       .envp = envp_pointers.data(),
                       .home = setup.home.c_str(),
                       .terminal = setup.terminal,
                       .in = in.read.get(),
                       .out = out.write.get(),
                       .err = err.write.get(),
                       .started = started.write.get(),
                       .chdir_message = chdir_message.data(),
                       .chdir_message_size = chdir_message.size(),
                       .exec_message = exec_message.data(),
                       .exec_message_size = exec_message.size(),
                       .refusal = setup.refusal ? setup.refusal->data() : nullptr,
                       .refusal_size = setup.refusal ? setup.refusal->size() : 0,
                       .rc_argv = rc_argv.empty() ? nullptr : rc_argv_pointers.data(),
                       .rc_message = rc_message.data(),
                       .rc_message_size = rc_message.size()};
  const pid_t pid = fork();
  if (pid < 0) return Error(Errc::kIo, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) run_child(plan);
  // Wait (briefly: nothing before it can block) until the child has its
  // own session; EOF means it died first.
  started.write.reset();
  char byte;
  while (read(started.read.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  StartedChild child;
  child.pid = pid;
  child.stdin_write = std::move(in.write);
  child.stdout_read = std::move(out.read);
  child.stderr_read = std::move(err.read);
  return child;  // the child's ends close here, in the parent
}

std::optional<int> signal_from_name(std::string_view name) {
  static constexpr struct {
    std::string_view name;
    int number;
  } kAccepted[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"KILL", SIGKILL}, {"QUIT", SIGQUIT},
                   {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
  for (const auto& s : kAccepted) {
    if (s.name == name) return s.number;
  }
  return std::nullopt;
}

std::string signal_name(int signal_number) {
  static constexpr struct {
    int number;
    std::string_view name;
  } kNames[] = {{SIGABRT, "ABRT"}, {SIGALRM, "ALRM"}, {SIGFPE, "FPE"},   {SIGHUP, "HUP"},   {SIGILL, "ILL"},
                {SIGINT, "INT"},   {SIGKILL, "KILL"}, {SIGPIPE, "PIPE"}, {SIGQUIT, "QUIT"}, {SIGSEGV, "SEGV"},
                {SIGTERM, "TERM"}, {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}};
  for (const auto& s : kNames) {
    if (s.number == signal_number) return std::string(s.name);
  }
  return "SIG@openssh.com";
}

}  // namespace tessera::ssh::server
