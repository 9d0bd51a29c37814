// tessera-sshd against real clients: OpenSSH's ssh, sftp and scp, and
// tessera-ssh. Runs as root (the server's privilege separation needs it),
// with the test account tessera-sshtest (shell /bin/sh) logging in.
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sshd.h"
#include "test_support.h"

namespace tessera::test {
namespace {

constexpr const char* kUser = "tessera-sshtest";

bool ensure_user() {
  if (getpwnam(kUser) != nullptr) return true;
  if (run({"useradd", "-m", "-s", "/bin/sh", kUser}).exit_code != 0) return false;
  return run({"usermod", "-p", "*", kUser}).exit_code == 0;
}

// The value of a "Name:" line of /proc/PID/status.
std::string proc_status(int pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return {};
}

std::vector<int> children_of(int pid) {
  std::vector<int> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child;
  while (in >> child) out.push_back(child);
  return out;
}

class SshdInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Sshd::unavailable().empty() || !ensure_user()) return;
    dir_ = new TempDir();
    for (const auto& [name, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"host_ed25519", {"-t", "ed25519"}},
             {"host_p256", {"-t", "ecdsa", "-b", "256"}},
             {"host_p384", {"-t", "ecdsa", "-b", "384"}},
             {"host_p521", {"-t", "ecdsa", "-b", "521"}},
             {"host_rsa", {"-t", "rsa", "-b", "2048"}},
             {"user_ed25519", {"-t", "ed25519"}},
             {"user_rsa", {"-t", "rsa", "-b", "2048"}},
             {"stranger", {"-t", "ed25519"}}}) {
      std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", "", "-f", dir_->file(name)};
      argv.insert(argv.end(), args.begin(), args.end());
      ASSERT_EQ(run(argv).exit_code, 0);
    }
    std::string extra;
    for (const char* k : {"host_p256", "host_p384", "host_p521", "host_rsa"}) extra += "HostKey " + dir_->file(k) + "\n";
    extra += "Subsystem sftp /usr/lib/openssh/sftp-server\n";
    sshd_ = new Sshd(SshdConfig{.dir = dir_->path().string(),
                                .host_key = dir_->file("host_ed25519"),
                                .extra = extra,
                                .pam = false,
                                .program = tessera_bin("tessera-sshd")});
    if (!sshd_->started()) return;
    write_file(sshd_->authorized_keys(),
               read_file(dir_->file("user_ed25519.pub")) + read_file(dir_->file("user_rsa.pub")), 0644);
  }
  static void TearDownTestSuite() {
    delete sshd_;
    delete dir_;
    sshd_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    ASSERT_NE(sshd_, nullptr);
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
  }

  // OpenSSH's ssh (or tessera-ssh) to the server as the test user.
  static std::vector<std::string> client(const std::string& program, const std::vector<std::string>& extra,
                                         const std::string& command, const std::string& key = "user_ed25519") {
    std::vector<std::string> argv = {program, "-F", "none", "-p", std::to_string(sshd_->port()),
                                     "-i", dir_->file(key), "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-q"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    if (!command.empty()) argv.push_back(command);
    return argv;
  }

  static TempDir* dir_;
  static Sshd* sshd_;
};

TempDir* SshdInterop::dir_ = nullptr;
Sshd* SshdInterop::sshd_ = nullptr;

TEST_F(SshdInterop, OpenSshClientRunsACommandWithOutputAndExitStatus) {
  auto r = run(client("ssh", {}, "echo hello; echo oops >&2; id -un; exit 3"));
  EXPECT_EQ(r.exit_code, 3) << r.err << sshd_->log();
  EXPECT_EQ(r.out, std::string("hello\n") + kUser + "\n");
  EXPECT_NE(r.err.find("oops"), std::string::npos) << r.err;
  // The log names the key that was accepted.
  EXPECT_NE(sshd_->log().find(std::string("Accepted publickey for ") + kUser + " from 127.0.0.1 port "),
            std::string::npos)
      << sshd_->log();
}

