// The pre-auth sandbox (server/sandbox.h) and the privilege drop
// (server/privileges.h). Both change a process for good, so every test that
// enters them does so in a forked child, and the test process checks the
// child from outside (/proc/PID/status, /proc/PID/root, its limits, how it
// ended). The child reports over a socketpair, one line per finding; a line
// starting with FAIL is a failed check.
//
// Most tests need root (chroot, changing uid) and skip without it; the
// filter-only mode is tested without root too.
#include "server/privileges.h"
#include "server/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/ossl.h"
#include "tessera/sys/event_loop.h"
#include "test_support.h"

extern char** environ;

namespace tessera::ssh::server {
namespace {

constexpr int kTimeoutMs = 20000;

bool is_root() { return ::geteuid() == 0; }

#define SKIP_UNLESS_ROOT()                                                                  \
  do {                                                                                      \
    if (!is_root()) GTEST_SKIP() << "needs root (chroot and changing uid): run as root"; \
  } while (0)

// Writes all of `text` to fd; in a sandboxed child this is plain write(2).
void say(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

// Checks made inside a child: a failure becomes a "FAIL ..." line.
struct ChildChecks {
  int fd;
  int failures = 0;
  void check(bool ok, const std::string& what) {
    if (!ok) {
      ++failures;
      say(fd, "FAIL " + what + "\n");
    }
  }
  int status() const { return failures == 0 ? 0 : 1; }
};

// A forked child running body(fd) and exiting with its return value; fd is
// its end of a socketpair to the test. Killed and reaped if the test ends
// first.
class ForkedChild {
 public:
  explicit ForkedChild(const std::function<int(int fd)>& body) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      ::_exit(body(fds[1]));
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~ForkedChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;

  bool started() const { return pid_ > 0 && fd_ >= 0; }
  pid_t pid() const { return pid_; }

  void send(std::string_view text) { say(fd_, text); }

  // One line from the child, without its '\n'; what came before EOF or the
  // time limit otherwise.
  std::string read_line() {
    std::string line;
    char c = 0;
    while (read_byte(&c) && c != '\n') line += c;
    return line;
  }
  // Everything until the child closes its end (or the time limit).
  std::string read_all() {
    std::string all;
    char c = 0;
    while (read_byte(&c)) all += c;
    return all;
  }

  // The wait status; -1 if the child had to be killed after the time limit.
  int wait() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return status;
      }
      ::usleep(5000);
    }
    return -1;
  }

 private:
  bool read_byte(char* c) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, kTimeoutMs) != 1) return false;
    return ::read(fd_, c, 1) == 1;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
};

