// Packet protection (ssh/src/transport/cipher.h): every cipher and MAC pair
// round-trips, refuses any flipped bit and packets out of order, and gives the
// bytes an independent computation gives:
//   chacha20-poly1305@openssh.com: the worked example of
//     draft-ietf-sshm-chacha20-poly1305-04 Appendix A (transcribed by several
//     other SSH implementations' tests), and OpenSSL's raw ChaCha20 and
//     Poly1305 run step by step as PROTOCOL.chacha20poly1305 says;
//   aesNNN-ctr with the HMACs: OpenSSL's AES-CTR over the whole stream and a
//     one-shot HMAC, plain and encrypt-then-MAC;
//   aesNNN-gcm@openssh.com: OpenSSL's one-shot AES-GCM with the length as AAD
//     and the nonce counted up by hand, across a counter wrap.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "transport/cipher.h"

namespace tessera::ssh::transport {
namespace {

using key::Errc;
using key::SecretBytes;
using Bytes = std::vector<uint8_t>;

Bytes unhex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + 37 * i + (i >> 8));
  return b;
}

Bytes concat(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}

SecretBytes secret(const Bytes& b) { return SecretBytes::copy_of(b); }

// A binary packet around payload, padded (at least 4 bytes) as the packet
// layer pads for block_bytes and length_in_clear.
Bytes build_packet(std::span<const uint8_t> payload, size_t block_bytes, bool length_in_clear) {
  const size_t unpadded = (length_in_clear ? 0 : 4) + 1 + payload.size();
  size_t padding = block_bytes - unpadded % block_bytes;
  if (padding < 4) padding += block_bytes;
  const auto packet_length = static_cast<uint32_t>(1 + payload.size() + padding);
  Bytes packet = be32(packet_length);
  packet.push_back(static_cast<uint8_t>(padding));
  packet.insert(packet.end(), payload.begin(), payload.end());
  const Bytes pad = pattern(padding, 0xa5);
  packet.insert(packet.end(), pad.begin(), pad.end());
  return packet;
}

struct Pair {
  const CipherInfo* cipher;
  const MacInfo* mac;  // nullptr for AEAD ciphers
};

std::vector<Pair> all_pairs() {
  std::vector<Pair> pairs;
  for (const CipherInfo& cipher : supported_ciphers()) {
    if (cipher.aead) {
      pairs.push_back({&cipher, nullptr});
    } else {
      for (const MacInfo& mac : supported_macs()) pairs.push_back({&cipher, &mac});
    }
  }
  return pairs;
}

void PrintTo(const Pair& pair, std::ostream* out) {
  *out << pair.cipher->name << " + " << (pair.mac != nullptr ? pair.mac->name : "(no MAC)");
}

