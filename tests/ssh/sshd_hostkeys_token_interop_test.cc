// tessera-sshd's host keys on SoftHSM2 tokens (softhsm-fixtures/) through
// tessera-pkcs11-helper, "HostKey pkcs11:...", against OpenSSH's ssh with
// StrictHostKeyChecking=yes: every key type (Ed25519 too, which OpenSSH
// cannot take from a token); the PIN from pin-source or pin-value; a token
// key with its certificate beside a file key; a token key through
// tessera-agent (HostKeyAgent), as OpenSSH would need it. Through
// tessera-p11-fault: a pulled token fails new logins with a log line and the
// next connection after it is back works; a helper that crashes or hangs
// fails the connection, never hangs it; a wrong PIN costs the token one try,
// not one per connection.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "softhsm_tokens.h"
#include "sshd_hostkeys_support.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using hostkeys::TesseraSshd;

class SshdTokenHostKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = hostkeys::unavailable(); !missing.empty()) GTEST_SKIP() << missing;
    if (std::string missing = softhsm_missing(); !missing.empty()) GTEST_SKIP() << missing;
    conf_ = copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(conf_.empty());
    CommandResult listed = run({tessera_bin("tessera-keygen"), "-D", kSoftHsmModule}, {}, {"SOFTHSM2_CONF=" + conf_});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    std::istringstream in(listed.out);
    for (std::string type, blob, label; in >> type >> blob >> label;) keys_[label] = type + " " + blob;
    ASSERT_EQ(keys_.size(), 8u) << listed.out;
    ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file("user")}).exit_code, 0);
    write_file(dir_.file("pin"), std::string(kFixturePin) + "\n", 0600);
  }

  // The environment of tessera-sshd and of its helpers.
  std::vector<std::string> env() const {
    return {"SOFTHSM2_CONF=" + conf_, "TESSERA_P11_FAULT_CONTROL=" + dir_.file("fault-control")};
  }
  void fault(const std::string& control) { write_file_atomically(dir_.file("fault-control"), control); }

  // "HostKey pkcs11:token=tessera-main;object=LABEL?module-path=M&QUERY".
  std::string host_key(const std::string& label, const std::string& query,
                       const std::string& module = kSoftHsmModule) const {
    return "HostKey pkcs11:token=tessera-main;object=" + label + "?module-path=" + module +
           (query.empty() ? "" : "&" + query) + "\n";
  }
  std::string pin_source() const { return "pin-source=" + dir_.file("pin"); }

  std::unique_ptr<TesseraSshd> start(const std::string& config) {
    auto sshd = std::make_unique<TesseraSshd>(dir_.path().string(), config, env());
    EXPECT_TRUE(sshd->started()) << sshd->log();
    write_file(sshd->authorized_keys(), read_file(dir_.file("user.pub")), 0644);
    return sshd;
  }
  // known_hosts with these token keys (by label).
  std::string known_hosts(const TesseraSshd& sshd, const std::vector<std::string>& labels) {
    std::string text;
    for (const std::string& label : labels) text += sshd.known_host(keys_.at(label));
    write_file(dir_.file("known_hosts"), text);
    return dir_.file("known_hosts");
  }
  CommandResult login(const TesseraSshd& sshd, const std::string& algorithm, const std::string& command = "echo in") {
    return sshd.ssh(dir_.file("user"), dir_.file("known_hosts"), {"-o", "HostKeyAlgorithms=" + algorithm}, command);
  }

  TempDir dir_;
  std::string conf_;
  std::map<std::string, std::string> keys_;  // label -> "type base64"
};

TEST_F(SshdTokenHostKeys, EveryKeyTypeOnTheTokenIsTheHostKey) {
  // ec384 has no public key object: the helper finds it through its certificate.
  std::string config;
  for (const char* label : {"ed25519", "rsa2048", "ec256", "ec384", "ec521"}) config += host_key(label, pin_source());
  auto sshd = start(config);
  known_hosts(*sshd, {"ed25519", "rsa2048", "ec256", "ec384", "ec521"});
  for (const char* algorithm : {"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256",
                                "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}) {
    CommandResult r = login(*sshd, algorithm, std::string("echo in-") + algorithm);
    EXPECT_EQ(r.exit_code, 0) << algorithm << ": " << r.err << sshd->log();
    EXPECT_EQ(r.out, std::string("in-") + algorithm + "\n");
  }
  EXPECT_TRUE(sshd->log_has("'ec384' on token 'tessera-main'")) << sshd->log();
}

TEST_F(SshdTokenHostKeys, ThePinComesFromTheUriOrIsNotNeeded) {
  // pin-value (percent-encoded as RFC 7512 allows), and file: URIs for pin-source.
  auto sshd = start(host_key("ec256", "pin-value=%31234") + host_key("ed25519", "pin-source=file://" + dir_.file("pin")));
  known_hosts(*sshd, {"ec256", "ed25519"});
  EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 0) << sshd->log();
  EXPECT_EQ(login(*sshd, "ssh-ed25519").exit_code, 0) << sshd->log();
  // The PIN never reaches the log.
  EXPECT_TRUE(sshd->log_has("pin-value=REDACTED")) << sshd->log();
  EXPECT_EQ(sshd->log().find("%31234"), std::string::npos) << sshd->log();
}

