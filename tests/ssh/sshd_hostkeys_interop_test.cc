// tessera-sshd's host keys in an agent (HostKeyAgent), mixed with key files
// and certificates, against OpenSSH's ssh with StrictHostKeyChecking=yes:
// OpenSSH's ssh-agent and tessera-agent hold Ed25519, ECDSA and RSA host
// keys (rsa-sha2-256 and -512 both); the HostKey lines name public key
// files, or the private key's path with only its .pub beside it, as sshd
// takes them; HostKeyAgent SSH_AUTH_SOCK; an agent that is gone or lacks a
// key is logged, and the next connection uses it once it is back. Token
// keys are in sshd_hostkeys_token_interop_test.cc.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "sshd_hostkeys_support.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using hostkeys::TesseraSshd;

struct HostKeyType {
  const char* name;              // file name
  std::vector<const char*> gen;  // ssh-keygen arguments
  std::vector<const char*> algorithms;
};

const std::vector<HostKeyType>& host_key_types() {
  static const std::vector<HostKeyType> types = {
      {"ed25519", {"-t", "ed25519"}, {"ssh-ed25519"}},
      {"p256", {"-t", "ecdsa", "-b", "256"}, {"ecdsa-sha2-nistp256"}},
      {"p384", {"-t", "ecdsa", "-b", "384"}, {"ecdsa-sha2-nistp384"}},
      {"p521", {"-t", "ecdsa", "-b", "521"}, {"ecdsa-sha2-nistp521"}},
      {"rsa", {"-t", "rsa", "-b", "2048"}, {"rsa-sha2-512", "rsa-sha2-256"}},
  };
  return types;
}

class SshdHostKeyAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = hostkeys::unavailable(); !missing.empty()) GTEST_SKIP() << missing;
    if (!have_program("ssh-agent") || !have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent";
    keygen("user", {"-t", "ed25519"});
    // The host keys' private halves go to the agents; the server gets the
    // public halves only.
    for (const HostKeyType& t : host_key_types()) {
      keygen("host_" + std::string(t.name), std::vector<std::string>(t.gen.begin(), t.gen.end()));
    }
  }

  void keygen(const std::string& name, std::vector<std::string> args) {
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", "", "-C", name, "-f", dir_.file(name)};
    argv.insert(argv.end(), args.begin(), args.end());
    ASSERT_EQ(run(argv).exit_code, 0);
  }

  // ssh-agent, or tessera-agent, on a socket of its own, holding `keys`.
  // add_options go to ssh-add / tessera-add, agent_env to the agent.
  std::unique_ptr<BackgroundProcess> start_agent(bool tessera, const std::string& sock,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& add_options = {},
                                                 const std::vector<std::string>& agent_env = {}) {
    std::vector<std::string> argv = tessera ? std::vector<std::string>{tessera_bin("tessera-agent"), "-d", "-a", sock}
                                            : std::vector<std::string>{"ssh-agent", "-D", "-a", sock};
    auto agent = std::make_unique<BackgroundProcess>(argv, sock + ".log", agent_env);
    EXPECT_TRUE(wait_for_unix_socket(sock)) << read_file(sock + ".log");
    std::vector<std::string> add = {tessera ? tessera_bin("tessera-add") : std::string("ssh-add"), "-q"};
    add.insert(add.end(), add_options.begin(), add_options.end());
    for (const std::string& k : keys) add.push_back(dir_.file(k));
    CommandResult added = run(add, {}, {"SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
    EXPECT_EQ(added.exit_code, 0) << added.err;
    return agent;
  }

  // Moves the private half away: the server must do with NAME.pub.
  std::string public_only(const std::string& name) {
    EXPECT_EQ(::rename(dir_.file(name).c_str(), dir_.file(name + ".private").c_str()), 0);
    return dir_.file(name);
  }

  void authorize(const TesseraSshd& sshd) { write_file(sshd.authorized_keys(), read_file(dir_.file("user.pub")), 0644); }

  // Logs in with each algorithm of each type, checking the host key strictly.
  void expect_every_type_logs_in(const TesseraSshd& sshd, const std::string& program) {
    std::string known;
    for (const HostKeyType& t : host_key_types()) known += sshd.known_host(read_file(dir_.file("host_" + std::string(t.name) + ".pub")));
    write_file(dir_.file("known_hosts"), known);
    for (const HostKeyType& t : host_key_types()) {
      for (const char* algorithm : t.algorithms) {
        CommandResult r = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"),
                                   {"-o", std::string("HostKeyAlgorithms=") + algorithm}, "echo in-" + std::string(algorithm));
        EXPECT_EQ(r.exit_code, 0) << program << " " << algorithm << ": " << r.err << sshd.log();
        EXPECT_EQ(r.out, "in-" + std::string(algorithm) + "\n") << program << " " << algorithm;
      }
    }
  }

  TempDir dir_;
};

