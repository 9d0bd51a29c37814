// Internal to the packet protection files (cipher*.cc, mac_hmac.cc): OpenSSL
// handle owners, byte-order helpers, the checks every opener makes, and the
// factories that cipher.cc's make_sealer/make_opener dispatch to. The
// factories are called only after cipher.cc has checked the names and the
// key, IV and MAC key lengths against its tables.
#ifndef TESSERA_SSH_SRC_TRANSPORT_CIPHER_IMPL_H_
#define TESSERA_SSH_SRC_TRANSPORT_CIPHER_IMPL_H_

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/ossl.h"
#include "transport/cipher.h"

namespace tessera::ssh::transport::cipher_impl {

using key::ossl::CipherCtxPtr;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, key::ossl::Deleter<EVP_MAC_CTX_free>>;
// Error(kCrypto) naming what failed, with OpenSSL's first queued reason;
// clears the queue.
using key::ossl::crypto_error;

// The largest packet (length field included) a sealer or opener takes. Far
// above what any packet layer accepts (OpenSSH's limit is 256 KiB); it keeps
// the int lengths OpenSSL counts in from overflowing.
constexpr size_t kMaxPacketBytes = size_t{1} << 24;

// The length field that starts every packet.
constexpr size_t kLengthFieldBytes = 4;

inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
inline void store_be64(uint8_t* p, uint64_t v) {
  store_be32(p, static_cast<uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<uint32_t>(v));
}

// A sealer cannot fail on what the packet layer guarantees; when OpenSSL
// fails anyway (out of memory, a packet beyond kMaxPacketBytes) the invariant
// is broken and sending on would leak or desynchronise: this says what
// failed on stderr and aborts.
[[noreturn]] void seal_failed(std::string_view cipher, std::string_view what);

// Runs ctx (a stream mode: CTR or ChaCha20) over data in place. False when
// OpenSSL fails.
[[nodiscard]] bool crypt_in_place(EVP_CIPHER_CTX* ctx, std::span<uint8_t> data);

// What every opener checks before touching a packet: the tag has
// tag_bytes; the packet is at most kMaxPacketBytes, holds the length field,
// and is a whole number of blocks (the part after the length field when
// length_in_clear). kMalformed for a packet a peer could have sent,
// kInvalidArgument for a tag of the wrong size (a packet layer mistake).
key::Status check_packet_shape(std::string_view cipher, std::span<const uint8_t> packet,
                               std::span<const uint8_t> tag, size_t block_bytes, bool length_in_clear,
                               size_t tag_bytes);

// kTruncated unless head holds at least head_bytes.
key::Status check_head(std::string_view cipher, std::span<const uint8_t> head, size_t head_bytes);

// HMAC over uint32 seq || packet with one key for the life of the object
// (hmac-sha2-256 and -512, plain or -etm@openssh.com: the caller decides
// whether packet is the plaintext or the ciphertext).
class Hmac {
 public:
  // kInvalidArgument when the key is not mac.key_bytes long; kCrypto when
  // OpenSSL lacks the digest.
  static key::Result<Hmac> make(const MacInfo& mac, std::span<const uint8_t> key);

  size_t tag_bytes() const { return tag_bytes_; }
  // Writes tag_bytes() bytes of MAC into out (at least that long). False
  // when OpenSSL fails.
  [[nodiscard]] bool compute(uint32_t seq, std::span<const uint8_t> packet, std::span<uint8_t> out);
  // Computes the MAC and compares it with tag in constant time: kBadSignature
  // when they differ.
  key::Status verify(uint32_t seq, std::span<const uint8_t> packet, std::span<const uint8_t> tag);

 private:
  Hmac(MacCtxPtr ctx, size_t tag_bytes, std::string_view name)
      : ctx_(std::move(ctx)), tag_bytes_(tag_bytes), name_(name) {}
  MacCtxPtr ctx_;
  size_t tag_bytes_;
  std::string_view name_;  // from the static MAC table
};

// The algorithm files' factories. info and mac are entries of cipher.cc's
// tables; keys have the lengths those entries give.
key::Result<std::unique_ptr<PacketSealer>> make_chacha20_poly1305_sealer(const CipherInfo& info, DirectionKeys keys);
key::Result<std::unique_ptr<PacketOpener>> make_chacha20_poly1305_opener(const CipherInfo& info, DirectionKeys keys);
key::Result<std::unique_ptr<PacketSealer>> make_aes_gcm_sealer(const CipherInfo& info, DirectionKeys keys);
key::Result<std::unique_ptr<PacketOpener>> make_aes_gcm_opener(const CipherInfo& info, DirectionKeys keys);
key::Result<std::unique_ptr<PacketSealer>> make_aes_ctr_sealer(const CipherInfo& info, const MacInfo& mac,
                                                                DirectionKeys keys);
key::Result<std::unique_ptr<PacketOpener>> make_aes_ctr_opener(const CipherInfo& info, const MacInfo& mac,
                                                                DirectionKeys keys);

}  // namespace tessera::ssh::transport::cipher_impl

#endif  // TESSERA_SSH_SRC_TRANSPORT_CIPHER_IMPL_H_
