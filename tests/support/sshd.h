// OpenSSH's sshd for a test: on 127.0.0.1, a free port, a temporary config
// in a directory of the test's own, stopped (and reaped) on destruction.
#ifndef TESSERA_TESTS_SUPPORT_SSHD_H_
#define TESSERA_TESTS_SUPPORT_SSHD_H_

#include <memory>
#include <string>

#include "test_support.h"

namespace tessera::test {

inline constexpr const char* kSshdPath = "/usr/sbin/sshd";

struct SshdConfig {
  std::string dir;       // config, pid file, log and (by default) host key go here
  std::string host_key;  // a private host key; empty: a fresh ed25519 key made in dir
  std::string extra;     // more sshd_config lines (TrustedUserCAKeys, HostCertificate, ...)
  bool pam = false;      // UsePAM yes (keyboard-interactive passwords go through PAM)
  std::string program = kSshdPath;  // or tessera-sshd, which reads the same config
};

class Sshd {
 public:
  // Why sshd cannot run here ("" when it can): not installed, or not root.
  static std::string unavailable();

  // Writes the config (Port, ListenAddress 127.0.0.1, HostKey, PidFile,
  // AuthorizedKeysFile <dir>/authorized_keys, StrictModes no, UsePAM no, no
  // passwords, root logins allowed) plus config.extra, and starts sshd -D -e.
  // The directory is made readable to all: sshd reads authorized_keys as the
  // user logging in. started() tells whether sshd came up.
  explicit Sshd(SshdConfig config);
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  bool started() const { return started_; }
  int port() const { return port_; }
  int pid() const { return process_ ? process_->pid() : -1; }
  const std::string& host_key() const { return host_key_; }
  const std::string& authorized_keys() const { return authorized_keys_; }
  // sshd's log so far (for failure messages).
  std::string log() const;

 private:
  std::string dir_, host_key_, authorized_keys_;
  int port_ = 0;
  bool started_ = false;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SUPPORT_SSHD_H_
