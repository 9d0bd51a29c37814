// Security key private keys (PROTOCOL.u2f): the key handle form in memory,
// in openssh-key-v1 files, in certified private keys and shielded, and the
// signature blob made from an authenticator's answer.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <gtest/gtest.h>

#include "algo/algorithm.h"
#include "tessera/key/cert.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/shield.h"
#include "test_keys.h"

namespace tessera::key {
namespace {

const Bytes kData = {'s', 'i', 'g', 'n', ' ', 'm', 'e'};
const Bytes kHandle = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03};

// An "authenticator": the underlying key, which signs what PROTOCOL.u2f says
// an authenticator signs.
struct Authenticator {
  PrivateKey inner;
  PublicKey pub;

  static Authenticator make(KeyType type, std::string_view application = "ssh:") {
    const KeyType base = type == KeyType::kSkEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256;
    PrivateKey inner = test_key(base, 3);
    auto pub = PublicKey::make_security_key(type, inner.evp(), application);
    if (!pub.ok()) std::abort();
    return {inner, *pub};
  }

  // sig_r and sig_s as sk_sign returns them.
  std::pair<Bytes, Bytes> sign(uint8_t flags, uint32_t counter, std::span<const uint8_t> data) const {
    const Bytes message = algo::sk_signed_message(pub.sk_application(), flags, counter, data);
    auto plain = inner.sign(message);  // Ed25519 over the message; ECDSA over its SHA-256
    if (!plain.ok()) std::abort();
    Reader r(*plain);
    if (!r.text().ok()) std::abort();
    auto body = r.string();
    if (!body.ok()) std::abort();
    if (pub.type() == KeyType::kSkEd25519) return {Bytes(body->begin(), body->end()), {}};
    Reader rs(*body);
    auto sig_r = rs.mpint();
    auto sig_s = rs.mpint();
    if (!sig_r.ok() || !sig_s.ok()) std::abort();
    return {Bytes(sig_r->begin(), sig_r->end()), Bytes(sig_s->begin(), sig_s->end())};
  }
};

class SecurityKeyPrivate : public ::testing::TestWithParam<KeyType> {};

TEST_P(SecurityKeyPrivate, KeepsItsHandleAndFlagsThroughEveryForm) {
  const Authenticator a = Authenticator::make(GetParam());
  const uint8_t flags = kSkUserPresenceRequired | kSkResidentKey;
  auto key = PrivateKey::make_security_key(a.pub, flags, kHandle);
  ASSERT_TRUE(key.ok()) << key.error().message();
  ASSERT_NE(key->security_key(), nullptr);
  EXPECT_EQ(key->security_key()->flags, flags);
  EXPECT_TRUE(key->public_key() == a.pub);
  EXPECT_EQ(key->public_key().sk_application(), "ssh:");

  // PROTOCOL.key / PROTOCOL.agent private fields.
  Writer w;
  key->serialize(w);
  Reader r(w.data());
  auto again = PrivateKey::parse(r);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(again->public_key() == a.pub);
  EXPECT_EQ(again->security_key()->flags, flags);
  EXPECT_EQ(Bytes(again->security_key()->key_handle.reveal().begin(), again->security_key()->key_handle.reveal().end()),
            kHandle);

  // openssh-key-v1, plain and encrypted.
  for (const char* pass : {"", "secret"}) {
    auto text = format_openssh_private_key(*key, "sk comment", SecretBytes::copy_of(std::string_view(pass)),
                                           {.cipher = "aes256-ctr", .kdf_rounds = 2});
    ASSERT_TRUE(text.ok()) << text.error().message();
    auto parsed = parse_openssh_private_key(*text, SecretBytes::copy_of(std::string_view(pass)));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->comment, "sk comment");
    EXPECT_TRUE(parsed->key.public_key() == a.pub);
    ASSERT_NE(parsed->key.security_key(), nullptr);
    EXPECT_EQ(parsed->key.security_key()->flags, flags);
  }

  // Shielded, as the agent keeps it.
  auto shielded = ShieldedKey::shield(*key);
  ASSERT_TRUE(shielded.ok());
  auto unshielded = shielded->unshield();
  ASSERT_TRUE(unshielded.ok()) << unshielded.error().message();
  ASSERT_NE(unshielded->security_key(), nullptr);
  EXPECT_TRUE(unshielded->security_key()->key_handle.equals(key->security_key()->key_handle));
}

