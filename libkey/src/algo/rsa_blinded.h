// Internal: RSA signatures for shielded keys, with the blinding pair kept
// from one signature to the next.
//
// A shielded key becomes a new OpenSSL key object for every signature, and
// OpenSSL sets up a fresh blinding pair for each new object: a random r, its
// inverse mod n and r^e mod n. For RSA-3072 that is about a quarter of the
// signature's cost. The pair is no key material (r is random, and both
// values are computed from the public n and e), so it may outlive the
// signature: here it is squared after each use and replaced every
// kRsaBlindingUses uses, as OpenSSL does with the pair of a long-lived key.
// Everything that touches the private key is still OpenSSL's: its
// constant-time CRT exponentiation and its check of the result against e.
#ifndef TESSERA_KEY_SRC_ALGO_RSA_BLINDED_H_
#define TESSERA_KEY_SRC_ALGO_RSA_BLINDED_H_

#include <span>

#include "tessera/key/key.h"
#include "tessera/key/ossl.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::key::algo {

// Uses of one blinding pair before a fresh one (OpenSSL's BN_BLINDING_COUNTER).
inline constexpr unsigned kRsaBlindingUses = 32;

// A = r^e and Ai = r^-1 mod n, both in Montgomery form. Empty: none yet.
struct RsaBlinding {
  ossl::BnPtr a, ai;
  unsigned uses = 0;

  // Fixed-size form (A, Ai, each padded to the modulus size, then uses as
  // uint32), for sealing beside the shielded key; `modulus_bytes` from the key.
  SecretBytes serialize(size_t modulus_bytes) const;
  // Empty (a fresh pair next time) when `data` does not have that form.
  static RsaBlinding parse(std::span<const uint8_t> data, size_t modulus_bytes);
};

// Signs with the private fields as write_private wrote them (n, e, d, iqmp,
// p, q; trusted: written by this process from a validated key), using and
// then advancing `blinding` (set up first when empty or used up; left empty
// when anything fails, so that no pair is used twice). The signature is
// checked against the public key before it is returned.
Result<Bytes> rsa_sign_blinded(Reader& private_fields, SignatureAlgorithm alg, std::span<const uint8_t> data,
                               RsaBlinding& blinding);

}  // namespace tessera::key::algo

#endif  // TESSERA_KEY_SRC_ALGO_RSA_BLINDED_H_
