// Internal: the ciphers of openssh-key-v1 private key files (OpenSSH's
// cipher.c table, as `ssh-keygen -Z` accepts them), used as OpenSSH uses them
// for key files: one message, sequence number 0, no additional authenticated
// data. Not part of libkey's public API.
#ifndef TESSERA_KEY_SRC_CRYPTO_KEY_CIPHER_H_
#define TESSERA_KEY_SRC_CRYPTO_KEY_CIPHER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::key::crypto {

enum class KeyCipherMode : uint8_t {
  kNone,              // "none": no encryption
  kCbc,               // 3des-cbc, aes*-cbc (no padding: the caller pads to the block size)
  kCtr,               // aes*-ctr
  kGcm,               // aes*-gcm@openssh.com: 12-byte IV, 16-byte tag appended
  kChaCha20Poly1305,  // chacha20-poly1305@openssh.com: 64-byte key, 16-byte tag appended
};

struct KeyCipherInfo {
  std::string_view name;  // SSH name, e.g. "aes256-ctr"
  KeyCipherMode mode;
  size_t key_len;     // bytes of key material
  size_t iv_len;      // bytes of IV / nonce material that follow the key in the KDF output
  size_t block_size;  // plaintext is padded to a multiple of this
  size_t auth_len;    // bytes of authentication tag after the ciphertext (0 if none)
};

// Every cipher of the table, "none" last.
std::span<const KeyCipherInfo> key_ciphers();
// nullptr if name is not in the table.
const KeyCipherInfo* find_key_cipher(std::string_view name);

// Encrypts plaintext (a whole number of blocks) and returns ciphertext
// followed by the cipher's tag (auth_len bytes). key and iv must have exactly
// the cipher's lengths. Fails with kInvalidArgument for wrong lengths and
// kCrypto if OpenSSL fails.
Result<Bytes> key_cipher_encrypt(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                                 std::span<const uint8_t> iv, std::span<const uint8_t> plaintext);

// Decrypts ciphertext followed by its tag (auth_len bytes). An authentication
// tag that does not verify fails with kBadSignature (detail "authentication
// tag mismatch") and releases no plaintext; the openssh-key-v1 layer reports
// that as a wrong passphrase, as OpenSSH does. Wrong lengths are
// kInvalidArgument (caller bug) or kMalformed (input not a whole number of blocks).
Result<SecretBytes> key_cipher_decrypt(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                                       std::span<const uint8_t> iv,
                                       std::span<const uint8_t> ciphertext_and_tag);

}  // namespace tessera::key::crypto

#endif  // TESSERA_KEY_SRC_CRYPTO_KEY_CIPHER_H_
