// aes128-gcm@openssh.com and aes256-gcm@openssh.com (RFC 5647 as OpenSSH
// does it): the length field is sent in clear as the additional
// authenticated data, the rest of the packet is encrypted, and a 16-byte tag
// follows. The 12-byte nonce is the IV from the key derivation, a 4-byte
// fixed field and an 8-byte invocation counter that goes up by one (as a
// 64-bit big-endian integer) after every packet.
//
// One OpenSSL context per direction, keyed once; each packet only sets the
// nonce, so a packet costs no allocation and no key schedule.
#include <openssl/evp.h>

#include <array>
#include <string>

#include "tessera/key/secret.h"
#include "transport/cipher_impl.h"

namespace tessera::ssh::transport::cipher_impl {
namespace {

using key::Errc;
using key::Error;

constexpr size_t kGcmBlockBytes = 16;
constexpr size_t kGcmTagBytes = 16;
constexpr size_t kGcmNonceBytes = 12;
// Where the invocation counter starts in the nonce (after the fixed field).
constexpr size_t kInvocationCounterOffset = 4;

const EVP_CIPHER* aes_gcm(size_t key_bytes) {
  // Fetched once for the process and never freed.
  static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  switch (key_bytes) {
    case 16: return aes128;
    case 32: return aes256;
    default: return nullptr;
  }
}

// The keyed context and the nonce of the next packet.
class GcmState {
 public:
  GcmState(std::string_view name, CipherCtxPtr ctx, std::span<const uint8_t, kGcmNonceBytes> nonce)
      : name_(name), ctx_(std::move(ctx)) {
    std::copy(nonce.begin(), nonce.end(), nonce_.begin());
  }
  GcmState(GcmState&&) noexcept = default;
  ~GcmState() { key::secure_wipe(nonce_.data(), nonce_.size()); }

  std::string_view name() const { return name_; }
  EVP_CIPHER_CTX* ctx() { return ctx_.get(); }

  // Starts a packet under the current nonce and feeds the length field as
  // additional data. False when OpenSSL fails.
  [[nodiscard]] bool begin(int encrypt, std::span<const uint8_t> length_field) {
    int out_len = 0;
    return EVP_CipherInit_ex2(ctx_.get(), nullptr, nullptr, nonce_.data(), encrypt, nullptr) == 1 &&
           EVP_CipherUpdate(ctx_.get(), nullptr, &out_len, length_field.data(),
                            static_cast<int>(length_field.size())) == 1;
  }

  // RFC 5647 section 7.1: the invocation counter wraps around modulo 2^64.
  void advance() {
    for (size_t i = nonce_.size(); i-- > kInvocationCounterOffset;) {
      if (++nonce_[i] != 0) break;
    }
  }

 private:
  std::string_view name_;  // from the static table
  CipherCtxPtr ctx_;
  std::array<uint8_t, kGcmNonceBytes> nonce_{};
};

key::Result<GcmState> make_state(const CipherInfo& info, DirectionKeys& keys, int encrypt) {
  const std::string name(info.name);
  const EVP_CIPHER* cipher = aes_gcm(keys.encryption_key.size());
  if (cipher == nullptr) return crypto_error(name + ": OpenSSL has no AES-GCM for this key size");
  if (keys.iv.size() != kGcmNonceBytes) return Error(Errc::kInvalidArgument, name + " needs a 12-byte IV");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return crypto_error(name + ": EVP_CIPHER_CTX_new failed");
  // The key is set here once; each packet sets only its nonce (12 bytes,
  // OpenSSL's default GCM IV length).
  if (EVP_CipherInit_ex2(ctx.get(), cipher, keys.encryption_key.reveal().data(), nullptr, encrypt, nullptr) != 1 ||
      EVP_CIPHER_CTX_get_iv_length(ctx.get()) != static_cast<int>(kGcmNonceBytes)) {
    return crypto_error(name + ": setting the key failed");
  }
  return GcmState(info.name, std::move(ctx), keys.iv.reveal().first<kGcmNonceBytes>());
}

class AesGcmSealer final : public PacketSealer {
 public:
  explicit AesGcmSealer(GcmState state) : s_(std::move(state)) {}