std::string describe_status(int status) {
  if (status == -1) return "still running after the time limit";
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

bool exited_ok(int status) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
bool killed_by_sigsys(int status) { return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }

// /proc/PID/status as "Field" -> "value" (tabs kept between values).
std::map<std::string, std::string> proc_status(pid_t pid) {
  std::map<std::string, std::string> fields;
  std::istringstream in(test::read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t start = colon + 1;
    while (start < line.size() && (line[start] == '\t' || line[start] == ' ')) ++start;
    std::string value = line.substr(start);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    fields[line.substr(0, colon)] = value;
  }
  return fields;
}

std::string four_times(unsigned id) {
  const std::string s = std::to_string(id);
  return s + "\t" + s + "\t" + s + "\t" + s;
}

// A soft limit from /proc/PID/limits ("Max file size  0  0  bytes"); prlimit
// would need CAP_SYS_RESOURCE, which a container may withhold even from root.
std::string limit_of(pid_t pid, const std::string& name) {
  std::istringstream in(test::read_file("/proc/" + std::to_string(pid) + "/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    std::istringstream values(line.substr(name.size()));
    std::string soft;
    values >> soft;
    return soft;
  }
  return "(no " + name + " line)";
}

// The unprivileged account to sandbox into: "sshd" where it exists (as on
// this machine), else "nobody".
UserIdentity sandbox_account() {
  auto sshd = lookup_user("sshd");
  if (sshd.ok()) return *sshd;
  auto nobody = lookup_user("nobody");
  return nobody.ok() ? *nobody : UserIdentity{};
}

// A chroot of the test's own: an empty root-owned directory, mode 0755.
class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (chroot and changing uid): run as root";
    account_ = sandbox_account();
    if (account_.name.empty()) GTEST_SKIP() << "neither an 'sshd' nor a 'nobody' account exists";
    chroot_ = dir_.path() / "empty";
    ASSERT_EQ(::mkdir(chroot_.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(chroot_.c_str(), 0755), 0);
    options_.chroot_dir = chroot_.string();
    options_.user = account_.name;
  }

  // Forks a child that enters the sandbox, says "ready", waits for one byte
  // from the test and then runs `after(fd)` (its status is the child's).
  std::unique_ptr<ForkedChild> start_sandboxed(const std::function<int(int fd)>& after,
                                               const SandboxOptions* options = nullptr) {
    const SandboxOptions chosen = options != nullptr ? *options : options_;
    return std::make_unique<ForkedChild>([chosen, after](int fd) {
      auto entered = enter_preauth_sandbox(chosen);
      if (!entered.ok()) {
        say(fd, "ERROR " + entered.error().message() + "\n");
        return 70;
      }
      say(fd, "ready\n");
      char go = 0;
      if (::read(fd, &go, 1) != 1) return 71;
      return after(fd);
    });
  }

  test::TempDir dir_;
  std::filesystem::path chroot_;
  UserIdentity account_;
  SandboxOptions options_;
};

// What a sandboxed child must still be able to do: everything the pre-auth
// child's work needs.
int sandboxed_work(int fd) {
  ChildChecks checks{fd};

  // The socketpair both ways, with read/write and with recv/send.
  char message[5] = {};
  checks.check(::recv(fd, message, sizeof message, MSG_WAITALL) == 5, "recv of the test's message");
  const std::string echo = "echo " + std::string(message, sizeof message) + "\n";
  checks.check(::send(fd, echo.data(), echo.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(echo.size()),
               "send of the echo");
  say(fd, "write works\n");

  // malloc, large blocks (mmap) and growing one (mremap), small ones (brk).
  {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 4; ++i) {
      blocks.emplace_back(new char[size_t{64} << 20]);
      std::memset(blocks.back().get(), i + 1, size_t{64} << 20);
    }
    void* grown = std::malloc(size_t{1} << 20);
    checks.check(grown != nullptr, "malloc 1 MiB");
    grown = std::realloc(grown, size_t{256} << 20);
    checks.check(grown != nullptr, "realloc to 256 MiB");
    if (grown != nullptr) std::memset(grown, 7, size_t{256} << 20);
    std::free(grown);
    std::vector<std::string> small;
    for (int i = 0; i < 100000; ++i) small.push_back(std::string(40, 'x'));
    checks.check(small.back().size() == 40, "many small allocations");
  }

  // OpenSSL's RNG and an AES-256-GCM round trip, as the child's ciphers do.
  unsigned char key[32], iv[12];
  checks.check(RAND_bytes(key, sizeof key) == 1 && RAND_bytes(iv, sizeof iv) == 1, "RAND_bytes");
  unsigned char second[32];
  checks.check(RAND_bytes(second, sizeof second) == 1 && std::memcmp(key, second, sizeof key) != 0,
               "RAND_bytes gives fresh bytes");
  {
    const std::string plain(4000, 'p');
    std::vector<unsigned char> sealed(plain.size() + 16), opened(plain.size() + 16);
    unsigned char tag[16];
    int n = 0, m = 0;
    key::ossl::CipherCtxPtr enc(EVP_CIPHER_CTX_new());
    bool ok = enc && EVP_EncryptInit_ex(enc.get(), EVP_aes_256_gcm(), nullptr, key, iv) == 1 &&
              EVP_EncryptUpdate(enc.get(), sealed.data(), &n, reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size())) == 1 &&
              EVP_EncryptFinal_ex(enc.get(), sealed.data() + n, &m) == 1 &&
              EVP_CIPHER_CTX_ctrl(enc.get(), EVP_CTRL_GCM_GET_TAG, sizeof tag, tag) == 1;
    checks.check(ok, "AES-256-GCM encryption");
    key::ossl::CipherCtxPtr dec(EVP_CIPHER_CTX_new());
    int p = 0, q = 0;
    ok = ok && dec && EVP_DecryptInit_ex(dec.get(), EVP_aes_256_gcm(), nullptr, key, iv) == 1 &&
         EVP_DecryptUpdate(dec.get(), opened.data(), &p, sealed.data(), n + m) == 1 &&
         EVP_CIPHER_CTX_ctrl(dec.get(), EVP_CTRL_GCM_SET_TAG, sizeof tag, tag) == 1 &&
         EVP_DecryptFinal_ex(dec.get(), opened.data() + p, &q) == 1 &&
         std::string(reinterpret_cast<const char*>(opened.data()), static_cast<size_t>(p + q)) == plain;
    checks.check(ok, "AES-256-GCM decryption gives the plaintext back");
  }

  // Files fail softly with EACCES (nothing to find in the chroot anyway).
  errno = 0;
  int opened_fd = ::open("/etc/passwd", O_RDONLY);
  checks.check(opened_fd == -1 && errno == EACCES, "open fails with EACCES, got " + std::to_string(opened_fd) +
                                                       " errno " + std::to_string(errno));
  errno = 0;
  opened_fd = ::openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
  checks.check(opened_fd == -1 && errno == EACCES, "openat fails with EACCES");
  errno = 0;
  FILE* file = std::fopen("/etc/hostname", "r");
  checks.check(file == nullptr && errno == EACCES, "fopen fails with EACCES");

  // The clocks and a short sleep.
  timespec now{};
  checks.check(::clock_gettime(CLOCK_MONOTONIC, &now) == 0, "clock_gettime");
  checks.check(::usleep(1000) == 0, "usleep");
  checks.check(::getpid() > 0, "getpid");

  say(fd, "done\n");
  return checks.status();
}

