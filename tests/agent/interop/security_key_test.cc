// FIDO security keys in tessera-agent, with OpenSSH's tools on the other
// side and the software middleware (tests/fido/soft_middleware.cc) in the
// authenticator's place: ssh-keygen -w makes the keys, ssh-add -S adds them
// (the sk-provider constraint against -P), ssh-keygen -Y sign and OpenSSH's
// ssh to sshd sign through the agent. The agent runs in this process so
// that its security key timeout and askpass can be set; the middleware runs
// in tessera-sk-helper, which inherits this process's environment.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "daemon_test_support.h"
#include "sshd.h"
#include "tessera/agent/client.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::agent {
namespace {

using test::read_file;
using test::run;
using test::tessera_bin;
using test::write_file;

constexpr std::chrono::seconds kTestTimeout{4};

class SecurityKeyAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen") || !test::have_program("ssh-add")) GTEST_SKIP() << "OpenSSH missing";
    soft_ = tessera_bin("tessera-sk-soft.so");
    state_ = dir_.file("state");
    std::filesystem::create_directories(state_);
    // The middleware reads these in tessera-sk-helper, a child of this process.
    ::setenv("TESSERA_SK_SOFT_DIR", state_.c_str(), 1);
    for (const char* name : {"TESSERA_SK_SOFT_PIN", "TESSERA_SK_SOFT_FAULT", "TESSERA_SK_SOFT_DELAY_MS"}) {
      ::unsetenv(name);
    }
    askpass_log_ = dir_.file("askpass.log");
    askpass_ = dir_.file("askpass");
    // Records each prompt and its kind; answers a PIN prompt with $PIN_ANSWER;
    // a notice stays up until it is ended.
    write_file(askpass_,
               "#!/bin/sh\nprintf '%s|%s\\n' \"$1\" \"$SSH_ASKPASS_PROMPT\" >> " + askpass_log_ +
                   "\ncase \"$1\" in Enter*) cat " + dir_.file("pin") + "; exit 0;; esac\n"
                   "[ \"$SSH_ASKPASS_PROMPT\" = none ] && exec sleep 60\nexit 0\n",
               0755);
    write_file(dir_.file("pin"), "", 0600);

    daemon::AgentConfig config;
    config.allowed_providers = std::filesystem::path(soft_).parent_path().string() + "/*";
    config.security_keys.helper_program = tessera_bin("tessera-sk-helper");
    config.security_keys.timeout = kTestTimeout;
    config.askpass.program = askpass_;
    config.askpass.display = true;
    agent_ = std::make_unique<daemon::testing::RunningAgent>(std::move(config));
    ASSERT_TRUE(agent_->ok());
    env_ = {"SSH_AUTH_SOCK=" + agent_->socket_path()};
  }
  void TearDown() override {
    agent_.reset();
    for (const char* name : {"TESSERA_SK_SOFT_DIR", "TESSERA_SK_SOFT_PIN", "TESSERA_SK_SOFT_FAULT",
                             "TESSERA_SK_SOFT_DELAY_MS"}) {
      ::unsetenv(name);
    }
  }

  // A key made by OpenSSH's ssh-keygen with the software middleware.
  std::string make_key(const std::string& name, const std::string& type, const std::vector<std::string>& options = {},
                       const std::string& pin_input = "") {
    const std::string path = dir_.file(name);
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type, "-w", soft_, "-N", "", "-C", name, "-f", path};
    for (const std::string& o : options) argv.insert(argv.end(), {"-O", o});
    auto made = run(argv, pin_input);
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return path;
  }
  test::CommandResult ssh_add(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), "ssh-add");
    return run(args, input, env_);
  }
  // ssh-keygen -Y sign through the agent (the public key names the agent's key); the signature is checked
  // with ssh-keygen -Y verify. Returns sign's result.
  test::CommandResult sign_and_verify(const std::string& key, const std::string& tag) {
    const std::string message = dir_.file("msg-" + tag);
    write_file(message, "message " + tag + "\n", 0644);
    auto signed_ = run({"ssh-keygen", "-Y", "sign", "-f", key + ".pub", "-n", "file", message}, "", env_);
    if (signed_.exit_code == 0) {
      const std::string allowed = dir_.file("allowed-" + tag);
      write_file(allowed, "signer " + read_file(key + ".pub"), 0644);
      auto verified = run({"ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "signer", "-n", "file", "-s",
                           message + ".sig"},
                          read_file(message));
      EXPECT_EQ(verified.exit_code, 0) << verified.err << verified.out;
    }
    return signed_;
  }
  std::string askpass_log() { return std::filesystem::exists(askpass_log_) ? read_file(askpass_log_) : ""; }

  test::TempDir dir_;
  std::string soft_, state_, askpass_, askpass_log_;
  std::unique_ptr<daemon::testing::RunningAgent> agent_;
  std::vector<std::string> env_;
};

