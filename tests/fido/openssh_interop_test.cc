// OpenSSH 9.2's own tools with the software middleware: ssh-keygen -w makes
// ed25519-sk and ecdsa-sk keys with it, -Y sign signs through it, and what
// each side makes the other accepts (keys made by ssh-keygen sign through
// tessera-sk-helper; signatures made through tessera-sk-helper verify with
// ssh-keygen -Y verify).

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/fido/client.h"
#include "tessera/key/format.h"
#include "tessera/key/sshsig.h"
#include "tessera/key/wire.h"
#include "test_support.h"

namespace tessera::fido {
namespace {

using namespace std::chrono_literals;

class OpenSshInterop : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH's ssh-keygen is not installed";
    for (const char* name : {"TESSERA_SK_SOFT_PIN", "TESSERA_SK_SOFT_DEVICE", "TESSERA_SK_SOFT_DELAY_MS",
                             "TESSERA_SK_SOFT_FAULT", "TESSERA_SK_SOFT_LOG", "TESSERA_SK_HELPER"}) {
      ::unsetenv(name);
    }
    // ssh-keygen passes its environment on to ssh-sk-helper, which loads the middleware.
    ::setenv("TESSERA_SK_SOFT_DIR", dir_.path().c_str(), 1);
  }
  void TearDown() override { ::unsetenv("TESSERA_SK_SOFT_DIR"); }

  std::string type() const { return GetParam(); }
  Algorithm alg() const { return type() == "ed25519-sk" ? Algorithm::kEd25519 : Algorithm::kEcdsaP256; }
  Target target() const {
    Target t;
    t.provider = TESSERA_SK_SOFT_PATH;
    t.helper_program = test::tessera_bin("tessera-sk-helper");
    t.timeout = 20s;
    return t;
  }

  // ssh-keygen -t TYPE -w SOFT -N "" -f FILE [options]
  void keygen(const std::string& file, const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type(), "-w", TESSERA_SK_SOFT_PATH, "-N", "", "-f", file,
                                     "-C", "sk test"};
    argv.insert(argv.end(), options.begin(), options.end());
    auto made = test::run(argv);
    ASSERT_EQ(made.exit_code, 0) << made.err << made.out;
  }

  // "type base64" of a public key file.
  static std::string key_part(const std::string& line) {
    const size_t first = line.find(' ');
    const size_t second = line.find_first_of(" \n", first + 1);
    return line.substr(0, second);
  }

  test::CommandResult verify_with_ssh_keygen(const std::string& public_line, const std::string& data_file,
                                             const std::string& sig_file) {
    test::write_file(dir_.file("allowed_signers"), "tester " + key_part(public_line) + "\n");
    return test::run({"ssh-keygen", "-Y", "verify", "-f", dir_.file("allowed_signers"), "-I", "tester", "-n", "file",
                      "-s", sig_file},
                     test::read_file(data_file));
  }

  test::TempDir dir_;
};

TEST_P(OpenSshInterop, SshKeygenMakesAndUsesKeysWithTheSoftMiddleware) {
  const std::string key = dir_.file("id_sk");
  keygen(key);
  const std::string public_line = test::read_file(key + ".pub");
  EXPECT_EQ(public_line.rfind("sk-", 0), 0u) << public_line;

  auto derived = test::run({"ssh-keygen", "-y", "-f", key});
  ASSERT_EQ(derived.exit_code, 0) << derived.err;
  EXPECT_EQ(key_part(derived.out), key_part(public_line));

  test::write_file(dir_.file("data"), "a message signed by a software security key\n");
  auto signed_ = test::run({"ssh-keygen", "-Y", "sign", "-f", key, "-n", "file", dir_.file("data")}, "",
                           {std::string("SSH_SK_PROVIDER=") + TESSERA_SK_SOFT_PATH});
  ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
  auto verified = verify_with_ssh_keygen(public_line, dir_.file("data"), dir_.file("data.sig"));
  EXPECT_EQ(verified.exit_code, 0) << verified.err << verified.out;
  EXPECT_NE(verified.out.find("Good \"file\" signature for tester"), std::string::npos) << verified.out;

  // libkey agrees.
  auto sig = key::parse_armored_sshsig(test::read_file(dir_.file("data.sig")));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  const std::string data = test::read_file(dir_.file("data"));
  auto hash = key::parse_sshsig_hash(sig->hash_algorithm);
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(key::sshsig_verify(*sig, "file", key::sshsig_digest(*hash, key::as_bytes(data))).ok());
}

