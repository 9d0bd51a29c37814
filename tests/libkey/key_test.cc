#include "tessera/key/key.h"

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <gtest/gtest.h>

#include "tessera/key/wire.h"

namespace tessera::key {
namespace {

struct GenCase {
  KeyType type;
  unsigned bits;
  unsigned expect_bits;
};

class KeyGen : public ::testing::TestWithParam<GenCase> {};

const Bytes kMessage = {'h', 'e', 'l', 'l', 'o'};

TEST_P(KeyGen, GenerateRoundTripSignVerify) {
  auto [type, bits, expect_bits] = GetParam();
  auto key = PrivateKey::generate(type, bits);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ(key->public_key().bits(), expect_bits);

  // Public blob round trip.
  Bytes blob = key->public_key().blob();
  auto pub = PublicKey::from_blob(blob);
  ASSERT_TRUE(pub.ok()) << pub.error().message();
  EXPECT_TRUE(*pub == key->public_key());
  EXPECT_EQ(pub->blob(), blob);

  // Private round trip.
  Writer w;
  key->serialize(w);
  Reader r(w.data());
  auto again = PrivateKey::parse(r);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(r.expect_end().ok());
  EXPECT_TRUE(again->public_key() == key->public_key());
  Writer w2;
  again->serialize(w2);
  EXPECT_TRUE(std::equal(w.data().begin(), w.data().end(), w2.data().begin(), w2.data().end()));

  // Signatures verify, and fail on other data or a flipped bit.
  std::vector<SignatureAlgorithm> algs = {SignatureAlgorithm::kDefault};
  if (type == KeyType::kRsa) {
    algs = {SignatureAlgorithm::kDefault, SignatureAlgorithm::kRsaSha1, SignatureAlgorithm::kRsaSha256,
            SignatureAlgorithm::kRsaSha512};
  }
  for (auto alg : algs) {
    auto sig = key->sign(kMessage, alg);
    ASSERT_TRUE(sig.ok()) << sig.error().message();
    EXPECT_TRUE(pub->verify(*sig, kMessage).ok());
    Bytes other = kMessage;
    other[0] ^= 1;
    EXPECT_EQ(pub->verify(*sig, other).error().code(), Errc::kBadSignature);
    Bytes bad = *sig;
    bad.back() ^= 0x01;
    EXPECT_FALSE(pub->verify(bad, kMessage).ok());
    Bytes trailing = *sig;
    trailing.push_back(0);
    EXPECT_EQ(pub->verify(trailing, kMessage).error().code(), Errc::kTrailingData);
    // Truncations never verify and never crash.
    for (size_t n = 0; n < sig->size(); ++n) {
      EXPECT_FALSE(pub->verify(std::span(sig->data(), n), kMessage).ok());
    }
  }
  // A fresh key is a different key, and its signatures do not verify under this one.
  auto other_key = PrivateKey::generate(type, bits);
  ASSERT_TRUE(other_key.ok());
  EXPECT_NE(other_key->public_key().blob(), blob);
  EXPECT_EQ(pub->verify(*other_key->sign(kMessage), kMessage).error().code(), Errc::kBadSignature);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeyGen,
                         ::testing::Values(GenCase{KeyType::kEd25519, 0, 256},
                                           GenCase{KeyType::kEcdsaP256, 0, 256},
                                           GenCase{KeyType::kEcdsaP384, 0, 384},
                                           GenCase{KeyType::kEcdsaP521, 0, 521},
                                           GenCase{KeyType::kEcdsaP256, 384, 384},
                                           GenCase{KeyType::kRsa, 2048, 2048}));

TEST(Key, RsaSignatureNames) {
  auto key = PrivateKey::generate(KeyType::kRsa, 2048);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*signature_algorithm_name(*key->sign(kMessage)), "ssh-rsa");
  EXPECT_EQ(*signature_algorithm_name(*key->sign(kMessage, SignatureAlgorithm::kRsaSha256)), "rsa-sha2-256");
  EXPECT_EQ(*signature_algorithm_name(*key->sign(kMessage, SignatureAlgorithm::kRsaSha512)), "rsa-sha2-512");
}

TEST(Key, RefusesSmallRsaGeneration) {
  auto key = PrivateKey::generate(KeyType::kRsa, 1024);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(key.error().message().find("2048"), std::string::npos);
}

TEST(Key, RejectsBadEcdsaLength) {
  EXPECT_EQ(PrivateKey::generate(KeyType::kEcdsaP256, 255).error().code(), Errc::kInvalidArgument);
}

TEST(Key, AlgorithmMismatchFails) {
  auto ed = PrivateKey::generate(KeyType::kEd25519);
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ed.ok() && ec.ok());
  auto sig = ec->sign(kMessage);
  EXPECT_EQ(ed->public_key().verify(*sig, kMessage).error().code(), Errc::kBadSignature);
  EXPECT_EQ(ed->sign(kMessage, SignatureAlgorithm::kRsaSha256).error().code(), Errc::kInvalidArgument);
}

