// Streamlined NTRU Prime sntrup761, the KEM half of the key exchange
// sntrup761x25519-sha512@openssh.com (OpenSSH 9.2's default).
//
// Written from "NTRU Prime: round 3" (20201007): p = 761, q = 4591, w = 286,
// the Core (KeyGen/Encrypt/Decrypt), the radix encodings of R_q and of
// rounded polynomials, Hash_b(x) = SHA-512(b || x)[0:32], the confirm hash,
// implicit rejection with rho and the session key hash over the ciphertext.
// Keys and ciphertexts are byte-for-byte those of the supercop reference that
// OpenSSH ships (sntrup761.c), so a peer running OpenSSH derives the same key:
//   public key  (1158): Encode_Rq(h)
//   secret key  (1763): Small(f) || Small(1/g in R3) || public key || rho || Hash_4(public key)
//   ciphertext  (1039): Encode_Rounded(c) || Hash_2(Hash_3(Small(r)) || Hash_4(public key))
//   shared key    (32): Hash_b(Hash_3(Small(r)) || ciphertext), b = 1 (or 0 and rho for r when rejected)
//
// Everything that touches a secret (the key's f and 1/g, the encapsulated r,
// the decapsulation's re-encryption check) runs in time independent of it: no
// secret-dependent branch or table index. SHA-512 comes from OpenSSL.
//
// None of these functions fails on input: every ciphertext decapsulates (a bad
// one gives the implicit-rejection key, which the peer cannot predict) and
// every public key encapsulates. They abort only when the system's random
// generator or SHA-512 fails, which leaves nothing safe to do.
#ifndef TESSERA_SSH_TRANSPORT_SNTRUP761_H_
#define TESSERA_SSH_TRANSPORT_SNTRUP761_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "tessera/key/secret.h"

namespace tessera::ssh::transport {

inline constexpr size_t kSntrup761PublicKeyBytes = 1158;
inline constexpr size_t kSntrup761SecretKeyBytes = 1763;
inline constexpr size_t kSntrup761CiphertextBytes = 1039;
inline constexpr size_t kSntrup761SharedSecretBytes = 32;

// Where sntrup761 takes its random bytes. The default (a null pointer below)
// is OpenSSL's RAND_bytes. Tests pass a deterministic source.
//
// The requests follow the reference exactly, so that a source replaying the
// NIST known-answer DRBG reproduces the reference's known answers: one 4-byte
// request per coefficient of a random polynomial (761 for g, repeated while g
// is not invertible mod 3; 761 for f; 761 for each encapsulation's r) and one
// 191-byte request for rho.
class Sntrup761RandomSource {
 public:
  virtual ~Sntrup761RandomSource() = default;
  // Fills out with random bytes; must not fail.
  virtual void fill(std::span<uint8_t> out) = 0;
};

// Makes a key pair: writes the public key to pk and the secret key (resized to
// kSntrup761SecretKeyBytes) to sk. Takes about a millisecond.
void sntrup761_keypair(std::span<uint8_t, kSntrup761PublicKeyBytes> pk, key::SecretBytes& sk,
                       Sntrup761RandomSource* rng = nullptr);

// Encapsulates a fresh key to the peer's public key pk (any 1158 bytes are
// accepted, as the reference does): writes the ciphertext to ct and the
// shared key to shared.
void sntrup761_encapsulate(std::span<uint8_t, kSntrup761CiphertextBytes> ct,
                           std::span<uint8_t, kSntrup761SharedSecretBytes> shared,
                           std::span<const uint8_t, kSntrup761PublicKeyBytes> pk,
                           Sntrup761RandomSource* rng = nullptr);

// Decapsulates ct with the secret key sk (as sntrup761_keypair made it) into
// shared. A ciphertext that is not an honest encapsulation to sk's public key
// yields the implicit-rejection key Hash_0(Hash_3(rho) || ct) instead, in the
// same time, so a caller cannot tell and must not try.
void sntrup761_decapsulate(std::span<uint8_t, kSntrup761SharedSecretBytes> shared,
                           std::span<const uint8_t, kSntrup761CiphertextBytes> ct,
                           std::span<const uint8_t, kSntrup761SecretKeyBytes> sk);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_SNTRUP761_H_
