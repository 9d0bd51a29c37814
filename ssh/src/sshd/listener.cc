// The listener: binds the configured addresses, and for each connection
// forks and re-execs itself as that connection's monitor (fresh address
// space randomisation per connection, nothing of the listener's memory
// inherited). MaxStartups counts connections that have not authenticated:
// each monitor holds the write end of a pipe until then.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "server/sshd_config.h"
#include "sshd/connection_setup.h"
#include "sshd/sshd.h"

namespace tessera::ssh::sshd {

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_restart = 0;

void on_terminate(int) { g_stop = 1; }
void on_hangup(int) { g_restart = 1; }
void on_child(int) {
  const int saved = errno;
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  errno = saved;
}

// The command line of this program with the options given (paths made
// absolute), as a connection's monitor or a restarted listener gets it.
std::vector<std::string> self_argv(const Options& o, bool monitor) {
  std::vector<std::string> argv = {self_path()};
  if (monitor) argv.emplace_back("--monitor");
  if (!monitor && o.foreground) argv.emplace_back("-D");
  if (!monitor && o.quiet) argv.emplace_back("-q");
  argv.insert(argv.end(), {"-f", o.config_file});
  for (const std::string& v : o.overrides) argv.insert(argv.end(), {"-o", v});
  for (const std::string& v : o.host_keys) argv.insert(argv.end(), {"-h", v});
  for (const std::string& v : o.cert_files) argv.insert(argv.end(), {"-c", v});
  for (const std::string& v : o.ports) argv.insert(argv.end(), {"-p", v});
  if (!o.log_file.empty()) argv.insert(argv.end(), {"-E", o.log_file});
  if (o.log_stderr) argv.emplace_back("-e");
  for (int i = 0; i < o.debug; ++i) argv.emplace_back("-d");
  return argv;
}

// Returns only when the exec fails.
void exec_self(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  execv(self_path().c_str(), argv.data());
}

// sshd -t and -T load the host keys too: at least one must be usable.
bool host_keys_available(const Options& options) {
  auto setup = ConnectionSetup::load(options, -1, -1);
  if (!setup.ok()) return false;
  auto keys = (*setup)->load_host_keys();
  if (keys.ok()) return true;
  std::fprintf(stderr, "%s\ntessera-sshd: no hostkeys available -- exiting.\n", keys.error().message().c_str());
  return false;
}

}  // namespace