TEST(Key, RejectsUnknownTypeAndDsa) {
  Writer w;
  w.string("ssh-dss");
  w.mpint(Bytes{1});
  EXPECT_EQ(PublicKey::from_blob(w.data()).error().code(), Errc::kUnsupported);
}

TEST(Key, RejectsPointNotOnCurve) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  Bytes blob = ec->public_key().blob();
  blob.back() ^= 1;  // y coordinate changed: no longer on the curve
  auto pub = PublicKey::from_blob(blob);
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(pub.error().code(), Errc::kInvalidKey);
}

TEST(Key, RejectsCurveMismatch) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  Bytes blob = ec->public_key().blob();
  Reader r(blob);
  (void)r.text();
  (void)r.text();
  auto point = r.string();
  Writer w;
  w.string("ecdsa-sha2-nistp384");
  w.string("nistp256");
  w.string(*point);
  EXPECT_EQ(PublicKey::from_blob(w.data()).error().code(), Errc::kInvalidKey);
}

TEST(Key, RejectsMismatchedPrivateHalf) {
  // An ed25519 private key whose public part belongs to another key.
  auto a = PrivateKey::generate(KeyType::kEd25519);
  auto b = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(a.ok() && b.ok());
  Writer wa;
  a->serialize(wa);
  Reader ra(wa.data());
  (void)ra.text();
  auto pk = ra.string();
  auto sk = ra.string();
  Bytes other_pub;
  {
    Bytes b_blob = b->public_key().blob();
    Reader rb(b_blob);
    (void)rb.text();
    auto p = rb.string();
    other_pub.assign(p->begin(), p->end());
  }
  Bytes sk_mixed(sk->begin(), sk->end());
  std::copy(other_pub.begin(), other_pub.end(), sk_mixed.begin() + 32);
  Writer w;
  w.string("ssh-ed25519");
  w.string(other_pub);
  w.string(sk_mixed);
  Reader r(w.data());
  EXPECT_EQ(PrivateKey::parse(r).error().code(), Errc::kInvalidKey);
  (void)pk;
}

TEST(Key, RejectsInconsistentRsa) {
  auto key = PrivateKey::generate(KeyType::kRsa, 2048);
  ASSERT_TRUE(key.ok());
  Writer w;
  key->serialize(w);
  Reader r(w.data());
  (void)r.text();
  std::vector<Bytes> fields;
  for (int i = 0; i < 6; ++i) {
    auto m = r.mpint();
    ASSERT_TRUE(m.ok());
    fields.emplace_back(m->begin(), m->end());
  }
  // Swap iqmp for something else.
  fields[3].back() ^= 1;
  Writer bad;
  bad.string("ssh-rsa");
  for (auto& f : fields) bad.mpint(f);
  Reader rb(bad.data());
  EXPECT_EQ(PrivateKey::parse(rb).error().code(), Errc::kInvalidKey);
}

TEST(Key, FromEvpRoundTrip) {
  auto key = PrivateKey::generate(KeyType::kEcdsaP384);
  ASSERT_TRUE(key.ok());
  auto again = PrivateKey::from_evp(key->evp());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->public_key() == key->public_key());
  auto pub = PublicKey::from_evp(key->evp());
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(*pub == key->public_key());
}