std::string pair_name(const ::testing::TestParamInfo<Pair>& info) {
  std::string name(info.param.cipher->name);
  if (info.param.mac != nullptr) name += "_" + std::string(info.param.mac->name);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

DirectionKeys keys_for(const Pair& pair, uint8_t seed = 1) {
  DirectionKeys keys;
  keys.iv = secret(pattern(pair.cipher->iv_bytes, seed));
  keys.encryption_key = secret(pattern(pair.cipher->key_bytes, static_cast<uint8_t>(seed + 50)));
  if (pair.mac != nullptr) keys.mac_key = secret(pattern(pair.mac->key_bytes, static_cast<uint8_t>(seed + 100)));
  return keys;
}

std::unique_ptr<PacketSealer> sealer_for(const Pair& pair, uint8_t seed = 1) {
  auto sealer = make_sealer(*pair.cipher, pair.mac, keys_for(pair, seed));
  EXPECT_TRUE(sealer.ok()) << sealer.error().message();
  return sealer.ok() ? std::move(sealer).value() : nullptr;
}

std::unique_ptr<PacketOpener> opener_for(const Pair& pair, uint8_t seed = 1) {
  auto opener = make_opener(*pair.cipher, pair.mac, keys_for(pair, seed));
  EXPECT_TRUE(opener.ok()) << opener.error().message();
  return opener.ok() ? std::move(opener).value() : nullptr;
}

// A sealed packet as it goes on the wire.
struct Sealed {
  Bytes packet;
  Bytes tag;
};

Sealed seal(PacketSealer& sealer, uint32_t seq, const Bytes& plain) {
  Sealed out{plain, Bytes(sealer.tag_bytes())};
  sealer.seal(seq, out.packet, out.tag);
  return out;
}

// Opens as the packet layer does: length first, then the packet.
key::Status open(PacketOpener& opener, uint32_t seq, Sealed& sealed) {
  if (sealed.packet.size() < opener.head_bytes()) return key::Error(Errc::kTruncated, "short");
  auto length = opener.packet_length(seq, std::span(sealed.packet).first(opener.head_bytes()));
  if (!length.ok()) return length.error();
  return opener.open(seq, sealed.packet, sealed.tag);
}

bool is_gcm(const Pair& pair) { return pair.cipher->name.find("-gcm@") != std::string_view::npos; }
// GCM and the -etm MACs send the length field as it is.
bool sends_length_in_clear(const Pair& pair) {
  return is_gcm(pair) || (pair.mac != nullptr && pair.mac->encrypt_then_mac);
}

class CipherPair : public ::testing::TestWithParam<Pair> {};

INSTANTIATE_TEST_SUITE_P(Cipher, CipherPair, ::testing::ValuesIn(all_pairs()), pair_name);

TEST_P(CipherPair, ShapeMatchesTheTables) {
  const Pair pair = GetParam();
  auto sealer = sealer_for(pair);
  auto opener = opener_for(pair);
  ASSERT_TRUE(sealer && opener);
  const size_t tag = pair.cipher->aead ? pair.cipher->aead_tag_bytes : pair.mac->tag_bytes;
  // The length field is outside the padded part for every AEAD (chacha20-
  // poly1305 encrypts it apart) and for the -etm MACs.
  const bool clear = pair.mac != nullptr ? pair.mac->encrypt_then_mac : true;
  for (size_t block : {sealer->block_bytes(), opener->block_bytes()}) EXPECT_EQ(block, pair.cipher->block_bytes);
  EXPECT_EQ(sealer->tag_bytes(), tag);
  EXPECT_EQ(opener->tag_bytes(), tag);
  EXPECT_EQ(sealer->length_in_clear(), clear);
  EXPECT_EQ(opener->length_in_clear(), clear);
  // Only CTR with a plain MAC encrypts the length with the first AES block.
  const bool ctr_plain = pair.mac != nullptr && !pair.mac->encrypt_then_mac;
  EXPECT_EQ(opener->head_bytes(), ctr_plain ? 16u : 4u);
}

TEST_P(CipherPair, RoundTripsPacketsOfManySizesAndSequenceNumbers) {
  const Pair pair = GetParam();
  auto sealer = sealer_for(pair);
  auto opener = opener_for(pair);
  ASSERT_TRUE(sealer && opener);
  // Sequence numbers wrap around at 2^32 (RFC 4253 section 6.4).
  constexpr std::array<size_t, 13> kPayloadSizes = {0, 1, 7, 15, 16, 17, 63, 64, 100, 1000, 4096, 32768, 35000};
  uint32_t seq = 0xfffffffd;
  for (size_t size : kPayloadSizes) {
    const Bytes plain = build_packet(pattern(size, static_cast<uint8_t>(size)), sealer->block_bytes(),
                                     sealer->length_in_clear());
    Sealed sealed = seal(*sealer, seq, plain);
    // Everything after the length field is encrypted, and the length too
    // except with GCM and the -etm MACs.
    EXPECT_NE(Bytes(sealed.packet.begin() + 4, sealed.packet.end()), Bytes(plain.begin() + 4, plain.end()));
    EXPECT_EQ(Bytes(sealed.packet.begin(), sealed.packet.begin() + 4) == Bytes(plain.begin(), plain.begin() + 4),
              sends_length_in_clear(pair));

    auto length = opener->packet_length(seq, std::span(sealed.packet).first(opener->head_bytes()));
    ASSERT_TRUE(length.ok()) << length.error().message();
    EXPECT_EQ(*length + 4u, plain.size()) << "size " << size;
    // Asking again for the same packet gives the same answer.
    auto again = opener->packet_length(seq, std::span(sealed.packet).first(opener->head_bytes()));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *length);

    auto opened = opener->open(seq, sealed.packet, sealed.tag);
    ASSERT_TRUE(opened.ok()) << "size " << size << ": " << opened.error().message();
    EXPECT_EQ(sealed.packet, plain) << "size " << size;
    ++seq;
  }
}

