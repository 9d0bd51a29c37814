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
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace tessera::key {

enum class KeyType : uint8_t {
  kEd25519,
  kEcdsaP256,
  kEcdsaP384,
  kEcdsaP521,
  kRsa,
  kSkEd25519,     // sk-ssh-ed25519@openssh.com (signed by an authenticator)
  kSkEcdsaP256,   // sk-ecdsa-sha2-nistp256@openssh.com (signed by an authenticator)
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

// The DER DigestInfo that comes before the hash in an RSA PKCS#1 v1.5
// signature (RFC 8017 section 9.2, note 1), for kDefault/kRsaSha1 (SHA-1),
// kRsaSha256 and kRsaSha512.
std::span<const uint8_t> rsa_digest_info_prefix(SignatureAlgorithm alg);

// Security keys (FIDO authenticators, PROTOCOL.u2f): the flags a credential
// is made with, as key files, the agent protocol and signatures carry them.
inline constexpr uint8_t kSkUserPresenceRequired = 0x01;      // a touch for each signature
inline constexpr uint8_t kSkUserVerificationRequired = 0x04;  // a PIN (or biometric) for each signature
inline constexpr uint8_t kSkResidentKey = 0x20;               // the credential lives on the authenticator
// Largest key handle tessera reads. CTAP2 credential ids are at most 1023
// bytes; other middlewares' handles are larger but far below this.
inline constexpr size_t kMaxSecurityKeyHandleBytes = 16 * 1024;

// What an authenticator needs to sign with a security key, kept where other
// keys keep their private half: the key handle (for most authenticators the
// wrapped private key itself, so a secret) and the credential's flags.
struct SecurityKeyCredential {
  uint8_t flags = 0;
  SecretBytes key_handle;
  Bytes reserved;  // written empty; kept as read
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
  // A security key's private form from what its authenticator returned at
  // enrolment: `pub` (an sk-* key with its application), the credential's
  // flags and key handle. kInvalidArgument for a key of another type or an
  // empty handle, kTooLarge for a handle over kMaxSecurityKeyHandleBytes.
  static Result<PrivateKey> make_security_key(const PublicKey& pub, uint8_t flags,
                                              std::span<const uint8_t> key_handle);

  // The private-key fields of PROTOCOL.key / PROTOCOL.agent: string type name
  // then the type's public and private fields (no comment). Reading checks the
  // private half against the public half.
  static Result<PrivateKey> parse(Reader& in);
  void serialize(Writer& out) const;

  const PublicKey& public_key() const { return public_; }
  KeyType type() const { return public_.type(); }

  // Signs data and returns the SSH signature blob (string algorithm, string signature).
  // alg must be kDefault for non-RSA keys. A security key cannot sign here
  // (kUnsupported): its authenticator signs, through a middleware, and
  // security_key_signature() makes the blob of its answer.
  Result<Bytes> sign(std::span<const uint8_t> data,
                     SignatureAlgorithm alg = SignatureAlgorithm::kDefault) const;

  // The underlying OpenSSL private key, owned by this object (for a security
  // key, the public key: its private key never leaves the authenticator).
  EVP_PKEY* evp() const;

  // A security key's credential; nullptr for other keys.
  const SecurityKeyCredential* security_key() const;

 private:
  PrivateKey(std::shared_ptr<const detail::KeyData> data, PublicKey pub)
      : data_(std::move(data)), public_(std::move(pub)) {}
  static Result<PrivateKey> from_data(std::shared_ptr<const detail::KeyData> data);
  static PrivateKey with_credential(const PublicKey& pub, SecurityKeyCredential credential);
  std::shared_ptr<const detail::KeyData> data_;  // holds the private key
  PublicKey public_;                             // public half only, no private material
};

// A security key's public key from its authenticator's enrolment answer:
// `public_key` as sk_enroll returns it (Ed25519: 32 raw bytes; ECDSA P-256:
// the 65-byte uncompressed point) and the application it was made for.
// kInvalidKey for a point off the curve or a wrong length.
Result<PublicKey> security_key_public(KeyType type, std::span<const uint8_t> public_key,
                                      std::string_view application);

// The SSH signature blob of a security key's signature, from its
// authenticator's answer (sk_sign): the authenticator data's flags and counter
// and the signature (Ed25519: the 64 bytes in sig_r, sig_s empty; ECDSA: r and
// s as unsigned big-endian integers). The blob is verified against `key` over
// `data` before it is returned: a signature by another credential, a garbled
// answer or flags that are not what was signed give kBadSignature.
Result<Bytes> security_key_signature(const PublicKey& key, std::span<const uint8_t> data, uint8_t flags,
                                     uint32_t counter, std::span<const uint8_t> sig_r,
                                     std::span<const uint8_t> sig_s);

// The same blob, unverified: for a caller that cannot verify (it has no
// data, as tessera-sk-helper checking a middleware's answer). kMalformed for
// parts of the wrong size, kUnsupported for a key type that is not sk-*.
Result<Bytes> security_key_signature_blob(KeyType type, uint8_t flags, uint32_t counter,
                                          std::span<const uint8_t> sig_r, std::span<const uint8_t> sig_s);

// The algorithm name a signature blob carries ("rsa-sha2-256"), or an error if
// the blob is not a signature.
Result<std::string> signature_algorithm_name(std::span<const uint8_t> signature_blob);

}  // namespace tessera::key

#endif  // TESSERA_KEY_KEY_H_