TEST_F(SshdHostKeyAgent, OpenSshAgentHoldsEveryKeyType) {
  std::vector<std::string> keys;
  std::string config;
  for (const HostKeyType& t : host_key_types()) {
    keys.push_back("host_" + std::string(t.name));
  }
  auto agent = start_agent(false, dir_.file("agent.sock"), keys);
  // Half the keys named by their .pub, half by the private key's path with
  // only the .pub beside it (as OpenSSH's regression tests name them).
  for (size_t i = 0; i < keys.size(); ++i) {
    config += "HostKey " + (i % 2 == 0 ? dir_.file(keys[i] + ".pub") : public_only(keys[i])) + "\n";
  }
  TesseraSshd sshd(dir_.path().string(), "HostKeyAgent " + dir_.file("agent.sock") + "\n" + config);
  ASSERT_TRUE(sshd.started()) << sshd.log();
  authorize(sshd);
  expect_every_type_logs_in(sshd, "ssh-agent");
  EXPECT_TRUE(sshd.log_has("will rely on agent for host key " + dir_.file("host_ed25519.pub"))) << sshd.log();
  EXPECT_TRUE(sshd.log_has("will rely on agent for host key " + dir_.file("host_p256"))) << sshd.log();
}

TEST_F(SshdHostKeyAgent, TesseraAgentHoldsEveryKeyTypeFromTheEnvironment) {
  std::vector<std::string> keys;
  std::string config;
  for (const HostKeyType& t : host_key_types()) keys.push_back("host_" + std::string(t.name));
  auto agent = start_agent(true, dir_.file("agent.sock"), keys);
  for (const std::string& k : keys) config += "HostKey " + public_only(k) + "\n";
  // HostKeyAgent SSH_AUTH_SOCK: the socket tessera-sshd's environment names.
  TesseraSshd sshd(dir_.path().string(), "HostKeyAgent SSH_AUTH_SOCK\n" + config,
                   {"SSH_AUTH_SOCK=" + dir_.file("agent.sock")});
  ASSERT_TRUE(sshd.started()) << sshd.log();
  authorize(sshd);
  expect_every_type_logs_in(sshd, "tessera-agent");
}

// File keys, agent keys and certificates of either, in one server; a
// private key file is used as it is even with HostKeyAgent (as sshd).
TEST_F(SshdHostKeyAgent, FilesAgentKeysAndCertificatesMix) {
  keygen("ca", {"-t", "ed25519"});
  for (const char* k : {"host_rsa", "host_p256"}) {
    ASSERT_EQ(run({"ssh-keygen", "-q", "-s", dir_.file("ca"), "-h", "-I", k, "-n", "127.0.0.1",
                   dir_.file(std::string(k) + ".pub")})
                  .exit_code,
              0);
  }
  auto agent = start_agent(false, dir_.file("agent.sock"), {"host_rsa", "host_p256"});
  TesseraSshd sshd(dir_.path().string(),
                   "HostKeyAgent " + dir_.file("agent.sock") + "\nHostKey " + dir_.file("host_ed25519") +
                       "\nHostKey " + public_only("host_rsa") + "\nHostKey " + dir_.file("host_p256") +
                       "\nHostCertificate " + dir_.file("host_rsa-cert.pub") + "\nHostCertificate " +
                       dir_.file("host_p256-cert.pub") + "\n");
  ASSERT_TRUE(sshd.started()) << sshd.log();
  authorize(sshd);
  write_file(dir_.file("known_hosts"), sshd.known_host(read_file(dir_.file("host_ed25519.pub"))) +
                                           "@cert-authority [127.0.0.1]:" + std::to_string(sshd.port()) + " " +
                                           read_file(dir_.file("ca.pub")));
  for (const char* algorithm : {"ssh-ed25519", "rsa-sha2-512-cert-v01@openssh.com",
                                "rsa-sha2-256-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com"}) {
    CommandResult r = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"),
                               {"-o", std::string("HostKeyAlgorithms=") + algorithm});
    EXPECT_EQ(r.exit_code, 0) << algorithm << ": " << r.err << sshd.log();
  }
  // The key files are the server's own, the RSA key is the agent's.
  EXPECT_TRUE(sshd.log_has("will rely on agent for host key " + dir_.file("host_rsa"))) << sshd.log();
  EXPECT_EQ(sshd.log().find("will rely on agent for host key " + dir_.file("host_p256")), std::string::npos);
  EXPECT_EQ(sshd.log().find("will rely on agent for host key " + dir_.file("host_ed25519")), std::string::npos);
}

