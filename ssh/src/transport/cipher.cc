// The cipher and MAC tables, make_sealer/make_opener (which check names and
// key lengths, then hand over to one file per algorithm), the clear sealer and
// opener used before the first NEWKEYS, and the helpers of cipher_impl.h.
#include "transport/cipher.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "transport/cipher_impl.h"

namespace tessera::ssh::transport {
namespace {

using key::Errc;
using key::Error;

constexpr std::string_view kChaChaPoly = "chacha20-poly1305@openssh.com";
constexpr std::string_view kAes128Gcm = "aes128-gcm@openssh.com";
constexpr std::string_view kAes256Gcm = "aes256-gcm@openssh.com";

// OpenSSH 9.2's default cipher list, in its order (its cipher.c gives the
// sizes).
constexpr std::array<CipherInfo, 6> kCiphers = {{
    {.name = kChaChaPoly, .key_bytes = 64, .iv_bytes = 0, .block_bytes = 8, .aead = true, .aead_tag_bytes = 16},
    {.name = "aes128-ctr", .key_bytes = 16, .iv_bytes = 16, .block_bytes = 16, .aead = false, .aead_tag_bytes = 0},
    {.name = "aes192-ctr", .key_bytes = 24, .iv_bytes = 16, .block_bytes = 16, .aead = false, .aead_tag_bytes = 0},
    {.name = "aes256-ctr", .key_bytes = 32, .iv_bytes = 16, .block_bytes = 16, .aead = false, .aead_tag_bytes = 0},
    {.name = kAes128Gcm, .key_bytes = 16, .iv_bytes = 12, .block_bytes = 16, .aead = true, .aead_tag_bytes = 16},
    {.name = kAes256Gcm, .key_bytes = 32, .iv_bytes = 12, .block_bytes = 16, .aead = true, .aead_tag_bytes = 16},
}};

// OpenSSH 9.2's default MAC list without the umac ones, in its order.
constexpr std::array<MacInfo, 4> kMacs = {{
    {.name = "hmac-sha2-256-etm@openssh.com", .key_bytes = 32, .tag_bytes = 32, .encrypt_then_mac = true},
    {.name = "hmac-sha2-512-etm@openssh.com", .key_bytes = 64, .tag_bytes = 64, .encrypt_then_mac = true},
    {.name = "hmac-sha2-256", .key_bytes = 32, .tag_bytes = 32, .encrypt_then_mac = false},
    {.name = "hmac-sha2-512", .key_bytes = 64, .tag_bytes = 64, .encrypt_then_mac = false},
}};

// Before NEWKEYS the packet is padded as a whole to 8 bytes (RFC 4253
// section 6), so the length counts as "not in clear" for the padding rule.
constexpr size_t kClearBlockBytes = 8;

class ClearSealer final : public PacketSealer {
 public:
  size_t block_bytes() const override { return kClearBlockBytes; }
  bool length_in_clear() const override { return false; }
  size_t tag_bytes() const override { return 0; }
  void seal(uint32_t, std::span<uint8_t>, std::span<uint8_t>) override {}
};

class ClearOpener final : public PacketOpener {
 public:
  size_t block_bytes() const override { return kClearBlockBytes; }
  bool length_in_clear() const override { return false; }
  size_t tag_bytes() const override { return 0; }
  size_t head_bytes() const override { return cipher_impl::kLengthFieldBytes; }
  key::Result<uint32_t> packet_length(uint32_t, std::span<const uint8_t> head) override {
    TESSERA_TRY(cipher_impl::check_head("none", head, cipher_impl::kLengthFieldBytes));
    return cipher_impl::load_be32(head.data());
  }
  key::Status open(uint32_t, std::span<uint8_t> packet, std::span<const uint8_t> tag) override {
    return cipher_impl::check_packet_shape("none", packet, tag, kClearBlockBytes, false, 0);
  }
};

std::string size_text(size_t n) { return std::to_string(n) + "-byte"; }

// Checks the pair and the key lengths; returns the table entries to build from.
key::Result<std::pair<const CipherInfo*, const MacInfo*>> check_pair(const CipherInfo& cipher, const MacInfo* mac,
                                                                     const DirectionKeys& keys) {
  const CipherInfo* known = find_cipher(cipher.name);
  if (known == nullptr) return Error(Errc::kUnsupported, "cipher '" + std::string(cipher.name) + "' is not supported");
  const std::string name(known->name);
  const MacInfo* known_mac = nullptr;
  if (known->aead) {
    if (mac != nullptr) {
      return Error(Errc::kInvalidArgument, name + " authenticates packets itself: no MAC may go with it (got '" +
                                               std::string(mac->name) + "')");
    }
    if (!keys.mac_key.empty()) {
      return Error(Errc::kInvalidArgument, name + " takes no MAC key (got " + size_text(keys.mac_key.size()) + " one)");
    }
  } else {
    if (mac == nullptr) return Error(Errc::kInvalidArgument, name + " needs a MAC: none was given");
    known_mac = find_mac(mac->name);
    if (known_mac == nullptr) return Error(Errc::kUnsupported, "MAC '" + std::string(mac->name) + "' is not supported");
    if (keys.mac_key.size() != known_mac->key_bytes) {
      return Error(Errc::kInvalidArgument, std::string(known_mac->name) + " needs a " +
                                               size_text(known_mac->key_bytes) + " key, got " +
                                               size_text(keys.mac_key.size()) + " one");
    }
  }
  if (keys.encryption_key.size() != known->key_bytes) {
    return Error(Errc::kInvalidArgument, name + " needs a " + size_text(known->key_bytes) + " key, got " +
                                             size_text(keys.encryption_key.size()) + " one");
  }
  if (keys.iv.size() != known->iv_bytes) {
    return Error(Errc::kInvalidArgument, name + " needs a " + size_text(known->iv_bytes) + " IV, got " +
                                             size_text(keys.iv.size()) + " one");
  }
  return std::pair{known, known_mac};
}

}  // namespace

std::span<const CipherInfo> supported_ciphers() { return kCiphers; }
std::span<const MacInfo> supported_macs() { return kMacs; }

const CipherInfo* find_cipher(std::string_view name) {
  for (const CipherInfo& c : kCiphers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const MacInfo* find_mac(std::string_view name) {
  for (const MacInfo& m : kMacs) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

key::Result<std::unique_ptr<PacketSealer>> make_sealer(const CipherInfo& cipher, const MacInfo* mac,
                                                       DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(auto pair, check_pair(cipher, mac, keys));
  const CipherInfo& info = *pair.first;
  if (info.name == kChaChaPoly) return cipher_impl::make_chacha20_poly1305_sealer(info, std::move(keys));
  if (info.name == kAes128Gcm || info.name == kAes256Gcm) {
    return cipher_impl::make_aes_gcm_sealer(info, std::move(keys));
  }
  return cipher_impl::make_aes_ctr_sealer(info, *pair.second, std::move(keys));
}

key::Result<std::unique_ptr<PacketOpener>> make_opener(const CipherInfo& cipher, const MacInfo* mac,
                                                       DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(auto pair, check_pair(cipher, mac, keys));
  const CipherInfo& info = *pair.first;
  if (info.name == kChaChaPoly) return cipher_impl::make_chacha20_poly1305_opener(info, std::move(keys));
  if (info.name == kAes128Gcm || info.name == kAes256Gcm) {
    return cipher_impl::make_aes_gcm_opener(info, std::move(keys));
  }
  return cipher_impl::make_aes_ctr_opener(info, *pair.second, std::move(keys));
}

key::Result<DirectionKeys> advance_keys(const CipherInfo& cipher, DirectionKeys keys, uint64_t packets,
                                        uint64_t blocks) {
  // Adds n to the big-endian number in bytes[from, end).
  auto add = [](std::span<uint8_t> bytes, uint64_t n) {
    for (size_t i = bytes.size(); i-- > 0 && n != 0;) {
      const uint64_t sum = uint64_t{bytes[i]} + (n & 0xff);
      bytes[i] = static_cast<uint8_t>(sum);
      n = (n >> 8) + (sum >> 8);
    }
  };
  if (cipher.name == kChaChaPoly) return keys;
  if (keys.iv.size() != cipher.iv_bytes) return Error(Errc::kInvalidArgument, "IV of the wrong length");
  if (cipher.name == kAes128Gcm || cipher.name == kAes256Gcm) {
    // RFC 5647: a 4-byte fixed field, then the 8-byte invocation counter,
    // one step per packet (modulo 2^64).
    add(keys.iv.reveal_mutable().subspan(4), packets);
    return keys;
  }
  add(keys.iv.reveal_mutable(), blocks);  // CTR: the counter block, one step per block
  return keys;
}

std::unique_ptr<PacketSealer> make_clear_sealer() { return std::make_unique<ClearSealer>(); }
std::unique_ptr<PacketOpener> make_clear_opener() { return std::make_unique<ClearOpener>(); }

namespace cipher_impl {

void seal_failed(std::string_view cipher, std::string_view what) {
  const key::Error error = crypto_error(what);
  std::fprintf(stderr, "tessera: %.*s: sealing a packet failed: %s\n", static_cast<int>(cipher.size()),
               cipher.data(), error.detail().c_str());
  std::abort();
}

bool crypt_in_place(EVP_CIPHER_CTX* ctx, std::span<uint8_t> data) {
  if (data.empty()) return true;
  if (data.size() > kMaxPacketBytes) return false;
  int out_len = 0;
  return EVP_CipherUpdate(ctx, data.data(), &out_len, data.data(), static_cast<int>(data.size())) == 1 &&
         static_cast<size_t>(out_len) == data.size();
}

key::Status check_packet_shape(std::string_view cipher, std::span<const uint8_t> packet,
                               std::span<const uint8_t> tag, size_t block_bytes, bool length_in_clear,
                               size_t tag_bytes) {
  if (tag.size() != tag_bytes) {
    return Error(Errc::kInvalidArgument, std::string(cipher) + ": expected a " + size_text(tag_bytes) + " tag, got " +
                                             size_text(tag.size()) + " one");
  }
  if (packet.size() > kMaxPacketBytes) {
    return Error(Errc::kTooLarge, std::string(cipher) + ": a packet of " + std::to_string(packet.size()) +
                                      " bytes is over the limit of " + std::to_string(kMaxPacketBytes));
  }
  // What the padding aligns: the whole packet, or what follows the length.
  const size_t aligned = length_in_clear ? packet.size() - std::min(packet.size(), kLengthFieldBytes) : packet.size();
  if (packet.size() < kLengthFieldBytes || aligned < block_bytes || aligned % block_bytes != 0) {
    return Error(Errc::kMalformed, std::string(cipher) + ": a packet of " + std::to_string(packet.size()) +
                                       " bytes is not a whole number of " + size_text(block_bytes) + " blocks" +
                                       (length_in_clear ? " after its length field" : ""));
  }
  return {};
}

key::Status check_head(std::string_view cipher, std::span<const uint8_t> head, size_t head_bytes) {
  if (head.size() < head_bytes) {
    return Error(Errc::kTruncated, std::string(cipher) + ": the packet length needs the first " +
                                       std::to_string(head_bytes) + " bytes, got " + std::to_string(head.size()));
  }
  return {};
}

}  // namespace cipher_impl
}  // namespace tessera::ssh::transport
