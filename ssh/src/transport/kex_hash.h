// The exchange hash and the key derivation of RFC 4253 sections 7.2 and 8.
#ifndef TESSERA_SSH_TRANSPORT_KEX_HASH_H_
#define TESSERA_SSH_TRANSPORT_KEX_HASH_H_

#include <cstddef>
#include <span>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::transport {

// Feeds the hash function named digest (an OpenSSL name: "SHA256").
class KexHasher {
 public:
  explicit KexHasher(std::string_view digest) : digest_(digest) {}
  // Appends an SSH string (length-prefixed).
  void string(std::span<const uint8_t> bytes) { data_.string(bytes); }
  void string(std::string_view text) { data_.string(text); }
  // Appends bytes that are already encoded (public value fields, K, uint32s).
  void raw(std::span<const uint8_t> bytes) { data_.bytes(bytes); }
  void u32(uint32_t v) { data_.u32(v); }
  // The hash of everything appended.
  key::Result<key::Bytes> finish() const;

 private:
  std::string digest_;
  key::Writer data_;  // zeroizing: K goes in here
};

// RFC 4253 section 7.2: HASH(K || H || letter || session_id), extended with
// HASH(K || H || K1 || ...) until `length` bytes. k is K as encoded for the
// hash.
key::Result<key::SecretBytes> derive_key(std::string_view digest, std::span<const uint8_t> k,
                                         std::span<const uint8_t> exchange_hash, char letter,
                                         std::span<const uint8_t> session_id, size_t length);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_KEX_HASH_H_