TEST_P(SecurityKeyPrivate, CertifiedPrivateKeyRoundTrips) {
  const Authenticator a = Authenticator::make(GetParam(), "ssh:cert");
  auto key = PrivateKey::make_security_key(a.pub, kSkUserPresenceRequired, kHandle);
  ASSERT_TRUE(key.ok());
  const PrivateKey ca = test_key(KeyType::kEd25519, 9);
  Certificate cert{.key = a.pub,
                   .nonce = Bytes(32, 7),
                   .key_id = "sk user",
                   .principals = {"alice"},
                   .critical_options = {},
                   .extensions = {},
                   .reserved = {},
                   .signature_key = ca.public_key(),
                   .signature = {}};
  auto sig = ca.sign(certificate_signed_data(cert));
  ASSERT_TRUE(sig.ok());
  cert.signature = *sig;

  Writer w;
  serialize_certified_private_key(*key, cert, w);
  Reader r(w.data());
  auto parsed = parse_certified_private_key(r);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(parsed->key.public_key() == a.pub);
  ASSERT_NE(parsed->key.security_key(), nullptr);
  EXPECT_TRUE(parsed->key.security_key()->key_handle.equals(key->security_key()->key_handle));

  // Every truncation is an error, never a crash.
  for (size_t cut = 0; cut < w.size(); ++cut) {
    Reader partial(std::span<const uint8_t>(w.data()).first(cut));
    EXPECT_FALSE(parse_certified_private_key(partial).ok()) << cut;
  }
}

TEST_P(SecurityKeyPrivate, EveryTruncationIsAnError) {
  const Authenticator a = Authenticator::make(GetParam());
  auto key = PrivateKey::make_security_key(a.pub, kSkUserPresenceRequired, kHandle);
  ASSERT_TRUE(key.ok());
  Writer w;
  key->serialize(w);
  for (size_t cut = 0; cut < w.size(); ++cut) {
    Reader r(std::span<const uint8_t>(w.data()).first(cut));
    EXPECT_FALSE(PrivateKey::parse(r).ok()) << cut;
    EXPECT_EQ(r.remaining(), cut) << "a failed parse consumed input";
  }
}

TEST_P(SecurityKeyPrivate, SignaturesFromTheAuthenticatorsAnswer) {
  const Authenticator a = Authenticator::make(GetParam());
  const uint8_t flags = 0x05;  // user present, user verified
  auto [sig_r, sig_s] = a.sign(flags, 17, kData);
  auto blob = security_key_signature(a.pub, kData, flags, 17, sig_r, sig_s);
  ASSERT_TRUE(blob.ok()) << blob.error().message();
  EXPECT_TRUE(a.pub.verify(*blob, kData).ok());
  auto name = signature_algorithm_name(*blob);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, a.pub.ssh_name());

  // Flags or a counter other than what was signed, other data, another
  // credential: each is caught before the blob leaves.
  EXPECT_EQ(security_key_signature(a.pub, kData, 0x01, 17, sig_r, sig_s).error().code(), Errc::kBadSignature);
  EXPECT_EQ(security_key_signature(a.pub, kData, flags, 18, sig_r, sig_s).error().code(), Errc::kBadSignature);
  Bytes other = kData;
  other.push_back('!');
  EXPECT_EQ(security_key_signature(a.pub, other, flags, 17, sig_r, sig_s).error().code(), Errc::kBadSignature);
  const Authenticator b = Authenticator::make(GetParam(), "ssh:other");
  EXPECT_EQ(security_key_signature(b.pub, kData, flags, 17, sig_r, sig_s).error().code(), Errc::kBadSignature);
}

TEST_P(SecurityKeyPrivate, CannotSignHere) {
  const Authenticator a = Authenticator::make(GetParam());
  auto key = PrivateKey::make_security_key(a.pub, kSkUserPresenceRequired, kHandle);
  ASSERT_TRUE(key.ok());
  auto sig = key->sign(kData);
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.error().code(), Errc::kUnsupported);
  EXPECT_NE(sig.error().message().find("authenticator"), std::string::npos) << sig.error().message();
}

INSTANTIATE_TEST_SUITE_P(BothTypes, SecurityKeyPrivate,
                         ::testing::Values(KeyType::kSkEd25519, KeyType::kSkEcdsaP256),
                         [](const auto& param) {
                           return param.param == KeyType::kSkEd25519 ? std::string("Ed25519") : std::string("Ecdsa");
                         });

