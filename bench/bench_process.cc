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

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace tessera::bench {

namespace fs = std::filesystem;

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

}  // namespace tessera::bench
