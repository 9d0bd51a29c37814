// chacha20-poly1305@openssh.com (OpenSSH's PROTOCOL.chacha20poly1305):
//   The 64-byte key is K_2 (first 32 bytes: the packet and the Poly1305 key)
//   then K_1 (last 32 bytes: the length field only). Both ChaCha20 instances
//   take the sequence number as a 64-bit big-endian nonce. The Poly1305 key is
//   the first 32 bytes of K_2's block 0; the packet after the length field is
//   encrypted with K_2 from block 1, the length field with K_1 from block 0;
//   the tag is Poly1305 over the encrypted length and the rest of the
//   ciphertext, and it is checked before anything but the length is decrypted.
//   Though encrypted, the length field is outside the padded part, as with
//   GCM (length_in_clear() is true; OpenSSH pads and checks it that way).
//
// OpenSSL's "ChaCha20" takes a 16-byte IV that fills state words 12-15: a
// 4-byte little-endian counter and a 12-byte nonce (RFC 8439). It carries the
// counter from word 12 into word 13, so the same IV read as an 8-byte
// little-endian counter and an 8-byte nonce is djb's original 64-bit-nonce
// ChaCha20, which OpenSSH uses: IV = LE64(block counter) || BE64(seq).
#include <openssl/core_names.h>
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

constexpr std::string_view kName = "chacha20-poly1305@openssh.com";
constexpr size_t kBlockBytes = 8;
constexpr size_t kTagBytes = 16;
constexpr size_t kHalfKeyBytes = 32;
constexpr size_t kChaChaBlockBytes = 64;
constexpr size_t kPolyKeyBytes = 32;
constexpr size_t kChaChaIvBytes = 16;
constexpr size_t kNonceOffset = 8;  // the nonce half of OpenSSL's IV

const EVP_CIPHER* chacha20() {
  // Fetched once for the process and never freed.
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  return cipher;
}

EVP_MAC* poly1305() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_POLY1305, nullptr);
  return mac;
}

// OpenSSL's IV for block counter 0 under the packet's sequence number.
std::array<uint8_t, kChaChaIvBytes> iv_for(uint32_t seq) {
  std::array<uint8_t, kChaChaIvBytes> iv{};
  store_be64(iv.data() + kNonceOffset, seq);
  return iv;
}

// The two keyed ChaCha20 instances and the Poly1305 context of a direction.
class ChaChaPoly {
 public:
  static key::Result<ChaChaPoly> make(DirectionKeys& keys) {
    const std::string name(kName);
    if (chacha20() == nullptr || poly1305() == nullptr) {
      return crypto_error(name + ": OpenSSL lacks ChaCha20 or Poly1305");
    }
    if (keys.encryption_key.size() != 2 * kHalfKeyBytes) {
      return Error(Errc::kInvalidArgument, name + " needs a 64-byte key");
    }
    const std::span<const uint8_t> key = keys.encryption_key.reveal();
    const std::array<uint8_t, kChaChaIvBytes> zero_iv{};
    CipherCtxPtr main(EVP_CIPHER_CTX_new());
    CipherCtxPtr length(EVP_CIPHER_CTX_new());
    MacCtxPtr mac(EVP_MAC_CTX_new(poly1305()));
    if (!main || !length || !mac) return crypto_error(name + ": allocating OpenSSL contexts failed");
    if (EVP_CipherInit_ex2(main.get(), chacha20(), key.data(), zero_iv.data(), 1, nullptr) != 1 ||
        EVP_CipherInit_ex2(length.get(), chacha20(), key.data() + kHalfKeyBytes, zero_iv.data(), 1, nullptr) != 1) {
      return crypto_error(name + ": setting the keys failed");
    }
    return ChaChaPoly(std::move(main), std::move(length), std::move(mac));
  }

  // Encrypts or decrypts the length field (ChaCha20 is its own inverse).
  [[nodiscard]] bool crypt_length(uint32_t seq, std::span<uint8_t, kLengthFieldBytes> field) {
    const auto iv = iv_for(seq);
    return EVP_CipherInit_ex2(length_.get(), nullptr, nullptr, iv.data(), 1, nullptr) == 1 &&
           crypt_in_place(length_.get(), field);
  }

  // Sets K_2's stream to the packet's nonce, keeps block 0's keystream for
  // tag(), and leaves the stream at block 1, ready for the payload.
  [[nodiscard]] bool start_packet(uint32_t seq) {
    const auto iv = iv_for(seq);
    // Block 0 as keystream (zeros in); its first 32 bytes key Poly1305, and
    // using up all 64 leaves the stream at block 1.
    block0_.fill(0);
    return EVP_CipherInit_ex2(main_.get(), nullptr, nullptr, iv.data(), 1, nullptr) == 1 &&
           crypt_in_place(main_.get(), block0_);
  }

