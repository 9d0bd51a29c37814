#include "sshd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace tessera::test {

std::string Sshd::unavailable() {
  if (::access(kSshdPath, X_OK) != 0) return "openssh-server is not installed";
  if (::geteuid() != 0) return "sshd needs root for these tests";
  return {};
}

Sshd::Sshd(SshdConfig config) : dir_(std::move(config.dir)) {
  ::mkdir("/run/sshd", 0755);  // sshd refuses to start without its privilege separation directory
  ::chmod(dir_.c_str(), 0755);
  host_key_ = config.host_key;
  if (host_key_.empty()) {
    host_key_ = dir_ + "/host_ed25519";
    if (run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key_}).exit_code != 0) return;
  }
  authorized_keys_ = dir_ + "/authorized_keys";
  write_file(authorized_keys_, "", 0644);
  port_ = free_tcp_port();
  const std::string config_path = dir_ + "/sshd_config";
  write_file(config_path,
             "Port " + std::to_string(port_) + "\n" +
                 "ListenAddress 127.0.0.1\n"
                 "HostKey " + host_key_ + "\n" +
                 "PidFile " + dir_ + "/sshd.pid\n" +
                 "AuthorizedKeysFile " + authorized_keys_ + "\n" +
                 "StrictModes no\nUsePAM " + std::string(config.pam ? "yes" : "no") +
                 "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                 "PermitRootLogin yes\n" +
                 config.extra,
             0644);
  process_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{config.program, "-D", "-e", "-f", config_path},
                                                 dir_ + "/sshd.log");
  started_ = process_->started() && wait_for_tcp_port(port_);
}

Sshd::~Sshd() = default;

std::string Sshd::log() const { return read_file(dir_ + "/sshd.log"); }

}  // namespace tessera::test