TEST(SecurityKeyPrivate, RefusesWhatIsNotACredential) {
  const Authenticator a = Authenticator::make(KeyType::kSkEd25519);
  EXPECT_EQ(PrivateKey::make_security_key(a.pub, 1, {}).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(PrivateKey::make_security_key(a.inner.public_key(), 1, kHandle).error().code(), Errc::kInvalidArgument);
  const Bytes huge(kMaxSecurityKeyHandleBytes + 1, 1);
  EXPECT_EQ(PrivateKey::make_security_key(a.pub, 1, huge).error().code(), Errc::kTooLarge);
  const Bytes largest(kMaxSecurityKeyHandleBytes, 1);
  EXPECT_TRUE(PrivateKey::make_security_key(a.pub, 1, largest).ok());
  EXPECT_EQ(a.inner.security_key(), nullptr);
}

TEST(SecurityKeyPrivate, PublicKeysFromAnEnrolmentAnswer) {
  const Authenticator ed = Authenticator::make(KeyType::kSkEd25519, "ssh:enrol");
  const Bytes ed_blob = ed.pub.blob();
  Reader fields(ed_blob);
  ASSERT_TRUE(fields.text().ok());
  auto raw = fields.string();
  ASSERT_TRUE(raw.ok());
  auto pub = security_key_public(KeyType::kSkEd25519, *raw, "ssh:enrol");
  ASSERT_TRUE(pub.ok()) << pub.error().message();
  EXPECT_TRUE(*pub == ed.pub);
  EXPECT_EQ(security_key_public(KeyType::kSkEd25519, raw->first(31), "ssh:").error().code(), Errc::kInvalidKey);

  const Authenticator ec = Authenticator::make(KeyType::kSkEcdsaP256);
  const Bytes ec_blob = ec.pub.blob();
  Reader ec_fields(ec_blob);
  ASSERT_TRUE(ec_fields.text().ok() && ec_fields.text().ok());
  auto point = ec_fields.string();
  ASSERT_TRUE(point.ok());
  auto ec_pub = security_key_public(KeyType::kSkEcdsaP256, *point, "ssh:");
  ASSERT_TRUE(ec_pub.ok()) << ec_pub.error().message();
  EXPECT_TRUE(*ec_pub == ec.pub);
  Bytes off_curve(point->begin(), point->end());
  off_curve.back() ^= 1;
  EXPECT_EQ(security_key_public(KeyType::kSkEcdsaP256, off_curve, "ssh:").error().code(), Errc::kInvalidKey);
  EXPECT_EQ(security_key_public(KeyType::kEd25519, *raw, "ssh:").error().code(), Errc::kInvalidArgument);
}

TEST(SecurityKeyPrivate, MalformedAuthenticatorSignaturesAreRefused) {
  const Authenticator ed = Authenticator::make(KeyType::kSkEd25519);
  EXPECT_EQ(security_key_signature(ed.pub, kData, 1, 1, Bytes(63, 1), {}).error().code(), Errc::kMalformed);
  EXPECT_EQ(security_key_signature(ed.pub, kData, 1, 1, Bytes(64, 1), Bytes(1, 1)).error().code(), Errc::kMalformed);
  EXPECT_EQ(security_key_signature(ed.pub, kData, 1, 1, Bytes(64, 1), {}).error().code(), Errc::kBadSignature);
  const Authenticator ec = Authenticator::make(KeyType::kSkEcdsaP256);
  EXPECT_EQ(security_key_signature(ec.pub, kData, 1, 1, {}, Bytes(32, 1)).error().code(), Errc::kMalformed);
  EXPECT_EQ(security_key_signature(ec.pub, kData, 1, 1, Bytes(34, 1), Bytes(32, 1)).error().code(), Errc::kMalformed);
  EXPECT_EQ(security_key_signature(ec.pub, kData, 1, 1, Bytes(32, 1), Bytes(32, 1)).error().code(),
            Errc::kBadSignature);
  const PrivateKey plain = test_key(KeyType::kEd25519, 1);
  EXPECT_EQ(security_key_signature(plain.public_key(), kData, 1, 1, Bytes(64, 1), {}).error().code(),
            Errc::kUnsupported);
}

}  // namespace
}  // namespace tessera::key