TEST_F(SandboxTest, ChildIsConfinedAndCanStillDoItsWork) {
  auto child = start_sandboxed(sandboxed_work);
  ASSERT_TRUE(child->started());
  ASSERT_EQ(child->read_line(), "ready");
  const pid_t pid = child->pid();

  // From outside: the account, the filter, no-new-privs, the chroot, the limits.
  auto status = proc_status(pid);
  EXPECT_EQ(status["Uid"], four_times(account_.uid));
  EXPECT_EQ(status["Gid"], four_times(account_.gid));
  EXPECT_EQ(status["Groups"], std::to_string(account_.gid));
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/root", ec), chroot_);
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec), chroot_);
  EXPECT_EQ(limit_of(pid, "Max file size"), "0");
  EXPECT_EQ(limit_of(pid, "Max processes"), "0");
  // One past the highest descriptor the child has open (plus a sanitizer
  // build's spare ones).
  int highest_fd = -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    highest_fd = std::max(highest_fd, std::stoi(entry.path().filename().string()));
  }
  EXPECT_EQ(limit_of(pid, "Max open files"), std::to_string(highest_fd + 1 + kPreauthSpareDescriptors));
  // Non-dumpable: the kernel gives the files of /proc/PID to root.
  struct stat proc_dir{};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &proc_dir), 0);
  EXPECT_EQ(proc_dir.st_uid, 0u);

  child->send("g");
  child->send("hello");
  const std::string report = child->read_all();
  const int exit_status = child->wait();
  EXPECT_TRUE(exited_ok(exit_status)) << describe_status(exit_status) << "\n" << report;
  EXPECT_EQ(report.find("FAIL"), std::string::npos) << report;
  EXPECT_NE(report.find("echo hello\n"), std::string::npos) << report;
  EXPECT_NE(report.find("write works\n"), std::string::npos) << report;
  EXPECT_NE(report.find("done\n"), std::string::npos) << report;
}