TEST_P(CipherPair, EveryFlippedBitFailsTheTag) {
  const Pair pair = GetParam();
  auto probe = sealer_for(pair);
  ASSERT_TRUE(probe);
  const Bytes first = build_packet(pattern(20, 1), probe->block_bytes(), probe->length_in_clear());
  const Bytes plain = build_packet(pattern(40, 2), probe->block_bytes(), probe->length_in_clear());
  const size_t total_bits = (plain.size() + probe->tag_bytes()) * 8;
  for (size_t bit = 0; bit < total_bits; ++bit) {
    // A fresh direction each time, one packet in, so that the CTR stream
    // and the GCM counter are mid-way.
    auto sealer = sealer_for(pair);
    auto opener = opener_for(pair);
    Sealed one = seal(*sealer, 7, first);
    ASSERT_TRUE(open(*opener, 7, one).ok());
    Sealed two = seal(*sealer, 8, plain);
    const size_t byte = bit / 8;
    const auto mask = static_cast<uint8_t>(1u << (bit % 8));
    if (byte < two.packet.size()) {
      two.packet[byte] ^= mask;
    } else {
      two.tag[byte - two.packet.size()] ^= mask;
    }
    // The length may come out wrong; the packet layer would then wait for
    // other bytes, but open() on these must fail either way.
    (void)opener->packet_length(8, std::span(two.packet).first(opener->head_bytes()));
    auto opened = opener->open(8, two.packet, two.tag);
    ASSERT_FALSE(opened.ok()) << "bit " << bit << " flipped went unnoticed";
    EXPECT_EQ(opened.error().code(), Errc::kBadSignature) << "bit " << bit << ": " << opened.error().message();
  }
}

TEST_P(CipherPair, AWrongSequenceNumberOrAMissingPacketFails) {
  const Pair pair = GetParam();
  const bool gcm = is_gcm(pair);
  auto sealer = sealer_for(pair);
  ASSERT_TRUE(sealer);
  const Bytes plain = build_packet(pattern(50, 3), sealer->block_bytes(), sealer->length_in_clear());
  Sealed first = seal(*sealer, 11, plain);
  Sealed second = seal(*sealer, 12, plain);

  if (!gcm) {
    // The sequence number is in the MAC or the nonce. (GCM authenticates
    // the order through its own invocation counter instead and ignores the
    // sequence number, as RFC 5647 has it.)
    auto opener = opener_for(pair);
    Sealed copy = first;
    auto opened = open(*opener, 12, copy);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), Errc::kBadSignature);
  }
  {
    // A packet dropped on the way: the next one arrives under the sequence
    // number the receiver counts (one short of the sender's) and fails.
    auto opener = opener_for(pair);
    Sealed copy = second;
    auto opened = open(*opener, 11, copy);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), Errc::kBadSignature);
  }
  if (gcm) {
    // GCM fails even under the sender's number: the nonce counts packets.
    auto opener = opener_for(pair);
    Sealed copy = second;
    auto opened = open(*opener, 12, copy);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), Errc::kBadSignature);
  }
  {
    // Keys of the other direction (or another session) do not open it.
    auto opener = opener_for(pair, 2);
    Sealed copy = first;
    auto opened = open(*opener, 11, copy);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code(), Errc::kBadSignature);
  }
}

TEST_P(CipherPair, SealingTheSamePacketTwiceGivesDifferentBytes) {
  // For GCM this is the invocation counter going up; for CTR the counter
  // running on; for chacha20-poly1305 and the MACs the sequence number.
  const Pair pair = GetParam();
  auto sealer = sealer_for(pair);
  ASSERT_TRUE(sealer);
  const Bytes plain = build_packet(pattern(30, 4), sealer->block_bytes(), sealer->length_in_clear());
  const Sealed first = seal(*sealer, 1, plain);
  const Sealed second = seal(*sealer, 2, plain);
  EXPECT_NE(Bytes(first.packet.begin() + 4, first.packet.end()), Bytes(second.packet.begin() + 4, second.packet.end()));
  EXPECT_NE(first.tag, second.tag);
}

