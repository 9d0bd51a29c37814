// For the tests of tessera-sshd's host keys (sshd_hostkeys_interop_test.cc,
// sshd_hostkeys_token_interop_test.cc): tessera-sshd with a configuration
// and environment of the test's own (no host key file unless the test names
// one), and OpenSSH's ssh that checks the host key strictly against a
// known_hosts file of the test's.
#ifndef TESSERA_TESTS_SSH_SSHD_HOSTKEYS_SUPPORT_H_
#define TESSERA_TESTS_SSH_SSHD_HOSTKEYS_SUPPORT_H_

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace tessera::test::hostkeys {

// The account the client logs in as (shell /bin/sh). Tests run in parallel
// processes: one of them makes it.
inline constexpr const char* kUser = "tessera-sshtest";

inline std::string unavailable() {
  if (::geteuid() != 0) return "tessera-sshd needs root for these tests";
  if (!have_program("ssh")) return "OpenSSH's ssh is not installed";
  const std::string name = kUser;
  if (getpwnam(kUser) == nullptr) {
    run({"flock", "/tmp/tessera-sshtest-user.lock", "sh", "-c",
         "id -u " + name + " >/dev/null 2>&1 || { useradd -m -s /bin/sh " + name + " && usermod -p '*' " + name +
             "; }"});
  }
  if (getpwnam(kUser) == nullptr) return "cannot make the test account " + name;
  return {};
}

class TesseraSshd {
 public:
  // Writes DIR/sshd_config (Port, ListenAddress 127.0.0.1, PidFile,
  // AuthorizedKeysFile DIR/authorized_keys, StrictModes no, no passwords,
  // LogLevel DEBUG1, then `config`) and starts tessera-sshd -D -e with `env`
  // added to its environment.
  TesseraSshd(const std::string& dir, const std::string& config, const std::vector<std::string>& env = {})
      : dir_(dir) {
    ::chmod(dir.c_str(), 0755);  // the user's side reads authorized_keys
    port_ = free_tcp_port();
    write_file(dir + "/authorized_keys", "", 0644);
    write_file(dir + "/sshd_config",
               "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nPidFile " + dir + "/sshd.pid\n" +
                   "AuthorizedKeysFile " + dir + "/authorized_keys\nStrictModes no\nUsePAM no\n" +
                   "PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel DEBUG1\n" + config,
               0644);
    process_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{tessera_bin("tessera-sshd"), "-D", "-e", "-f", dir + "/sshd_config"},
        dir + "/sshd.log", env);
    started_ = process_->started() && wait_for_tcp_port(port_);
  }

  bool started() const { return started_; }
  int port() const { return port_; }
  int pid() const { return process_ ? process_->pid() : -1; }
  std::string log() const { return read_file(dir_ + "/sshd.log"); }
  const std::string& dir() const { return dir_; }
  std::string authorized_keys() const { return dir_ + "/authorized_keys"; }

  // Waits (up to 5 s) for `text` in the log: a monitor may still be
  // writing when the client is done.
  bool log_has(const std::string& text) const {
    for (int i = 0; i < 100; ++i) {
      if (log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // How often `text` is in the log now.
  size_t log_count(const std::string& text) const {
    const std::string all = "\n" + log();  // a line's start is "\n" + its text
    size_t n = 0;
    for (size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + text.size())) ++n;
    return n;
  }

  // "[127.0.0.1]:PORT type base64" for a public key line.
  std::string known_host(const std::string& public_key_line) const {
    std::string line = public_key_line;
    const size_t type_end = line.find(' ');
    const size_t blob_end = type_end == std::string::npos ? std::string::npos : line.find_first_of(" \n", type_end + 1);
    return "[127.0.0.1]:" + std::to_string(port_) + " " + line.substr(0, blob_end) + "\n";
  }

  // OpenSSH's ssh as kUser with `key`, StrictHostKeyChecking=yes against
  // `known_hosts`, no agent, then `extra`, running `command`.
  CommandResult ssh(const std::string& key, const std::string& known_hosts, const std::vector<std::string>& extra,
                    const std::string& command = "echo in") const {
    std::vector<std::string> argv = {"ssh", "-F", "none", "-p", std::to_string(port_), "-i", key,
                                     "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts,
                                     "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                                     "-o", "ConnectTimeout=20"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    argv.push_back(command);
    return run(argv);
  }

 private:
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace tessera::test::hostkeys

#endif  // TESSERA_TESTS_SSH_SSHD_HOSTKEYS_SUPPORT_H_