TEST_F(SshdTokenHostKeys, WithoutAPinOrWithAnUnsafePinFileItIsSaid) {
  write_file(dir_.file("open-pin"), std::string(kFixturePin) + "\n", 0644);
  auto sshd = start(host_key("ec256", "") + host_key("ed25519", "pin-source=" + dir_.file("open-pin")));
  known_hosts(*sshd, {"ec256", "ed25519"});
  CommandResult no_pin = login(*sshd, "ecdsa-sha2-nistp256");
  EXPECT_EQ(no_pin.exit_code, 255);
  EXPECT_TRUE(sshd->log_has("host key 'ec256' on token 'tessera-main': the token needs its PIN: add pin-source=FILE"))
      << sshd->log();
  // A PIN file others may read is not used; that key is not offered.
  CommandResult open = login(*sshd, "ssh-ed25519");
  EXPECT_EQ(open.exit_code, 255);
  EXPECT_NE(open.err.find("no matching host key type found"), std::string::npos) << open.err;
  EXPECT_TRUE(sshd->log_has("pin-source " + dir_.file("open-pin") + " may be read or written by others than root"))
      << sshd->log();
}

// A file key, a token key and the token key's certificate in one server.
TEST_F(SshdTokenHostKeys, TokenKeysMixWithFilesAndCertificates) {
  for (const char* name : {"ca", "host_ed25519"}) {
    ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file(name)}).exit_code, 0);
  }
  write_file(dir_.file("ec256.pub"), keys_.at("ec256") + " ec256\n", 0644);
  ASSERT_EQ(run({"ssh-keygen", "-q", "-s", dir_.file("ca"), "-h", "-I", "token", "-n", "127.0.0.1",
                 dir_.file("ec256.pub")})
                .exit_code,
            0);
  auto sshd = start("HostKey " + dir_.file("host_ed25519") + "\n" + host_key("ec256", pin_source()) +
                    "HostCertificate " + dir_.file("ec256-cert.pub") + "\n");
  write_file(dir_.file("known_hosts"), sshd->known_host(read_file(dir_.file("host_ed25519.pub"))) +
                                           "@cert-authority [127.0.0.1]:" + std::to_string(sshd->port()) + " " +
                                           read_file(dir_.file("ca.pub")));
  EXPECT_EQ(login(*sshd, "ssh-ed25519").exit_code, 0) << sshd->log();
  CommandResult cert = login(*sshd, "ecdsa-sha2-nistp256-cert-v01@openssh.com");
  EXPECT_EQ(cert.exit_code, 0) << cert.err << sshd->log();
}

