// The simulated authenticator's cryptography (OpenSSL): credential keys
// (ES256, EdDSA) and their COSE encodings, and the two CTAP2 PIN/UV auth
// protocols. Test-only code: failures of OpenSSL here abort the test.
#ifndef TESSERA_TESTS_FIDO_SIM_SIM_CRYPTO_H_
#define TESSERA_TESTS_FIDO_SIM_SIM_CRYPTO_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "sim_cbor.h"
#include "tessera/key/ossl.h"

namespace tessera::fidosim {

inline constexpr int kCoseEs256 = -7;
inline constexpr int kCoseEdDsa = -8;
inline constexpr int kCoseEcdhEsHkdf256 = -25;

Bytes sha256(std::span<const uint8_t> data);
Bytes sha256(std::string_view text);
Bytes random_bytes(size_t n);
Bytes hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// A credential's key pair.
class CredentialKey {
 public:
  static CredentialKey generate(int cose_alg);
  int cose_alg() const { return alg_; }
  // The public key as a COSE_Key map.
  Bytes cose_public_key() const;
  // An ES256 (DER, over SHA-256 of msg) or EdDSA signature of msg.
  Bytes sign(std::span<const uint8_t> msg) const;
  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  int alg_ = 0;
  key::ossl::PkeyPtr key_;
};

// The authenticator's ECDH key for the PIN protocols (P-256).
class KeyAgreementKey {
 public:
  static KeyAgreementKey generate();
  Bytes cose_public_key() const;  // alg -25, as getKeyAgreement returns it
  // The x-coordinate of the shared point with the platform's key (COSE x, y),
  // or nothing if the platform's key is not a valid P-256 point.
  std::optional<Bytes> shared_point_x(std::span<const uint8_t> x, std::span<const uint8_t> y) const;

 private:
  key::ossl::PkeyPtr key_;
};

// CTAP2 pinUvAuthProtocol 1 or 2 (CTAP 2.1 section 6.5.6 / 6.5.7).
class PinProtocol {
 public:
  explicit PinProtocol(int version) : version_(version) {}
  int version() const { return version_; }
  Bytes kdf(std::span<const uint8_t> shared_x) const;
  Bytes encrypt(std::span<const uint8_t> key, std::span<const uint8_t> plaintext) const;
  std::optional<Bytes> decrypt(std::span<const uint8_t> key, std::span<const uint8_t> ciphertext) const;
  Bytes authenticate(std::span<const uint8_t> key, std::span<const uint8_t> message) const;
  bool verify(std::span<const uint8_t> key, std::span<const uint8_t> message,
              std::span<const uint8_t> signature) const;

 private:
  int version_;
};

}  // namespace tessera::fidosim

#endif  // TESSERA_TESTS_FIDO_SIM_SIM_CRYPTO_H_
