#include "bench_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <shadow.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace tessera::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void die(const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, why.c_str());
  std::exit(1);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text, fs::perms perms) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) die("cannot write " + path);
  fs::permissions(path, perms);
}

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) die("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

int open_or_die(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

int wait_for(pid_t pid, rusage* usage) {
  int status = 0;
  pid_t got;
  do {
    got = ::wait4(pid, &status, 0, usage);
  } while (got < 0 && errno == EINTR);
  if (got != pid) die("wait4: " + std::string(std::strerror(errno)));
  return status;
}

void run_or_die(const std::vector<std::string>& argv, const std::string& log) {
  const int null_in = open_or_die("/dev/null", O_RDONLY);
  const int err = open_or_die(log, O_WRONLY | O_CREAT | O_TRUNC);
  const pid_t pid = spawn(argv, null_in, err, err);
  ::close(null_in);
  ::close(err);
  const int status = wait_for(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die(argv[0] + " failed: " + read_text(log));
}

ScratchDir::ScratchDir(const std::string& prefix, bool keep) : keep_(keep) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp failed");
  path_ = tmpl;
  ::chmod(path_.c_str(), 0755);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!keep_) fs::remove_all(path_, ec);
}

void ensure_account(const std::string& dir) {
  if (::getpwnam(kAccount) == nullptr) {
    run_or_die({"/usr/sbin/useradd", "-m", "-s", "/bin/sh", kAccount}, dir + "/useradd.log");
  }
  const struct spwd* sp = ::getspnam(kAccount);
  if (sp == nullptr || sp->sp_pwdp == nullptr || sp->sp_pwdp[0] == '!') {
    run_or_die({"/usr/sbin/usermod", "-p", "*", kAccount}, dir + "/usermod.log");
  }
  const struct passwd* pw = ::getpwnam(kAccount);
  if (pw == nullptr) die(std::string("account ") + kAccount + " is missing after useradd");
  if (std::string(pw->pw_shell) != "/bin/sh") {
    std::fprintf(stderr, "%s: note: %s's shell is %s, not /bin/sh\n", program_invocation_short_name, kAccount,
                 pw->pw_shell);
  }
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

void make_ed25519_key(const std::string& path, const std::string& log) {
  run_or_die({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path}, log);
}

std::string make_login_key(const std::string& dir) {
  const std::string key = dir + "/id_ed25519";
  make_ed25519_key(key, dir + "/keygen.log");
  write_text(dir + "/authorized_keys", read_text(key + ".pub"), fs::perms(0644));
  return key;
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::istringstream in(read_text(task.path().string() + "/children"));
    for (pid_t child; in >> child;) out.push_back(child);
  }
  return out;
}

double reaped_children_cpu(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream in(stat.substr(paren + 2));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  // After the command: state is field 3, cutime field 16, cstime 17.
  if (fields.size() < 15) return 0;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(fields[13]) + std::stod(fields[14])) / ticks;
}

Server::Server(const char* name, const std::string& program, const std::string& dir, const std::string& config)
    : name_(name), dir_(dir) {
  port_ = free_tcp_port();
  ::mkdir(dir.c_str(), 0755);
  const std::string config_path = dir + "/sshd_config";
  write_text(config_path, "Port " + std::to_string(port_) + "\nPidFile " + dir + "/sshd.pid\n" + config,
             fs::perms(0644));
  const int null_in = open_or_die("/dev/null", O_RDONLY);
  const int log = open_or_die(dir + "/sshd.log", O_WRONLY | O_CREAT | O_TRUNC);
  pid_ = spawn({program, "-D", "-e", "-f", config_path}, null_in, log, log);
  ::close(null_in);
  ::close(log);
  for (int i = 0; i < 100 && !port_open(port_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      die(program + " exited at start: " + read_text(dir + "/sshd.log"));
    }
  }
  if (!port_open(port_)) die(program + " does not listen on port " + std::to_string(port_));
}

Server::~Server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string Server::log() const { return read_text(dir_ + "/sshd.log"); }

double reap_until_quiet(const std::vector<const Server*>& servers) {
  double cpu = 0;
  std::set<pid_t> server_pids;
  for (const Server* s : servers) server_pids.insert(s->pid());
  for (int i = 0; i < 4000; ++i) {
    int status = 0;
    rusage usage{};
    const pid_t got = ::wait4(-1, &status, WNOHANG, &usage);
    if (server_pids.count(got) != 0) die("a server exited");
    if (got > 0) {
      cpu += seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
      continue;
    }
    bool quiet = true;
    for (const Server* s : servers) quiet = quiet && children_of(s->pid()).empty();
    for (pid_t p : children_of(::getpid())) quiet = quiet && server_pids.count(p) != 0;
    if (quiet) return cpu;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::fprintf(stderr, "%s: note: connections did not end within 20 s; figures are partial\n",
               program_invocation_short_name);
  return cpu;
}

std::vector<std::string> base_client_argv(const std::string& client, const std::string& key) {
  return {client, "-F", "none", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
          "-o", "IdentityAgent=none"};
}

namespace {

// The clients running now, by slot (lock-free atomics: safe in a signal
// handler).
std::array<std::atomic<pid_t>, kClientSlots> g_running_clients{};

void kill_running_clients(int) {
  for (auto& p : g_running_clients) {
    const pid_t pid = p.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

}  // namespace

void kill_clients_on_alarm() {
  struct sigaction sa {};
  sa.sa_handler = kill_running_clients;
  ::sigaction(SIGALRM, &sa, nullptr);
}

std::vector<uint8_t> feed_chunk() {
  std::vector<uint8_t> chunk(1 << 20);
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  return chunk;
}

ClientRun run_client(const std::vector<std::string>& argv, size_t slot, const std::string& err_log,
                     const std::vector<uint8_t>& chunk, uint64_t feed, int pipe_size) {
  int in_fds[2] = {-1, -1};
  if (feed > 0) {
    if (::pipe2(in_fds, O_CLOEXEC) != 0) die("pipe");
    if (pipe_size > 0 && ::fcntl(in_fds[1], F_SETPIPE_SZ, pipe_size) < 0) die("F_SETPIPE_SZ refused");
  } else {
    in_fds[0] = open_or_die("/dev/null", O_RDONLY);
  }
  const int out = open_or_die("/dev/null", O_WRONLY);
  const int err = open_or_die(err_log, O_WRONLY | O_CREAT | O_TRUNC);
  const auto start = Clock::now();
  const pid_t pid = spawn(argv, in_fds[0], out, err);
  g_running_clients[slot].store(pid);
  ::close(in_fds[0]);
  ::close(out);
  ::close(err);
  if (feed > 0) {
    uint64_t left = feed;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      const ssize_t w = ::write(in_fds[1], chunk.data(), n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;  // the client went away: its exit status says why
      left -= static_cast<uint64_t>(w);
    }
    ::close(in_fds[1]);
  }
  rusage usage{};
  ClientRun r;
  r.status = wait_for(pid, &usage);
  const auto end = Clock::now();
  g_running_clients[slot].store(-1);
  r.wall = std::chrono::duration<double>(end - start).count();
  r.cpu = seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
  return r;
}

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

std::string load_average() {
  std::istringstream in(read_text("/proc/loadavg"));
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string first_line_of(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "?";
  char line[256] = {};
  if (std::fgets(line, sizeof line, p) == nullptr) line[0] = 0;
  ::pclose(p);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace tessera::bench
