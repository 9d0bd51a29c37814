// tessera-agent: an SSH agent with ssh-agent's command line. Parses options,
// sets up the socket and the process (daemon, foreground, or the parent of a
// command) and runs the Agent until a signal or the command ends.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "daemon/agent.h"
#include "daemon/log.h"
#include "daemon/options.h"
#include "tessera/sys/stdfd.h"

namespace {

using tessera::agent::daemon::Agent;
using tessera::agent::daemon::Options;

constexpr int kExitFatal = 255;
// As ssh-agent's cleanup_handler.
constexpr int kExitSignalled = 2;

std::atomic<Agent*> g_agent{nullptr};
std::atomic<bool> g_signalled{false};

// Private keys live in this process: no ptrace by other processes of the
// user, no core dumps.
void harden_process() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
}

void fatal(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(kExitFatal);
}

void stop_on_signal(int) {
  g_signalled.store(true);
  if (Agent* agent = g_agent.load()) agent->stop();
}

void install_signal(int signal_number, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal_number, &action, nullptr);
}

int kill_agent(bool csh) {
  const char* pid_text = std::getenv("SSH_AGENT_PID");
  if (pid_text == nullptr) {
    std::fprintf(stderr, "SSH_AGENT_PID not set, cannot kill agent\n");
    return 1;
  }
  char* end = nullptr;
  errno = 0;
  long pid = std::strtol(pid_text, &end, 10);
  if (*pid_text == '\0' || *end != '\0' || errno != 0 || pid < 2 || pid > INT_MAX) {
    std::fprintf(stderr, "SSH_AGENT_PID=\"%s\", which is not a good PID: %s\n", pid_text,
                 pid < 2 ? "too small" : "invalid");
    return 1;
  }
  if (::kill(static_cast<pid_t>(pid), SIGTERM) == -1) {
    std::perror("kill");
    return 1;
  }
  const char* format = csh ? "unsetenv %s;\n" : "unset %s;\n";
  std::printf(format, "SSH_AUTH_SOCK");
  std::printf(format, "SSH_AGENT_PID");
  std::printf("echo Agent pid %ld killed;\n", pid);
  return 0;
}

// $TMPDIR/ssh-XXXXXXXXXXXX with twelve random characters, mode 0700, as
// ssh-agent makes it. glibc's mkdtemp fills only the last six X's, so the
// name is drawn here and created with mkdir, which fails on an existing path.
std::string make_socket_directory() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr size_t kRandomChars = 12;
  static constexpr int kAttempts = 100;
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string parent = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    unsigned char random[kRandomChars];
    if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
      std::perror("getrandom: private socket dir");
      std::exit(1);
    }
    std::string dir = parent + "/ssh-";
    // 256 is a multiple of neither 62 nor a power of it; the small bias does
    // not matter for a name that only has to be unguessable enough not to
    // collide, as the directory's mode, not its name, keeps others out.
    for (unsigned char byte : random) dir += kAlphabet[byte % (sizeof kAlphabet - 1)];
    if (::mkdir(dir.c_str(), 0700) == 0) return dir;
    if (errno != EEXIST) {
      std::fprintf(stderr, "mkdir %s: private socket dir: %s\n", dir.c_str(), std::strerror(errno));
      std::exit(1);
    }
  }
  std::fprintf(stderr, "cannot make a private socket dir in %s: every name tried exists\n", parent.c_str());
  std::exit(1);
}