TEST_P(CipherPair, OpenRefusesPacketsOfTheWrongShape) {
  const Pair pair = GetParam();
  auto opener = opener_for(pair);
  ASSERT_TRUE(opener);
  const size_t block = opener->block_bytes();
  const size_t aligned = (opener->length_in_clear() ? 4 : 0) + 2 * block;
  Bytes tag(opener->tag_bytes());
  for (size_t size : {size_t{0}, size_t{3}, aligned - 1, aligned + 1, aligned + block / 2}) {
    Bytes packet(size);
    auto opened = opener->open(0, packet, tag);
    ASSERT_FALSE(opened.ok()) << size;
    EXPECT_EQ(opened.error().code(), Errc::kMalformed) << size;
  }
  Bytes packet(aligned);
  Bytes short_tag(opener->tag_bytes() - 1);
  auto opened = opener->open(0, packet, short_tag);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), Errc::kInvalidArgument);

  Bytes head(opener->head_bytes() - 1);
  auto length = opener->packet_length(0, head);
  ASSERT_FALSE(length.ok());
  EXPECT_EQ(length.error().code(), Errc::kTruncated);
}

TEST_P(CipherPair, WrongKeyLengthsAreRefused) {
  const Pair pair = GetParam();
  auto expect_refused = [&](DirectionKeys keys, const MacInfo* mac, const char* what) {
    DirectionKeys copy{keys.iv.clone(), keys.encryption_key.clone(), keys.mac_key.clone()};
    auto sealer = make_sealer(*pair.cipher, mac, std::move(keys));
    ASSERT_FALSE(sealer.ok()) << what;
    EXPECT_EQ(sealer.error().code(), Errc::kInvalidArgument) << what;
    auto opener = make_opener(*pair.cipher, mac, std::move(copy));
    ASSERT_FALSE(opener.ok()) << what;
    EXPECT_EQ(opener.error().code(), Errc::kInvalidArgument) << what;
  };
  for (int delta : {-1, 1}) {
    DirectionKeys keys = keys_for(pair);
    keys.encryption_key.resize(static_cast<size_t>(static_cast<int>(pair.cipher->key_bytes) + delta));
    expect_refused(std::move(keys), pair.mac, "encryption key");
  }
  {
    DirectionKeys keys = keys_for(pair);
    keys.iv.resize(pair.cipher->iv_bytes + 1);
    expect_refused(std::move(keys), pair.mac, "IV");
  }
  if (pair.mac != nullptr) {
    DirectionKeys keys = keys_for(pair);
    keys.mac_key.resize(pair.mac->key_bytes - 1);
    expect_refused(std::move(keys), pair.mac, "MAC key");
    expect_refused(keys_for(pair), nullptr, "no MAC with a cipher that needs one");
  } else {
    expect_refused(keys_for(pair), &supported_macs()[0], "a MAC with an AEAD cipher");
    DirectionKeys keys = keys_for(pair);
    keys.mac_key = secret(pattern(32, 1));
    expect_refused(std::move(keys), nullptr, "a MAC key with an AEAD cipher");
  }
}