// An agent without the key, or no agent at all, is said; the other keys
// still serve; the next connection after the agent is back uses it.
TEST_F(SshdHostKeyAgent, AMissingKeyOrAgentIsLoggedAndComesBack) {
  const std::string sock = dir_.file("agent.sock");
  TesseraSshd sshd(dir_.path().string(), "HostKeyAgent " + sock + "\nHostKey " + public_only("host_ed25519") +
                                             "\nHostKey " + dir_.file("host_p256") + "\n");
  ASSERT_TRUE(sshd.started()) << sshd.log();
  authorize(sshd);
  write_file(dir_.file("known_hosts"), sshd.known_host(read_file(dir_.file("host_ed25519.pub"))) +
                                           sshd.known_host(read_file(dir_.file("host_p256.pub"))));
  const std::vector<std::string> ed25519 = {"-o", "HostKeyAlgorithms=ssh-ed25519"};

  // No agent: the file key serves, the agent key is not offered.
  CommandResult file_key = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), {"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256"});
  EXPECT_EQ(file_key.exit_code, 0) << file_key.err << sshd.log();
  CommandResult none = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), ed25519);
  EXPECT_EQ(none.exit_code, 255);
  EXPECT_NE(none.err.find("no matching host key type found"), std::string::npos) << none.err;
  EXPECT_TRUE(sshd.log_has("HostKeyAgent " + sock + ": cannot connect to agent at " + sock)) << sshd.log();

  // An agent without the key.
  {
    auto agent = start_agent(false, sock, {"host_p384"});
    CommandResult lacking = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), ed25519);
    EXPECT_EQ(lacking.exit_code, 255);
    EXPECT_TRUE(sshd.log_has("host key " + dir_.file("host_ed25519") + ": the agent at " + sock +
                             " does not hold it"))
        << sshd.log();
  }
  ::unlink(sock.c_str());
  // The agent back with the key: the next connection uses it.
  auto agent = start_agent(false, sock, {"host_ed25519.private"});
  CommandResult back = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), ed25519);
  EXPECT_EQ(back.exit_code, 0) << back.err << sshd.log();
}

// The agent lists the key but refuses to sign with it (here: a key added
// with -c whose confirmation nobody gives; a key removed after the monitor
// listed it is the same): the connection fails with the reason in the log.
// A locked agent lists nothing: its keys are not offered at all.
TEST_F(SshdHostKeyAgent, AnAgentThatRefusesIsLogged) {
  const std::string sock = dir_.file("agent.sock");
  auto agent = start_agent(false, sock, {"host_ed25519"}, {"-c"}, {"SSH_ASKPASS=/bin/false", "DISPLAY=:99"});
  TesseraSshd sshd(dir_.path().string(), "HostKeyAgent " + sock + "\nHostKey " + public_only("host_ed25519") +
                                             "\nHostKey " + dir_.file("host_p256") + "\n");
  ASSERT_TRUE(sshd.started()) << sshd.log();
  authorize(sshd);
  write_file(dir_.file("known_hosts"), sshd.known_host(read_file(dir_.file("host_ed25519.pub"))));
  CommandResult refused = sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), {"-o", "HostKeyAlgorithms=ssh-ed25519"});
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_TRUE(sshd.log_has("host key " + dir_.file("host_ed25519") + " (agent " + sock + "): the agent at " + sock +
                           " refused to sign"))
      << sshd.log();

  const std::string other = dir_.file("agent2.sock");
  auto tessera_agent = start_agent(true, other, {"host_ed25519.private"});
  CommandResult locked = run({tessera_bin("tessera-add"), "-x"}, "secret\nsecret\n",
                             {"SSH_AUTH_SOCK=" + other, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  std::filesystem::create_directories(dir_.file("locked"));
  TesseraSshd locked_sshd(dir_.file("locked"), "HostKeyAgent " + other + "\nHostKey " + dir_.file("host_ed25519") + "\n");
  ASSERT_TRUE(locked_sshd.started()) << locked_sshd.log();
  CommandResult none = locked_sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), {});
  EXPECT_EQ(none.exit_code, 255);
  EXPECT_TRUE(locked_sshd.log_has("host key " + dir_.file("host_ed25519") + ": the agent at " + other +
                                  " does not hold it"))
      << locked_sshd.log();
}

}  // namespace
}  // namespace tessera::test
