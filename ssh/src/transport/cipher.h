// Packet protection of one direction of an SSH connection: a cipher and a MAC,
// or an AEAD cipher that is both (RFC 4253 section 6, RFC 4344, RFC 5647 as
// OpenSSH does it, PROTOCOL.chacha20poly1305, the -etm@openssh.com MACs).
//
// The packet layer builds each binary packet in its own buffer
//   uint32 packet_length || byte padding_length || payload || padding
// and hands it to a PacketSealer, which encrypts it in place and writes the
// tag (MAC or AEAD tag) into a span of tag_bytes(). Incoming, a PacketOpener
// first reads the packet length from the first head_bytes() bytes, then,
// once the whole packet and its tag have arrived, checks the tag and decrypts
// the packet in place. Primitives come from OpenSSL only.
//
// A sealer or opener belongs to one direction and one key set; it is made at
// NEWKEYS and dropped at the next. Both are single-threaded.
#ifndef TESSERA_SSH_TRANSPORT_CIPHER_H_
#define TESSERA_SSH_TRANSPORT_CIPHER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::ssh::transport {

// A cipher as negotiated by name. For AEAD ciphers (chacha20-poly1305 and the
// GCM modes) the MAC is implicit: no MAC is negotiated for the direction.
struct CipherInfo {
  std::string_view name;   // "aes128-ctr"
  size_t key_bytes;        // encryption key length the key derivation must give
  size_t iv_bytes;         // IV length the key derivation must give (0: none)
  size_t block_bytes;      // the padding multiple (8 for stream ciphers)
  bool aead;               // the cipher authenticates; no separate MAC
  size_t aead_tag_bytes;   // tag length when aead, else 0
};

struct MacInfo {
  std::string_view name;   // "hmac-sha2-256-etm@openssh.com"
  size_t key_bytes;        // MAC key length the key derivation must give
  size_t tag_bytes;        // length of the MAC on the wire
  bool encrypt_then_mac;   // the MAC covers the ciphertext; packet_length is sent in clear
};

// The ciphers and MACs tessera speaks, in tessera's default preference order
// (OpenSSH 9.2's defaults, in its order). "none" is not among them.
std::span<const CipherInfo> supported_ciphers();
std::span<const MacInfo> supported_macs();
// nullptr when the name is not supported.
const CipherInfo* find_cipher(std::string_view name);
const MacInfo* find_mac(std::string_view name);

// The key material of one direction from the key derivation (RFC 4253
// section 7.2): IV, encryption key and integrity key, each exactly as long as
// the negotiated cipher and MAC ask.
struct DirectionKeys {
  key::SecretBytes iv;
  key::SecretBytes encryption_key;
  key::SecretBytes mac_key;  // empty for AEAD ciphers

  DirectionKeys clone() const { return {iv.clone(), encryption_key.clone(), mac_key.clone()}; }
};

class PacketSealer {
 public:
  virtual ~PacketSealer() = default;
  // The padding multiple: the packet (without the length field when
  // length_in_clear()) is padded to a multiple of this (at least 8).
  virtual size_t block_bytes() const = 0;
  // True when the length field stands outside what the cipher pads and
  // encrypts as one: it is sent in clear (GCM, -etm MACs) or, for
  // chacha20-poly1305, encrypted on its own under K_1. Then the padding
  // aligns what follows the length field, not the whole packet (OpenSSH's
  // "aadlen"; it refuses chacha20-poly1305 packets padded otherwise). Says
  // nothing about reading the length: that is always packet_length().
  virtual bool length_in_clear() const = 0;
  virtual size_t tag_bytes() const = 0;
  // Encrypts packet (4 + packet_length bytes, already padded) in place and
  // writes tag_bytes() bytes of tag. seq is the packet's sequence number.
  // The packet layer guarantees the length and alignment; this does not fail.
  virtual void seal(uint32_t seq, std::span<uint8_t> packet, std::span<uint8_t> tag) = 0;
};

class PacketOpener {
 public:
  virtual ~PacketOpener() = default;
  virtual size_t block_bytes() const = 0;
  virtual bool length_in_clear() const = 0;
  virtual size_t tag_bytes() const = 0;
  // Bytes of the packet needed to learn its length: 4, or the first cipher
  // block when the length is encrypted with the rest (CTR with a plain MAC).
  virtual size_t head_bytes() const = 0;
  // Reads packet_length from the first head_bytes() bytes as received. May
  // keep what it decrypted for open(); the packet layer calls open() next
  // for the same packet. Does not check the length's bounds.
  virtual key::Result<uint32_t> packet_length(uint32_t seq, std::span<const uint8_t> head) = 0;
  // packet: the 4 + packet_length bytes as received; tag: the tag_bytes()
  // that followed. Checks the tag (in constant time) and decrypts packet in
  // place. Fails with kBadSignature when the tag does not match, leaving
  // packet undefined; the connection must then be dropped. Fails with
  // kMalformed when packet is not padded as block_bytes() and
  // length_in_clear() require, kInvalidArgument when tag is not tag_bytes().
  virtual key::Status open(uint32_t seq, std::span<uint8_t> packet, std::span<const uint8_t> tag) = 0;
};

// The sealer and opener for a negotiated pair. mac is nullptr exactly when
// cipher.aead. Fails (kInvalidArgument) when a key or IV has the wrong length.
key::Result<std::unique_ptr<PacketSealer>> make_sealer(const CipherInfo& cipher, const MacInfo* mac,
                                                       DirectionKeys keys);
key::Result<std::unique_ptr<PacketOpener>> make_opener(const CipherInfo& cipher, const MacInfo* mac,
                                                       DirectionKeys keys);

// The keys that make a new sealer or opener go on where one made from `keys`
// stands after `packets` packets and `blocks` cipher blocks (as the packet
// layer counts them): the AES-CTR counter and the AES-GCM invocation counter
// move on; chacha20-poly1305 and the MACs keep no position of their own (the
// sequence number is it). For handing a connection to another process.
key::Result<DirectionKeys> advance_keys(const CipherInfo& cipher, DirectionKeys keys, uint64_t packets,
                                        uint64_t blocks);

// No encryption and no MAC: the state of a connection before its first NEWKEYS.
std::unique_ptr<PacketSealer> make_clear_sealer();
std::unique_ptr<PacketOpener> make_clear_opener();

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_CIPHER_H_
