// OpenSSH certificates (PROTOCOL.certkeys): *-cert-v01@openssh.com.
//
// A Certificate is parsed from (or serialized to) its blob; parsing checks
// the structure and that the certified key and the CA key are valid keys, but
// not the CA signature: call verify_signature() for that.
#ifndef TESSERA_KEY_CERT_H_
#define TESSERA_KEY_CERT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::key {

enum class CertType : uint32_t { kUser = 1, kHost = 2 };

// Most principals, options and extensions a certificate may carry (as OpenSSH:
// SSHKEY_CERT_MAX_PRINCIPALS is 256).
inline constexpr size_t kMaxCertPrincipals = 256;

// "ssh-ed25519-cert-v01@openssh.com" for KeyType::kEd25519, etc.
std::string_view certificate_type_name(KeyType type);
// The key type a certificate type name certifies; nullptr if not a certificate type.
const KeyTypeInfo* find_certificate_type(std::string_view cert_type_name);

struct CertOption {
  std::string name;
  Bytes data;  // the option's data string contents (often itself a string, or empty)
};

struct Certificate {
  PublicKey key;  // the certified key
  Bytes nonce;
  uint64_t serial = 0;
  CertType type = CertType::kUser;
  std::string key_id;
  std::vector<std::string> principals;
  uint64_t valid_after = 0;
  uint64_t valid_before = UINT64_MAX;
  std::vector<CertOption> critical_options;  // sorted by name, unique
  std::vector<CertOption> extensions;        // sorted by name, unique
  Bytes reserved;
  PublicKey signature_key;  // the CA key (not itself a certificate)
  Bytes signature;          // SSH signature blob over everything before it

  // Parses a certificate blob (starting with the type name). Does not require
  // the reader to end afterwards.
  static Result<Certificate> parse(Reader& in);
  static Result<Certificate> from_blob(std::span<const uint8_t> blob);

  void serialize(Writer& out) const;
  Bytes blob() const;
  std::string_view type_name() const { return certificate_type_name(key.type()); }

  // Checks the CA signature (and that the signature algorithm is allowed for the CA key).
  Status verify_signature() const;
};

// The certificate blob's contents up to (not including) the signature: what the CA signs.
Bytes certificate_signed_data(const Certificate& cert);

// ---- issuing certificates ----------------------------------------------------

// Bytes of random nonce a new certificate carries (as ssh-keygen: 32).
inline constexpr size_t kCertNonceBytes = 32;

// Where a CA's private key lives: a file (PrivateKeySigner below), an agent,
// or a token. sign_certificate() asks it for one signature per certificate.
class CertificateSigner {
 public:
  virtual ~CertificateSigner() = default;
  // The CA public key; the certificate names it as its signature key.
  virtual const PublicKey& public_key() const = 0;
  // The SSH signature blob (string algorithm, string signature) over data,
  // made with `algorithm` (one that certificate_algorithm_allowed() accepts).
  // Errors are the signer's own (a refused agent request, a missing token).
  virtual Result<Bytes> sign(std::span<const uint8_t> data, std::string_view algorithm) = 0;
  // Whether sign() may be called from several threads at once (a key in
  // memory: yes; one agent connection or token session: no).
  virtual bool concurrent() const { return false; }
};

// A CA private key held in memory.
class PrivateKeySigner final : public CertificateSigner {
 public:
  explicit PrivateKeySigner(PrivateKey key) : key_(std::move(key)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Result<Bytes> sign(std::span<const uint8_t> data, std::string_view algorithm) override;
  bool concurrent() const override { return true; }  // OpenSSL signs with one key from many threads

 private:
  PrivateKey key_;
};

// The algorithm a CA key signs with when none is asked for: rsa-sha2-512 for
// RSA (as ssh-keygen 9.2), the key type's own algorithm otherwise.
std::string_view default_certificate_algorithm(const PublicKey& ca);

// Whether `algorithm` is a signature a CA key of this type can make:
// ssh-rsa, rsa-sha2-256 or rsa-sha2-512 for RSA; the key's own name otherwise.
// kInvalidArgument (RSA) or kUnsupported (others) with the reason if not.
Status certificate_algorithm_allowed(const PublicKey& ca, std::string_view algorithm);

// Sorts a section (critical options or extensions) by name as PROTOCOL.certkeys
// requires; kInvalidArgument if a name occurs twice or there are more than
// kMaxCertPrincipals entries. `what` names the section in the error.
Status sort_certificate_options(std::vector<CertOption>& options, std::string_view what);

// Signs `cert` as the CA `signer` holds: sets a fresh random nonce, the CA key
// and the signature over everything else in `cert` (which must already carry
// the certified key, serial, type, key id, principals, validity, options and
// extensions; options and extensions are sorted here). Checks the algorithm,
// the principal count, and that the signer answered with a signature blob of
// that algorithm (it does not verify the signature: a signer that does not
// trust its source checks it itself). On failure `cert` keeps no signature.
Status sign_certificate(Certificate& cert, CertificateSigner& signer, std::string_view algorithm);

// The private key of a certified key in the form PROTOCOL.agent (and
// sshkey_private_serialize) uses for certificates: string cert-type-name,
// string certificate, then the key type's private fields without the public
// ones the certificate already holds (ed25519: pk, sk; ECDSA: d; RSA: d, iqmp,
// p, q). Parsing checks that the private key matches the certified key.
struct CertifiedPrivateKey {
  PrivateKey key;
  Certificate certificate;
};
Result<CertifiedPrivateKey> parse_certified_private_key(Reader& in);
// `certificate` must certify `key`: a mismatched pair is written as given and
// parse_certified_private_key rejects it.
void serialize_certified_private_key(const PrivateKey& key, const Certificate& certificate, Writer& out);

}  // namespace tessera::key

#endif  // TESSERA_KEY_CERT_H_