TEST(CipherTables, AreOpenSsh92DefaultsInOrder) {
  std::vector<std::string_view> ciphers;
  for (const CipherInfo& c : supported_ciphers()) ciphers.push_back(c.name);
  EXPECT_EQ(ciphers, (std::vector<std::string_view>{"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr",
                                                     "aes256-ctr", "aes128-gcm@openssh.com",
                                                     "aes256-gcm@openssh.com"}));
  std::vector<std::string_view> macs;
  for (const MacInfo& m : supported_macs()) macs.push_back(m.name);
  EXPECT_EQ(macs, (std::vector<std::string_view>{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
                                                  "hmac-sha2-256", "hmac-sha2-512"}));

  struct CipherRow {
    std::string_view name;
    size_t key, iv, block;
    bool aead;
    size_t tag;
  };
  // OpenSSH cipher.c.
  for (const CipherRow& row : {CipherRow{"chacha20-poly1305@openssh.com", 64, 0, 8, true, 16},
                               CipherRow{"aes128-ctr", 16, 16, 16, false, 0},
                               CipherRow{"aes192-ctr", 24, 16, 16, false, 0},
                               CipherRow{"aes256-ctr", 32, 16, 16, false, 0},
                               CipherRow{"aes128-gcm@openssh.com", 16, 12, 16, true, 16},
                               CipherRow{"aes256-gcm@openssh.com", 32, 12, 16, true, 16}}) {
    const CipherInfo* c = find_cipher(row.name);
    ASSERT_NE(c, nullptr) << row.name;
    EXPECT_EQ(c->key_bytes, row.key) << row.name;
    EXPECT_EQ(c->iv_bytes, row.iv) << row.name;
    EXPECT_EQ(c->block_bytes, row.block) << row.name;
    EXPECT_EQ(c->aead, row.aead) << row.name;
    EXPECT_EQ(c->aead_tag_bytes, row.tag) << row.name;
  }
  struct MacRow {
    std::string_view name;
    size_t key, tag;
    bool etm;
  };
  for (const MacRow& row : {MacRow{"hmac-sha2-256-etm@openssh.com", 32, 32, true},
                            MacRow{"hmac-sha2-512-etm@openssh.com", 64, 64, true},
                            MacRow{"hmac-sha2-256", 32, 32, false}, MacRow{"hmac-sha2-512", 64, 64, false}}) {
    const MacInfo* m = find_mac(row.name);
    ASSERT_NE(m, nullptr) << row.name;
    EXPECT_EQ(m->key_bytes, row.key) << row.name;
    EXPECT_EQ(m->tag_bytes, row.tag) << row.name;
    EXPECT_EQ(m->encrypt_then_mac, row.etm) << row.name;
  }
  for (std::string_view name : {"none", "aes128-cbc", "3des-cbc", "AES128-CTR", "", "aes128-ctr "}) {
    EXPECT_EQ(find_cipher(name), nullptr) << name;
  }
  for (std::string_view name : {"none", "umac-64-etm@openssh.com", "umac-128@openssh.com", "hmac-sha1", ""}) {
    EXPECT_EQ(find_mac(name), nullptr) << name;
  }
}

TEST(CipherTables, UnknownNamesAreUnsupported) {
  const CipherInfo cbc{"aes128-cbc", 16, 16, 16, false, 0};
  DirectionKeys keys{secret(pattern(16, 1)), secret(pattern(16, 2)), secret(pattern(32, 3))};
  auto sealer = make_sealer(cbc, find_mac("hmac-sha2-256"), std::move(keys));
  ASSERT_FALSE(sealer.ok());
  EXPECT_EQ(sealer.error().code(), Errc::kUnsupported);

  const MacInfo sha1{"hmac-sha1", 20, 20, false};
  DirectionKeys more{secret(pattern(16, 1)), secret(pattern(16, 2)), secret(pattern(20, 3))};
  auto opener = make_opener(*find_cipher("aes128-ctr"), &sha1, std::move(more));
  ASSERT_FALSE(opener.ok());
  EXPECT_EQ(opener.error().code(), Errc::kUnsupported);
}

TEST(ClearPackets, PassThroughAndReadTheLength) {
  auto sealer = make_clear_sealer();
  auto opener = make_clear_opener();
  EXPECT_EQ(sealer->block_bytes(), 8u);
  EXPECT_FALSE(sealer->length_in_clear());
  EXPECT_EQ(sealer->tag_bytes(), 0u);
  EXPECT_EQ(opener->tag_bytes(), 0u);
  EXPECT_EQ(opener->head_bytes(), 4u);
  const Bytes plain = build_packet(pattern(21, 5), 8, false);
  Sealed sealed = seal(*sealer, 0, plain);
  EXPECT_EQ(sealed.packet, plain);
  EXPECT_TRUE(sealed.tag.empty());
  auto length = opener->packet_length(0, std::span(sealed.packet).first(4));
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length + 4u, plain.size());
  ASSERT_TRUE(opener->open(0, sealed.packet, sealed.tag).ok());
  EXPECT_EQ(sealed.packet, plain);

  Bytes odd(plain.begin(), plain.end() - 1);
  auto opened = opener->open(0, odd, {});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), Errc::kMalformed);
  auto short_head = opener->packet_length(0, std::span(plain).first(3));
  ASSERT_FALSE(short_head.ok());
  EXPECT_EQ(short_head.error().code(), Errc::kTruncated);
}