TEST_F(SecurityKeyAgent, OpenSshAddsSecurityKeysAndTheAgentSignsWithThem) {
  for (const std::string type : {"ed25519-sk", "ecdsa-sk"}) {
    const std::string key = make_key("id_" + type, type);
    auto added = ssh_add({"-S", soft_, key});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    auto listed = ssh_add({"-l"});
    EXPECT_NE(listed.out.find(type == "ed25519-sk" ? "(ED25519-SK)" : "(ECDSA-SK)"), std::string::npos) << listed.out;
    auto signed_ = sign_and_verify(key, type);
    EXPECT_EQ(signed_.exit_code, 0) << signed_.err;
  }
}

TEST_F(SecurityKeyAgent, AMiddlewareOutsideTheAllowlistIsRefused) {
  const std::string key = make_key("id_ed25519_sk", "ed25519-sk");
  const std::string elsewhere = dir_.file("copy-of-soft.so");
  std::filesystem::copy_file(soft_, elsewhere);
  auto added = ssh_add({"-S", elsewhere, key});
  EXPECT_NE(added.exit_code, 0);
  EXPECT_NE(ssh_add({"-l"}).out.find("no identities"), std::string::npos);
  // The built-in middleware is always allowed; with no authenticator the
  // signature fails, and says so, but the key is held.
  ASSERT_EQ(ssh_add({"-S", "internal", key}).exit_code, 0);
  EXPECT_NE(sign_and_verify(key, "internal").exit_code, 0);
}

TEST_F(SecurityKeyAgent, TheTouchNoticeIsShownWhileTheAuthenticatorWaits) {
  const std::string touch = make_key("touch", "ed25519-sk");
  const std::string no_touch = make_key("no_touch", "ed25519-sk", {"no-touch-required"});
  ASSERT_EQ(ssh_add({"-S", soft_, touch, no_touch}).exit_code, 0);
  ::setenv("TESSERA_SK_SOFT_DELAY_MS", "300", 1);
  ASSERT_EQ(sign_and_verify(touch, "touch").exit_code, 0);
  const std::string fingerprint = run({"ssh-keygen", "-l", "-f", touch + ".pub"}).out.substr(4, 50);
  const std::string log = askpass_log();
  EXPECT_NE(log.find("Confirm user presence for key ED25519-SK " + fingerprint.substr(0, fingerprint.find(' ')) +
                     "|none"),
            std::string::npos)
      << log;
  // The notice went with the signature: no askpass is left sleeping.
  EXPECT_NE(run({"pgrep", "-f", askpass_}).exit_code, 0);

  write_file(askpass_log_, "", 0600);
  ASSERT_EQ(sign_and_verify(no_touch, "no-touch").exit_code, 0);
  EXPECT_EQ(askpass_log(), "") << "no notice for a key that needs no touch";
}

