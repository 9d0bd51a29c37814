// Token attributes to SSH public keys: both encodings of CKA_EC_POINT and of
// the Ed25519 CKA_EC_PARAMS that modules use, and refusals.

#include "discovery.h"

#include <gtest/gtest.h>

#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::pkcs11::helper {
namespace {

constexpr uint8_t kOidP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
constexpr uint8_t kOidEd25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
constexpr uint8_t kNameEd25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

// The last string field of a public key blob: the EC point or Ed25519 key.
Bytes last_field(const key::PublicKey& pub) {
  Bytes blob = pub.blob();
  key::Reader in(blob);
  std::span<const uint8_t> field;
  while (!in.empty()) field = *in.string();
  return Bytes(field.begin(), field.end());
}

Bytes octet_string(const Bytes& contents) {
  Bytes der = {0x04};
  if (contents.size() >= 128) der.push_back(0x81);
  der.push_back(static_cast<uint8_t>(contents.size()));
  der.insert(der.end(), contents.begin(), contents.end());
  return der;
}

TEST(Pkcs11Discovery, EcPointWrappedOrBare) {
  for (auto [type, oid] : {std::pair{key::KeyType::kEcdsaP256, std::span<const uint8_t>(kOidP256)},
                           std::pair{key::KeyType::kEcdsaP521, std::span<const uint8_t>(kOidP521)}}) {
    auto priv = key::PrivateKey::generate(type);
    ASSERT_TRUE(priv.ok());
    const Bytes point = last_field(priv->public_key());
    auto wrapped = ec_public_key(oid, octet_string(point));
    ASSERT_TRUE(wrapped.ok()) << wrapped.error().message();
    EXPECT_TRUE(*wrapped == priv->public_key());
    auto bare = ec_public_key(oid, point);
    ASSERT_TRUE(bare.ok()) << bare.error().message();
    EXPECT_TRUE(*bare == priv->public_key());
    // A point of the wrong curve, and a point off the curve.
    EXPECT_FALSE(ec_public_key(kOidP256, octet_string(Bytes(point.size() == 65 ? 133 : 65, 4))).ok());
    Bytes bad = point;
    bad.back() ^= 1;
    EXPECT_FALSE(ec_public_key(oid, bad).ok());
  }
}

TEST(Pkcs11Discovery, Ed25519ParamsAndPointForms) {
  auto priv = key::PrivateKey::generate(key::KeyType::kEd25519);
  ASSERT_TRUE(priv.ok());
  const Bytes raw = last_field(priv->public_key());
  ASSERT_EQ(raw.size(), 32u);
  for (std::span<const uint8_t> params : {std::span<const uint8_t>(kOidEd25519), std::span<const uint8_t>(kNameEd25519)}) {
    for (const Bytes& point : {raw, octet_string(raw)}) {
      auto pub = eddsa_public_key(params, point);
      ASSERT_TRUE(pub.ok()) << pub.error().message();
      EXPECT_TRUE(*pub == priv->public_key());
    }
  }
  EXPECT_FALSE(eddsa_public_key(kOidP256, raw).ok());
  EXPECT_FALSE(eddsa_public_key(kOidEd25519, Bytes(31, 1)).ok());
}

TEST(Pkcs11Discovery, RsaAndCertificateRefusals) {
  EXPECT_FALSE(rsa_public_key({}, Bytes{1, 0, 1}).ok());
  EXPECT_FALSE(rsa_public_key(Bytes(64, 0xff), Bytes{1, 0, 1}).ok());  // 512 bits: too small
  EXPECT_FALSE(certificate_public_key(Bytes{0x30, 0x03, 0x02, 0x01, 0x00}).ok());
  EXPECT_FALSE(certificate_public_key({}).ok());
}

}  // namespace
}  // namespace tessera::pkcs11::helper