// --- Known answers, computed without the code under test ---------------------

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// Raw OpenSSL ChaCha20 from a 16-byte IV (OpenSSL's layout).
Bytes chacha20(std::span<const uint8_t> key, std::span<const uint8_t, 16> iv, std::span<const uint8_t> in) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(in.size());
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, key.data(), iv.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())), 1);
  return out;
}

Bytes poly1305(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes tag(16);
  size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "POLY1305", nullptr, nullptr, nullptr, key.data(), key.size(), data.data(), data.size(),
                      tag.data(), tag.size(), &len),
            nullptr);
  EXPECT_EQ(len, 16u);
  return tag;
}

Bytes hmac(std::string_view digest, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes tag(64);
  size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, std::string(digest).c_str(), nullptr, key.data(), key.size(),
                      data.data(), data.size(), tag.data(), tag.size(), &len),
            nullptr);
  tag.resize(len);
  return tag;
}

// OpenSSL's ChaCha20 IV as original ChaCha20 sees it: LE64 counter || nonce.
std::array<uint8_t, 16> chacha_iv(uint64_t counter, uint64_t nonce_be) {
  std::array<uint8_t, 16> iv{};
  for (int i = 0; i < 8; ++i) {
    iv[static_cast<size_t>(i)] = static_cast<uint8_t>(counter >> (8 * i));
    iv[static_cast<size_t>(15 - i)] = static_cast<uint8_t>(nonce_be >> (8 * i));
  }
  return iv;
}

TEST(ChaCha20Poly1305, OpenSslChaCha20IsTheOriginal64BitCounterVariant) {
  // Block n+1 of a stream that starts at counter 0xffffffff is the block at
  // counter 2^32: OpenSSL carries the counter from state word 12 into word 13,
  // which is where the IV's bytes 4..7 go. So bytes 0..7 of the IV are a
  // 64-bit little-endian counter and bytes 8..15 the 64-bit nonce, as in
  // djb's ChaCha20 (and OpenSSH's chacha_ivsetup).
  const Bytes key = pattern(32, 9);
  const Bytes zeros(128, 0);
  const Bytes across = chacha20(key, chacha_iv(0xffffffffu, 0x0102030405060708u), zeros);
  const Bytes at_2_32 = chacha20(key, chacha_iv(0x100000000u, 0x0102030405060708u), std::span(zeros).first(64));
  EXPECT_EQ(Bytes(across.begin() + 64, across.end()), at_2_32);
  // And the nonce bytes matter (a different nonce, a different stream).
  EXPECT_NE(chacha20(key, chacha_iv(0, 1), zeros), chacha20(key, chacha_iv(0, 2), zeros));
}

TEST(ChaCha20Poly1305, MatchesTheDraftsWorkedExample) {
  // draft-ietf-sshm-chacha20-poly1305-04, Appendix A: an SSH_MSG_CHANNEL_DATA
  // packet sent under sequence number 7. Its packet_length (72) is a multiple
  // of 8 and the whole packet (76) is not: the padding leaves out the length
  // field, which is what length_in_clear() says.
  const Bytes key = unhex(
      "8bbff6855fc102338c373e73aac0c914f076a905b2444a32eecaffeae22becc5"
      "e9b7a7a5825a8249346ec1c28301cf394543fc7569887d76e168f37562ac0740");
  const Bytes plain = unhex(
      "00000048065e00000000000000384c6f72656d20697073756d20646f6c6f7220"
      "73697420616d65742c20636f6e73656374657475722061646970697369636"
      "96e6720656c69744e43e804dc6c");
  const Bytes wire = unhex(
      "2c3ecce4a5bc05895bf07a7ba956b6c68829ac7c83b780b7000ecde745afc705"
      "bbc378ce03a280236b87b53bed5839662302b164b6286a48cd1e097138e3cb90"
      "9b8b2b829dd18d2a35ff82d995349e855bf02c298ef775f2d1a7e8b8");
  const CipherInfo& info = *find_cipher("chacha20-poly1305@openssh.com");
  auto sealer = make_sealer(info, nullptr, DirectionKeys{{}, secret(key), {}});
  ASSERT_TRUE(sealer.ok()) << sealer.error().message();
  Sealed sealed = seal(**sealer, 7, plain);
  EXPECT_EQ(concat(sealed.packet, sealed.tag), wire);

  auto opener = make_opener(info, nullptr, DirectionKeys{{}, secret(key), {}});
  ASSERT_TRUE(opener.ok());
  Sealed received{Bytes(wire.begin(), wire.end() - 16), Bytes(wire.end() - 16, wire.end())};
  auto length = (*opener)->packet_length(7, std::span(received.packet).first(4));
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length, 0x48u);
  ASSERT_TRUE((*opener)->open(7, received.packet, received.tag).ok());
  EXPECT_EQ(received.packet, plain);
}

