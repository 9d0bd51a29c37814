// Signatures cross-checked with OpenSSH's ssh-keygen in both directions,
// through SSHSIG (PROTOCOL.sshsig), which ssh-keygen signs and checks:
//  - libkey verifies the inner signature of `ssh-keygen -Y sign` output;
//  - ssh-keygen -Y check-novalidate accepts SSHSIG files wrapped around
//    libkey's signatures, including security-key signatures that the test
//    builds itself per PROTOCOL.u2f with an OpenSSL key (no authenticator).
#include <openssl/evp.h>
#include <gtest/gtest.h>

#include <string>

#include "tessera/key/encoding.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

constexpr std::string_view kNamespace = "file";
const std::string kMessage = "tessera signs this\n";

Bytes digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return out;
}

// The bytes an SSHSIG signature covers.
Bytes sshsig_signed_data(std::string_view ns, std::string_view hash_alg, std::span<const uint8_t> message) {
  Writer w;
  w.bytes(as_bytes("SSHSIG"));
  w.string(ns);
  w.string("");
  w.string(hash_alg);
  w.string(digest(hash_alg == "sha256" ? EVP_sha256() : EVP_sha512(), message));
  return w.take();
}

std::string sshsig_armor(const PublicKey& key, std::string_view hash_alg, std::span<const uint8_t> signature) {
  Writer w;
  w.bytes(as_bytes("SSHSIG"));
  w.u32(1);
  w.string(key.blob());
  w.string(kNamespace);
  w.string("");
  w.string(hash_alg);
  w.string(signature);
  std::string b64 = base64_encode(w.data());
  std::string out = "-----BEGIN SSH SIGNATURE-----\n";
  for (size_t i = 0; i < b64.size(); i += 70) out += b64.substr(i, 70) + "\n";
  out += "-----END SSH SIGNATURE-----\n";
  return out;
}

struct Sshsig {
  PublicKey key;
  std::string hash_alg;
  Bytes signature;
};

Result<Sshsig> parse_sshsig(const std::string& armored) {
  std::string body;
  size_t start = armored.find('\n');
  size_t end = armored.find("-----END");
  if (start == std::string::npos || end == std::string::npos) return Error(Errc::kMalformed, "armor");
  TESSERA_ASSIGN_OR_RETURN(Bytes blob, base64_decode(armored.substr(start + 1, end - start - 1)));
  Reader r(blob);
  TESSERA_ASSIGN_OR_RETURN(auto magic, r.bytes(6));
  if (as_text(magic) != "SSHSIG") return Error(Errc::kMalformed, "magic");
  TESSERA_ASSIGN_OR_RETURN(uint32_t version, r.u32());
  if (version != 1) return Error(Errc::kMalformed, "version");
  TESSERA_ASSIGN_OR_RETURN(auto pk, r.string());
  TESSERA_ASSIGN_OR_RETURN(auto ns, r.text());
  if (ns != kNamespace) return Error(Errc::kMalformed, "namespace");
  TESSERA_ASSIGN_OR_RETURN(auto reserved, r.string());
  (void)reserved;
  TESSERA_ASSIGN_OR_RETURN(auto hash_alg, r.text());
  TESSERA_ASSIGN_OR_RETURN(auto sig, r.string());
  TESSERA_TRY(r.expect_end());
  TESSERA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::from_blob(pk));
  return Sshsig{key, std::string(hash_alg), Bytes(sig.begin(), sig.end())};
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
  auto sig = parse_sshsig(test::read_file(msg_file + ".sig"));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  Bytes data = sshsig_signed_data(kNamespace, sig->hash_alg, as_bytes(kMessage));
  EXPECT_TRUE(sig->key.verify(sig->signature, data).ok());
  // A different message must not verify.
  Bytes other = sshsig_signed_data(kNamespace, sig->hash_alg, as_bytes("something else"));
  EXPECT_EQ(sig->key.verify(sig->signature, other).error().code(), Errc::kBadSignature);
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
    Bytes data = sshsig_signed_data(kNamespace, hash_alg, as_bytes(kMessage));
    auto sig = key->sign(data, alg);
    ASSERT_TRUE(sig.ok());
    auto ok = check_novalidate(dir, sshsig_armor(key->public_key(), hash_alg, *sig));
    EXPECT_EQ(ok.exit_code, 0) << name << " " << hash_alg << ": " << ok.out << ok.err;
    // Corrupt the signature: ssh-keygen must refuse it.
    Bytes bad = *sig;
    bad[bad.size() - 3] ^= 0x40;
    auto refused = check_novalidate(dir, sshsig_armor(key->public_key(), hash_alg, bad));
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

Bytes u2f_message(std::string_view app, uint8_t flags, uint32_t counter, std::span<const uint8_t> data) {
  Writer w;
  w.bytes(digest(EVP_sha256(), as_bytes(app)));
  w.u8(flags);
  w.u32(counter);
  w.bytes(digest(EVP_sha256(), data));
  return w.take();
}

// Signs like an authenticator would and returns the SSH sk signature blob.
Bytes sk_sign(KeyType sk_type, const PrivateKey& inner, std::string_view app, uint8_t flags, uint32_t counter,
              std::span<const uint8_t> data) {
  Bytes msg = u2f_message(app, flags, counter, data);
  Writer w;
  if (sk_type == KeyType::kSkEd25519) {
    Bytes plain = *inner.sign(msg);  // Ed25519 over the message itself
    Reader r(plain);
    (void)r.text();
    w.string("sk-ssh-ed25519@openssh.com");
    w.string(*r.string());
  } else {
    Bytes plain = *inner.sign(msg);  // ECDSA-SHA256 over the message
    Reader r(plain);
    (void)r.text();
    w.string("sk-ecdsa-sha2-nistp256@openssh.com");
    w.string(*r.string());
  }
  w.u8(flags);
  w.u32(counter);
  return w.take();
}

TEST(SecurityKeyInterop, SshKeygenAcceptsLibkeyBuiltSkSignatures) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  for (KeyType sk_type : {KeyType::kSkEd25519, KeyType::kSkEcdsaP256}) {
    KeyType inner_type = sk_type == KeyType::kSkEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256;
    auto inner = PrivateKey::generate(inner_type);
    ASSERT_TRUE(inner.ok());
    auto pub = PublicKey::make_security_key(sk_type, inner->evp(), "ssh:");
    ASSERT_TRUE(pub.ok());
    Bytes data = sshsig_signed_data(kNamespace, "sha512", as_bytes(kMessage));
    Bytes sig = sk_sign(sk_type, *inner, "ssh:", 0x01, 1234, data);
    // libkey and OpenSSH both accept it...
    EXPECT_TRUE(pub->verify(sig, data).ok());
    auto ok = check_novalidate(dir, sshsig_armor(*pub, "sha512", sig));
    EXPECT_EQ(ok.exit_code, 0) << pub->ssh_name() << ": " << ok.out << ok.err;
    // ...and both refuse it when the counter was changed after signing.
    Bytes tampered = sig;
    tampered.back() ^= 1;
    EXPECT_FALSE(pub->verify(tampered, data).ok());
    auto refused = check_novalidate(dir, sshsig_armor(*pub, "sha512", tampered));
    EXPECT_NE(refused.exit_code, 0) << pub->ssh_name();
  }
}

}  // namespace
}  // namespace tessera::key
