// tessera-keygen and ssh-keygen 9.2 with FIDO security keys, both through
// the software middleware (tests/fido/soft_middleware.cc, -w): keys made by
// either are read by the other, -O options give both the same credential
// flags, application and attestation, refusals read alike, the PIN is asked
// as ssh-keygen asks it, and -K writes the same files.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cert_cli.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::certtest {
namespace {

class KeygenSecurityKey : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
    soft_ = test::tessera_bin("tessera-sk-soft.so");
    state_ = dir_.file("state");
    std::filesystem::create_directories(state_);
    env_ = kEnv;
    env_.push_back("TESSERA_SK_SOFT_DIR=" + state_);
  }

  // Both tools make a key with the same arguments, each with an
  // "authenticator" of its own (resident credentials do not collide);
  // returns {ours, theirs}.
  std::pair<CommandResult, CommandResult> both(const std::string& name, const std::vector<std::string>& args,
                                               const std::string& input = "") {
    auto with_file = [&](const std::string& who) {
      std::vector<std::string> a = {"-w", soft_, "-f", dir_.file(name + "_" + who)};
      a.insert(a.end(), args.begin(), args.end());
      return a;
    };
    auto env_of = [&](const std::string& who) {
      std::vector<std::string> env = env_;
      const std::string state = state_ + "_" + who;
      std::filesystem::create_directories(state);
      env.push_back("TESSERA_SK_SOFT_DIR=" + state);  // the later one wins
      return env;
    };
    CommandResult ours = tessera_keygen(with_file("ours"), input, env_of("ours"));
    CommandResult theirs = ssh_keygen(with_file("theirs"), input, env_of("theirs"));
    return {ours, theirs};
  }

  key::PrivateKey read_private(const std::string& path, const std::string& passphrase = "") {
    auto parsed = key::parse_private_key(test::read_file(path), key::SecretBytes::copy_of(std::string_view(passphrase)));
    if (!parsed.ok()) {
      ADD_FAILURE() << path << ": " << parsed.error().message();
      std::abort();
    }
    return std::move(parsed->key);
  }

  test::TempDir dir_;
  std::string soft_, state_;
  std::vector<std::string> env_;
};

// The same lines, the file names and key-dependent lines aside.
TEST_F(KeygenSecurityKey, MakesKeysAsSshKeygenDoes) {
  for (const std::string type : {"ed25519-sk", "ecdsa-sk"}) {
    SCOPED_TRACE(type);
    auto [ours, theirs] = both(type, {"-t", type, "-N", "", "-C", "made"});
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
    auto head = [](const std::string& out, const std::string& who) {
      std::string text = out.substr(0, out.find("The key fingerprint is:"));
      for (size_t at; (at = text.find("_" + who)) != std::string::npos;) text.erase(at, who.size() + 1);
      return text;
    };
    EXPECT_EQ(head(ours.out, "ours"), head(theirs.out, "theirs"));
    EXPECT_NE(ours.out.find("You may need to touch your authenticator to authorize key generation.\n"),
              std::string::npos);
    // Each reads the other's.
    const std::string mine = dir_.file(type + "_ours"), other = dir_.file(type + "_theirs");
    EXPECT_EQ(ssh_keygen({"-y", "-f", mine}, "", env_).out, test::read_file(mine + ".pub"));
    EXPECT_EQ(tessera_keygen({"-y", "-f", other}, "", env_).out, test::read_file(other + ".pub"));
    EXPECT_EQ(tessera_keygen({"-l", "-f", other}, "", env_).out, ssh_keygen({"-l", "-f", other}, "", env_).out);
  }
}

TEST_F(KeygenSecurityKey, EncryptedKeysReadBothWays) {
  auto [ours, theirs] = both("enc", {"-t", "ed25519-sk", "-N", "secret pass"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  const std::string mine = dir_.file("enc_ours"), other = dir_.file("enc_theirs");
  EXPECT_EQ(ssh_keygen({"-y", "-P", "secret pass", "-f", mine}, "", env_).out, test::read_file(mine + ".pub"));
  EXPECT_EQ(tessera_keygen({"-y", "-P", "secret pass", "-f", other}, "", env_).out, test::read_file(other + ".pub"));
}

TEST_F(KeygenSecurityKey, OptionsGiveBothToolsTheSameCredential) {
  struct Case {
    std::vector<std::string> options;
    uint8_t flags;
    std::string application;
  };
  env_.push_back("TESSERA_SK_SOFT_PIN=2468");
  for (const Case& c : {Case{{}, 0x01, "ssh:"}, Case{{"-O", "no-touch-required"}, 0x00, "ssh:"},
                        Case{{"-O", "verify-required"}, 0x05, "ssh:"},
                        Case{{"-O", "resident", "-O", "user=bob", "-O", "application=ssh:work"}, 0x21, "ssh:work"}}) {
    std::string name = "opt" + std::to_string(c.flags) + c.application.substr(4);
    std::vector<std::string> args = {"-t", "ecdsa-sk", "-N", ""};
    args.insert(args.end(), c.options.begin(), c.options.end());
    // Each tool asks for the PIN when the authenticator wants one.
    auto [ours, theirs] = both(name, args, "2468\n");
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
    for (const std::string who : {"ours", "theirs"}) {
      key::PrivateKey k = read_private(dir_.file(name + "_" + who));
      ASSERT_NE(k.security_key(), nullptr);
      EXPECT_EQ(k.security_key()->flags, c.flags) << who;
      EXPECT_EQ(k.public_key().sk_application(), c.application) << who;
    }
  }
}

TEST_F(KeygenSecurityKey, RefusalsReadAlike) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"-t", "ed25519-sk", "-N", "", "-O", "application=web:example.com"},
        std::vector<std::string>{"-t", "ed25519-sk", "-N", "", "-O", "bogus"},
        std::vector<std::string>{"-t", "ed25519-sk", "-N", "", "-O", "challenge=" + dir_.file("missing")}}) {
    auto [ours, theirs] = both("refused", args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << ours.err << theirs.err;
    // ssh-keygen's own words, before any detail tessera adds.
    const std::string first = without_cr(theirs.err).substr(0, without_cr(theirs.err).find(':'));
    EXPECT_NE(ours.err.find(first), std::string::npos) << ours.err << "\n" << theirs.err;
  }
}