TEST(ChaCha20Poly1305, MatchesRawChaCha20AndPoly1305StepByStep) {
  // PROTOCOL.chacha20poly1305 followed literally with OpenSSL's primitives,
  // for a packet of many ChaCha20 blocks under a sequence number with every
  // byte set.
  const Bytes key = pattern(64, 77);
  const std::span<const uint8_t> k2(key.data(), 32), k1(key.data() + 32, 32);
  const uint32_t seq = 0xa1b2c3d4;
  const Bytes plain = build_packet(pattern(1000, 6), 8, true);

  const Bytes enc_length = chacha20(k1, chacha_iv(0, seq), std::span(plain).first(4));
  const Bytes block0 = chacha20(k2, chacha_iv(0, seq), Bytes(64, 0));
  const Bytes enc_rest = chacha20(k2, chacha_iv(1, seq), std::span(plain).subspan(4));
  const Bytes ciphertext = concat(enc_length, enc_rest);
  const Bytes tag = poly1305(std::span(block0).first(32), ciphertext);

  const CipherInfo& info = *find_cipher("chacha20-poly1305@openssh.com");
  auto sealer = make_sealer(info, nullptr, DirectionKeys{{}, secret(key), {}});
  ASSERT_TRUE(sealer.ok());
  // A packet under another sequence number first: no state carries over.
  (void)seal(**sealer, 3, build_packet(pattern(10, 1), 8, true));
  Sealed sealed = seal(**sealer, seq, plain);
  EXPECT_EQ(sealed.packet, ciphertext);
  EXPECT_EQ(sealed.tag, tag);
}

// Raw OpenSSL AES-CTR or AES-GCM, one shot.
Bytes aes_ctr(std::span<const uint8_t> key, std::span<const uint8_t> iv, std::span<const uint8_t> in) {
  const EVP_CIPHER* cipher = key.size() == 16   ? EVP_aes_128_ctr()
                             : key.size() == 24 ? EVP_aes_192_ctr()
                                                : EVP_aes_256_ctr();
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(in.size());
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())), 1);
  return out;
}

TEST(AesCtrHmac, MatchesOpenSslAesCtrAndHmacForEveryPair) {
  for (const Pair& pair : all_pairs()) {
    if (pair.mac == nullptr) continue;
    SCOPED_TRACE(std::string(pair.cipher->name) + " " + std::string(pair.mac->name));
    const DirectionKeys keys = keys_for(pair, 9);
    const Bytes key(keys.encryption_key.reveal().begin(), keys.encryption_key.reveal().end());
    const Bytes iv(keys.iv.reveal().begin(), keys.iv.reveal().end());
    const Bytes mac_key(keys.mac_key.reveal().begin(), keys.mac_key.reveal().end());
    const std::string digest = pair.mac->tag_bytes == 32 ? "SHA256" : "SHA512";
    const bool etm = pair.mac->encrypt_then_mac;

    // Three packets; the CTR counter runs on from one to the next.
    const std::array<Bytes, 3> plains = {build_packet(pattern(5, 1), 16, etm), build_packet(pattern(300, 2), 16, etm),
                                         build_packet(pattern(33, 3), 16, etm)};
    const std::array<uint32_t, 3> seqs = {0, 1, 2};
    Bytes stream_in;
    for (const Bytes& p : plains) {
      stream_in.insert(stream_in.end(), p.begin() + (etm ? 4 : 0), p.end());
    }
    const Bytes stream_out = aes_ctr(key, iv, stream_in);

    auto sealer = sealer_for(pair, 9);
    auto opener = opener_for(pair, 9);
    ASSERT_TRUE(sealer && opener);
    size_t offset = 0;
    for (size_t i = 0; i < plains.size(); ++i) {
      const Bytes& plain = plains[i];
      const size_t encrypted = plain.size() - (etm ? 4 : 0);
      Bytes expected_packet = etm ? Bytes(plain.begin(), plain.begin() + 4) : Bytes();
      expected_packet.insert(expected_packet.end(), stream_out.begin() + static_cast<ptrdiff_t>(offset),
                             stream_out.begin() + static_cast<ptrdiff_t>(offset + encrypted));
      offset += encrypted;
      const Bytes expected_tag = hmac(digest, mac_key, concat(be32(seqs[i]), etm ? expected_packet : plain));

      Sealed sealed = seal(*sealer, seqs[i], plain);
      EXPECT_EQ(sealed.packet, expected_packet) << "packet " << i;
      EXPECT_EQ(sealed.tag, expected_tag) << "packet " << i;
      ASSERT_TRUE(open(*opener, seqs[i], sealed).ok()) << "packet " << i;
      EXPECT_EQ(sealed.packet, plain) << "packet " << i;
    }
  }
}