int run_listener(const Options& options) {
  auto file = load_config(options);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", file.error().message().c_str());
    // As sshd: 1 for a missing file, a bad -o keyword or port; 255 (its
    // fatal()) for a bad configuration line.
    return file.error().code() == key::Errc::kMalformed ? 255 : 1;
  }
  if ((options.test || options.extended_test) && !host_keys_available(options)) return 1;
  const server::SshdConfig& config = file->global;
  if (options.extended_test) {
    const server::SshdConfig* shown = &config;
    server::SshdConfig matched;
    if (!options.test_spec.empty()) {
      auto context = server::parse_match_spec(options.test_spec);
      if (!context.ok()) {
        std::fprintf(stderr, "%s\n", context.error().message().c_str());
        return 255;
      }
      auto resolved = server::resolve(*file, &*context);
      if (!resolved.ok()) {
        std::fprintf(stderr, "%s\n", resolved.error().message().c_str());
        return 255;
      }
      matched = std::move(*resolved);
      shown = &matched;
    }
    std::fputs(server::dump_sshd_config(*shown).c_str(), stdout);
    return 0;
  }
  for (const auto& w : file->warnings) std::fprintf(stderr, "%s\n", w.message.c_str());
  if (options.test) return 0;

  auto addresses = server::resolve_listen_addresses(config);
  if (!addresses.ok()) {
    std::fprintf(stderr, "%s\n", addresses.error().message().c_str());
    return 255;
  }
  std::vector<int> listeners;
  for (const server::ResolvedListenAddress& a : *addresses) {
    const int fd = socket(a.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a.address.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<const sockaddr*>(&a.address), a.length) != 0 || listen(fd, 128) != 0) {
      std::fprintf(stderr, "Bind to port %s failed: %s.\n", a.text.c_str(), std::strerror(errno));
      close(fd);
      continue;
    }
    listeners.push_back(fd);
    if (options.debug > 0) std::fprintf(stderr, "Server listening on %s.\n", a.text.c_str());
  }
  if (listeners.empty()) {
    std::fprintf(stderr, "Cannot bind any address.\n");
    return 255;
  }
  if (!options.foreground && options.debug == 0 && daemon(0, 0) != 0) {
    std::fprintf(stderr, "daemon() failed: %s\n", std::strerror(errno));
    return 255;
  }
  Level level = Level::kInfo;
  log_setup(options, level);
  if (config.pid_file && options.debug == 0) {
    if (FILE* f = std::fopen(config.pid_file->c_str(), "we")) {
      std::fprintf(f, "%d\n", static_cast<int>(getpid()));
      std::fclose(f);
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_terminate;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  sa.sa_handler = on_hangup;
  sa.sa_flags = 0;
  sigaction(SIGHUP, &sa, nullptr);

  std::vector<int> startups;  // read ends: one per connection not yet authenticated
  std::mt19937 random{std::random_device{}()};
  const std::vector<std::string> args = self_argv(options, /*monitor=*/true);
  while (!g_stop && !g_restart) {
    std::vector<pollfd> fds;
    for (int fd : listeners) fds.push_back({fd, POLLIN, 0});
    for (int fd : startups) fds.push_back({fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    // A monitor closed its startup pipe: authenticated, or gone.
    for (size_t i = listeners.size(); i < fds.size(); ++i) {
      if (fds[i].revents != 0) {
        close(fds[i].fd);
        std::erase(startups, fds[i].fd);
      }
    }
    for (size_t i = 0; i < listeners.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof(peer);
      const int client = accept4(listeners[i], reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (client < 0) continue;
      // MaxStartups start:rate:full: above start, refuse with rate% growing
      // linearly to 100% at full.
      const int pending = static_cast<int>(startups.size());
      bool refuse = pending >= config.max_startups;
      if (!refuse && pending >= config.max_startups_begin && config.max_startups > config.max_startups_begin) {
        const int p = config.max_startups_rate + (100 - config.max_startups_rate) *
                                                     (pending - config.max_startups_begin) /
                                                     (config.max_startups - config.max_startups_begin);
        refuse = static_cast<int>(random() % 100) < p;
      }
      if (refuse) {
        log_line(Level::kInfo, "drop connection #" + std::to_string(pending) + ": exceeded MaxStartups");
        close(client);
        continue;
      }
      int pipe_fds[2];
      if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        close(client);
        continue;
      }
      const pid_t pid = fork();
      if (pid == 0) {
        for (int fd : listeners) close(fd);
        for (int fd : startups) close(fd);
        close(pipe_fds[0]);
        // Out of the way of 3 and 4 first, so that neither dup2 clobbers the other.
        const int c = fcntl(client, F_DUPFD_CLOEXEC, 10);
        const int p = fcntl(pipe_fds[1], F_DUPFD_CLOEXEC, 10);
        if (c < 0 || p < 0 || dup2(c, 3) < 0 || dup2(p, 4) < 0) _exit(255);
        signal(SIGCHLD, SIG_DFL);
        exec_self(args);
        _exit(255);
      }
      close(client);
      close(pipe_fds[1]);
      if (pid < 0) {
        close(pipe_fds[0]);
        continue;
      }
      startups.push_back(pipe_fds[0]);
      if (options.debug > 0) {
        // Debug mode serves one connection, in the foreground.
        while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        g_stop = 1;
      }
    }
  }
  if (config.pid_file && options.debug == 0) unlink(config.pid_file->c_str());
  if (g_restart && !g_stop) {
    // As sshd: SIGHUP re-executes the listener, which reads the
    // configuration and binds anew; connections already served go on.
    log_line(Level::kInfo, "Received SIGHUP; restarting.");
    for (int fd : listeners) close(fd);
    for (int fd : startups) close(fd);
    signal(SIGHUP, SIG_IGN);  // until the new listener has its handler
    exec_self(self_argv(options, /*monitor=*/false));
    log_line(Level::kError, "RESTART FAILED: av[0]='" + self_path() + "', error: " + std::strerror(errno) + ".");
    return 1;
  }
  return 0;
}

}  // namespace tessera::ssh::sshd