// The pre-auth child runs on the codebase's event loop: made before the
// sandbox, it watches descriptors, runs timers and posted tasks inside it.
TEST_F(SandboxTest, EventLoopRunsInside) {
  ForkedChild child([options = options_](int fd) {
    auto loop = sys::EventLoop::create();
    if (!loop.ok()) return 73;
    auto entered = enter_preauth_sandbox(options);
    if (!entered.ok()) {
      say(fd, "ERROR " + entered.error().message() + "\n");
      return 70;
    }
    sys::EventLoop& l = **loop;
    std::string received;
    bool timer_ran = false, posted_ran = false;
    auto watched = l.add_fd(fd, EPOLLIN, [&](uint32_t) {
      char buffer[64];
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) received.append(buffer, static_cast<size_t>(n));
      if (n <= 0 || received.find('\n') != std::string::npos) l.remove_fd(fd);
    });
    if (!watched.ok()) return 74;
    l.add_timer(l.now() + std::chrono::milliseconds(20), [&] { timer_ran = true; });
    l.post([&] { posted_ran = true; });
    say(fd, "ready\n");
    l.run_until([&] { return timer_ran && posted_ran && received.find('\n') != std::string::npos; });
    say(fd, "got " + received);
    return 0;
  });
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.read_line(), "ready");
  child.send("over the loop\n");
  const std::string report = child.read_all();
  const int status = child.wait();
  EXPECT_TRUE(exited_ok(status)) << describe_status(status) << "\n" << report;
  EXPECT_EQ(report, "got over the loop\n");
}

// A call the filter forbids kills the child (SIGSYS), and only it.
struct ForbiddenCall {
  const char* name;
  void (*call)(int fd);
};

volatile long g_sink = 0;

const ForbiddenCall kForbiddenCalls[] = {
    {"socket", [](int) { g_sink = ::socket(AF_INET, SOCK_STREAM, 0); }},
    {"execve",
     [](int) {
       char path[] = "/bin/true";
       char* argv[] = {path, nullptr};
       g_sink = ::execve(path, argv, environ);
     }},
    {"ptrace", [](int) { g_sink = ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); }},
    {"kill", [](int) { g_sink = ::kill(::getpid(), 0); }},
    {"fork",
     [](int) {
       const pid_t p = ::fork();
       if (p == 0) ::_exit(0);
       g_sink = p;
     }},
    {"mmap_exec",
     [](int) {
       void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
       g_sink = reinterpret_cast<long>(p);
     }},
    {"sendto_with_address",
     [](int fd) {
       sockaddr_un addr{};
       addr.sun_family = AF_UNIX;
       std::strcpy(addr.sun_path, "/x");
       g_sink = ::sendto(fd, "x", 1, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
     }},
    {"setuid", [](int) { g_sink = ::setuid(0); }},
    {"unlink", [](int) { g_sink = ::unlink("/x"); }},
    {"prctl", [](int) { g_sink = ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }},
    {"getuid", [](int) { g_sink = static_cast<long>(::syscall(SYS_getuid)); }},
};

class ForbiddenCallTest : public SandboxTest, public ::testing::WithParamInterface<ForbiddenCall> {};

TEST_P(ForbiddenCallTest, KillsOnlyThatChild) {
  const ForbiddenCall forbidden = GetParam();
  // A bystander in its own sandbox, to show that it lives on.
  auto bystander = start_sandboxed([](int fd) {
    char c = 0;
    if (::read(fd, &c, 1) != 1) return 72;
    say(fd, "still here\n");
    return 0;
  });
  auto child = start_sandboxed([forbidden](int fd) {
    forbidden.call(fd);
    say(fd, "survived\n");
    return 0;
  });
  ASSERT_TRUE(child->started() && bystander->started());
  ASSERT_EQ(bystander->read_line(), "ready");
  ASSERT_EQ(child->read_line(), "ready");
  child->send("g");
  const std::string report = child->read_all();
  const int status = child->wait();
  EXPECT_TRUE(killed_by_sigsys(status)) << forbidden.name << ": " << describe_status(status) << "\n" << report;
  EXPECT_EQ(report.find("survived"), std::string::npos) << report;

  bystander->send("gx");
  EXPECT_EQ(bystander->read_line(), "still here");
  EXPECT_TRUE(exited_ok(bystander->wait()));
  // And the test process carries on, unconfined.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(s, 0);
  if (s >= 0) ::close(s);
}

