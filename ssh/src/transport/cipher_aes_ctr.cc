// aes128-ctr, aes192-ctr and aes256-ctr (RFC 4344) with an HMAC, in the two
// ways SSH combines them:
//   plain MAC (RFC 4253 section 6.4): the whole packet, length field too, is
//     encrypted; the MAC is HMAC(key, uint32 seq || plaintext packet).
//   -etm@openssh.com: the length field is sent in clear, the rest is
//     encrypted, and the MAC is HMAC(key, uint32 seq || length || ciphertext),
//     checked before anything is decrypted.
// The counter runs on across packets for the life of the keys, so each
// direction keeps one OpenSSL context streaming from the derived IV.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <string>

#include "tessera/key/secret.h"
#include "transport/cipher_impl.h"

namespace tessera::ssh::transport::cipher_impl {
namespace {

using key::Errc;
using key::Error;

constexpr size_t kAesBlockBytes = 16;

const EVP_CIPHER* aes_ctr(size_t key_bytes) {
  // Fetched once for the process and never freed.
  static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  static EVP_CIPHER* const aes192 = EVP_CIPHER_fetch(nullptr, "AES-192-CTR", nullptr);
  static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr);
  switch (key_bytes) {
    case 16: return aes128;
    case 24: return aes192;
    case 32: return aes256;
    default: return nullptr;
  }
}

// The AES-CTR stream of one direction and its MAC.
struct CtrState {
  std::string_view name;  // the cipher's, from the static table
  CipherCtxPtr ctx;
  Hmac mac;
  bool encrypt_then_mac;
};

key::Result<CtrState> make_state(const CipherInfo& info, const MacInfo& mac_info, DirectionKeys& keys) {
  const std::string name(info.name);
  const EVP_CIPHER* cipher = aes_ctr(keys.encryption_key.size());
  if (cipher == nullptr) return crypto_error(name + ": OpenSSL has no AES-CTR for this key size");
  if (keys.iv.size() != kAesBlockBytes) return Error(Errc::kInvalidArgument, name + " needs a 16-byte IV");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return crypto_error(name + ": EVP_CIPHER_CTX_new failed");
  // CTR is the same both ways; encrypt mode for both directions.
  if (EVP_CipherInit_ex2(ctx.get(), cipher, keys.encryption_key.reveal().data(), keys.iv.reveal().data(), 1,
                         nullptr) != 1) {
    return crypto_error(name + ": setting the key failed");
  }
  TESSERA_ASSIGN_OR_RETURN(Hmac mac, Hmac::make(mac_info, keys.mac_key.reveal()));
  return CtrState{info.name, std::move(ctx), std::move(mac), mac_info.encrypt_then_mac};
}

class AesCtrSealer final : public PacketSealer {
 public:
  explicit AesCtrSealer(CtrState state) : s_(std::move(state)) {}

  size_t block_bytes() const override { return kAesBlockBytes; }
  bool length_in_clear() const override { return s_.encrypt_then_mac; }
  size_t tag_bytes() const override { return s_.mac.tag_bytes(); }

  void seal(uint32_t seq, std::span<uint8_t> packet, std::span<uint8_t> tag) override {
    if (tag.size() < s_.mac.tag_bytes() || packet.size() < kLengthFieldBytes) {
      seal_failed(s_.name, "packet or tag too short");
    }
    if (s_.encrypt_then_mac) {
      if (!crypt_in_place(s_.ctx.get(), packet.subspan(kLengthFieldBytes))) seal_failed(s_.name, "encrypting");
      if (!s_.mac.compute(seq, packet, tag)) seal_failed(s_.name, "computing the MAC");
    } else {
      if (!s_.mac.compute(seq, packet, tag)) seal_failed(s_.name, "computing the MAC");
      if (!crypt_in_place(s_.ctx.get(), packet)) seal_failed(s_.name, "encrypting");
    }
  }

 private:
  CtrState s_;
};

class AesCtrOpener final : public PacketOpener {
 public:
  explicit AesCtrOpener(CtrState state) : s_(std::move(state)) {}
  ~AesCtrOpener() override { key::secure_wipe(head_keystream_.data(), head_keystream_.size()); }

  size_t block_bytes() const override { return kAesBlockBytes; }
  bool length_in_clear() const override { return s_.encrypt_then_mac; }
  size_t tag_bytes() const override { return s_.mac.tag_bytes(); }
  size_t head_bytes() const override { return s_.encrypt_then_mac ? kLengthFieldBytes : kAesBlockBytes; }

  key::Result<uint32_t> packet_length(uint32_t, std::span<const uint8_t> head) override {
    TESSERA_TRY(check_head(s_.name, head, head_bytes()));
    if (s_.encrypt_then_mac) return load_be32(head.data());
    // The first block's keystream is taken from the stream once and kept,
    // so that open() (or another call for the same packet) decrypts that
    // block with it and the stream stays in step with the sender's.
    if (!head_pending_) {
      head_keystream_.fill(0);
      if (!crypt_in_place(s_.ctx.get(), head_keystream_)) return crypto_error(std::string(s_.name) + ": decrypting");
      head_pending_ = true;
    }
    std::array<uint8_t, kLengthFieldBytes> length{};
    for (size_t i = 0; i < length.size(); ++i) length[i] = static_cast<uint8_t>(head[i] ^ head_keystream_[i]);
    return load_be32(length.data());
  }

  key::Status open(uint32_t seq, std::span<uint8_t> packet, std::span<const uint8_t> tag) override {
    TESSERA_TRY(check_packet_shape(s_.name, packet, tag, kAesBlockBytes, s_.encrypt_then_mac, s_.mac.tag_bytes()));
    if (s_.encrypt_then_mac) {
      TESSERA_TRY(s_.mac.verify(seq, packet, tag));
      if (!crypt_in_place(s_.ctx.get(), packet.subspan(kLengthFieldBytes))) {
        return crypto_error(std::string(s_.name) + ": decrypting");
      }
      return {};
    }
    std::span<uint8_t> rest = packet;
    if (head_pending_) {
      for (size_t i = 0; i < kAesBlockBytes; ++i) packet[i] ^= head_keystream_[i];
      key::secure_wipe(head_keystream_.data(), head_keystream_.size());
      head_pending_ = false;
      rest = packet.subspan(kAesBlockBytes);
    }
    if (!crypt_in_place(s_.ctx.get(), rest)) return crypto_error(std::string(s_.name) + ": decrypting");
    return s_.mac.verify(seq, packet, tag);
  }

 private:
  CtrState s_;
  // The keystream of the current packet's first block while packet_length()
  // has taken it from the stream and open() has not used it yet.
  std::array<uint8_t, kAesBlockBytes> head_keystream_{};
  bool head_pending_ = false;
};

}  // namespace

key::Result<std::unique_ptr<PacketSealer>> make_aes_ctr_sealer(const CipherInfo& info, const MacInfo& mac,
                                                                DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(CtrState state, make_state(info, mac, keys));
  return std::unique_ptr<PacketSealer>(std::make_unique<AesCtrSealer>(std::move(state)));
}

key::Result<std::unique_ptr<PacketOpener>> make_aes_ctr_opener(const CipherInfo& info, const MacInfo& mac,
                                                                DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(CtrState state, make_state(info, mac, keys));
  return std::unique_ptr<PacketOpener>(std::make_unique<AesCtrOpener>(std::move(state)));
}

}  // namespace tessera::ssh::transport::cipher_impl
