// Blowfish and bcrypt_pbkdf against published test vectors.
//
// Blowfish: Eric Young's ECB vectors (Schneier's vectors.txt, formerly at
// www.counterpane.com/vectors.txt).
// bcrypt_pbkdf: OpenBSD's regression vectors, as carried by other
// implementations (RustCrypto password-hashes, bcrypt-pbkdf/tests/test_vectors.rs,
// "test_openbsd_vectors"; also Tmds.Ssh's BCryptTests).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/bcrypt_pbkdf.h"
#include "crypto/blowfish.h"
#include "tessera/key/encoding.h"
#include "tessera/key/wire.h"

namespace tessera::key::crypto {
namespace {

Bytes unhex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

uint32_t be32(const Bytes& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}

struct BlowfishVector {
  const char* key;
  const char* plain;
  const char* cipher;
};

// Eric Young's ECB vectors (first rows of vectors.txt).
const BlowfishVector kBlowfishVectors[] = {
    {"0000000000000000", "0000000000000000", "4ef997456198dd78"},
    {"ffffffffffffffff", "ffffffffffffffff", "51866fd5b85ecb8a"},
    {"3000000000000000", "1000000000000001", "7d856f9a613063f2"},
    {"1111111111111111", "1111111111111111", "2466dd878b963c9d"},
    {"0123456789abcdef", "1111111111111111", "61f9c3802281b096"},
    {"1111111111111111", "0123456789abcdef", "7d0cc630afda1ec7"},
    {"fedcba9876543210", "0123456789abcdef", "0aceab0fc6a0a28d"},
    {"7ca110454a1a6e57", "01a1d6d039776742", "59c68245eb05282b"},
    {"0131d9619dc1376e", "5cd54ca83def57da", "b1b8cc0b250f09a0"},
};

TEST(Blowfish, EricYoungEcbVectors) {
  for (const auto& v : kBlowfishVectors) {
    SCOPED_TRACE(v.key);
    Blowfish bf;
    bf.set_key(unhex(v.key));
    Bytes plain = unhex(v.plain);
    Bytes cipher = unhex(v.cipher);
    uint32_t l = be32(plain, 0), r = be32(plain, 4);
    bf.encrypt(l, r);
    EXPECT_EQ(l, be32(cipher, 0));
    EXPECT_EQ(r, be32(cipher, 4));
    bf.decrypt(l, r);
    EXPECT_EQ(l, be32(plain, 0));
    EXPECT_EQ(r, be32(plain, 4));
  }
}

TEST(Blowfish, ResetForgetsTheKey) {
  Blowfish keyed;
  keyed.set_key(unhex("0123456789abcdef"));
  keyed.reset();
  keyed.set_key(unhex("0000000000000000"));
  uint32_t l = 0, r = 0;
  keyed.encrypt(l, r);
  EXPECT_EQ(l, 0x4ef99745u);
  EXPECT_EQ(r, 0x6198dd78u);
}

struct PbkdfVector {
  std::string password;
  std::string salt;
  uint32_t rounds;
  const char* out;
};

// OpenBSD's regression vectors for bcrypt_pbkdf(3).
const std::vector<PbkdfVector>& pbkdf_vectors() {
  using namespace std::string_literals;
  static const std::vector<PbkdfVector> v = {
      {"password", "salt", 4, "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"},
      {"password", "\0"s, 4, "c12b566235eee04c212598970a579a67"},
      {"\0"s, "salt", 4, "6051be18c2f4f82cbf0efee5471b4bb9"},
      {"password\0"s, "salt\0"s, 4, "7410e44cf4fa07bfaac8a928b1727fac001375e7bf7384370f48efd121743050"},
      {"pass\0wor"s, "sa\0l"s, 4, "c2bffd9db38f6569efef4372f4de83c0"},
      {"pass\0word"s, "sa\0lt"s, 4, "4ba4ac3925c0e8d7f0cdb6bb1684a56f"},
      {"password", "salt", 8,
       "e1367ec5151a33faac4cc1c144cd23fa15d5548493ecc99b9b5d9c0d3b27bec76227ea66088b849b20ab"
       "7aa478010246e74bba51723fefa9f9474d6508845e8d"},
      {"password", "salt", 42, "833cf0dcf56db65608e8f0dc0ce882bd"},
      {"Lorem ipsum dolor sit amet, consectetur adipisicing elit, "
       "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
       "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris "
       "nisi ut aliquip ex ea commodo consequat. "
       "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum "
       "dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non "
       "proident, sunt in culpa qui officia deserunt mollit anim id est laborum.",
       "salis\0"s, 8, "10978b07253df57f71a162eb0e8ad30a"},
  };
  return v;
}

TEST(BcryptPbkdf, OpenBsdVectors) {
  for (const auto& v : pbkdf_vectors()) {
    SCOPED_TRACE(std::string(v.out));
    Bytes expected = unhex(v.out);
    Bytes out(expected.size(), 0xAA);
    ASSERT_TRUE(bcrypt_pbkdf(as_bytes(v.password), as_bytes(v.salt), v.rounds, out).ok());
    EXPECT_EQ(hex_encode(out), v.out);
  }
}

TEST(BcryptPbkdf, LongOutputsInterleaveBlocks) {
  // Past 32 bytes the output is spread across blocks (where bcrypt_pbkdf departs
  // from PBKDF2): with 48 bytes, block 1 fills the even positions and block 2
  // the odd ones, so the even bytes are the first 24 bytes of a 32-byte result.
  Bytes long_out(48), short_out(32);
  ASSERT_TRUE(bcrypt_pbkdf(as_bytes("password"), as_bytes("salt"), 4, long_out).ok());
  ASSERT_TRUE(bcrypt_pbkdf(as_bytes("password"), as_bytes("salt"), 4, short_out).ok());
  EXPECT_EQ(hex_encode(short_out), "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9");
  Bytes even;
  for (size_t i = 0; i < 24; ++i) even.push_back(long_out[2 * i]);
  EXPECT_EQ(even, Bytes(short_out.begin(), short_out.begin() + 24));
  EXPECT_NE(Bytes(long_out.begin(), long_out.begin() + 24), even);
}

TEST(BcryptPbkdf, RejectsWhatOpenBsdRejects) {
  Bytes out(32, 0xAA);
  auto code = [&](std::string_view pass, std::string_view salt, uint32_t rounds, std::span<uint8_t> o) {
    Status s = bcrypt_pbkdf(as_bytes(pass), as_bytes(salt), rounds, o);
    return s.ok() ? Errc{} : s.error().code();
  };
  EXPECT_EQ(code("password", "salt", 0, out), Errc::kInvalidArgument);
  EXPECT_EQ(code("", "salt", 4, out), Errc::kInvalidArgument);
  EXPECT_EQ(code("password", "", 4, out), Errc::kInvalidArgument);
  EXPECT_EQ(code("password", "salt", 4, std::span<uint8_t>()), Errc::kInvalidArgument);
  Bytes too_long(kBcryptPbkdfMaxOutputBytes + 1);
  EXPECT_EQ(code("password", "salt", 1, too_long), Errc::kInvalidArgument);
  // A failed call leaves no partial output behind.
  EXPECT_EQ(out, Bytes(32, 0));
  Bytes longest(kBcryptPbkdfMaxOutputBytes);
  EXPECT_TRUE(bcrypt_pbkdf(as_bytes("p"), as_bytes("s"), 1, longest).ok());
}

}  // namespace
}  // namespace tessera::key::crypto