INSTANTIATE_TEST_SUITE_P(Calls, ForbiddenCallTest, ::testing::ValuesIn(kForbiddenCalls),
                         [](const ::testing::TestParamInfo<ForbiddenCall>& call) { return call.param.name; });

// In trap mode the child sees which call it was (for finding a missing entry).
int g_trap_fd = -1;

void report_sigsys(int, siginfo_t* info, void*) {
  const int number = info->si_syscall;
  if (::write(g_trap_fd, &number, sizeof number) != sizeof number) ::_exit(4);
  ::_exit(3);
}

TEST_F(SandboxTest, TrapModeNamesTheForbiddenCall) {
  SandboxOptions options = options_;
  options.on_violation = ViolationAction::kTrap;
  ForkedChild child([options](int fd) {
    g_trap_fd = fd;
    struct sigaction action{};
    action.sa_sigaction = report_sigsys;
    action.sa_flags = SA_SIGINFO;
    ::sigaction(SIGSYS, &action, nullptr);
    auto entered = enter_preauth_sandbox(options);
    if (!entered.ok()) {
      say(fd, "ERROR " + entered.error().message() + "\n");
      return 70;
    }
    g_sink = ::socket(AF_INET, SOCK_STREAM, 0);
    return 0;
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  const int status = child.wait();
  ASSERT_EQ(report.size(), sizeof(int)) << report;
  int number = 0;
  std::memcpy(&number, report.data(), sizeof number);
  EXPECT_EQ(number, SYS_socket);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3) << describe_status(status);
}

// The filter alone, which needs no root: what tests of other parts can use.
TEST(SandboxFilterOnly, ConfinesWithoutRoot) {
  SandboxOptions options;
  options.mode = SandboxMode::kFilterOnly;
  const uid_t uid = ::getuid();
  ForkedChild child([options](int fd) {
    auto entered = enter_preauth_sandbox(options);
    if (!entered.ok()) {
      say(fd, "ERROR " + entered.error().message() + "\n");
      return 70;
    }
    say(fd, "ready\n");
    char go = 0;
    if (::read(fd, &go, 1) != 1) return 71;
    ChildChecks checks{fd};
    unsigned char bytes[16];
    checks.check(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes");
    errno = 0;
    checks.check(::open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES, "open fails with EACCES");
    say(fd, checks.failures == 0 ? "checked\n" : "");
    g_sink = ::socket(AF_INET, SOCK_STREAM, 0);
    say(fd, "survived\n");
    return 0;
  });
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.read_line(), "ready");
  auto status = proc_status(child.pid());
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["Uid"], four_times(uid));  // no account change in this mode
  child.send("g");
  const std::string report = child.read_all();
  const int wait_status = child.wait();
  EXPECT_EQ(report, "checked\n");
  EXPECT_TRUE(killed_by_sigsys(wait_status)) << describe_status(wait_status);
}

// With the defaults, as tessera-sshd will use them: /run/sshd and "sshd".
TEST(SandboxDefaults, WorkOnThisMachine) {
  SKIP_UNLESS_ROOT();
  if (!lookup_user(kDefaultPreauthUser).ok()) GTEST_SKIP() << "no 'sshd' account: install openssh-server";
  auto usable = check_chroot_dir(kDefaultPreauthChroot);
  if (!usable.ok()) GTEST_SKIP() << usable.error().message() << " (install openssh-server, which makes it)";
  const UserIdentity sshd = *lookup_user(kDefaultPreauthUser);
  ForkedChild child([](int fd) {
    auto entered = enter_preauth_sandbox();
    if (!entered.ok()) {
      say(fd, "ERROR " + entered.error().message() + "\n");
      return 70;
    }
    say(fd, "ready\n");
    char go = 0;
    return ::read(fd, &go, 1) == 1 ? 0 : 71;
  });
  ASSERT_TRUE(child.started());
  ASSERT_EQ(child.read_line(), "ready");
  auto status = proc_status(child.pid());
  EXPECT_EQ(status["Uid"], four_times(sshd.uid));
  EXPECT_EQ(status["Gid"], four_times(sshd.gid));
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(child.pid()) + "/root", ec).string(),
            kDefaultPreauthChroot);
  child.send("g");
  EXPECT_TRUE(exited_ok(child.wait()));
}

