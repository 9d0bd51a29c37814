// Using FIDO security keys through tessera-sk-helper: each call starts one
// helper process (which loads the middleware, does the one operation and
// exits), sends it the request, waits for the reply up to a deadline and
// reaps it. The middleware never runs in the caller.
//
// Blocking, thread-safe and without global state: tessera-agent calls these
// from several worker threads at once. Nothing here blocks past
// Target::timeout (plus a moment to reap), and no call leaves a zombie or a
// stray process of the helper's behind: each helper leads its own process
// group, which is killed once the helper has exited or at the deadline. The
// calling process must not reap children it did not start (waitpid(-1)) nor
// ignore SIGCHLD, or a helper's exit status (crash or not) is lost.
//
//   fido::Target target;                        // "internal": tessera's libfido2 middleware
//   auto made = fido::enroll(target, fido::Algorithm::kEd25519, "ssh:", SSH_SK_USER_PRESENCE_REQD, {}, {});
//   if (!made.ok() && fido::sk_error_code(made.error()) == fido::ErrorCode::kPinRequired) { ask; retry; }
//   auto signature = fido::sign(target, made->credential.alg, "ssh:", made->credential.key_handle.reveal(),
//                               made->credential.flags, data);
#ifndef TESSERA_FIDO_CLIENT_H_
#define TESSERA_FIDO_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/fido/protocol.h"
#include "tessera/key/key.h"

namespace tessera::fido {

// Which middleware and authenticator, and how long to wait.
struct Target {
  // "internal" (tessera-sk-fido2.so) or the absolute path of a middleware,
  // as OpenSSH's SecurityKeyProvider / SSH_SK_PROVIDER.
  std::string provider = "internal";
  std::string device;              // the middleware's "device" option; empty: any authenticator
  std::optional<SecretBytes> pin;  // none: the first try (ask for one on kPinRequired)
  std::string helper_program;      // empty: default_helper_program()
  // The whole operation, touch included; the helper is killed after it.
  std::chrono::milliseconds timeout{60000};
};

struct Credential {
  Algorithm alg = Algorithm::kEd25519;
  uint8_t flags = 0;  // SSH_SK_* flags of the credential (for the key file)
  Bytes public_key;   // Ed25519: 32 bytes; ECDSA: the uncompressed P-256 point
  SecretBytes key_handle;
  std::string application;
  Bytes user_id;  // resident credentials: the user id they were made with
};

struct Enrolment {
  Credential credential;
  Bytes attestation_signature, attestation_certificate, authdata;
};

struct Assertion {
  uint8_t flags = 0;  // the authenticator data's flags (0x01 user present, 0x04 user verified)
  uint32_t counter = 0;
  Bytes sig_r, sig_s;  // Ed25519: 64 bytes in sig_r; ECDSA: r and s, big-endian
};

// Errors are key::Errors whose sk_error_code() tells callers apart:
// kPinRequired (ask for the PIN, retry), kDeviceNotFound, kCredentialExists,
// kUnsupported, kTimeout ("the security key did not answer within N s"),
// kCrashed ("security key middleware P crashed (signal N)"), kProviderError,
// kBadRequest, kBadResponse, kHelperFailed; their texts say what to do.

// Makes a credential. An empty challenge is 32 random bytes (as OpenSSH).
// user_id is the "user" option (text without NUL bytes, at most
// kMaxUserIdBytes); empty: none.
Result<Enrolment> enroll(const Target& target, Algorithm alg, std::string_view application, uint8_t flags,
                         std::span<const uint8_t> challenge, const Bytes& user_id);

// Signs data (the whole message; the authenticator hashes it).
Result<Assertion> sign(const Target& target, Algorithm alg, std::string_view application,
                       std::span<const uint8_t> key_handle, uint8_t flags, std::span<const uint8_t> data);

// The authenticator's resident credentials for "ssh:" applications.
Result<std::vector<Credential>> load_resident_keys(const Target& target);

// tessera-sk-helper beside the running program (/proc/self/exe), or
// $TESSERA_SK_HELPER when set.
std::string default_helper_program();

// The credential's SSH public key (sk-ssh-ed25519@openssh.com /
// sk-ecdsa-sha2-nistp256@openssh.com with its application).
Result<key::PublicKey> public_key(const Credential& credential);
// The credential as a private key to save or hand to an agent (the key
// handle in place of a private half).
Result<key::PrivateKey> private_key(const Credential& credential);

// The SSH signature blob of an assertion (PROTOCOL.u2f), to verify with the
// credential's public key or to hand to a peer.
Result<Bytes> signature_blob(Algorithm alg, const Assertion& assertion);

}  // namespace tessera::fido

#endif  // TESSERA_FIDO_CLIENT_H_
