// SSH key types: the table of algorithms tessera knows, and the PublicKey /
// PrivateKey values built only by validating factories.
//
// A PublicKey or PrivateKey is valid by construction: EC points are on their
// curve, RSA keys have at least kMinRsaReadBits, a private key matches its
// public half. Both are cheap to copy (they share an immutable OpenSSL key).
#ifndef TESSERA_KEY_KEY_H_
#define TESSERA_KEY_KEY_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace tessera::key {

enum class KeyType : uint8_t {
  kEd25519,
  kEcdsaP256,
  kEcdsaP384,
  kEcdsaP521,
  kRsa,
  kSkEd25519,     // sk-ssh-ed25519@openssh.com (public keys and verification only)
  kSkEcdsaP256,   // sk-ecdsa-sha2-nistp256@openssh.com (public keys and verification only)
};

// Smallest RSA modulus tessera reads, and smallest/default it generates.
inline constexpr unsigned kMinRsaReadBits = 1024;
inline constexpr unsigned kMinRsaGenerateBits = 2048;
inline constexpr unsigned kDefaultRsaBits = 3072;
// Largest RSA modulus tessera accepts (as OpenSSH's SSHBUF_MAX_BIGNUM).
inline constexpr unsigned kMaxRsaBits = 16384;

struct KeyTypeInfo {
  KeyType type;
  std::string_view ssh_name;      // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", ...
  std::string_view display_name;  // as ssh-keygen -l prints it: "ED25519", "ECDSA", "RSA", "ED25519-SK", "ECDSA-SK"
  std::string_view file_stem;     // default file name: "ed25519" -> id_ed25519
  std::string_view curve;         // SSH curve identifier ("nistp256") for ECDSA types, else empty
  bool security_key;              // FIDO/U2F key (sk-*)
};

// Every type tessera knows, in a stable order.
std::span<const KeyTypeInfo> all_key_types();
const KeyTypeInfo& key_type_info(KeyType type);
// nullptr if the name is not a key type tessera handles.
const KeyTypeInfo* find_key_type(std::string_view ssh_name);

// Signature algorithms that an RSA key can sign with. Other keys have one algorithm each.
enum class SignatureAlgorithm : uint8_t {
  kDefault,    // the key type's own algorithm; for RSA this is ssh-rsa (SHA-1), as the agent protocol defines
  kRsaSha1,    // "ssh-rsa"
  kRsaSha256,  // "rsa-sha2-256"
  kRsaSha512,  // "rsa-sha2-512"
};

namespace detail {
struct KeyData;  // shared, immutable key material (an EVP_PKEY plus SSH-level fields)
}

class PublicKey {
 public:
  // Parses a public key blob (string type name, then the type's fields) from
  // the reader. Does not require the reader to end afterwards.
  static Result<PublicKey> parse(Reader& in);
  // Parses a complete public key blob; trailing bytes are an error.
  static Result<PublicKey> from_blob(std::span<const uint8_t> blob);
  // Wraps an OpenSSL public (or private) key: Ed25519, EC P-256/384/521 or RSA.
  // Takes a reference of its own; the caller keeps theirs.
  static Result<PublicKey> from_evp(EVP_PKEY* pkey);
  // Builds a security-key public key from its underlying key and application string.
  static Result<PublicKey> make_security_key(KeyType type, EVP_PKEY* pkey, std::string_view application);

  void serialize(Writer& out) const;
  Bytes blob() const;

  KeyType type() const;
  const KeyTypeInfo& info() const { return key_type_info(type()); }
  std::string_view ssh_name() const { return info().ssh_name; }
  // Key size in bits as ssh-keygen reports it (256 for ed25519, the modulus size for RSA).
  unsigned bits() const;
  // The security key's application string ("ssh:"); empty for other types.
  const std::string& sk_application() const;

  // Verifies a complete SSH signature blob (string algorithm, string signature
  // [, flags, counter for sk keys]) over data. For RSA the blob's algorithm
  // decides the hash; an algorithm that does not belong to this key fails.
  Status verify(std::span<const uint8_t> signature_blob, std::span<const uint8_t> data) const;

  // The underlying OpenSSL key, owned by this object (for export to PEM/PKCS#8).
  EVP_PKEY* evp() const;

  bool operator==(const PublicKey& other) const;

 private:
  friend class PrivateKey;
  explicit PublicKey(std::shared_ptr<const detail::KeyData> data) : data_(std::move(data)) {}
  std::shared_ptr<const detail::KeyData> data_;
};

class PrivateKey {
 public:
  // Generates a key. bits: 0 for the type's default; for RSA 2048..16384
  // (default 3072); for ECDSA 256/384/521 selects the curve and overrides the
  // type's curve. Security-key types cannot be generated without an authenticator.
  static Result<PrivateKey> generate(KeyType type, unsigned bits = 0);
  // Wraps an OpenSSL private key after validating it (curve point, RSA size and consistency).
  static Result<PrivateKey> from_evp(EVP_PKEY* pkey);

  // The private-key fields of PROTOCOL.key / PROTOCOL.agent: string type name
  // then the type's public and private fields (no comment). Reading checks the
  // private half against the public half.
  static Result<PrivateKey> parse(Reader& in);
  void serialize(Writer& out) const;

  const PublicKey& public_key() const { return public_; }
  KeyType type() const { return public_.type(); }

  // Signs data and returns the SSH signature blob (string algorithm, string signature).
  // alg must be kDefault for non-RSA keys.
  Result<Bytes> sign(std::span<const uint8_t> data,
                     SignatureAlgorithm alg = SignatureAlgorithm::kDefault) const;

  // The underlying OpenSSL private key, owned by this object.
  EVP_PKEY* evp() const;

 private:
  PrivateKey(std::shared_ptr<const detail::KeyData> data, PublicKey pub)
      : data_(std::move(data)), public_(std::move(pub)) {}
  static Result<PrivateKey> from_data(std::shared_ptr<const detail::KeyData> data);
  std::shared_ptr<const detail::KeyData> data_;  // holds the private key
  PublicKey public_;                             // public half only, no private material
};

// The algorithm name a signature blob carries ("rsa-sha2-256"), or an error if
// the blob is not a signature.
Result<std::string> signature_algorithm_name(std::span<const uint8_t> signature_blob);

}  // namespace tessera::key

#endif  // TESSERA_KEY_KEY_H_
