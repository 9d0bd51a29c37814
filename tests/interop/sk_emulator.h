// The test plays a FIDO authenticator: security-key signatures per
// PROTOCOL.u2f, made with an ordinary OpenSSL key, so that sk-* keys can be
// tested against OpenSSH without hardware.
#ifndef TESSERA_TESTS_INTEROP_SK_EMULATOR_H_
#define TESSERA_TESTS_INTEROP_SK_EMULATOR_H_

#include <span>
#include <string_view>

#include "tessera/key/key.h"
#include "tessera/key/sshsig.h"
#include "tessera/key/wire.h"

namespace tessera::key::test_sk {

// The underlying key type of a security-key type.
inline KeyType inner_type(KeyType sk_type) {
  return sk_type == KeyType::kSkEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256;
}

// What the authenticator signs: SHA256(application) || flags || counter || SHA256(data).
inline Bytes u2f_message(std::string_view app, uint8_t flags, uint32_t counter, std::span<const uint8_t> data) {
  Writer w;
  w.bytes(sshsig_digest(SshsigHash::kSha256, as_bytes(app)));
  w.u8(flags);
  w.u32(counter);
  w.bytes(sshsig_digest(SshsigHash::kSha256, data));
  return w.take();
}

// Signs like an authenticator would and returns the SSH sk signature blob.
inline Bytes sk_sign(KeyType sk_type, const PrivateKey& inner, std::string_view app, uint8_t flags,
                     uint32_t counter, std::span<const uint8_t> data) {
  // Ed25519 signs the message itself, ECDSA its SHA-256: what PrivateKey::sign does for each.
  Bytes plain = *inner.sign(u2f_message(app, flags, counter, data));
  Reader r(plain);
  (void)r.text();
  Writer w;
  w.string(key_type_info(sk_type).ssh_name);
  w.string(*r.string());
  w.u8(flags);
  w.u32(counter);
  return w.take();
}

}  // namespace tessera::key::test_sk

#endif  // TESSERA_TESTS_INTEROP_SK_EMULATOR_H_