TEST_F(KeygenSecurityKey, AttestationAndChallengeAreWrittenAsSshKeygenWritesThem) {
  const std::string challenge = dir_.file("challenge");
  test::write_file(challenge, "a challenge from the CA", 0644);
  for (const std::string who : {"ours", "theirs"}) {
    const std::string att = dir_.file("att_" + who);
    const std::vector<std::string> args = {"-t", "ed25519-sk", "-N", "", "-f", dir_.file("att_key_" + who), "-w", soft_,
                                           "-O", "write-attestation=" + att, "-O", "challenge=" + challenge};
    auto made = who == "ours" ? tessera_keygen(args, "", env_) : ssh_keygen(args, "", env_);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    EXPECT_NE(made.out.find("Your FIDO attestation certificate has been saved in " + att), std::string::npos)
        << made.out;
    const std::string blob = test::read_file(att);
    key::Reader r(key::as_bytes(blob));
    auto version = r.text();
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(*version, "ssh-sk-attest-v01") << who;
    for (int field = 0; field < 3; ++field) EXPECT_TRUE(r.string().ok()) << who << field;  // cert, signature, authdata
    auto reserved_flags = r.u32();
    auto reserved = r.string();
    EXPECT_TRUE(reserved_flags.ok() && reserved.ok() && r.empty()) << who;
  }
}

TEST_F(KeygenSecurityKey, APinIsAskedAsSshKeygenAsksIt) {
  env_.push_back("TESSERA_SK_SOFT_PIN=1357");
  // Wrong three times: "PIN incorrect" twice, then "Too many incorrect PINs".
  auto [ours, theirs] = both("pins", {"-t", "ed25519-sk", "-N", "", "-O", "verify-required"}, "1\n2\n3\n");
  EXPECT_EQ(ours.exit_code, theirs.exit_code) << ours.err << "\n" << theirs.err;
  EXPECT_EQ(ours.err, without_cr(theirs.err));
  // Right at the second try.
  auto [ours2, theirs2] = both("pins2", {"-t", "ed25519-sk", "-N", "", "-O", "verify-required"}, "1\n1357\n");
  EXPECT_EQ(ours2.exit_code, 0) << ours2.err;
  EXPECT_EQ(theirs2.exit_code, 0) << theirs2.err;
  EXPECT_EQ(ours2.err, without_cr(theirs2.err));
}

TEST_F(KeygenSecurityKey, DownloadsResidentKeysAsSshKeygenDoes) {
  env_.push_back("TESSERA_SK_SOFT_PIN=8642");
  for (const std::string& user : {std::string("alice"), std::string("")}) {
    std::vector<std::string> args = {"-t", "ed25519-sk", "-N", "", "-O", "resident", "-O", "application=ssh:host",
                                     "-w", soft_, "-f", dir_.file("rk" + user)};
    if (!user.empty()) args.insert(args.end(), {"-O", "user=" + user});
    ASSERT_EQ(ssh_keygen(args, "8642\n", env_).exit_code, 0);
  }
  const std::string ours_dir = dir_.file("dl_ours"), theirs_dir = dir_.file("dl_theirs");
  std::filesystem::create_directories(ours_dir);
  std::filesystem::create_directories(theirs_dir);
  auto ours = test::run({"sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", ours_dir,
                         test::tessera_bin("tessera-keygen"), "-K", "-N", "", "-w", soft_},
                        "8642\n", env_);
  auto theirs = test::run({"sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", theirs_dir, "ssh-keygen", "-K", "-N",
                           "", "-w", soft_},
                          "8642\n", env_);
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  EXPECT_EQ(ours.out, theirs.out);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(theirs_dir)) names.push_back(entry.path().filename());
  ASSERT_EQ(names.size(), 4u);
  for (const std::string& name : names) {
    ASSERT_TRUE(std::filesystem::exists(ours_dir + "/" + name)) << name;
    if (name.ends_with(".pub")) {
      EXPECT_EQ(test::read_file(ours_dir + "/" + name), test::read_file(theirs_dir + "/" + name)) << name;
    }
  }
}

}  // namespace
}  // namespace tessera::certtest
