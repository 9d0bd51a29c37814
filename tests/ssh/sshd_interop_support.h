// What the tessera-sshd interop suites (tests/ssh/sshd_*_interop_test.cc)
// share: the test account, keys, a tessera-sshd in a directory of its own,
// the client's command line, and a TCP echo target for forwarding.
#ifndef TESSERA_TESTS_SSH_SSHD_INTEROP_SUPPORT_H_
#define TESSERA_TESTS_SSH_SSHD_INTEROP_SUPPORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sshd.h"
#include "test_support.h"

namespace tessera::test::sshd_interop {

// An account whose shell is /bin/sh (root's .bashrc is slow).
inline constexpr const char* kUser = "tessera-sshtest";

inline bool ensure_user() {
  if (getpwnam(kUser) != nullptr) return true;
  if (run({"useradd", "-m", "-s", "/bin/sh", kUser}).exit_code != 0) return false;
  return run({"usermod", "-p", "*", kUser}).exit_code == 0;
}

// ssh-keygen -q -N "" -f path [args] (an ed25519 key unless args say otherwise).
inline bool make_key(const std::string& path, const std::vector<std::string>& args = {"-t", "ed25519"}) {
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", "", "-f", path};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv).exit_code == 0;
}

// tessera-sshd in a temporary directory of its own (config, log, host key,
// authorized_keys), with tests/support/sshd's config plus `extra`; the
// build's tessera-sshd unless `program` names another.
class TesseraSshd {
 public:
  explicit TesseraSshd(const std::string& extra, const std::string& host_key = "", const std::string& program = "")
      : sshd_(SshdConfig{.dir = dir_.path().string(),
                         .host_key = host_key,
                         .extra = extra,
                         .pam = false,
                         .program = program.empty() ? tessera_bin("tessera-sshd") : program}) {}
  Sshd& operator*() { return sshd_; }
  Sshd* operator->() { return &sshd_; }
  const TempDir& dir() const { return dir_; }
  std::string config_file() const { return dir_.file("sshd_config"); }

 private:
  TempDir dir_;
  Sshd sshd_;
};

// OpenSSH's ssh (or tessera-ssh, or anything taking ssh's options) to
// 127.0.0.1:port as `user`. `extra` comes first, so that its -o options win
// over the defaults here (ssh keeps the first value of each); `key` is left
// out when empty. LogLevel ERROR: refusals are shown, the known_hosts
// warning is not.
inline std::vector<std::string> ssh_argv(const std::string& program, int port, const std::string& key,
                                         const std::vector<std::string>& extra, const std::string& command,
                                         const std::string& user = kUser) {
  std::vector<std::string> argv = {program, "-F", "none", "-p", std::to_string(port)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (!key.empty()) argv.insert(argv.end(), {"-i", key});
  argv.insert(argv.end(), {"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                           "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o",
                           "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"});
  argv.push_back(user + "@127.0.0.1");
  if (!command.empty()) argv.push_back(command);
  return argv;
}

// A TCP listener on 127.0.0.1 that echoes each connection's bytes back
// until the connection says EOF, then closes it; counts connections.
class TcpEcho {
 public:
  TcpEcho() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(listener_, 16) == 0 &&
        getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{listener_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        const int fd = accept(listener_, nullptr, nullptr);
        if (fd < 0) continue;
        ++connections_;
        std::thread([fd] {
          char buf[16384];
          ssize_t n;
          while ((n = read(fd, buf, sizeof(buf))) > 0) {
            if (write(fd, buf, static_cast<size_t>(n)) != n) break;
          }
          close(fd);
        }).detach();
      }
    });
  }
  ~TcpEcho() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  TcpEcho(const TcpEcho&) = delete;
  TcpEcho& operator=(const TcpEcho&) = delete;
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Connects to 127.0.0.1:port, writes `data`, shuts down its side and
// returns everything read until EOF (up to timeout_ms).
inline std::string tcp_exchange(int port, const std::string& data, int timeout_ms = 5000) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size())) {
    shutdown(fd, SHUT_WR);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[16384];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

// Waits until `pred()` holds, polling, up to timeout_ms.
template <typename Pred>
bool eventually(Pred pred, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace tessera::test::sshd_interop

#endif  // TESSERA_TESTS_SSH_SSHD_INTEROP_SUPPORT_H_
