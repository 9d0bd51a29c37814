// Internal: the interface each SSH key algorithm implements (one file per
// algorithm in this folder), and the key material they share.
#ifndef TESSERA_KEY_SRC_ALGO_ALGORITHM_H_
#define TESSERA_KEY_SRC_ALGO_ALGORITHM_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/ossl.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::key {

namespace detail {
// Immutable once built; shared by copies of a PublicKey / PrivateKey.
struct KeyData {
  KeyType type;
  ossl::PkeyPtr pkey;        // public-only for PublicKey, with private parts for PrivateKey
  std::string application;  // security keys only
  std::optional<SecurityKeyCredential> credential;  // a security key's private form only
};
}  // namespace detail

namespace algo {

using detail::KeyData;

class Algorithm {
 public:
  virtual ~Algorithm() = default;

  // The public fields that follow the type name in a key blob.
  virtual Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo& info, Reader& in,
                                             std::string* application) const = 0;
  virtual void write_public(const KeyData& key, Writer& out) const = 0;

  // The private-key fields that follow the type name (PROTOCOL.key order).
  // The result is validated: it matches its own public fields.
  virtual Result<ossl::PkeyPtr> parse_private(const KeyTypeInfo& info, Reader& in) const;
  virtual void write_private(const KeyData& key, Writer& out) const;
  // As parse_private, for bytes this process wrote itself with write_private
  // from a validated key (unshielding): skips the costly validation (curve
  // point checks, pairwise checks, public key derivation). Never use it on
  // input from outside the process.
  virtual Result<ossl::PkeyPtr> parse_private_trusted(const KeyTypeInfo& info, Reader& in) const {
    return parse_private(info, in);
  }

  virtual Result<ossl::PkeyPtr> generate(const KeyTypeInfo& info, unsigned bits) const;

  // Returns the complete signature blob.
  virtual Result<Bytes> sign(const KeyData& key, SignatureAlgorithm alg,
                             std::span<const uint8_t> data) const;
  // `signature` is positioned after the algorithm name; the callee must
  // consume exactly its fields (the caller checks the end).
  virtual Status verify(const KeyData& key, std::string_view alg_name, Reader& signature,
                        std::span<const uint8_t> data) const = 0;

  virtual unsigned bits(const KeyData& key) const = 0;

  // Security keys: the signature field of the SSH signature blob (what
  // follows the algorithm name, before flags and counter) from an
  // authenticator's r and s. kUnsupported for other keys.
  virtual Result<Bytes> security_key_signature_body(std::span<const uint8_t> sig_r,
                                                    std::span<const uint8_t> sig_s) const;
};

const Algorithm& ed25519();
const Algorithm& ecdsa();
const Algorithm& rsa();
const Algorithm& sk_ed25519();
const Algorithm& sk_ecdsa();

// The algorithm implementing a key type.
const Algorithm& for_type(KeyType type);

// An RSA signature algorithm's SSH name, hash and DER DigestInfo prefix
// (rsa.cc); kDefault is ssh-rsa (SHA-1).
struct RsaScheme {
  SignatureAlgorithm alg;
  std::string_view name;
  const EVP_MD* (*md)();
  std::span<const uint8_t> digest_info;
};
Result<const RsaScheme*> rsa_scheme(SignatureAlgorithm alg);

// ---- helpers shared by algorithm files ----

// Ed25519 public key from 32 raw bytes.
Result<ossl::PkeyPtr> ed25519_public_from_raw(std::span<const uint8_t> raw);
// Raw 32-byte Ed25519 public key.
Bytes ed25519_raw_public(EVP_PKEY* pkey);
Status ed25519_verify_raw(EVP_PKEY* pkey, std::span<const uint8_t> sig, std::span<const uint8_t> msg);

// OpenSSL group name ("prime256v1") for an SSH curve identifier, or empty.
std::string_view ec_group_name(std::string_view ssh_curve);
// EC public key from an SSH curve identifier and an uncompressed point;
// validated (on the curve, not infinity, right order).
Result<ossl::PkeyPtr> ec_public_from_point(std::string_view ssh_curve, std::span<const uint8_t> point);
Bytes ec_public_point(EVP_PKEY* pkey);
// Verifies an SSH ECDSA signature body (mpint r, mpint s) read from `sig` over
// a message digested with `md`.
Status ecdsa_verify_rs(EVP_PKEY* pkey, const EVP_MD* md, Reader& sig, std::span<const uint8_t> msg);

// SHA-256 of data, as security-key signatures use it.
Bytes sha256(std::span<const uint8_t> data);
// PROTOCOL.u2f: what the authenticator signed: SHA256(application) || flags ||
// counter || SHA256(data).
Bytes sk_signed_message(std::string_view application, uint8_t flags, uint32_t counter,
                        std::span<const uint8_t> data);

// Wraps an already-encoded signature body as the SSH signature blob.
Bytes signature_blob(std::string_view alg_name, std::span<const uint8_t> body);

}  // namespace algo
}  // namespace tessera::key

#endif  // TESSERA_KEY_SRC_ALGO_ALGORITHM_H_