TEST(AesCtrHmac, OpenWithoutAskingTheLengthStaysInStep) {
  // packet_length() takes the first block's keystream; a packet layer that
  // already knows the length may go straight to open(), and the stream must
  // come out the same either way.
  const Pair pair{find_cipher("aes256-ctr"), find_mac("hmac-sha2-512")};
  auto sealer = sealer_for(pair);
  auto opener = opener_for(pair);
  for (uint32_t seq = 0; seq < 6; ++seq) {
    const Bytes plain = build_packet(pattern(seq * 40, 8), 16, false);
    Sealed sealed = seal(*sealer, seq, plain);
    if (seq % 2 == 0) {
      ASSERT_TRUE(open(*opener, seq, sealed).ok()) << seq;
    } else {
      ASSERT_TRUE(opener->open(seq, sealed.packet, sealed.tag).ok()) << seq;
    }
    EXPECT_EQ(sealed.packet, plain) << seq;
  }
}

// One-shot AES-GCM: ciphertext || tag.
Bytes aes_gcm(std::span<const uint8_t> key, std::span<const uint8_t> nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> in) {
  const EVP_CIPHER* cipher = key.size() == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(in.size() + 16);
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), nonce.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx.get(), out.data() + in.size(), &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, out.data() + in.size()), 1);
  return out;
}

TEST(AesGcm, MatchesOpenSslGcmWithTheInvocationCounterAcrossItsWrap) {
  for (std::string_view name : {"aes128-gcm@openssh.com", "aes256-gcm@openssh.com"}) {
    SCOPED_TRACE(name);
    const CipherInfo& info = *find_cipher(name);
    const Bytes key = pattern(info.key_bytes, 40);
    // Fixed field 0x01020304, invocation counter two short of wrapping.
    const Bytes iv = unhex("01020304fffffffffffffffe");
    const std::array<Bytes, 4> nonces = {unhex("01020304fffffffffffffffe"), unhex("01020304ffffffffffffffff"),
                                         unhex("010203040000000000000000"), unhex("010203040000000000000001")};
    auto sealer = make_sealer(info, nullptr, DirectionKeys{secret(iv), secret(key), {}});
    auto opener = make_opener(info, nullptr, DirectionKeys{secret(iv), secret(key), {}});
    ASSERT_TRUE(sealer.ok() && opener.ok());
    const Bytes plain = build_packet(pattern(77, 12), 16, true);
    for (size_t i = 0; i < nonces.size(); ++i) {
      const auto seq = static_cast<uint32_t>(100 + i);
      const Bytes expected = concat(std::span(plain).first(4),
                                    aes_gcm(key, nonces[i], std::span(plain).first(4), std::span(plain).subspan(4)));
      Sealed sealed = seal(**sealer, seq, plain);
      EXPECT_EQ(concat(sealed.packet, sealed.tag), expected) << "packet " << i;
      ASSERT_TRUE(open(**opener, seq, sealed).ok()) << "packet " << i;
      EXPECT_EQ(sealed.packet, plain);
    }
  }
}

}  // namespace
}  // namespace tessera::ssh::transport
