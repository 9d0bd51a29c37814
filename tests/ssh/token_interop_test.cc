// tessera-ssh with keys on SoftHSM2 tokens (softhsm-fixtures/) through
// tessera-pkcs11-helper, against OpenSSH 9.2's sshd: each key type logs in
// with the PIN from SSH_ASKPASS, asked once and only when the token must
// sign; a wrong PIN is refused with the PIN state; keys the server refuses
// cost no PIN; CKA_ALWAYS_AUTHENTICATE keys; the provider as a path, a
// p11-kit module name or a pkcs11: URI; BatchMode; IdentitiesOnly; a
// certificate of a token key; and problems that leave other keys working.
// Faults SoftHSM2 cannot show come from tessera-p11-fault.
#include <gtest/gtest.h>
#include <pwd.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "softhsm_tokens.h"
#include "sshd.h"
#include "test_support.h"

namespace tessera::test {
namespace {

// An account of its own whose shell is /bin/sh (root's .bashrc here is slow).
constexpr const char* kUser = "tessera-sshtok";
constexpr const char* kMainPrompt = "Enter PIN for 'tessera-main': \n";

bool ensure_user() {
  if (getpwnam(kUser) != nullptr) return true;
  // Tests run in parallel processes: one of them makes the account.
  const std::string name = kUser;
  auto r = run({"flock", "/tmp/tessera-sshtok-user.lock", "sh", "-c",
                "id -u " + name + " >/dev/null 2>&1 || { useradd -m -s /bin/sh " + name + " && usermod -p '*' " +
                    name + "; }"});
  return r.exit_code == 0 && getpwnam(kUser) != nullptr;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

class TokenInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Sshd::unavailable().empty() || !softhsm_missing().empty() || !ensure_user()) return;
    suite_ = new TempDir();
    for (const char* name : {"user_ed25519", "ca"}) {
      ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", suite_->file(name)}).exit_code, 0);
    }
    // The fixture tokens' public keys, by label ("type base64").
    const std::string conf = copy_fixture_tokens(suite_->path().string());
    ASSERT_FALSE(conf.empty());
    CommandResult listed = run({tessera_bin("tessera-keygen"), "-D", kSoftHsmModule}, {}, {"SOFTHSM2_CONF=" + conf});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    keys_ = new std::map<std::string, std::string>();
    std::istringstream in(listed.out);
    for (std::string type, blob, label; in >> type >> blob >> label;) (*keys_)[label] = type + " " + blob;
    ASSERT_EQ(keys_->size(), 8u) << listed.out;
    // RSA keys must sign rsa-sha2-512 here: nothing older is accepted.
    const std::string extra = "TrustedUserCAKeys " + suite_->file("ca.pub") +
                              "\nMaxAuthTries 30\nPubkeyAcceptedAlgorithms rsa-sha2-512,ecdsa-sha2-nistp256,"
                              "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-ed25519,"
                              "ecdsa-sha2-nistp256-cert-v01@openssh.com,ssh-ed25519-cert-v01@openssh.com\n";
    sshd_ = new Sshd(SshdConfig{suite_->path().string(), "", extra});
  }
  static void TearDownTestSuite() {
    delete sshd_;
    delete keys_;
    delete suite_;
    sshd_ = nullptr;
    keys_ = nullptr;
    suite_ = nullptr;
  }

  void SetUp() override {
    if (std::string missing = Sshd::unavailable(); !missing.empty()) GTEST_SKIP() << missing;
    if (std::string missing = softhsm_missing(); !missing.empty()) GTEST_SKIP() << missing;
    ASSERT_NE(sshd_, nullptr) << "could not make the test account or the keys";
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
    // Fresh tokens for each test: wrong PINs change a token's files.
    conf_ = copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(conf_.empty());
    prompts_ = dir_.file("prompts");
    write_file(prompts_, "");
    set_pin(kFixturePin);
    // Records each prompt and answers with the pin file's contents.
    write_file(dir_.file("askpass"),
               "#!/bin/sh\nprintf '%s\\n' \"$1\" >> " + prompts_ + "\ncat " + dir_.file("pin") + "\necho\n", 0755);
  }

  void set_pin(const std::string& pin) { write_file(dir_.file("pin"), pin); }
  std::string prompts() const { return read_file(prompts_); }
  void clear_prompts() { write_file(prompts_, ""); }

