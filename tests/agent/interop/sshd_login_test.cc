// OpenSSH's ssh logs in to a real sshd (127.0.0.1, a free port, a temporary
// config) with keys held by tessera-agent: every key type, agent forwarding
// on the far side, and a destination-restricted key (ssh-add -h) that is
// usable for its destination and refused for another user.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "sshd.h"
#include "test_support.h"

namespace tessera::test {
namespace {

class SshdLogin : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
    sshd_ = std::make_unique<Sshd>(SshdConfig{.dir = dir_.path().string(), .host_key = {},
                                              .extra = "AllowAgentForwarding yes\nLogLevel DEBUG1\n"});
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
    host_key_ = sshd_->host_key();
    authorized_keys_ = sshd_->authorized_keys();
    port_ = sshd_->port();

    agent_socket_ = dir_.file("agent.sock");
    agent_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{tessera_bin("tessera-agent"), "-d", "-a", agent_socket_}, dir_.file("agent.log"));
    ASSERT_TRUE(agent_->started());
    ASSERT_TRUE(wait_for_unix_socket(agent_socket_)) << read_file(dir_.file("agent.log"));
  }

  std::vector<std::string> agent_env() const { return {"SSH_AUTH_SOCK=" + agent_socket_}; }

  // A fresh user key, added to the agent with OpenSSH's ssh-add and authorized.
  std::string add_user_key(const std::string& name, const std::vector<std::string>& type_args,
                           const std::vector<std::string>& add_args = {}) {
    std::string key = dir_.file(name);
    std::vector<std::string> gen = {"ssh-keygen", "-q", "-N", "", "-C", name, "-f", key};
    gen.insert(gen.end(), type_args.begin(), type_args.end());
    EXPECT_EQ(run(gen).exit_code, 0);
    std::vector<std::string> add = {"ssh-add"};
    add.insert(add.end(), add_args.begin(), add_args.end());
    add.push_back(key);
    auto added = run(add, {}, agent_env());
    EXPECT_EQ(added.exit_code, 0) << added.err;
    write_file(authorized_keys_, read_file(authorized_keys_) + read_file(key + ".pub"), 0644);
    return key;
  }

  CommandResult ssh(const std::string& user, const std::string& command, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"ssh", "-p", std::to_string(port_), "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityFile=/nonexistent", "-o", "IdentityAgent=" + agent_socket_,
                                     "-o", "LogLevel=ERROR"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(user + "@127.0.0.1");
    argv.push_back(command);
    return run(argv, {}, agent_env());
  }

  std::string logs() { return "sshd:\n" + sshd_->log() + "\nagent:\n" + read_file(dir_.file("agent.log")); }

  TempDir dir_;
  std::string host_key_, authorized_keys_, agent_socket_;
  int port_ = 0;
  std::unique_ptr<Sshd> sshd_;
  std::unique_ptr<BackgroundProcess> agent_;
};

TEST_F(SshdLogin, EveryKeyTypeLogsIn) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
  };
  for (const Case& c : {Case{"ed25519", {"-t", "ed25519"}}, Case{"ecdsa256", {"-t", "ecdsa", "-b", "256"}},
                        Case{"ecdsa384", {"-t", "ecdsa", "-b", "384"}}, Case{"ecdsa521", {"-t", "ecdsa", "-b", "521"}},
                        Case{"rsa3072", {"-t", "rsa", "-b", "3072"}}}) {
    std::string key = add_user_key(c.name, c.args);
    // Only this key is authorized, so the login proves the agent signed with it.
    write_file(authorized_keys_, read_file(key + ".pub"), 0644);
    auto r = ssh("root", "echo logged-in");
    EXPECT_EQ(r.exit_code, 0) << c.name << ": " << r.err << logs();
    EXPECT_EQ(r.out, "logged-in\n") << c.name;
  }
}

TEST_F(SshdLogin, AgentForwardingWorksOnTheFarSide) {
  std::string key = add_user_key("fwd", {"-t", "ed25519"});
  std::string fp = run({"ssh-keygen", "-l", "-f", key + ".pub"}).out;
  ASSERT_FALSE(fp.empty());
  std::string fingerprint = fp.substr(fp.find(' ') + 1, fp.find(' ', fp.find(' ') + 1) - fp.find(' ') - 1);
  auto r = ssh("root", "ssh-add -l", {"-A"});
  EXPECT_EQ(r.exit_code, 0) << r.err << logs();
  EXPECT_NE(r.out.find(fingerprint), std::string::npos) << r.out;
  // Without -A the far side has no agent.
  auto none = ssh("root", "ssh-add -l", {"-a"});
  EXPECT_NE(none.exit_code, 0);
}

TEST_F(SshdLogin, DestinationRestrictedKey) {
  std::string host_pub = read_file(host_key_ + ".pub");
  std::string known_hosts = dir_.file("known_hosts");
  write_file(known_hosts, "[127.0.0.1]:" + std::to_string(port_) + " " + host_pub, 0644);
  add_user_key("restricted", {"-t", "ed25519"},
               {"-H", known_hosts, "-h", "root@[127.0.0.1]:" + std::to_string(port_)});

  auto allowed = ssh("root", "echo allowed");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err << logs();
  EXPECT_EQ(allowed.out, "allowed\n");

  // Another user on the same host: the agent refuses to sign, so sshd sees no key.
  auto refused = ssh("nobody", "echo should-not-run");
  EXPECT_EQ(refused.exit_code, 255) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
}

// The control for the test above: without the restriction, the same login
// as nobody authenticates (and then meets nobody's nologin shell).
TEST_F(SshdLogin, UnrestrictedKeyAuthenticatesAsAnotherUser) {
  add_user_key("unrestricted", {"-t", "ed25519"});
  auto r = ssh("nobody", "echo hi");
  EXPECT_NE(r.exit_code, 255) << r.err << logs();
  EXPECT_EQ(r.err.find("Permission denied"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera::test