  // Poly1305 under the key start_packet() kept, over the whole encrypted
  // packet; forgets that key.
  [[nodiscard]] bool tag(std::span<const uint8_t> ciphertext, std::span<uint8_t, kTagBytes> out) {
    size_t written = 0;
    const bool ok = EVP_MAC_init(mac_.get(), block0_.data(), kPolyKeyBytes, nullptr) == 1 &&
                    EVP_MAC_update(mac_.get(), ciphertext.data(), ciphertext.size()) == 1 &&
                    EVP_MAC_final(mac_.get(), out.data(), &written, out.size()) == 1 && written == kTagBytes;
    key::secure_wipe(block0_.data(), block0_.size());
    return ok;
  }

  EVP_CIPHER_CTX* main() { return main_.get(); }

  ChaChaPoly(ChaChaPoly&&) noexcept = default;
  ~ChaChaPoly() { key::secure_wipe(block0_.data(), block0_.size()); }

 private:
  ChaChaPoly(CipherCtxPtr main, CipherCtxPtr length, MacCtxPtr mac)
      : main_(std::move(main)), length_(std::move(length)), mac_(std::move(mac)) {}

  CipherCtxPtr main_;    // K_2
  CipherCtxPtr length_;  // K_1
  MacCtxPtr mac_;
  std::array<uint8_t, kChaChaBlockBytes> block0_{};
};

class ChaChaPolySealer final : public PacketSealer {
 public:
  explicit ChaChaPolySealer(ChaChaPoly state) : s_(std::move(state)) {}

  size_t block_bytes() const override { return kBlockBytes; }
  bool length_in_clear() const override { return true; }
  size_t tag_bytes() const override { return kTagBytes; }

  void seal(uint32_t seq, std::span<uint8_t> packet, std::span<uint8_t> tag) override {
    if (tag.size() < kTagBytes || packet.size() < kLengthFieldBytes) seal_failed(kName, "packet or tag too short");
    if (!s_.crypt_length(seq, packet.first<kLengthFieldBytes>()) || !s_.start_packet(seq) ||
        !crypt_in_place(s_.main(), packet.subspan(kLengthFieldBytes)) ||
        !s_.tag(packet, tag.first<kTagBytes>())) {
      seal_failed(kName, "encrypting");
    }
  }

 private:
  ChaChaPoly s_;
};

class ChaChaPolyOpener final : public PacketOpener {
 public:
  explicit ChaChaPolyOpener(ChaChaPoly state) : s_(std::move(state)) {}

  size_t block_bytes() const override { return kBlockBytes; }
  bool length_in_clear() const override { return true; }
  size_t tag_bytes() const override { return kTagBytes; }
  size_t head_bytes() const override { return kLengthFieldBytes; }

  key::Result<uint32_t> packet_length(uint32_t seq, std::span<const uint8_t> head) override {
    TESSERA_TRY(check_head(kName, head, kLengthFieldBytes));
    std::array<uint8_t, kLengthFieldBytes> field{};
    std::copy(head.begin(), head.begin() + kLengthFieldBytes, field.begin());
    if (!s_.crypt_length(seq, field)) return crypto_error(std::string(kName) + ": decrypting the length");
    return load_be32(field.data());
  }

  key::Status open(uint32_t seq, std::span<uint8_t> packet, std::span<const uint8_t> tag) override {
    TESSERA_TRY(check_packet_shape(kName, packet, tag, kBlockBytes, true, kTagBytes));
    std::array<uint8_t, kTagBytes> expected{};
    if (!s_.start_packet(seq) || !s_.tag(packet, expected)) {
      return crypto_error(std::string(kName) + ": computing the tag");
    }
    if (CRYPTO_memcmp(expected.data(), tag.data(), kTagBytes) != 0) {
      return Error(Errc::kBadSignature,
                   std::string(kName) + ": the packet's authentication tag does not match (corrupted or forged)");
    }
    if (!s_.crypt_length(seq, packet.first<kLengthFieldBytes>()) ||
        !crypt_in_place(s_.main(), packet.subspan(kLengthFieldBytes))) {
      return crypto_error(std::string(kName) + ": decrypting");
    }
    return {};
  }

 private:
  ChaChaPoly s_;
};

}  // namespace

key::Result<std::unique_ptr<PacketSealer>> make_chacha20_poly1305_sealer(const CipherInfo&, DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(ChaChaPoly state, ChaChaPoly::make(keys));
  return std::unique_ptr<PacketSealer>(std::make_unique<ChaChaPolySealer>(std::move(state)));
}

key::Result<std::unique_ptr<PacketOpener>> make_chacha20_poly1305_opener(const CipherInfo&, DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(ChaChaPoly state, ChaChaPoly::make(keys));
  return std::unique_ptr<PacketOpener>(std::make_unique<ChaChaPolyOpener>(std::move(state)));
}

}  // namespace tessera::ssh::transport::cipher_impl
