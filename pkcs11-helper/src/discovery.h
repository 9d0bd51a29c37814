// Key discovery on one token: public key objects and X.509 certificate
// objects become libkey PublicKeys; private key objects are found by CKA_ID
// when signing.
#ifndef TESSERA_PKCS11_HELPER_DISCOVERY_H_
#define TESSERA_PKCS11_HELPER_DISCOVERY_H_

#include <map>
#include <span>
#include <string>
#include <vector>

#include "module.h"
#include "tessera/key/key.h"

namespace tessera::pkcs11::helper {

// Largest attribute value read from a token (certificates included).
inline constexpr size_t kMaxAttributeBytes = 64 * 1024;
// Most objects of one class considered on one token.
inline constexpr size_t kMaxObjectsPerToken = 1024;

struct FoundKey {
  Bytes cka_id;
  std::string label;
  key::PublicKey public_key;
};

// The objects keys are read from: public key objects and X.509 certificate
// objects, each sorted by handle. While they stay the same so do the keys: a
// token object keeps its handle while the module is loaded, and one that
// appears (a private public-key object once logged in, a new key) brings a
// new one.
struct KeyObjects {
  std::vector<CK_OBJECT_HANDLE> public_keys;
  std::vector<CK_OBJECT_HANDLE> certificates;
  bool operator==(const KeyObjects&) const = default;
};
key::Result<KeyObjects> find_key_objects(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session);

// Every RSA, ECDSA P-256/384/521 and Ed25519 key among the objects, from
// public key objects first, then from certificates whose CKA_ID no public
// key object had. Objects of other types, or whose attributes do not make a
// valid key, are skipped (and named on stderr). Fails only when the token
// does.
key::Result<std::vector<FoundKey>> discover_keys(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                             const KeyObjects& objects);

struct PrivateKeyObject {
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  bool always_authenticate = false;
};

// The private key with this CKA_ID. kKeyNotFound if the session sees none
// (a private object is invisible until the user logs in).
key::Result<PrivateKeyObject> find_private_key(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                           std::span<const uint8_t> cka_id);

// Every private key the session sees, by CKA_ID, read in one pass (a
// search per key is slow on tokens with many objects).
key::Result<std::map<Bytes, PrivateKeyObject>> find_private_keys(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session);

// Converts attribute values to an SSH public key (exposed for tests).
key::Result<key::PublicKey> rsa_public_key(std::span<const uint8_t> modulus, std::span<const uint8_t> exponent);
key::Result<key::PublicKey> ec_public_key(std::span<const uint8_t> ec_params, std::span<const uint8_t> ec_point);
key::Result<key::PublicKey> eddsa_public_key(std::span<const uint8_t> ec_params, std::span<const uint8_t> ec_point);
key::Result<key::PublicKey> certificate_public_key(std::span<const uint8_t> der);

}  // namespace tessera::pkcs11::helper

#endif  // TESSERA_PKCS11_HELPER_DISCOVERY_H_
