// Internal: bcrypt_pbkdf, the key derivation function of OpenSSH's
// openssh-key-v1 files, exactly as OpenBSD's libutil defines it (a PBKDF2
// variant whose pseudo-random function is a bcrypt hash over SHA-512 digests,
// with the output bytes spread across blocks). Not part of libkey's public API.
#ifndef TESSERA_KEY_SRC_CRYPTO_BCRYPT_PBKDF_H_
#define TESSERA_KEY_SRC_CRYPTO_BCRYPT_PBKDF_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/key/error.h"

namespace tessera::key::crypto {

// Limits of OpenBSD's bcrypt_pbkdf: output at most 32 blocks of 32 bytes,
// salt at most 1 MiB.
inline constexpr size_t kBcryptPbkdfMaxOutputBytes = 32 * 32;
inline constexpr size_t kBcryptPbkdfMaxSaltBytes = size_t{1} << 20;

// Derives out.size() bytes from pass and salt with the given number of rounds.
// Fails with kInvalidArgument (and leaves out zeroed) when rounds is 0, pass,
// salt or out is empty, or a length exceeds the limits above, as OpenBSD's
// function returns -1 for these. Intermediate state is wiped before return.
// The cost is linear in rounds and in ceil(out.size() / 32).
Status bcrypt_pbkdf(std::span<const uint8_t> pass, std::span<const uint8_t> salt, uint32_t rounds,
                    std::span<uint8_t> out);

}  // namespace tessera::key::crypto

#endif  // TESSERA_KEY_SRC_CRYPTO_BCRYPT_PBKDF_H_