TEST_P(OpenSshInterop, ResidentKeysMadeBySshKeygenAreListedByTessera) {
  keygen(dir_.file("id_rk"), {"-O", "resident", "-O", "application=ssh:interop", "-O", "user=dave"});
  auto listed = load_resident_keys(target());
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].application, "ssh:interop");
  EXPECT_EQ((*listed)[0].user_id, Bytes({'d', 'a', 'v', 'e'}));
  auto listed_key = public_key((*listed)[0]);
  ASSERT_TRUE(listed_key.ok());
  auto file_key = key::parse_public_key_line(test::read_file(dir_.file("id_rk.pub")));
  ASSERT_TRUE(file_key.ok()) << file_key.error().message();
  EXPECT_TRUE(*listed_key == file_key->key);
}

TEST_P(OpenSshInterop, KeysMadeBySshKeygenSignThroughTheHelper) {
  const std::string key = dir_.file("id_sk");
  keygen(key, {"-O", "application=ssh:made-by-openssh"});
  auto private_key = key::parse_openssh_private_key(test::read_file(key), SecretBytes());
  ASSERT_TRUE(private_key.ok()) << private_key.error().message();
  const key::SecurityKeyCredential* credential = private_key->key.security_key();
  ASSERT_NE(credential, nullptr);
  const key::PublicKey& file_key = private_key->key.public_key();
  EXPECT_EQ(file_key.sk_application(), "ssh:made-by-openssh");
  EXPECT_EQ(credential->flags, SSH_SK_USER_PRESENCE_REQD);

  const Bytes data = {'s', 'i', 'g', 'n', ' ', 'm', 'e'};
  auto signed_ = sign(target(), alg(), file_key.sk_application(), credential->key_handle.reveal(),
                      credential->flags, data);
  ASSERT_TRUE(signed_.ok()) << signed_.error().message();
  auto blob = signature_blob(alg(), *signed_);
  ASSERT_TRUE(blob.ok());
  auto verified = file_key.verify(*blob, data);
  EXPECT_TRUE(verified.ok()) << verified.error().message();
  // libkey's own assembly of the authenticator's answer agrees.
  auto assembled = key::security_key_signature(file_key, data, signed_->flags, signed_->counter, signed_->sig_r,
                                               signed_->sig_s);
  ASSERT_TRUE(assembled.ok()) << assembled.error().message();
  EXPECT_EQ(*assembled, *blob);
}

TEST_P(OpenSshInterop, SshKeygenVerifiesWhatTheHelperSigns) {
  auto made = enroll(target(), alg(), "ssh:", SSH_SK_USER_PRESENCE_REQD, {}, {});
  ASSERT_TRUE(made.ok()) << made.error().message();
  auto ssh_key = public_key(made->credential);
  ASSERT_TRUE(ssh_key.ok()) << ssh_key.error().message();

  const std::string message = "signed through tessera-sk-helper\n";
  test::write_file(dir_.file("message"), message);
  const Target t = target();
  key::SignFunction through_helper = [&](std::span<const uint8_t> data, key::SignatureAlgorithm) -> key::Result<Bytes> {
    auto signed_ = sign(t, made->credential.alg, made->credential.application, made->credential.key_handle.reveal(),
                        made->credential.flags, data);
    if (!signed_.ok()) return signed_.error();
    return signature_blob(made->credential.alg, *signed_);
  };
  auto sig = key::sshsig_sign(key::KeyOrCertificate::plain(*ssh_key), through_helper, "file",
                              key::SshsigHash::kSha512,
                              key::sshsig_digest(key::SshsigHash::kSha512, key::as_bytes(message)));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  test::write_file(dir_.file("message.sig"), key::sshsig_armor(sig->blob()));
  auto verified =
      verify_with_ssh_keygen(key::format_public_key_line(*ssh_key, ""), dir_.file("message"), dir_.file("message.sig"));
  EXPECT_EQ(verified.exit_code, 0) << verified.err << verified.out;
  EXPECT_NE(verified.out.find("Good \"file\" signature for tester"), std::string::npos) << verified.out;
}

INSTANTIATE_TEST_SUITE_P(BothTypes, OpenSshInterop, ::testing::Values("ed25519-sk", "ecdsa-sk"),
                         [](const auto& param_info) { return std::string(param_info.param) == "ed25519-sk" ? "Ed25519" : "Ecdsa"; });

}  // namespace
}  // namespace tessera::fido