// ---- security keys: signatures built the way PROTOCOL.u2f defines them ----

Bytes sha256(std::span<const uint8_t> d) {
  Bytes out(32);
  unsigned len = 0;
  EVP_Digest(d.data(), d.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Bytes u2f_message(std::string_view app, uint8_t flags, uint32_t counter, std::span<const uint8_t> data) {
  Writer w;
  w.bytes(sha256(as_bytes(app)));
  w.u8(flags);
  w.u32(counter);
  w.bytes(sha256(data));
  return w.take();
}

TEST(SecurityKey, Ed25519Verify) {
  auto inner = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(inner.ok());
  auto sk = PublicKey::make_security_key(KeyType::kSkEd25519, inner->evp(), "ssh:");
  ASSERT_TRUE(sk.ok()) << sk.error().message();
  EXPECT_EQ(sk->sk_application(), "ssh:");
  auto parsed = PublicKey::from_blob(sk->blob());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->type(), KeyType::kSkEd25519);
  EXPECT_EQ(parsed->sk_application(), "ssh:");
  EXPECT_EQ(parsed->info().display_name, "ED25519-SK");

  uint8_t flags = 0x01;  // user present
  uint32_t counter = 42;
  Bytes msg = u2f_message("ssh:", flags, counter, kMessage);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  uint8_t raw[64];
  size_t len = sizeof raw;
  ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, inner->evp()), 1);
  ASSERT_EQ(EVP_DigestSign(ctx, raw, &len, msg.data(), msg.size()), 1);
  EVP_MD_CTX_free(ctx);
  Writer sig;
  sig.string("sk-ssh-ed25519@openssh.com");
  sig.string(std::span<const uint8_t>(raw, len));
  sig.u8(flags);
  sig.u32(counter);
  EXPECT_TRUE(parsed->verify(sig.data(), kMessage).ok());

  // A different counter or flags breaks it.
  Writer sig2;
  sig2.string("sk-ssh-ed25519@openssh.com");
  sig2.string(std::span<const uint8_t>(raw, len));
  sig2.u8(flags);
  sig2.u32(counter + 1);
  EXPECT_EQ(parsed->verify(sig2.data(), kMessage).error().code(), Errc::kBadSignature);
  // A plain ed25519 signature is not a security key signature.
  EXPECT_FALSE(parsed->verify(*inner->sign(kMessage), kMessage).ok());
}

TEST(SecurityKey, EcdsaVerify) {
  auto inner = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(inner.ok());
  auto sk = PublicKey::make_security_key(KeyType::kSkEcdsaP256, inner->evp(), "ssh:test");
  ASSERT_TRUE(sk.ok());
  auto parsed = PublicKey::from_blob(sk->blob());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ssh_name(), "sk-ecdsa-sha2-nistp256@openssh.com");

  uint8_t flags = 0x05;
  uint32_t counter = 7;
  Bytes msg = u2f_message("ssh:test", flags, counter, kMessage);
  // ECDSA-SHA256 over the message: an ordinary ecdsa-sha2-nistp256 signature gives r, s.
  auto plain = inner->sign(msg);
  ASSERT_TRUE(plain.ok());
  Reader r(*plain);
  (void)r.text();
  auto body = r.string();
  Writer sig;
  sig.string("sk-ecdsa-sha2-nistp256@openssh.com");
  sig.string(*body);
  sig.u8(flags);
  sig.u32(counter);
  EXPECT_TRUE(parsed->verify(sig.data(), kMessage).ok());
  Bytes other = kMessage;
  other.push_back('!');
  EXPECT_EQ(parsed->verify(sig.data(), other).error().code(), Errc::kBadSignature);
}

TEST(SecurityKey, CannotGenerateOrSign) {
  EXPECT_EQ(PrivateKey::generate(KeyType::kSkEd25519).error().code(), Errc::kUnsupported);
}

}  // namespace
}  // namespace tessera::key