  size_t block_bytes() const override { return kGcmBlockBytes; }
  bool length_in_clear() const override { return true; }
  size_t tag_bytes() const override { return kGcmTagBytes; }

  void seal(uint32_t, std::span<uint8_t> packet, std::span<uint8_t> tag) override {
    if (tag.size() < kGcmTagBytes || packet.size() < kLengthFieldBytes) {
      seal_failed(s_.name(), "packet or tag too short");
    }
    std::array<uint8_t, kGcmBlockBytes> final_block{};  // GCM writes nothing at the end
    int final_len = 0;
    if (!s_.begin(1, packet.first(kLengthFieldBytes)) || !crypt_in_place(s_.ctx(), packet.subspan(kLengthFieldBytes)) ||
        EVP_CipherFinal_ex(s_.ctx(), final_block.data(), &final_len) != 1 || final_len != 0 ||
        EVP_CIPHER_CTX_ctrl(s_.ctx(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kGcmTagBytes), tag.data()) != 1) {
      seal_failed(s_.name(), "encrypting");
    }
    s_.advance();
  }

 private:
  GcmState s_;
};

class AesGcmOpener final : public PacketOpener {
 public:
  explicit AesGcmOpener(GcmState state) : s_(std::move(state)) {}

  size_t block_bytes() const override { return kGcmBlockBytes; }
  bool length_in_clear() const override { return true; }
  size_t tag_bytes() const override { return kGcmTagBytes; }
  size_t head_bytes() const override { return kLengthFieldBytes; }

  key::Result<uint32_t> packet_length(uint32_t, std::span<const uint8_t> head) override {
    TESSERA_TRY(check_head(s_.name(), head, kLengthFieldBytes));
    return load_be32(head.data());
  }

  key::Status open(uint32_t, std::span<uint8_t> packet, std::span<const uint8_t> tag) override {
    TESSERA_TRY(check_packet_shape(s_.name(), packet, tag, kGcmBlockBytes, true, kGcmTagBytes));
    // OpenSSL wants the expected tag in a writable buffer.
    std::array<uint8_t, kGcmTagBytes> expected{};
    std::copy(tag.begin(), tag.end(), expected.begin());
    const bool started = s_.begin(0, packet.first(kLengthFieldBytes)) &&
                         crypt_in_place(s_.ctx(), packet.subspan(kLengthFieldBytes)) &&
                         EVP_CIPHER_CTX_ctrl(s_.ctx(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(expected.size()),
                                             expected.data()) == 1;
    // Whatever happens, this nonce is used up.
    s_.advance();
    if (!started) return crypto_error(std::string(s_.name()) + ": decrypting");
    std::array<uint8_t, kGcmBlockBytes> final_block{};  // GCM writes nothing at the end
    int final_len = 0;
    // The tag is compared in constant time inside OpenSSL.
    if (EVP_CipherFinal_ex(s_.ctx(), final_block.data(), &final_len) != 1) {
      key::ossl::clear_errors();
      return Error(Errc::kBadSignature,
                   std::string(s_.name()) + ": the packet's authentication tag does not match (corrupted or forged)");
    }
    return {};
  }

 private:
  GcmState s_;
};

}  // namespace

key::Result<std::unique_ptr<PacketSealer>> make_aes_gcm_sealer(const CipherInfo& info, DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(GcmState state, make_state(info, keys, 1));
  return std::unique_ptr<PacketSealer>(std::make_unique<AesGcmSealer>(std::move(state)));
}

key::Result<std::unique_ptr<PacketOpener>> make_aes_gcm_opener(const CipherInfo& info, DirectionKeys keys) {
  TESSERA_ASSIGN_OR_RETURN(GcmState state, make_state(info, keys, 0));
  return std::unique_ptr<PacketOpener>(std::make_unique<AesGcmOpener>(std::move(state)));
}

}  // namespace tessera::ssh::transport::cipher_impl
