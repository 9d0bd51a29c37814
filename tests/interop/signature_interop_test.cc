// Signatures cross-checked with OpenSSH's ssh-keygen in both directions,
// through SSHSIG (PROTOCOL.sshsig, libkey's sshsig.h), which ssh-keygen signs
// and checks. The raw signatures are made and checked here with PublicKey /
// PrivateKey; sshsig_interop_test.cc tests the SSHSIG module as a whole:
//  - libkey verifies the inner signature of `ssh-keygen -Y sign` output;
//  - ssh-keygen -Y check-novalidate accepts SSHSIG files wrapped around
//    libkey's signatures, including security-key signatures that the test
//    builds itself per PROTOCOL.u2f with an OpenSSL key (no authenticator).
#include <gtest/gtest.h>

#include <string>

#include "sk_emulator.h"
#include "tessera/key/key.h"
#include "tessera/key/sshsig.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

constexpr std::string_view kNamespace = "file";
const std::string kMessage = "tessera signs this\n";

// The bytes an SSHSIG signature covers, from libkey's SSHSIG module.
Bytes signed_data(std::string_view hash_alg, std::string_view message) {
  SshsigHash hash = *parse_sshsig_hash(hash_alg);
  return sshsig_signed_data(kNamespace, hash, sshsig_digest(hash, as_bytes(message)));
}

std::string armored(const PublicKey& key, std::string_view hash_alg, std::span<const uint8_t> signature) {
  Sshsig sig{KeyOrCertificate::plain(key), std::string(kNamespace), {}, std::string(hash_alg),
             Bytes(signature.begin(), signature.end())};
  return sshsig_armor(sig.blob());
}

struct TypeCase {
  const char* name;
  std::vector<std::string> keygen_args;
};

class SignatureInterop : public ::testing::TestWithParam<TypeCase> {};

TEST_P(SignatureInterop, LibkeyVerifiesSshKeygenSignatures) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  std::string key_file = dir.file("id");
  std::vector<std::string> gen = {"ssh-keygen", "-q", "-N", "", "-f", key_file};
  gen.insert(gen.end(), GetParam().keygen_args.begin(), GetParam().keygen_args.end());
  ASSERT_EQ(run(gen).exit_code, 0);
  std::string msg_file = dir.file("msg");
  test::write_file(msg_file, kMessage);
  auto signed_ = run({"ssh-keygen", "-Y", "sign", "-f", key_file, "-n", std::string(kNamespace), msg_file});
  ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
  auto sig = parse_armored_sshsig(test::read_file(msg_file + ".sig"));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  ASSERT_EQ(sig->name_space, kNamespace);
  Bytes data = signed_data(sig->hash_algorithm, kMessage);
  EXPECT_TRUE(sig->signer.key.verify(sig->signature, data).ok());
  // A different message must not verify.
  Bytes other = signed_data(sig->hash_algorithm, "something else");
  EXPECT_EQ(sig->signer.key.verify(sig->signature, other).error().code(), Errc::kBadSignature);
}

INSTANTIATE_TEST_SUITE_P(
    Types, SignatureInterop,
    ::testing::Values(TypeCase{"ed25519", {"-t", "ed25519"}}, TypeCase{"ecdsa256", {"-t", "ecdsa", "-b", "256"}},
                      TypeCase{"ecdsa384", {"-t", "ecdsa", "-b", "384"}},
                      TypeCase{"ecdsa521", {"-t", "ecdsa", "-b", "521"}},
                      TypeCase{"rsa2048", {"-t", "rsa", "-b", "2048"}}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

// Checks an SSHSIG file with ssh-keygen -Y check-novalidate; returns its result.
test::CommandResult check_novalidate(const TempDir& dir, const std::string& armored) {
  std::string sig_file = dir.file("msg.sig");
  test::write_file(sig_file, armored);
  return run({"ssh-keygen", "-Y", "check-novalidate", "-n", std::string(kNamespace), "-s", sig_file}, kMessage);
}

struct SignCase {
  KeyType type;
  unsigned bits;
  SignatureAlgorithm alg;
  const char* name;
};

class SshKeygenVerifiesLibkey : public ::testing::TestWithParam<SignCase> {};

TEST_P(SshKeygenVerifiesLibkey, CheckNovalidateAccepts) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  auto [type, bits, alg, name] = GetParam();
  auto key = PrivateKey::generate(type, bits);
  ASSERT_TRUE(key.ok()) << key.error().message();
  TempDir dir;
  for (std::string hash_alg : {"sha256", "sha512"}) {
    Bytes data = signed_data(hash_alg, kMessage);
    auto sig = key->sign(data, alg);
    ASSERT_TRUE(sig.ok());
    auto ok = check_novalidate(dir, armored(key->public_key(), hash_alg, *sig));
    EXPECT_EQ(ok.exit_code, 0) << name << " " << hash_alg << ": " << ok.out << ok.err;
    // Corrupt the signature: ssh-keygen must refuse it.
    Bytes bad = *sig;
    bad[bad.size() - 3] ^= 0x40;
    auto refused = check_novalidate(dir, armored(key->public_key(), hash_alg, bad));
    EXPECT_NE(refused.exit_code, 0) << name << " " << hash_alg;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, SshKeygenVerifiesLibkey,
    ::testing::Values(SignCase{KeyType::kEd25519, 0, SignatureAlgorithm::kDefault, "ed25519"},
                      SignCase{KeyType::kEcdsaP256, 0, SignatureAlgorithm::kDefault, "ecdsa256"},
                      SignCase{KeyType::kEcdsaP384, 0, SignatureAlgorithm::kDefault, "ecdsa384"},
                      SignCase{KeyType::kEcdsaP521, 0, SignatureAlgorithm::kDefault, "ecdsa521"},
                      SignCase{KeyType::kRsa, 2048, SignatureAlgorithm::kRsaSha256, "rsa_sha256"},
                      SignCase{KeyType::kRsa, 2048, SignatureAlgorithm::kRsaSha512, "rsa_sha512"}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

// ---- security keys: the test plays the authenticator ----

TEST(SecurityKeyInterop, SshKeygenAcceptsLibkeyBuiltSkSignatures) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  for (KeyType sk_type : {KeyType::kSkEd25519, KeyType::kSkEcdsaP256}) {
    auto inner = PrivateKey::generate(test_sk::inner_type(sk_type));
    ASSERT_TRUE(inner.ok());
    auto pub = PublicKey::make_security_key(sk_type, inner->evp(), "ssh:");
    ASSERT_TRUE(pub.ok());
    Bytes data = signed_data("sha512", kMessage);
    Bytes sig = test_sk::sk_sign(sk_type, *inner, "ssh:", 0x01, 1234, data);
    // libkey and OpenSSH both accept it...
    EXPECT_TRUE(pub->verify(sig, data).ok());
    auto ok = check_novalidate(dir, armored(*pub, "sha512", sig));
    EXPECT_EQ(ok.exit_code, 0) << pub->ssh_name() << ": " << ok.out << ok.err;
    // ...and both refuse it when the counter was changed after signing.
    Bytes tampered = sig;
    tampered.back() ^= 1;
    EXPECT_FALSE(pub->verify(tampered, data).ok());
    auto refused = check_novalidate(dir, armored(*pub, "sha512", tampered));
    EXPECT_NE(refused.exit_code, 0) << pub->ssh_name();
  }
}

}  // namespace
}  // namespace tessera::key
