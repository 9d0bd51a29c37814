#include "tessera/key/shield.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tessera::key {
namespace {

const Bytes kData = {'s', 'h', 'i', 'e', 'l', 'd'};

class Shield : public ::testing::TestWithParam<KeyType> {};

TEST_P(Shield, SignsLikeTheClearKey) {
  auto key = PrivateKey::generate(GetParam(), GetParam() == KeyType::kRsa ? 2048 : 0);
  ASSERT_TRUE(key.ok());
  auto shielded = ShieldedKey::shield(*key);
  ASSERT_TRUE(shielded.ok()) << shielded.error().message();
  EXPECT_TRUE(shielded->public_key() == key->public_key());
  auto sig = shielded->sign(kData);
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_TRUE(key->public_key().verify(*sig, kData).ok());
  if (GetParam() == KeyType::kRsa) {
    auto sig512 = shielded->sign(kData, SignatureAlgorithm::kRsaSha512);
    ASSERT_TRUE(sig512.ok());
    EXPECT_EQ(*signature_algorithm_name(*sig512), "rsa-sha2-512");
    EXPECT_TRUE(key->public_key().verify(*sig512, kData).ok());
  } else {
    EXPECT_FALSE(shielded->sign(kData, SignatureAlgorithm::kRsaSha256).ok());
  }
  auto back = shielded->unshield();
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->public_key() == key->public_key());
}

TEST_P(Shield, ConcurrentSignatures) {
  auto key = PrivateKey::generate(GetParam(), GetParam() == KeyType::kRsa ? 2048 : 0);
  ASSERT_TRUE(key.ok());
  auto shielded = ShieldedKey::shield(*key);
  ASSERT_TRUE(shielded.ok());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto sig = shielded->sign(kData);
        if (sig.ok() && key->public_key().verify(*sig, kData).ok()) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 40);
}

// Shielded RSA keys sign with a blinding pair kept between signatures
// (algo/rsa_blinded.cc): across many refreshes of that pair, and from several
// threads at once, each signature is byte for byte the clear key's
// (PKCS#1 v1.5 is deterministic).
TEST(ShieldRsa, SignaturesMatchTheClearKeyAcrossBlindingRefreshes) {
  auto key = PrivateKey::generate(KeyType::kRsa, 2048);
  ASSERT_TRUE(key.ok());
  auto shielded = ShieldedKey::shield(*key);
  ASSERT_TRUE(shielded.ok());
  const SignatureAlgorithm algs[] = {SignatureAlgorithm::kDefault, SignatureAlgorithm::kRsaSha256,
                                     SignatureAlgorithm::kRsaSha512};
  for (int i = 0; i < 100; ++i) {
    Bytes data = kData;
    data.push_back(static_cast<uint8_t>(i));
    SignatureAlgorithm alg = algs[i % 3];
    auto expected = key->sign(data, alg);
    auto sig = shielded->sign(data, alg);
    ASSERT_TRUE(expected.ok() && sig.ok()) << i;
    ASSERT_EQ(*sig, *expected) << "signature " << i;
  }
  std::vector<std::thread> threads;
  std::atomic<int> same{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        Bytes data = kData;
        data.push_back(static_cast<uint8_t>(t * 40 + i));
        auto sig = shielded->sign(data, SignatureAlgorithm::kRsaSha512);
        auto expected = key->sign(data, SignatureAlgorithm::kRsaSha512);
        if (sig.ok() && expected.ok() && *sig == *expected) ++same;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(same.load(), 240);
}

INSTANTIATE_TEST_SUITE_P(Types, Shield,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                           KeyType::kEcdsaP521, KeyType::kRsa));

}  // namespace
}  // namespace tessera::key
