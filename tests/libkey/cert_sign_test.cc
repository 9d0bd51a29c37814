// Issuing certificates (cert.h: sign_certificate and CertificateSigner):
// every CA key type and signature algorithm signs every subject type, the
// result parses back and verifies, sections come out sorted, and the checks
// (algorithm, duplicates, limits, a signer that answers with the wrong
// algorithm) refuse what a CA must not issue.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/wire.h"
#include "test_keys.h"

namespace tessera::key {
namespace {

Certificate unsigned_cert(const PublicKey& subject, const PublicKey& ca) {
  return Certificate{.key = subject, .nonce = {}, .serial = 9, .type = CertType::kUser, .key_id = "alice",
                     .principals = {"alice"}, .valid_after = 0, .valid_before = UINT64_MAX,
                     .critical_options = {}, .extensions = {}, .reserved = {}, .signature_key = ca,
                     .signature = {}};
}

CertOption flag(const char* name) { return {name, {}}; }

struct CaCase {
  const char* name;
  KeyType type;
  const char* algorithm;
};

const CaCase kCaCases[] = {
    {"ed25519", KeyType::kEd25519, "ssh-ed25519"},
    {"ecdsa256", KeyType::kEcdsaP256, "ecdsa-sha2-nistp256"},
    {"ecdsa384", KeyType::kEcdsaP384, "ecdsa-sha2-nistp384"},
    {"ecdsa521", KeyType::kEcdsaP521, "ecdsa-sha2-nistp521"},
    {"rsa_sha512", KeyType::kRsa, "rsa-sha2-512"},
    {"rsa_sha256", KeyType::kRsa, "rsa-sha2-256"},
    {"rsa_sha1", KeyType::kRsa, "ssh-rsa"},
};

class SignEveryCa : public ::testing::TestWithParam<CaCase> {};

TEST_P(SignEveryCa, SignsEverySubjectTypeAndVerifies) {
  const CaCase& c = GetParam();
  PrivateKeySigner signer(test_key(c.type));
  for (KeyType subject : {KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521,
                          KeyType::kRsa}) {
    Certificate cert = unsigned_cert(test_key(subject, 1).public_key(), test_key(KeyType::kEd25519, 2).public_key());
    ASSERT_TRUE(sign_certificate(cert, signer, c.algorithm).ok()) << c.name;
    EXPECT_EQ(cert.signature_key, test_key(c.type).public_key());
    EXPECT_EQ(cert.nonce.size(), kCertNonceBytes);
    EXPECT_EQ(*signature_algorithm_name(cert.signature), c.algorithm);
    auto parsed = Certificate::from_blob(cert.blob());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_TRUE(parsed->verify_signature().ok());
    EXPECT_EQ(parsed->blob(), cert.blob());
  }
}

INSTANTIATE_TEST_SUITE_P(CertSign, SignEveryCa, ::testing::ValuesIn(kCaCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(CertSign, DefaultAlgorithmIsRsaSha512ForRsaAndTheKeysOwnOtherwise) {
  EXPECT_EQ(default_certificate_algorithm(test_key(KeyType::kRsa).public_key()), "rsa-sha2-512");
  EXPECT_EQ(default_certificate_algorithm(test_key(KeyType::kEd25519).public_key()), "ssh-ed25519");
  EXPECT_EQ(default_certificate_algorithm(test_key(KeyType::kEcdsaP384).public_key()), "ecdsa-sha2-nistp384");
}

TEST(CertSign, RefusesAlgorithmsTheCaCannotMake) {
  PrivateKeySigner rsa(test_key(KeyType::kRsa));
  PrivateKeySigner ec(test_key(KeyType::kEcdsaP256));
  Certificate cert = unsigned_cert(test_key(KeyType::kEd25519).public_key(), rsa.public_key());
  auto bad_rsa = sign_certificate(cert, rsa, "rsa");
  ASSERT_FALSE(bad_rsa.ok());
  EXPECT_EQ(bad_rsa.error().code(), Errc::kInvalidArgument);
  auto bad_ec = sign_certificate(cert, ec, "ecdsa-sha2-nistp384");
  ASSERT_FALSE(bad_ec.ok());
  EXPECT_EQ(bad_ec.error().code(), Errc::kUnsupported);
  EXPECT_TRUE(cert.signature.empty());
}

TEST(CertSign, SortsSectionsAndRefusesDuplicates) {
  PrivateKeySigner signer(test_key(KeyType::kEd25519));
  Certificate cert = unsigned_cert(test_key(KeyType::kEcdsaP256).public_key(), signer.public_key());
  cert.extensions = {flag("permit-pty"), flag("permit-X11-forwarding"), flag("aaa"), flag("permit-agent-forwarding")};
  Writer cmd;
  cmd.string("/bin/true");
  cert.critical_options = {{"source-address", {}}, {"force-command", cmd.take()}};
  ASSERT_TRUE(sign_certificate(cert, signer, "ssh-ed25519").ok());
  std::vector<std::string> names;
  for (const auto& e : cert.extensions) names.push_back(e.name);
  // Byte order: upper case sorts first.
  EXPECT_EQ(names, (std::vector<std::string>{"aaa", "permit-X11-forwarding", "permit-agent-forwarding", "permit-pty"}));
  EXPECT_EQ(cert.critical_options.front().name, "force-command");
  EXPECT_TRUE(Certificate::from_blob(cert.blob()).ok());

  cert.extensions.push_back(flag("permit-pty"));
  auto dup = sign_certificate(cert, signer, "ssh-ed25519");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(dup.error().detail().find("permit-pty"), std::string::npos);
}

TEST(CertSign, RefusesTooManyPrincipals) {
  PrivateKeySigner signer(test_key(KeyType::kEd25519));
  Certificate cert = unsigned_cert(test_key(KeyType::kEcdsaP256).public_key(), signer.public_key());
  cert.principals.assign(kMaxCertPrincipals, "p");
  EXPECT_TRUE(sign_certificate(cert, signer, "ssh-ed25519").ok());
  cert.principals.push_back("one-too-many");
  EXPECT_FALSE(sign_certificate(cert, signer, "ssh-ed25519").ok());
}

TEST(CertSign, EveryCertificateGetsItsOwnNonce) {
  PrivateKeySigner signer(test_key(KeyType::kEd25519));
  std::set<Bytes> nonces;
  for (int i = 0; i < 50; ++i) {
    Certificate cert = unsigned_cert(test_key(KeyType::kEcdsaP256).public_key(), signer.public_key());
    ASSERT_TRUE(sign_certificate(cert, signer, "ssh-ed25519").ok());
    nonces.insert(cert.nonce);
  }
  EXPECT_EQ(nonces.size(), 50u);
}

// A signer elsewhere (agent, token) that answers with another algorithm than asked.
class WrongAlgorithmSigner final : public CertificateSigner {
 public:
  const PublicKey& public_key() const override { return test_key(KeyType::kRsa).public_key(); }
  Result<Bytes> sign(std::span<const uint8_t> data, std::string_view) override {
    return test_key(KeyType::kRsa).sign(data, SignatureAlgorithm::kRsaSha1);
  }
};

class FailingSigner final : public CertificateSigner {
 public:
  const PublicKey& public_key() const override { return test_key(KeyType::kEd25519).public_key(); }
  Result<Bytes> sign(std::span<const uint8_t>, std::string_view) override {
    return Error(Errc::kIo, "token removed");
  }
};

TEST(CertSign, RefusesASignerThatAnswersWithAnotherAlgorithm) {
  WrongAlgorithmSigner signer;
  Certificate cert = unsigned_cert(test_key(KeyType::kEd25519).public_key(), signer.public_key());
  auto r = sign_certificate(cert, signer, "rsa-sha2-512");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kBadSignature);
  EXPECT_TRUE(cert.signature.empty());
}

TEST(CertSign, PassesTheSignersErrorThrough) {
  FailingSigner signer;
  Certificate cert = unsigned_cert(test_key(KeyType::kEcdsaP256).public_key(), signer.public_key());
  auto r = sign_certificate(cert, signer, "ssh-ed25519");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kIo);
  EXPECT_EQ(r.error().detail(), "token removed");
}

TEST(CertSign, SecurityKeySubjectsCanBeCertified) {
  PrivateKeySigner signer(test_key(KeyType::kEcdsaP384));
  auto sk = PublicKey::make_security_key(KeyType::kSkEd25519, test_key(KeyType::kEd25519, 3).evp(), "ssh:");
  ASSERT_TRUE(sk.ok());
  Certificate cert = unsigned_cert(*sk, signer.public_key());
  ASSERT_TRUE(sign_certificate(cert, signer, "ecdsa-sha2-nistp384").ok());
  auto parsed = Certificate::from_blob(cert.blob());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->verify_signature().ok());
  EXPECT_EQ(parsed->type_name(), "sk-ssh-ed25519-cert-v01@openssh.com");
}

}  // namespace
}  // namespace tessera::key