// Refusals happen before anything changes: the child is still root,
// unconfined, in the real root directory.
TEST_F(SandboxTest, RefusesAnUnsafeChrootAndChangesNothing) {
  ASSERT_EQ(::chmod(chroot_.c_str(), 0777), 0);
  ForkedChild child([options = options_](int fd) {
    ChildChecks checks{fd};
    auto entered = enter_preauth_sandbox(options);
    checks.check(!entered.ok(), "an 0777 chroot is refused");
    if (!entered.ok()) {
      checks.check(entered.error().code() == key::Errc::kInvalidArgument, "as kInvalidArgument");
      checks.check(entered.error().message().find("writable by group or others") != std::string::npos,
                   "saying why: " + entered.error().message());
    }
    checks.check(::getuid() == 0 && ::geteuid() == 0, "still root");
    checks.check(::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0, "no filter");
    checks.check(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no no-new-privs");
    checks.check(::access("/etc/passwd", R_OK) == 0, "not chrooted");
    return checks.status();
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  EXPECT_TRUE(exited_ok(child.wait())) << report;
}

TEST_F(SandboxTest, RefusesRootAndMissingAccounts) {
  SandboxOptions as_root = options_;
  as_root.user = "root";
  SandboxOptions missing = options_;
  missing.user = "no-such-user-tessera";
  ForkedChild child([as_root, missing](int fd) {
    ChildChecks checks{fd};
    auto entered = enter_preauth_sandbox(as_root);
    checks.check(!entered.ok() && entered.error().message().find("uid 0") != std::string::npos,
                 "the root account is refused");
    entered = enter_preauth_sandbox(missing);
    checks.check(!entered.ok() && entered.error().message().find("no such user") != std::string::npos,
                 "a missing account is refused");
    checks.check(::getuid() == 0 && ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0, "nothing changed");
    return checks.status();
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  EXPECT_TRUE(exited_ok(child.wait())) << report;
}

TEST_F(SandboxTest, FullModeNeedsRoot) {
  const UserIdentity account = account_;
  ForkedChild child([account, options = options_](int fd) {
    ChildChecks checks{fd};
    checks.check(drop_to_user(account).ok(), "drop to " + account.name);
    auto entered = enter_preauth_sandbox(options);
    checks.check(!entered.ok() && entered.error().code() == key::Errc::kInvalidArgument &&
                     entered.error().message().find("needs root") != std::string::npos,
                 "refused without root");
    return checks.status();
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  EXPECT_TRUE(exited_ok(child.wait())) << report;
}

// check_chroot_dir has no side effects: tested in-process.
TEST_F(SandboxTest, ChrootDirectoryChecks) {
  EXPECT_TRUE(check_chroot_dir(chroot_.string()).ok());
  // Through a symbolic link: the directory it names is what is checked.
  const auto link = dir_.path() / "link";
  std::filesystem::create_directory_symlink(chroot_, link);
  EXPECT_TRUE(check_chroot_dir(link.string()).ok());

  auto refused = [](const std::string& path, const std::string& why) {
    auto checked = check_chroot_dir(path);
    if (checked.ok()) return ::testing::AssertionFailure() << path << " accepted";
    if (checked.error().message().find(why) == std::string::npos) {
      return ::testing::AssertionFailure() << path << ": " << checked.error().message();
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused("relative/dir", "absolute"));
  EXPECT_TRUE(refused((dir_.path() / "missing").string(), "does not exist"));

  ASSERT_EQ(::chmod(chroot_.c_str(), 0775), 0);
  EXPECT_TRUE(refused(chroot_.string(), "writable by group or others (mode 0775)"));
  ASSERT_EQ(::chmod(chroot_.c_str(), 01777), 0);  // sticky is no excuse for the chroot itself
  EXPECT_TRUE(refused(chroot_.string(), "writable by group or others"));
  ASSERT_EQ(::chmod(chroot_.c_str(), 0755), 0);

  ASSERT_EQ(::chown(chroot_.c_str(), 65534, 65534), 0);
  EXPECT_TRUE(refused(chroot_.string(), "owned by root, not uid 65534"));
  ASSERT_EQ(::chown(chroot_.c_str(), 0, 0), 0);

  test::write_file((chroot_ / "stray").string(), "x");
  EXPECT_TRUE(refused(chroot_.string(), "must be empty but holds 'stray'"));
  std::filesystem::remove(chroot_ / "stray");
  EXPECT_TRUE(check_chroot_dir(chroot_.string()).ok());

  test::write_file((dir_.path() / "file").string(), "x");
  EXPECT_TRUE(refused((dir_.path() / "file").string(), "not a directory"));

  // A parent others can write to (and not sticky) could swap the chroot.
  const auto open_parent = dir_.path() / "open";
  const auto inner = open_parent / "inner";
  ASSERT_EQ(::mkdir(open_parent.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(inner.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(open_parent.c_str(), 0777), 0);
  EXPECT_TRUE(refused(inner.string(), "its parent " + open_parent.string()));
  ASSERT_EQ(::chmod(open_parent.c_str(), 01777), 0);  // sticky, as /tmp: fine
  EXPECT_TRUE(check_chroot_dir(inner.string()).ok());
}

// ---- lookup_user and drop_to_user ----

TEST(Privileges, LookupUser) {
  auto root = lookup_user("root");
  ASSERT_TRUE(root.ok()) << root.error().message();
  EXPECT_EQ(root->name, "root");
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_EQ(root->home, "/root");
  EXPECT_FALSE(root->shell.empty());

  const passwd* me = ::getpwuid(::getuid());
  ASSERT_NE(me, nullptr);
  auto mine = lookup_user(me->pw_name);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->uid, me->pw_uid);
  EXPECT_EQ(mine->gid, me->pw_gid);
  EXPECT_EQ(mine->home, me->pw_dir);
  EXPECT_EQ(mine->shell, me->pw_shell);
  EXPECT_EQ(mine->gecos, me->pw_gecos);

  auto missing = lookup_user("no-such-user-tessera");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), key::Errc::kInvalidArgument);
  EXPECT_EQ(missing.error().message(), "no such user 'no-such-user-tessera'");
  EXPECT_FALSE(lookup_user("").ok());
  EXPECT_FALSE(lookup_user(std::string_view("root\0x", 6)).ok());
  EXPECT_FALSE(lookup_user(std::string(kMaxUserNameBytes + 1, 'a')).ok());
}

// A non-root account with supplementary groups if this machine has one
// (postgres is in ssl-cert here), else "nobody".
UserIdentity account_with_groups() {
  ::setpwent();
  while (const passwd* entry = ::getpwent()) {
    if (entry->pw_uid == 0) continue;
    auto user = lookup_user(entry->pw_name);
    if (!user.ok()) continue;
    auto groups = user_groups(*user);
    if (groups.ok() && groups->size() > 1) {
      ::endpwent();
      return *user;
    }
  }
  ::endpwent();
  auto nobody = lookup_user("nobody");
  return nobody.ok() ? *nobody : UserIdentity{};
}

std::string sorted_list(std::vector<gid_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string out;
  for (gid_t id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

TEST(Privileges, DropToUserIsCompleteAndIrreversible) {
  SKIP_UNLESS_ROOT();
  const UserIdentity user = account_with_groups();
  ASSERT_FALSE(user.name.empty());
  auto groups = user_groups(user);
  ASSERT_TRUE(groups.ok()) << groups.error().message();
  const std::string expected_groups = sorted_list(*groups);

  ForkedChild child([user](int fd) {
    // Groups root had must not survive the drop.
    const gid_t roots_groups[] = {0, 4, 27, 50};
    if (::setgroups(4, roots_groups) != 0) return 72;
    auto dropped = drop_to_user(user);
    if (!dropped.ok()) {
      say(fd, "ERROR " + dropped.error().message() + "\n");
      return 70;
    }
    uid_t r = 0, e = 0, s = 0;
    gid_t gr = 0, ge = 0, gs = 0;
    ::getresuid(&r, &e, &s);
    ::getresgid(&gr, &ge, &gs);
    say(fd, "uids " + std::to_string(r) + " " + std::to_string(e) + " " + std::to_string(s) + "\n");
    say(fd, "gids " + std::to_string(gr) + " " + std::to_string(ge) + " " + std::to_string(gs) + "\n");
    std::vector<gid_t> have(static_cast<size_t>(std::max(::getgroups(0, nullptr), 0)));
    if (!have.empty()) have.resize(static_cast<size_t>(std::max(::getgroups(static_cast<int>(have.size()), have.data()), 0)));
    say(fd, "groups " + sorted_list(have) + "\n");
    // Every way back to root fails.
    auto attempt = [fd](const char* what, int result) {
      const int error = errno;
      say(fd, std::string(what) + " " + std::to_string(result) + " " + std::to_string(error) + "\n");
    };
    const gid_t zero[] = {0};
    errno = 0;
    attempt("setuid(0)", ::setuid(0));
    errno = 0;
    attempt("setresuid(0)", ::setresuid(0, 0, 0));
    errno = 0;
    attempt("setgid(0)", ::setgid(0));
    errno = 0;
    attempt("setgroups", ::setgroups(1, zero));
    say(fd, "dumpable " + std::to_string(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) + "\n");
    return 0;
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  EXPECT_TRUE(exited_ok(child.wait())) << report;
  const std::string uid = std::to_string(user.uid), gid = std::to_string(user.gid);
  const std::string eperm = " -1 " + std::to_string(EPERM) + "\n";
  EXPECT_EQ(report, "uids " + uid + " " + uid + " " + uid + "\n" +  //
                        "gids " + gid + " " + gid + " " + gid + "\n" +  //
                        "groups " + expected_groups + "\n" +           //
                        "setuid(0)" + eperm + "setresuid(0)" + eperm + "setgid(0)" + eperm + "setgroups" + eperm +
                        "dumpable 0\n");
}

TEST(Privileges, DropWithExactlyTheGroupsGiven) {
  SKIP_UNLESS_ROOT();
  auto nobody = lookup_user("nobody");
  if (!nobody.ok()) GTEST_SKIP() << "no 'nobody' account";
  const UserIdentity user = *nobody;
  ForkedChild child([user](int fd) {
    const gid_t only_own[] = {user.gid};
    auto dropped = drop_to_user_with_groups(user, only_own);
    if (!dropped.ok()) {
      say(fd, "ERROR " + dropped.error().message() + "\n");
      return 70;
    }
    gid_t have[8];
    const int n = ::getgroups(8, have);
    say(fd, std::to_string(n) + " " + std::to_string(n > 0 ? have[0] : 0) + "\n");
    // A second drop needs root, which is gone.
    auto again = drop_to_user(user);
    say(fd, again.ok() ? "again ok\n" : again.error().message() + "\n");
    return 0;
  });
  ASSERT_TRUE(child.started());
  const std::string report = child.read_all();
  EXPECT_TRUE(exited_ok(child.wait())) << report;
  EXPECT_EQ(report, "1 " + std::to_string(user.gid) + "\nchanging to user '" + user.name +
                        "' needs root (running as uid " + std::to_string(user.uid) + ")\n");
}

}  // namespace
}  // namespace tessera::ssh::server
