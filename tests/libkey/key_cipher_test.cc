// The openssh-key-v1 cipher table and its encrypt/decrypt, with published
// known-answer vectors where the construction is a standard one:
//   AES-128-CBC / AES-128-CTR: NIST SP 800-38A F.2.1 / F.5.1;
//   AES-128-GCM: McGrew & Viega test case 2 (NIST SP 800-38D), empty AAD;
//   chacha20-poly1305@openssh.com: the payload stream is ChaCha20 from block 1,
//   checked against RFC 8439 A.1 test vector #2 (all-zero key and nonce).
// The complete constructions, tags included, are checked against OpenSSH in
// tests/interop/openssh_key_interop_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "crypto/key_cipher.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key::crypto {
namespace {

Bytes unhex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 31 * i);
  return b;
}

Bytes to_bytes(const SecretBytes& s) { return Bytes(s.reveal().begin(), s.reveal().end()); }

TEST(KeyCipher, TableMatchesOpenSsh) {
  struct Row {
    const char* name;
    size_t block, key, iv, auth;
  };
  // OpenSSH cipher.c: block size, key length, IV length, tag length.
  const Row expected[] = {
      {"3des-cbc", 8, 24, 8, 0},
      {"aes128-cbc", 16, 16, 16, 0},
      {"aes192-cbc", 16, 24, 16, 0},
      {"aes256-cbc", 16, 32, 16, 0},
      {"aes128-ctr", 16, 16, 16, 0},
      {"aes192-ctr", 16, 24, 16, 0},
      {"aes256-ctr", 16, 32, 16, 0},
      {"aes128-gcm@openssh.com", 16, 16, 12, 16},
      {"aes256-gcm@openssh.com", 16, 32, 12, 16},
      {"chacha20-poly1305@openssh.com", 8, 64, 0, 16},
      {"none", 8, 0, 0, 0},
  };
  ASSERT_EQ(key_ciphers().size(), std::size(expected));
  for (const auto& row : expected) {
    SCOPED_TRACE(row.name);
    const KeyCipherInfo* c = find_key_cipher(row.name);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->name, row.name);
    EXPECT_EQ(c->block_size, row.block);
    EXPECT_EQ(c->key_len, row.key);
    EXPECT_EQ(c->iv_len, row.iv);
    EXPECT_EQ(c->auth_len, row.auth);
  }
  EXPECT_EQ(find_key_cipher("blowfish-cbc"), nullptr);
  EXPECT_EQ(find_key_cipher("AES256-CTR"), nullptr);
  EXPECT_EQ(find_key_cipher(""), nullptr);
}

TEST(KeyCipher, SupportedNamesAreSsh92sList) {
  std::vector<std::string_view> expected = {
      "3des-cbc",   "aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-ctr",
      "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
      "chacha20-poly1305@openssh.com"};
  EXPECT_EQ(supported_key_ciphers(), expected);
}

TEST(KeyCipher, AesCbcNistVector) {
  const KeyCipherInfo& c = *find_key_cipher("aes128-cbc");
  Bytes key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
  Bytes iv = unhex("000102030405060708090a0b0c0d0e0f");
  Bytes plain = unhex("6bc1bee22e409f96e93d7e117393172a");
  auto out = key_cipher_encrypt(c, key, iv, plain);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(hex_encode(*out), "7649abac8119b246cee98e9b12e9197d");
}

