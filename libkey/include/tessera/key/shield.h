// ShieldedKey: a private key kept encrypted in memory between uses, as
// OpenSSH's agent does against speculative-execution and memory side
// channels. The key is encrypted under a key derived from a large random
// "prekey", so an attacker must read all of the prekey without error to
// recover it.
//
// Differences from OpenSSH (sshkey_shield_private), chosen for speed without
// weakening the scheme: the prekey is hashed with SHA-256 (hardware-
// accelerated here: about 8 us for 16 KiB) instead of SHA-512 (about 20 us),
// and unshielding rebuilds the OpenSSL key from its stored fields without
// re-running the validation that was done once when the key was shielded.
// RSA keys also keep their blinding pair from one signature to the next,
// sealed like the key (algo/rsa_blinded.h): setting one up is a quarter of a
// 3072-bit signature, and it holds nothing of the private key.
#ifndef TESSERA_KEY_SHIELD_H_
#define TESSERA_KEY_SHIELD_H_

#include <memory>
#include <span>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

namespace tessera::key {

// Size of the random prekey each shielded key gets (as OpenSSH's SSHKEY_SHIELD_PREKEY_LEN).
inline constexpr size_t kShieldPrekeyBytes = 16 * 1024;

class ShieldedKey {
 public:
  // Encrypts the key's private fields under a fresh prekey. The PrivateKey
  // passed in is not changed; drop it afterwards so that only the shielded
  // form remains.
  static Result<ShieldedKey> shield(const PrivateKey& key);

  const PublicKey& public_key() const { return public_; }
  KeyType type() const { return public_.type(); }

  // Unshields into a transient key, signs, and wipes. Safe to call from
  // several threads at once.
  Result<Bytes> sign(std::span<const uint8_t> data, SignatureAlgorithm alg = SignatureAlgorithm::kDefault) const;

  // A usable PrivateKey again (for export, e.g. tests); the caller owns the clear copy.
  Result<PrivateKey> unshield() const;

 private:
  struct Sealed;
  ShieldedKey(PublicKey pub, std::shared_ptr<const Sealed> sealed) : public_(std::move(pub)), sealed_(std::move(sealed)) {}
  PublicKey public_;
  std::shared_ptr<const Sealed> sealed_;
};

}  // namespace tessera::key

#endif  // TESSERA_KEY_SHIELD_H_