void print_environment(bool csh, const std::string& socket, pid_t pid, bool with_pid) {
  const char* format = csh ? "setenv %s %s;\n" : "%s=%s; export %s;\n";
  std::printf(format, "SSH_AUTH_SOCK", socket.c_str(), "SSH_AUTH_SOCK");
  if (with_pid) std::printf(format, "SSH_AGENT_PID", std::to_string(pid).c_str(), "SSH_AGENT_PID");
  std::printf("echo Agent pid %ld;\n", static_cast<long>(pid));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  namespace d = tessera::agent::daemon;
  if (!tessera::sys::sanitise_standard_fds().ok()) return kExitFatal;
  // Drop a set-group-id gid, as ssh-agent does.
  if (::setegid(::getgid()) != 0 || ::setgid(::getgid()) != 0) fatal("cannot drop group privileges");
  harden_process();

  auto parsed = d::parse_command_line(std::vector<std::string>(argv, argv + argc));
  if (auto* error = std::get_if<d::CommandLineError>(&parsed)) {
    if (!error->message.empty()) std::fprintf(stderr, "%s\n", error->message.c_str());
    if (error->show_usage) d::print_usage(stderr);
    return error->exit_status;
  }
  Options options = std::get<Options>(std::move(parsed));
  if (options.help) {
    d::print_help(stdout);
    return 0;
  }
  if (options.command.empty() && !options.csh && !options.sh) {
    const char* shell = std::getenv("SHELL");
    size_t len = shell != nullptr ? std::strlen(shell) : 0;
    if (len > 2 && std::strcmp(shell + len - 3, "csh") == 0) options.csh = true;
  }
  if (options.kill) return kill_agent(options.csh);

  pid_t parent_pid = ::getpid();
  std::string socket_dir;
  std::string socket_path;
  if (options.socket_path) {
    socket_path = *options.socket_path;
  } else {
    socket_dir = make_socket_directory();
    socket_path = socket_dir + "/agent." + std::to_string(parent_pid);
  }
  auto cleanup = [&] {
    ::unlink(socket_path.c_str());
    if (!socket_dir.empty()) ::rmdir(socket_dir.c_str());
  };

  // Signals that stop the agent wait until their handlers are in place, so
  // that one arriving early still removes the socket.
  sigset_t stopping, old_mask;
  sigemptyset(&stopping);
  for (int sig : {SIGINT, SIGHUP, SIGTERM}) sigaddset(&stopping, sig);
  ::sigprocmask(SIG_BLOCK, &stopping, &old_mask);

  // The socket exists before the command (or the shell that evals our
  // output) runs.
  auto listening = d::listen_on_unix_socket(socket_path);
  if (!listening.ok()) {
    std::fprintf(stderr, "%s\n", listening.error().message().c_str());
    if (!socket_dir.empty()) ::rmdir(socket_dir.c_str());
    return 1;
  }

  d::AgentConfig config;
  config.socket_path = socket_path;
  config.listen_fd = *listening;
  config.workers = options.workers;
  config.default_lifetime = options.default_lifetime;
  config.fingerprint_hash = options.fingerprint_hash;
  config.allowed_providers = options.allowed_providers;
  config.audit_log = options.audit_log;
  config.audit_syslog = options.audit_syslog;
  config.allow_remote_pkcs11 = options.allow_remote_pkcs11;
  config.restrict_websafe = !options.no_restrict_websafe;
  if (options.pkcs11_helper) config.pkcs11.helper_program = *options.pkcs11_helper;
  config.pkcs11.timeout = std::chrono::seconds(options.pkcs11_timeout);
  config.pkcs11.pinpad_timeout = std::max<std::chrono::milliseconds>(config.pkcs11.timeout, std::chrono::minutes(2));
  config.pkcs11.poll_interval = std::chrono::seconds(options.pkcs11_poll);
  config.pkcs11.reuse_pin_for_always_authenticate = options.pkcs11_reuse_pin;
  config.pkcs11.reader_events = !options.no_reader_events;
  if (options.pinentry) config.askpass.pinentry = *options.pinentry;
  if (!options.command.empty()) config.parent_pid = parent_pid;
  auto created = d::Agent::create(std::move(config));
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().message().c_str());
    cleanup();
    return 1;
  }
  std::unique_ptr<Agent> agent = std::move(*created);

  if (options.debug || options.foreground) {
    d::configure_log(d::LogSink::kStderr, options.debug ? d::LogLevel::kDebug : d::LogLevel::kInfo);
    print_environment(options.csh, socket_path, parent_pid, false);
  } else {
    pid_t pid = ::fork();
    if (pid == -1) {
      std::perror("fork");
      cleanup();
      return 1;
    }
    if (pid != 0) {
      // The parent prints the environment, or becomes the command.
      if (options.command.empty()) {
        print_environment(options.csh, socket_path, pid, true);
        ::_exit(0);
      }
      if (::setenv("SSH_AUTH_SOCK", socket_path.c_str(), 1) == -1 ||
          ::setenv("SSH_AGENT_PID", std::to_string(pid).c_str(), 1) == -1) {
        std::perror("setenv");
        ::_exit(1);
      }
      std::vector<char*> command_argv;
      for (auto& arg : options.command) command_argv.push_back(arg.data());
      command_argv.push_back(nullptr);
      ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      ::execvp(command_argv[0], command_argv.data());
      std::perror(command_argv[0]);
      ::_exit(1);
    }
    // The child is the agent.
    if (!options.command.empty()) {
      // Stop as soon as the command ends (and check every 10 s as well).
      ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
      if (::getppid() != parent_pid) {
        cleanup();
        ::_exit(kExitSignalled);
      }
    }
    d::configure_log(d::LogSink::kSyslog, d::LogLevel::kInfo);
    if (::setsid() == -1) {
      d::log_error(std::string("setsid: ") + std::strerror(errno));
      cleanup();
      return 1;
    }
    if (::chdir("/") != 0) d::log_error(std::string("chdir /: ") + std::strerror(errno));
    if (auto nulled = tessera::sys::redirect_standard_fds_to_null(); !nulled.ok()) {
      d::log_error(nulled.error().message());
    }
  }

  g_agent.store(agent.get());
  install_signal(SIGPIPE, SIG_IGN);
  install_signal(SIGINT, (options.debug || options.foreground) ? stop_on_signal : SIG_IGN);
  install_signal(SIGHUP, stop_on_signal);
  install_signal(SIGTERM, stop_on_signal);
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);

  agent->run();
  g_agent.store(nullptr);
  agent.reset();
  cleanup();
  return kExitSignalled;
}