TEST(KeyCipher, AesCtrNistVector) {
  const KeyCipherInfo& c = *find_key_cipher("aes128-ctr");
  Bytes key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
  Bytes iv = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  Bytes plain = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  auto out = key_cipher_encrypt(c, key, iv, plain);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(hex_encode(*out), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff");
  auto back = key_cipher_decrypt(c, key, iv, *out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(to_bytes(*back), plain);
}

TEST(KeyCipher, AesGcmMcGrewViegaVector) {
  const KeyCipherInfo& c = *find_key_cipher("aes128-gcm@openssh.com");
  Bytes key(16, 0), iv(12, 0), plain(16, 0);
  auto out = key_cipher_encrypt(c, key, iv, plain);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(hex_encode(*out), "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
  auto back = key_cipher_decrypt(c, key, iv, *out);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(to_bytes(*back), plain);
}

TEST(KeyCipher, ChaChaPolyPayloadStartsAtBlockOne) {
  const KeyCipherInfo& c = *find_key_cipher("chacha20-poly1305@openssh.com");
  Bytes key(64, 0), plain(64, 0);
  auto out = key_cipher_encrypt(c, key, {}, plain);
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_EQ(out->size(), 64u + 16u);
  // RFC 8439 A.1 #2: ChaCha20 keystream, key 0, nonce 0, block counter 1.
  EXPECT_EQ(hex_encode(std::span(*out).first(64)),
            "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
            "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f");
  // The second half of the key (the length-field key) plays no part in key files.
  Bytes key2 = key;
  key2[40] = 1;
  auto out2 = key_cipher_encrypt(c, key2, {}, plain);
  ASSERT_TRUE(out2.ok());
  EXPECT_EQ(*out2, *out);
  // The first half does, for both the stream and the tag.
  key2[0] = 1;
  auto out3 = key_cipher_encrypt(c, key2, {}, plain);
  ASSERT_TRUE(out3.ok());
  EXPECT_NE(Bytes(out3->begin(), out3->begin() + 64), Bytes(out->begin(), out->begin() + 64));
  EXPECT_NE(Bytes(out3->begin() + 64, out3->end()), Bytes(out->begin() + 64, out->end()));
}

class EveryCipher : public ::testing::TestWithParam<KeyCipherInfo> {};

TEST_P(EveryCipher, RoundTripAndTamper) {
  const KeyCipherInfo& c = GetParam();
  Bytes key = pattern(c.key_len, 1), iv = pattern(c.iv_len, 2);
  Bytes plain = pattern(c.block_size * 5, 3);
  auto sealed = key_cipher_encrypt(c, key, iv, plain);
  ASSERT_TRUE(sealed.ok()) << sealed.error().message();
  ASSERT_EQ(sealed->size(), plain.size() + c.auth_len);
  if (c.mode != KeyCipherMode::kNone) {
    EXPECT_NE(Bytes(sealed->begin(), sealed->begin() + static_cast<ptrdiff_t>(plain.size())), plain);
  }
  auto opened = key_cipher_decrypt(c, key, iv, *sealed);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_EQ(to_bytes(*opened), plain);

  const bool aead = c.auth_len != 0;
  // A flipped bit in the ciphertext, or in the tag.
  for (size_t at : {size_t{0}, plain.size() - 1, sealed->size() - 1}) {
    Bytes bad = *sealed;
    bad[at] ^= 0x10;
    auto r = key_cipher_decrypt(c, key, iv, bad);
    if (aead) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), Errc::kBadSignature);
    } else {
      ASSERT_TRUE(r.ok());
      EXPECT_NE(to_bytes(*r), plain);
    }
  }
  // Another key.
  if (!key.empty()) {
    Bytes other = key;
    other[0] ^= 0x80;  // not a DES parity bit
    auto r = key_cipher_decrypt(c, other, iv, *sealed);
    if (aead) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), Errc::kBadSignature);
    } else {
      ASSERT_TRUE(r.ok());
      EXPECT_NE(to_bytes(*r), plain);
    }
  }
}

TEST_P(EveryCipher, LengthErrors) {
  const KeyCipherInfo& c = GetParam();
  Bytes key = pattern(c.key_len, 1), iv = pattern(c.iv_len, 2);
  Bytes partial = pattern(c.block_size + 1, 3);
  auto e = key_cipher_encrypt(c, key, iv, partial);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), Errc::kInvalidArgument);

  Bytes sealed(c.block_size * 2 + 1 + c.auth_len);
  auto d = key_cipher_decrypt(c, key, iv, sealed);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), Errc::kMalformed);

  if (c.auth_len != 0) {
    Bytes short_tag(c.auth_len - 1);
    auto t = key_cipher_decrypt(c, key, iv, short_tag);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().code(), Errc::kTruncated);
  }

  Bytes long_key = pattern(c.key_len + 1, 1);
  auto k = key_cipher_encrypt(c, long_key, iv, pattern(c.block_size, 3));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().code(), Errc::kInvalidArgument);
  Bytes long_iv = pattern(c.iv_len + 1, 1);
  auto i = key_cipher_decrypt(c, key, long_iv, pattern(c.block_size + c.auth_len, 3));
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.error().code(), Errc::kInvalidArgument);
}

std::string cipher_test_name(const ::testing::TestParamInfo<KeyCipherInfo>& info) {
  std::string name;
  for (char ch : info.param.name) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(All, EveryCipher, ::testing::ValuesIn(key_ciphers().begin(), key_ciphers().end()),
                         cipher_test_name);

}  // namespace
}  // namespace tessera::key::crypto
