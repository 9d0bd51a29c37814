// Signing with a token key: which mechanism and input an SSH signature
// algorithm needs, the C_SignInit / context login / C_Sign sequence, and the
// conversion of the token's raw signature to an SSH signature blob.
#ifndef TESSERA_PKCS11_HELPER_SIGNER_H_
#define TESSERA_PKCS11_HELPER_SIGNER_H_

#include <set>
#include <span>
#include <string>
#include <string_view>

#include "discovery.h"
#include "module.h"
#include "tessera/key/key.h"

namespace tessera::pkcs11::helper {

// Largest raw signature a token may return (RSA 16384).
inline constexpr size_t kMaxRawSignatureBytes = 2048;

struct SignPlan {
  enum class Kind { kRsa, kEcdsa, kEd25519 };
  Kind kind = Kind::kRsa;
  std::string algorithm;  // SSH signature algorithm name of the blob
  CK_MECHANISM_TYPE mechanism = CKM_RSA_PKCS;
  Bytes input;            // what C_Sign gets: data, a hash, or a DigestInfo
  size_t ec_scalar_bytes = 0;  // ECDSA: bytes of r and of s in the raw signature
};

// Chooses the mechanism for `algorithm` on this key. For RSA the module's
// hash-and-sign mechanism (CKM_SHA256_RSA_PKCS, ...) is used when it is in
// `mechanisms`, else CKM_RSA_PKCS over a DigestInfo. kUnsupported when the
// algorithm does not belong to the key.
key::Result<SignPlan> plan_signature(const key::PublicKey& key, std::string_view algorithm,
                                 std::span<const uint8_t> data, const std::set<CK_MECHANISM_TYPE>& mechanisms);

// The SSH signature blob for a raw token signature.
key::Result<Bytes> ssh_signature(const SignPlan& plan, std::span<const uint8_t> raw);

// C_SignInit, then for a CKA_ALWAYS_AUTHENTICATE key the context-specific
// login with context_pin (nullptr: kNotLoggedIn before anything starts), then
// C_Sign. Returns the raw signature. After a failure the session may still
// hold an active operation: close it rather than reuse it.
key::Result<Bytes> token_sign(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session, const PrivateKeyObject& key,
                          const SignPlan& plan, const key::SecretBytes* context_pin);

}  // namespace tessera::pkcs11::helper

#endif  // TESSERA_PKCS11_HELPER_SIGNER_H_