TEST_F(SshdInterop, AnUnlistedKeyIsRefused) {
  std::vector<std::string> argv = client("ssh", {}, "true", "stranger");
  std::erase(argv, "-q");  // ssh -q would not say why
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << r.err;
}

TEST_F(SshdInterop, TesseraSshClientLogsInWithEachKeyType) {
  for (const char* key : {"user_ed25519", "user_rsa"}) {
    auto r = run(client(tessera_bin("tessera-ssh"), {}, "echo ok", key));
    EXPECT_EQ(r.exit_code, 0) << key << ": " << r.err << sshd_->log();
    EXPECT_EQ(r.out, "ok\n") << key;
  }
}

TEST_F(SshdInterop, EveryKexCipherAndHostKeyCombinationWorksBothClients) {
  const std::vector<std::string> kex = {"sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
                                        "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                                        "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
                                        "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
                                        "diffie-hellman-group14-sha256",
                                        "diffie-hellman-group-exchange-sha256"};
  const std::vector<std::pair<std::string, std::string>> ciphers = {
      {"chacha20-poly1305@openssh.com", ""},
      {"aes128-gcm@openssh.com", ""},
      {"aes256-gcm@openssh.com", ""},
      {"aes128-ctr", "hmac-sha2-256-etm@openssh.com"},
      {"aes192-ctr", "hmac-sha2-512-etm@openssh.com"},
      {"aes256-ctr", "hmac-sha2-256"},
      {"aes128-ctr", "hmac-sha2-512"}};
  const std::vector<std::string> host_keys = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                              "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256"};
  // Every kex with every host key; every cipher with every kex (rotating the
  // host key): each dimension fully covered without the full product.
  struct Combination {
    std::string kex, cipher, mac, host_key;
  };
  std::vector<Combination> combos;
  for (size_t k = 0; k < kex.size(); ++k) {
    for (size_t h = 0; h < host_keys.size(); ++h) {
      const auto& c = ciphers[(k + h) % ciphers.size()];
      combos.push_back({kex[k], c.first, c.second, host_keys[h]});
    }
    for (size_t c = 0; c < ciphers.size(); ++c) {
      combos.push_back({kex[k], ciphers[c].first, ciphers[c].second, host_keys[(k + c) % host_keys.size()]});
    }
  }
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    for (const Combination& c : combos) {
      std::vector<std::string> extra = {"-o", "KexAlgorithms=" + c.kex, "-o", "Ciphers=" + c.cipher,
                                        "-o", "HostKeyAlgorithms=" + c.host_key};
      if (!c.mac.empty()) extra.insert(extra.end(), {"-o", "MACs=" + c.mac});
      auto r = run(client(program, extra, "echo " + c.kex));
      EXPECT_EQ(r.exit_code, 0) << program << " " << c.kex << " " << c.cipher << " " << c.mac << " " << c.host_key
                                << ": " << r.err;
      EXPECT_EQ(r.out, c.kex + "\n");
    }
  }
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Group exchange from a small ModuliFile, re-keyed by RekeyLimit 1M on both
// sides: the server's re-keys while it sends 4 MiB, the client's while it
// uploads 4 MiB; every one a group exchange answered by the monitor.
TEST_F(SshdInterop, GroupExchangeReKeysStartedByEitherSide) {
  TempDir dir;
  const std::string moduli = dir.file("moduli");
  {
    std::ifstream in("/etc/ssh/moduli");
    std::ofstream out(moduli);
    std::string line;
    int kept = 0;
    while (std::getline(in, line) && kept < 4) {
      if (line.find(" 2047 ") != std::string::npos || line.find(" 3071 ") != std::string::npos) {
        out << line << "\n";
        ++kept;
      }
    }
    ASSERT_GT(kept, 0) << "no 2048/3072-bit moduli in /etc/ssh/moduli";
  }
  Sshd rekeying(SshdConfig{.dir = dir.path().string(),
                           .host_key = dir_->file("host_ed25519"),
                           .extra = "ModuliFile " + moduli + "\nRekeyLimit 1M\nLogLevel DEBUG1\n",
                           .pam = false,
                           .program = tessera_bin("tessera-sshd")});
  ASSERT_TRUE(rekeying.started()) << rekeying.log();
  write_file(rekeying.authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  const std::string payload(4 << 20, 'z');
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    std::vector<std::string> argv = {program, "-F", "none", "-p", std::to_string(rekeying.port()),
                                     "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes",
                                     "-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256",
                                     "-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha2-256",
                                     "-o", "RekeyLimit=1M", "-v", std::string(kUser) + "@127.0.0.1"};
    // Download: the server re-keys.
    argv.push_back("head -c 4194304 /dev/zero");
    auto down = run(argv);
    EXPECT_EQ(down.exit_code, 0) << program << ": " << down.err << rekeying.log();
    EXPECT_EQ(down.out.size(), 4194304u) << program;
    // Upload: the client re-keys.
    argv.back() = "wc -c";
    auto up = run(argv, payload);
    EXPECT_EQ(up.exit_code, 0) << program << ": " << up.err;
    EXPECT_EQ(up.out.substr(0, up.out.find_first_not_of(" 0123456789")), "4194304") << program;
    if (program == "ssh") {
      // One GEX group per exchange: the first and at least two re-keys each way.
      EXPECT_GE(count_of(down.err, "SSH2_MSG_KEX_DH_GEX_GROUP received"), 3u) << down.err;
      EXPECT_GE(count_of(up.err, "SSH2_MSG_KEX_DH_GEX_GROUP received"), 3u) << up.err;
    } else {
      EXPECT_GE(count_of(down.err, "rekeyed: diffie-hellman-group-exchange-sha256"), 2u) << down.err;
      EXPECT_GE(count_of(up.err, "rekeyed: diffie-hellman-group-exchange-sha256"), 2u) << up.err;
    }
  }
  EXPECT_EQ(rekeying.log().find("could not open"), std::string::npos) << rekeying.log();
  EXPECT_EQ(rekeying.log().find("no suitable primes"), std::string::npos) << rekeying.log();
}