  // authorized_keys: these token keys (by label), plus the file key if asked.
  void authorize(const std::vector<std::string>& labels, bool file_key = false) {
    std::string text;
    for (const std::string& label : labels) text += keys_->at(label) + " " + label + "\n";
    if (file_key) text += read_file(suite_->file("user_ed25519.pub"));
    write_file(sshd_->authorized_keys(), text, 0644);
  }

  // A key's public half as a file, "DIR/LABEL.pub"; returns "DIR/LABEL".
  std::string public_file(const std::string& label) {
    write_file(dir_.file(label + ".pub"), keys_->at(label) + " " + label + "\n", 0644);
    return dir_.file(label);
  }

  std::vector<std::string> env() const {
    return {"SOFTHSM2_CONF=" + conf_, "SSH_ASKPASS=" + dir_.file("askpass"), "SSH_ASKPASS_REQUIRE=force",
            "SSH_AUTH_SOCK=", "TESSERA_P11_FAULT_CONTROL=" + dir_.file("fault-control")};
  }

  // tessera-ssh with the file key (whether the server takes it is up to
  // authorize()) and `extra` options (first, so that they win), running
  // `command`.
  CommandResult ssh(const std::vector<std::string>& extra, const std::string& command = "echo in",
                    std::vector<std::string> more_env = {}) {
    std::vector<std::string> argv = {tessera_bin("tessera-ssh")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::vector<std::string> defaults = {"-F", "none", "-p", std::to_string(sshd_->port()), "-i",
                                               suite_->file("user_ed25519"), "-o", "StrictHostKeyChecking=no",
                                               "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityAgent=none"};
    argv.insert(argv.end(), defaults.begin(), defaults.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    argv.push_back(command);
    std::vector<std::string> e = env();
    e.insert(e.end(), more_env.begin(), more_env.end());
    return run(argv, {}, e);
  }

  static TempDir* suite_;
  static Sshd* sshd_;
  static std::map<std::string, std::string>* keys_;
  TempDir dir_;
  std::string conf_;
  std::string prompts_;
};

TempDir* TokenInterop::suite_ = nullptr;
Sshd* TokenInterop::sshd_ = nullptr;
std::map<std::string, std::string>* TokenInterop::keys_ = nullptr;

TEST_F(TokenInterop, EachKeyTypeLogsInWithOnePinPrompt) {
  // ec384 has no public key object: the helper finds it through its certificate.
  for (const std::string label : {"rsa2048", "rsa3072", "ec256", "ec384", "ec521", "ed25519"}) {
    authorize({label});
    clear_prompts();
    CommandResult r = ssh({"-I", kSoftHsmModule}, "echo in-" + label);
    EXPECT_EQ(r.exit_code, 0) << label << ": " << r.err << sshd_->log();
    EXPECT_EQ(r.out, "in-" + label + "\n");
    EXPECT_EQ(prompts(), kMainPrompt) << label;
    // Nothing from the helper or the module: only the new host key's line.
    EXPECT_EQ(r.err, "Warning: Permanently added '[127.0.0.1]:" + std::to_string(sshd_->port()) +
                         "' (ED25519) to the list of known hosts.\n")
        << label;
  }
  // The same through ssh_config's PKCS11Provider.
  authorize({"ec256"});
  clear_prompts();
  CommandResult config = ssh({"-o", std::string("PKCS11Provider=") + kSoftHsmModule});
  EXPECT_EQ(config.exit_code, 0) << config.err;
  EXPECT_EQ(prompts(), kMainPrompt);
  // "PKCS11Provider none" is no provider.
  CommandResult none = ssh({"-o", "PKCS11Provider=none", "-o", "BatchMode=yes"});
  EXPECT_EQ(none.exit_code, 255);
  EXPECT_NE(none.err.find("Permission denied"), std::string::npos) << none.err;
}

TEST_F(TokenInterop, KeysTheServerRefusesCostNoPin) {
  // Only the file key is accepted: every token key is offered before it
  // (after the agent's, before key files), refused, and no PIN is asked.
  authorize({}, true);
  CommandResult files = ssh({"-I", kSoftHsmModule, "-v"});
  EXPECT_EQ(files.exit_code, 0) << files.err;
  EXPECT_EQ(prompts(), "");
  const size_t token_offer = files.err.find("Offering public key: rsa2048 ");
  const size_t file_offer = files.err.find("Offering public key: " + suite_->file("user_ed25519"));
  ASSERT_NE(token_offer, std::string::npos) << files.err;
  ASSERT_NE(file_offer, std::string::npos) << files.err;
  EXPECT_LT(token_offer, file_offer);
  EXPECT_EQ(count(files.err, "Offering public key: "), 9u) << files.err;

  // One accepted token key among them: one prompt, for that key only.
  authorize({"ed25519"});
  CommandResult token = ssh({"-I", kSoftHsmModule, "-v"});
  EXPECT_EQ(token.exit_code, 0) << token.err;
  EXPECT_EQ(prompts(), kMainPrompt);
  EXPECT_NE(token.err.find("Server refused key rsa2048 "), std::string::npos) << token.err;
  EXPECT_NE(token.err.find("Server accepts key: ed25519 ED25519 SHA256:"), std::string::npos) << token.err;
}

TEST_F(TokenInterop, AWrongPinIsRefusedWithThePinState) {
  set_pin("9999");
  authorize({"ec256", "ed25519"});
  CommandResult wrong = ssh({"-I", kSoftHsmModule});
  EXPECT_EQ(wrong.exit_code, 255);
  // SoftHSM2 marks the PIN count low after a wrong PIN.
  EXPECT_NE(wrong.err.find("wrong PIN for token 'tessera-main' (a wrong PIN was entered before: few tries may be "
                           "left)\n"),
            std::string::npos)
      << wrong.err;
  EXPECT_NE(wrong.err.find("Permission denied"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("passphrase"), std::string::npos) << wrong.err;
  // Asked once, although two keys of the token were accepted.
  EXPECT_EQ(prompts(), kMainPrompt);

  // Not fatal when another key logs in; the next prompt carries the warning.
  authorize({"ec256"}, true);
  clear_prompts();
  CommandResult other = ssh({"-I", kSoftHsmModule});
  EXPECT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.err.find("wrong PIN for token 'tessera-main'"), std::string::npos) << other.err;
  EXPECT_EQ(prompts(),
            "Note: a wrong PIN was entered for token 'tessera-main' before; few tries may be left.\n" +
                std::string(kMainPrompt));
}

// Through tessera-p11-fault (SoftHSM2 underneath): a PIN counter that runs out.
TEST_F(TokenInterop, APinCounterRunningOutIsSaidAsItHappens) {
  const std::string fault = TESSERA_P11_FAULT_PATH;
  write_file(dir_.file("fault-control"), "pin_tries=2\n");
  set_pin("9999");
  authorize({"ec256"});
  CommandResult first = ssh({"-I", fault});
  EXPECT_EQ(first.exit_code, 255);
  EXPECT_NE(first.err.find("wrong PIN for token 'tessera-main' (one more wrong PIN will lock it)"), std::string::npos)
      << first.err;
  clear_prompts();
  CommandResult last = ssh({"-I", fault});
  EXPECT_EQ(last.exit_code, 255);
  EXPECT_NE(prompts().find("WARNING: this is the LAST try: one more wrong PIN locks token 'tessera-main'."),
            std::string::npos)
      << prompts();
  // Locked: nobody is asked for a PIN that cannot work.
  clear_prompts();
  set_pin(kFixturePin);
  CommandResult locked = ssh({"-I", fault});
  EXPECT_EQ(locked.exit_code, 255);
  EXPECT_NE(locked.err.find("the PIN of token 'tessera-main' is locked: unblock it"), std::string::npos)
      << locked.err;
  EXPECT_EQ(prompts(), "");
}

TEST_F(TokenInterop, AnAlwaysAuthenticateKeyAsksForThePinOnce) {
  const std::string uri = std::string("pkcs11:token=tessera-always-auth?module-path=") + kSoftHsmModule;
  for (const std::string label : {"aa-ec256", "aa-rsa2048"}) {
    authorize({label});
    clear_prompts();
    CommandResult r = ssh({"-I", uri, "-v"});
    EXPECT_EQ(r.exit_code, 0) << label << ": " << r.err;
    EXPECT_EQ(prompts(), "Enter PIN for 'tessera-always-auth': \n") << label;
    EXPECT_NE(r.err.find("asks for its PIN at every use"), std::string::npos) << r.err;
  }
}

TEST_F(TokenInterop, TheProviderIsAP11KitNameOrAUri) {
  authorize({"ec256"});
  CommandResult name = ssh({"-I", "softhsm2"});
  EXPECT_EQ(name.exit_code, 0) << name.err;
  EXPECT_EQ(prompts(), kMainPrompt);

  // A URI selects keys: only the named object is offered.
  authorize({"ed25519"});
  clear_prompts();
  CommandResult uri = ssh({"-I", "pkcs11:token=tessera-main;object=ed25519?module-name=softhsm2", "-v"});
  EXPECT_EQ(uri.exit_code, 0) << uri.err;
  EXPECT_EQ(prompts(), kMainPrompt);
  EXPECT_EQ(count(uri.err, "Offering public key: "), 1u) << uri.err;
  EXPECT_NE(uri.err.find("Offering public key: ed25519 "), std::string::npos) << uri.err;

  // A percent-encoded token label, and a module path in the URI.
  authorize({"aa-ec256"});
  clear_prompts();
  CommandResult encoded =
      ssh({"-I", std::string("pkcs11:token=tessera%2dalways%2Dauth?module-path=") + kSoftHsmModule});
  EXPECT_EQ(encoded.exit_code, 0) << encoded.err;
  EXPECT_EQ(prompts(), "Enter PIN for 'tessera-always-auth': \n");
}

TEST_F(TokenInterop, ProblemsAreSaidAndOtherKeysStillLogIn) {
  authorize({}, true);
  struct Case {
    std::vector<std::string> options;
    std::vector<std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"-I", dir_.file("no-such-module.so")}, {}, "PKCS#11 provider " + dir_.file("no-such-module.so") + " not found: "},
      {{"-I", "no-such-p11kit-module"}, {}, "PKCS#11 provider no-such-p11kit-module not found: no PKCS#11 module"},
      {{"-I", "pkcs11:token=absent?module-name=softhsm2"}, {}, "token 'absent' is not present (PKCS#11 provider "},
      {{"-I", kSoftHsmModule}, {"TESSERA_PKCS11_HELPER=" + dir_.file("no-helper")},
       "cannot start " + dir_.file("no-helper") + " for PKCS#11 provider " + kSoftHsmModule},
      {{"-I", "/etc/passwd"}, {}, "cannot list the keys of PKCS#11 provider /etc/passwd: "},
  };
  for (const Case& c : cases) {
    CommandResult r = ssh(c.options, "echo in", c.env);
    EXPECT_EQ(r.exit_code, 0) << c.message << "\n" << r.err;
    EXPECT_EQ(r.out, "in\n");
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  // The token pulled out: no keys, and it is said.
  write_file(dir_.file("fault-control"), "removed=1\n");
  CommandResult removed = ssh({"-I", TESSERA_P11_FAULT_PATH});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(removed.err.find("has no keys: is the token inserted?"), std::string::npos) << removed.err;
  EXPECT_EQ(prompts(), "");
  // With nothing else to log in with, the end is "Permission denied".
  authorize({"ec256"});
  CommandResult denied = ssh({"-I", "pkcs11:token=absent?module-name=softhsm2"});
  EXPECT_EQ(denied.exit_code, 255);
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
}

TEST_F(TokenInterop, BatchModeSkipsThePinPrompt) {
  authorize({"ec256"}, true);
  CommandResult fallback = ssh({"-I", kSoftHsmModule, "-o", "BatchMode=yes", "-v"});
  EXPECT_EQ(fallback.exit_code, 0) << fallback.err;
  EXPECT_EQ(prompts(), "");
  EXPECT_NE(fallback.err.find("debug1: Signing with ec256 ECDSA SHA256:"), std::string::npos) << fallback.err;
  EXPECT_NE(fallback.err.find("needs its PIN, and BatchMode is on: not asking for it"), std::string::npos)
      << fallback.err;

  authorize({"ec256"});
  CommandResult denied = ssh({"-I", kSoftHsmModule, "-o", "BatchMode=yes"});
  EXPECT_EQ(denied.exit_code, 255);
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
  EXPECT_EQ(denied.err.find("PIN"), std::string::npos) << denied.err;
  EXPECT_EQ(prompts(), "");
}

TEST_F(TokenInterop, IdentitiesOnlyKeepsTheTokenKeysAnIdentityFileNames) {
  authorize({"ec256"});
  // The public half as IdentityFile: that token key only, signed by the token.
  CommandResult named = ssh({"-I", kSoftHsmModule, "-o", "IdentitiesOnly=yes", "-i", public_file("ec256"), "-v"});
  EXPECT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(prompts(), kMainPrompt);
  EXPECT_NE(named.err.find("Offering public key: ec256 ECDSA"), std::string::npos) << named.err;
  EXPECT_EQ(named.err.find("Offering public key: rsa2048"), std::string::npos) << named.err;
  // The token key comes before the key files.
  EXPECT_LT(named.err.find("Offering public key: ec256"),
            named.err.find("Offering public key: " + suite_->file("user_ed25519")));

  // No IdentityFile names it: not offered, no PIN.
  clear_prompts();
  CommandResult unnamed = ssh({"-I", kSoftHsmModule, "-o", "IdentitiesOnly=yes", "-v"});
  EXPECT_EQ(unnamed.exit_code, 255);
  EXPECT_EQ(unnamed.err.find("Offering public key: ec256"), std::string::npos) << unnamed.err;
  EXPECT_EQ(prompts(), "");
}

TEST_F(TokenInterop, ACertificateOfATokenKeyIsOfferedWithIt) {
  authorize({});  // only the CA counts
  const std::string key = public_file("ec256");
  CommandResult signed_ = run({"ssh-keygen", "-q", "-s", suite_->file("ca"), "-I", "token-cert", "-n", kUser,
                               key + ".pub"});
  ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
  // As CertificateFile ...
  CommandResult certfile = ssh({"-I", kSoftHsmModule, "-o", "CertificateFile=" + key + "-cert.pub", "-v"});
  EXPECT_EQ(certfile.exit_code, 0) << certfile.err << sshd_->log();
  EXPECT_EQ(prompts(), kMainPrompt);
  EXPECT_NE(certfile.err.find("Server accepts key: ec256 ECDSA-CERT SHA256:"), std::string::npos) << certfile.err;
  // ... even with IdentitiesOnly, as the configuration names it ...
  clear_prompts();
  CommandResult only = ssh({"-I", kSoftHsmModule, "-o", "IdentitiesOnly=yes", "-o",
                            "CertificateFile=" + key + "-cert.pub"});
  EXPECT_EQ(only.exit_code, 0) << only.err;
  EXPECT_EQ(prompts(), kMainPrompt);
  // ... and as -cert.pub beside an IdentityFile that is the token key's public half.
  clear_prompts();
  CommandResult beside = ssh({"-I", kSoftHsmModule, "-o", "IdentitiesOnly=yes", "-i", key});
  EXPECT_EQ(beside.exit_code, 0) << beside.err;
  EXPECT_EQ(prompts(), kMainPrompt);
}

// A token key the agent already holds (tessera-add -s) is the agent's to
// sign, as OpenSSH's ssh does it: offered once, no PIN asked by tessera-ssh.
// And, as in OpenSSH 9.2, it counts as configured under IdentitiesOnly.
TEST_F(TokenInterop, TokenKeysInTheAgentAreSignedByTheAgent) {
  const std::string sock = dir_.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-d", "-a", sock, "-P", "/usr/lib*/*"}, dir_.file("agent.log"),
                          {"SOFTHSM2_CONF=" + conf_, "SSH_ASKPASS_REQUIRE=never"});
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(dir_.file("agent.log"));
  CommandResult added = run({tessera_bin("tessera-add"), "-s", kSoftHsmModule}, std::string(kFixturePin) + "\n",
                            {"SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  ASSERT_EQ(added.exit_code, 0) << added.err << read_file(dir_.file("agent.log"));

  authorize({"ec256"});
  for (const bool identities_only : {false, true}) {
    CommandResult r = ssh({"-o", "IdentityAgent=" + sock, "-o",
                           std::string("IdentitiesOnly=") + (identities_only ? "yes" : "no"), "-I", kSoftHsmModule,
                           "-v"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(prompts(), "");
    EXPECT_EQ(count(r.err, "Offering public key: ec256 "), 0u) << r.err;  // not from the token
    EXPECT_EQ(count(r.err, " token\n"), 0u) << r.err;
    EXPECT_NE(r.err.find(" agent\ndebug1: Server accepts key: "), std::string::npos) << r.err;
  }
}

// tessera-ssh never loads a PKCS#11 module: the helper does.
TEST(TokenLayering, TesseraSshLoadsNoModule) {
  if (!have_program("nm")) GTEST_SKIP() << "nm is not installed";
  CommandResult symbols = run({"nm", "-C", tessera_bin("tessera-ssh")});
  ASSERT_EQ(symbols.exit_code, 0) << symbols.err;
  ASSERT_NE(symbols.out.find("tessera::pkcs11::HelperClient::start"), std::string::npos);
  EXPECT_EQ(symbols.out.find("dlopen"), std::string::npos);
  EXPECT_EQ(symbols.out.find("C_GetFunctionList"), std::string::npos);
}

}  // namespace
}  // namespace tessera::test