// What OpenSSH's sshd needs for a token key: ssh-agent (here tessera-agent)
// holding it, HostKeyAgent, and the public half as the HostKey file.
TEST_F(SshdTokenHostKeys, ATokenKeyThroughTesseraAgent) {
  const std::string sock = dir_.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-d", "-a", sock, "-P", "/usr/lib*/*"},
                          dir_.file("agent.log"), {"SOFTHSM2_CONF=" + conf_, "SSH_ASKPASS_REQUIRE=never"});
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(dir_.file("agent.log"));
  CommandResult added = run({tessera_bin("tessera-add"), "-s", kSoftHsmModule}, std::string(kFixturePin) + "\n",
                            {"SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  write_file(dir_.file("ed25519.pub"), keys_.at("ed25519") + " ed25519\n", 0644);
  auto sshd = start("HostKeyAgent " + sock + "\nHostKey " + dir_.file("ed25519.pub") + "\n");
  known_hosts(*sshd, {"ed25519"});
  CommandResult r = login(*sshd, "ssh-ed25519");
  EXPECT_EQ(r.exit_code, 0) << r.err << sshd->log();
}

// Pulled out: new logins fail, saying why; put back: the next one works.
TEST_F(SshdTokenHostKeys, APulledTokenFailsNewLoginsUntilItIsBack) {
  auto sshd = start(host_key("ec256", pin_source(), TESSERA_P11_FAULT_PATH));
  known_hosts(*sshd, {"ec256"});
  EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 0) << sshd->log();

  fault("removed=1\n");
  for (int i = 0; i < 2; ++i) {
    CommandResult pulled = login(*sshd, "ecdsa-sha2-nistp256");
    EXPECT_EQ(pulled.exit_code, 255) << pulled.out;
  }
  EXPECT_TRUE(sshd->log_has("on token 'tessera-main': token not present: insert it")) << sshd->log();

  fault("removed=0\n");
  CommandResult back = login(*sshd, "ecdsa-sha2-nistp256");
  EXPECT_EQ(back.exit_code, 0) << back.err << sshd->log();

  // Pulled while the monitor signs (the module says when it hangs in
  // C_Sign, on the helper's stderr, which is the log): that signature
  // fails, and says so.
  fault("hang=C_Sign:3\n");
  const size_t hangs = sshd->log_count("hanging in C_Sign");
  std::thread pull([&] {
    for (int i = 0; i < 200 && sshd->log_count("hanging in C_Sign") == hangs; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fault("removed=1\nhang=C_Sign:3\n");
  });
  CommandResult during = login(*sshd, "ecdsa-sha2-nistp256");
  pull.join();
  EXPECT_EQ(during.exit_code, 255);
  EXPECT_TRUE(sshd->log_has("host key 'ec256' on token 'tessera-main': token not present")) << sshd->log();
  fault("");
  EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 0) << sshd->log();
}

// A helper that dies fails the connection at once; one that hangs, after the
// timeout (here LoginGraceTime's 4 s); neither outlives its connection.
TEST_F(SshdTokenHostKeys, ACrashedOrHungHelperDoesNotHangTheConnection) {
  auto sshd = start("LoginGraceTime 4\n" + host_key("ec256", pin_source(), TESSERA_P11_FAULT_PATH));
  known_hosts(*sshd, {"ec256"});
  fault("crash=C_Sign\n");
  auto started = std::chrono::steady_clock::now();
  CommandResult crashed = login(*sshd, "ecdsa-sha2-nistp256");
  EXPECT_EQ(crashed.exit_code, 255);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  EXPECT_TRUE(sshd->log_has("host key 'ec256' on token 'tessera-main': tessera-pkcs11-helper for ")) << sshd->log();

  fault("hang=C_Sign:forever\n");
  started = std::chrono::steady_clock::now();
  CommandResult hung = login(*sshd, "ecdsa-sha2-nistp256");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(hung.exit_code, 255);
  EXPECT_GE(took, std::chrono::seconds(3));
  EXPECT_LT(took, std::chrono::seconds(12));
  EXPECT_TRUE(sshd->log_has("did not answer in time")) << sshd->log();
  // The monitor and its helper are gone.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CommandResult children = run({"pgrep", "-P", std::to_string(sshd->pid())});
  EXPECT_EQ(children.out, "") << children.out;

  fault("");
  EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 0) << sshd->log();
}

// A wrong PIN in the configuration costs the token one try, however many
// connections come; once the right PIN is entered, the server logs in again.
TEST_F(SshdTokenHostKeys, AWrongPinCostsTheTokenOneTry) {
  fault("pin_tries=3\n");
  write_file(dir_.file("pin"), "9999\n", 0600);
  auto sshd = start(host_key("ec256", pin_source(), TESSERA_P11_FAULT_PATH));
  known_hosts(*sshd, {"ec256"});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 255);
  EXPECT_TRUE(sshd->log_has("host key 'ec256' on token 'tessera-main': wrong PIN (pin-source " + dir_.file("pin") + ")"))
      << sshd->log();
  EXPECT_TRUE(sshd->log_has("a wrong PIN was entered for the token since its last login")) << sshd->log();
  // One try: the token code's own line, the one that starts with it (the
  // monitor's closing line repeats the reason for each connection it ends).
  EXPECT_EQ(sshd->log_count("\nhost key 'ec256' on token 'tessera-main': wrong PIN (pin-source"), 1u)
      << sshd->log();

  // Fixed, but the token still says a wrong PIN was entered: not tried.
  write_file(dir_.file("pin"), std::string(kFixturePin) + "\n", 0600);
  EXPECT_EQ(login(*sshd, "ecdsa-sha2-nistp256").exit_code, 255);
  // Two tries are left: the right PIN entered by hand clears it.
  CommandResult by_hand = run({"pkcs11-tool", "--module", TESSERA_P11_FAULT_PATH, "--token-label", "tessera-main",
                               "--login", "--pin", kFixturePin, "--list-objects"},
                              {}, env());
  ASSERT_EQ(by_hand.exit_code, 0) << by_hand.err;
  CommandResult fixed = login(*sshd, "ecdsa-sha2-nistp256");
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err << sshd->log();
}

}  // namespace
}  // namespace tessera::test