TEST_F(SecurityKeyAgent, AWaitingTouchDoesNotHoldUpOtherClients) {
  const std::string sk = make_key("slow", "ed25519-sk");
  const std::string plain = dir_.file("plain");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", plain}).exit_code, 0);
  ASSERT_EQ(ssh_add({"-S", soft_, sk, plain}).exit_code, 0);
  ::setenv("TESSERA_SK_SOFT_DELAY_MS", "3000", 1);
  auto slow = std::async(std::launch::async, [&] { return sign_and_verify(sk, "slow"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the security key is now waiting
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sign_and_verify(plain, "plain").exit_code, 0);
  EXPECT_EQ(ssh_add({"-l"}).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "the touch was not waited for";
  EXPECT_EQ(slow.get().exit_code, 0);
}

TEST_F(SecurityKeyAgent, AVerifyRequiredKeyGetsItsPinThroughAskpass) {
  ::setenv("TESSERA_SK_SOFT_PIN", "4321", 1);
  const std::string key = make_key("verify", "ecdsa-sk", {"verify-required"}, "4321\n");
  ASSERT_EQ(ssh_add({"-S", soft_, key}).exit_code, 0);
  write_file(dir_.file("pin"), "4321\n", 0600);
  ASSERT_EQ(sign_and_verify(key, "right-pin").exit_code, 0);
  EXPECT_NE(askpass_log().find("Enter PIN and confirm user presence for ECDSA-SK key SHA256:"), std::string::npos)
      << askpass_log();
  // A wrong PIN: the signature fails; the PIN is asked once per signature
  // and never kept.
  write_file(dir_.file("pin"), "0000\n", 0600);
  EXPECT_NE(sign_and_verify(key, "wrong-pin").exit_code, 0);
  write_file(dir_.file("pin"), "4321\n", 0600);
  EXPECT_EQ(sign_and_verify(key, "right-again").exit_code, 0);
}

TEST_F(SecurityKeyAgent, BrokenAuthenticatorsFailTheirSignatureAndNothingElse) {
  const std::string key = make_key("faulty", "ed25519-sk");
  ASSERT_EQ(ssh_add({"-S", soft_, key}).exit_code, 0);
  ASSERT_EQ(sign_and_verify(key, "first").exit_code, 0);
  struct Case {
    const char* fault;
    const char* tag;
  };
  for (const Case& c : {Case{"counter-backwards", "backwards"}, Case{"bad-signature", "bad-signature"},
                        Case{"wrong-key-handle", "wrong-key"}, Case{"crash", "crash"}, Case{"hang", "hang"}}) {
    SCOPED_TRACE(c.fault);
    ::setenv("TESSERA_SK_SOFT_FAULT", c.fault, 1);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_NE(sign_and_verify(key, c.tag).exit_code, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, kTestTimeout + std::chrono::seconds(3));
    ::unsetenv("TESSERA_SK_SOFT_FAULT");
    // The agent goes on serving.
    EXPECT_EQ(ssh_add({"-l"}).exit_code, 0);
  }
  ASSERT_EQ(sign_and_verify(key, "healthy-again").exit_code, 0);
}

// A key made for a web site ("webauthn:" or any application other than
// "ssh:") signs SSH authentication requests only, as in ssh-agent: a
// forwarded agent must not sign in to web sites.
TEST_F(SecurityKeyAgent, KeysOfOtherApplicationsSignOnlySshAuthentication) {
  auto inner = key::PrivateKey::generate(key::KeyType::kEd25519);
  ASSERT_TRUE(inner.ok());
  auto pub = key::PublicKey::make_security_key(key::KeyType::kSkEd25519, inner->evp(), "webauthn:example.com");
  ASSERT_TRUE(pub.ok());
  auto sk = key::PrivateKey::make_security_key(*pub, key::kSkUserPresenceRequired, key::Bytes(32, 7));
  ASSERT_TRUE(sk.ok());
  auto client = AgentClient::connect(agent_->socket_path());
  ASSERT_TRUE(client.ok());
  Constraints constraints;
  constraints.sk_provider = soft_;
  ASSERT_TRUE(client->add_identity(AddIdentity{*sk, std::nullopt, "web", constraints}).ok());
  const key::Bytes challenge = {'{', '"', 'c', 'h', 'a', 'l', '}'};
  auto signature = client->sign(pub->blob(), challenge, 0);
  EXPECT_FALSE(signature.ok());
}

TEST_F(SecurityKeyAgent, TesseraAddLoadsFilesAndResidentKeys) {
  ::setenv("TESSERA_SK_SOFT_PIN", "1111", 1);
  const std::string file_key = make_key("file_key", "ed25519-sk", {}, "1111\n");
  const std::string resident = make_key("resident", "ecdsa-sk", {"resident", "user=alice"}, "1111\n");
  auto added = run({tessera_bin("tessera-add"), "-S", soft_, file_key}, "", env_);
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.err.find("Identity added: " + file_key), std::string::npos) << added.err;
  auto loaded = run({tessera_bin("tessera-add"), "-K"}, "1111\n", {env_[0], "SSH_SK_PROVIDER=" + soft_});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_NE(loaded.err.find("Resident identity added: ECDSA-SK SHA256:"), std::string::npos) << loaded.err;
  auto listed = ssh_add({"-L"});
  EXPECT_NE(listed.out.find(read_file(file_key + ".pub").substr(0, 80)), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(read_file(resident + ".pub").substr(0, 80)), std::string::npos) << listed.out;
  // A wrong PIN: nothing is added, and the reason is given.
  ASSERT_EQ(ssh_add({"-D"}).exit_code, 0);
  auto wrong = run({tessera_bin("tessera-add"), "-K", "-S", soft_}, "2222\n", env_);
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("Unable to load resident keys"), std::string::npos) << wrong.err;
}

TEST_F(SecurityKeyAgent, OpenSshLogsInToSshdWithASecurityKeyInTheAgent) {
  if (std::string why = test::Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
  test::Sshd sshd(test::SshdConfig{.dir = dir_.path().string(), .host_key = {}, .extra = ""});
  ASSERT_TRUE(sshd.started()) << sshd.log();
  const std::string key = make_key("login", "ed25519-sk");
  const std::string no_touch = make_key("login_no_touch", "ecdsa-sk", {"no-touch-required"});
  ASSERT_EQ(ssh_add({"-S", soft_, key, no_touch}).exit_code, 0);
  write_file(sshd.authorized_keys(),
             read_file(key + ".pub") + "no-touch-required " + read_file(no_touch + ".pub"), 0644);
  for (const std::string& k : {key, no_touch}) {
    auto r = run({"ssh", "-p", std::to_string(sshd.port()), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=" + k + ".pub",
                  "-o", "IdentityAgent=" + agent_->socket_path(), "-o", "LogLevel=ERROR", "root@127.0.0.1",
                  "echo logged-in"},
                 "", env_);
    EXPECT_EQ(r.exit_code, 0) << k << "\n" << r.err << sshd.log();
    EXPECT_EQ(r.out, "logged-in\n");
  }
}

}  // namespace
}  // namespace tessera::agent