TEST_F(SshdInterop, InetdModeServesAProxyCommand) {
  const std::string config = dir_->file("sshd_config");
  auto r = run(client("ssh", {"-o", "ProxyCommand=" + tessera_bin("tessera-sshd") + " -i -f " + config}, "echo inetd"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "inetd\n");
}

TEST_F(SshdInterop, PreAuthChildIsSandboxedAndTheMonitorIsRoot) {
  // A client that connects and says nothing keeps its pre-auth child alive.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(sshd_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  char banner[64] = {0};
  ASSERT_GT(read(fd, banner, sizeof(banner) - 1), 0);  // the child speaks first
  EXPECT_EQ(std::string(banner).rfind("SSH-2.0-", 0), 0u);

  const passwd* sshd_account = getpwnam("sshd");
  ASSERT_NE(sshd_account, nullptr);
  const std::string sshd_uid = std::to_string(sshd_account->pw_uid);
  // listener -> monitor -> pre-auth child.
  int monitor = -1, child = -1;
  for (int attempt = 0; attempt < 50 && child < 0; ++attempt) {
    for (int m : children_of(sshd_->pid())) {
      for (int c : children_of(m)) {
        monitor = m;
        child = c;
      }
    }
    if (child < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(child, 0) << "no pre-auth child found";
  // It sends its identification before it enters the sandbox (it reads
  // nothing before): wait for the filter to be in place.
  for (int attempt = 0; attempt < 50 && proc_status(child, "Seccomp") != "2"; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(proc_status(monitor, "Uid").substr(0, 1), "0");
  const std::string uid = proc_status(child, "Uid");
  EXPECT_EQ(uid.substr(0, uid.find_first_of(" \t")), sshd_uid) << uid;
  EXPECT_EQ(proc_status(child, "Seccomp"), "2");
  EXPECT_EQ(proc_status(child, "NoNewPrivs"), "1");
  char root[256] = {0};
  ASSERT_GT(readlink(("/proc/" + std::to_string(child) + "/root").c_str(), root, sizeof(root) - 1), 0);
  EXPECT_STREQ(root, "/run/sshd");
  close(fd);
}

}  // namespace
}  // namespace tessera::test
