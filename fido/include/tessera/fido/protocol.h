// The caller <-> tessera-sk-helper protocol: one request and one reply per
// helper run, and their codecs. Both sides link this (target fidoproto) so
// they encode alike; docs/fido.md describes the messages.
//
// A frame is a uint32 length (1..kMaxFrameBytes) then the body. A request
// body is: uint32 protocol version, byte message type, then the message's
// fields in SSH wire encoding. A reply body is: byte message type, then its
// fields. Parsers take untrusted bytes, consume the whole body (trailing data
// is an error), enforce the limits below (every public key is checked to be
// a valid key of its algorithm) and never abort; serializers cannot fail.
// Requests carry PINs and key handles, and replies carry key handles, so
// both serialize to SecretBytes.
#ifndef TESSERA_FIDO_PROTOCOL_H_
#define TESSERA_FIDO_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/fido/sk_api.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::fido {

using key::Bytes;
using key::Errc;
using key::Error;
using key::Result;
using key::SecretBytes;
using key::Status;

inline constexpr uint32_t kProtocolVersion = 1;

// ---- limits (named once; the helper checks a middleware's answers against
// the same ones before it replies) ----
inline constexpr size_t kMaxPathBytes = 4096;        // provider path, "device" option
inline constexpr size_t kMaxApplicationBytes = 512;  // "ssh:..." (a FIDO relying party id)
inline constexpr size_t kMaxUserIdBytes = 64;        // CTAP2's limit for user.id
inline constexpr size_t kMaxPinBytes = 256;          // CTAP2 PINs are at most 63 bytes
inline constexpr size_t kMaxChallengeBytes = 4096;
// What a sign request may carry: an agent message's worth (256 KiB, as
// OpenSSH's agent), so that whatever an agent client may ask to sign fits.
inline constexpr size_t kMaxSignDataBytes = 256 * 1024;
inline constexpr size_t kMaxKeyHandleBytes = 1024;   // CTAP2 credential ids are at most 1023 bytes
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEcdsaPublicKeyBytes = 65;   // 0x04 || X || Y on P-256
inline constexpr size_t kEd25519SignatureBytes = 64;
inline constexpr size_t kMaxEcdsaScalarBytes = 33;   // r or s, big-endian, one leading zero allowed
inline constexpr size_t kMaxAttestationSignatureBytes = 2048;
inline constexpr size_t kMaxAttestationCertBytes = 16 * 1024;
inline constexpr size_t kMaxAuthdataBytes = 16 * 1024;
inline constexpr size_t kMaxResidentKeys = 128;      // authenticators hold a few dozen
inline constexpr size_t kMaxErrorTextBytes = 1024;
// Largest frame body either side accepts: room for the largest sign request
// and the largest resident key list (checked in protocol.cc).
inline constexpr size_t kMaxFrameBytes = 320 * 1024;

// The algorithms of the middleware ABI.
enum class Algorithm : uint32_t {
  kEcdsaP256 = SSH_SK_ECDSA,
  kEd25519 = SSH_SK_ED25519,
};
// "ECDSA" / "Ed25519", for messages.
std::string_view algorithm_name(Algorithm alg);
// kSkEcdsaP256 / kSkEd25519.
key::KeyType key_type(Algorithm alg);

// Error codes of error replies and of the client's errors (Error::subcode()).
// 1..5 are the middleware ABI's SSH_SK_ERR_* values negated; the rest are
// tessera's own. Values never change meaning.
enum class ErrorCode : uint32_t {
  kGeneral = 1,           // SSH_SK_ERR_GENERAL: the middleware or the authenticator failed
  kUnsupported = 2,       // SSH_SK_ERR_UNSUPPORTED: algorithm or option the authenticator cannot do
  kPinRequired = 3,       // SSH_SK_ERR_PIN_REQUIRED: ask for the PIN (again: it may have been wrong) and retry
  kDeviceNotFound = 4,    // SSH_SK_ERR_DEVICE_NOT_FOUND: no authenticator (insert one)
  kCredentialExists = 5,  // SSH_SK_ERR_CREDENTIAL_EXISTS: a resident credential for that application and user
  kBadRequest = 16,       // the helper refused the request (malformed, an application not "ssh:", ...)
  kProviderError = 17,    // the middleware could not be loaded (path, file, ABI version, symbols)
  kBadResponse = 18,      // the middleware answered with something invalid
  // Client-side only, never in a reply:
  kTimeout = 32,          // the helper did not answer within the deadline (it was killed)
  kCrashed = 33,          // the helper died of a signal (the middleware crashed)
  kHelperFailed = 34,     // the helper could not be started, or exited or answered without a valid reply
};

// A short stable name: "general", "pin_required", ...
std::string_view error_code_name(ErrorCode code);
// Whether a reply may carry the code (1..5 and 16..18).
bool is_reply_error_code(uint32_t code);
// The code for a middleware's return value (SSH_SK_ERR_*; anything else is kGeneral).
ErrorCode error_code_from_sk(int sk_error);

// Errors of the helper and its client are key::Errors whose subcode() is an
// ErrorCode and whose Errc says the kind (kPassphraseRequired for a PIN,
// kUnsupported, kIo for devices, helpers and timeouts, ...).
Error sk_error(ErrorCode code, std::string message);
// The ErrorCode an Error carries; kHelperFailed when it carries none.
ErrorCode sk_error_code(const Error& error);

// ---- requests ----

// Makes a credential (sk_enroll). pin, device and user are optional: an
// empty device or user passes no option.
struct EnrollRequest {
  std::string provider;  // "internal" or an absolute path
  Algorithm alg = Algorithm::kEd25519;
  std::string application;
  uint8_t flags = SSH_SK_USER_PRESENCE_REQD;
  Bytes challenge;  // 1..kMaxChallengeBytes
  std::optional<SecretBytes> pin;
  std::string device;
  std::string user;  // the "user" option: the credential's user id (text, no NUL)
};

// Signs data with a credential (sk_sign).
struct SignRequest {
  std::string provider;
  Algorithm alg = Algorithm::kEd25519;
  Bytes data;  // the whole message; the middleware hashes it
  std::string application;
  SecretBytes key_handle;  // 1..kMaxKeyHandleBytes
  uint8_t flags = SSH_SK_USER_PRESENCE_REQD;
  std::optional<SecretBytes> pin;
  std::string device;
};

// Lists the authenticator's resident credentials (sk_load_resident_keys).
struct LoadResidentKeysRequest {
  std::string provider;
  std::optional<SecretBytes> pin;
  std::string device;
};

using RequestBody = std::variant<EnrollRequest, SignRequest, LoadResidentKeysRequest>;
struct Request {
  uint32_t version = kProtocolVersion;
  RequestBody body;
};

// ---- replies ----

// A new credential. public_key is Ed25519's 32 raw bytes or the uncompressed
// P-256 point; the attestation fields are as the middleware gave them (may
// be empty).
struct EnrollReply {
  Algorithm alg = Algorithm::kEd25519;
  uint8_t flags = 0;  // the credential's flags
  Bytes public_key;
  SecretBytes key_handle;
  Bytes attestation_signature;
  Bytes attestation_certificate;
  Bytes authdata;
};

// A signature: Ed25519's 64 bytes in sig_r (sig_s empty); for ECDSA r and s
// as unsigned big-endian integers (1..kMaxEcdsaScalarBytes each).
struct SignReply {
  Algorithm alg = Algorithm::kEd25519;
  uint8_t flags = 0;  // the authenticator data's flags
  uint32_t counter = 0;
  Bytes sig_r;
  Bytes sig_s;
};

struct ResidentKey {
  Algorithm alg = Algorithm::kEd25519;
  uint8_t flags = 0;  // as OpenSSH: user presence and resident, plus verification if the key has it
  std::string application;
  Bytes public_key;
  SecretBytes key_handle;
  Bytes user_id;  // 0..kMaxUserIdBytes
};
struct ResidentKeysReply {
  std::vector<ResidentKey> keys;  // at most kMaxResidentKeys, all "ssh:" applications
};

struct ErrorReply {
  ErrorCode code = ErrorCode::kGeneral;  // is_reply_error_code()
  std::string message;                   // for people; says what to do; at most kMaxErrorTextBytes
};

using ReplyBody = std::variant<EnrollReply, SignReply, ResidentKeysReply, ErrorReply>;
struct Reply {
  ReplyBody body;
};

// ---- codecs (frame bodies) ----

// kUnsupported "protocol version N (this helper speaks M)" for a request of
// another version; kMalformed / kTruncated / kTooLarge / kTrailingData /
// kInvalidKey for a broken one.
Result<Request> parse_request(std::span<const uint8_t> body);
SecretBytes serialize_request(const Request& request);
Result<Reply> parse_reply(std::span<const uint8_t> body);
SecretBytes serialize_reply(const Reply& reply);

// ---- frames ----

// uint32 length then the body. kTooLarge for a body over kMaxFrameBytes,
// kMalformed for an empty one.
Result<SecretBytes> frame(const SecretBytes& body);

enum class FrameStatus { kComplete, kNeedMore, kBadLength };
// Looks at the start of buffer. kComplete: *body is the frame's body and the
// frame spans 4 + body->size() bytes. kBadLength: the length is 0 or over
// kMaxFrameBytes.
FrameStatus peek_frame(std::span<const uint8_t> buffer, std::span<const uint8_t>* body);

// ---- what callers build from replies ----

// Checks a public key as the middleware ABI gives it (Ed25519: 32 bytes;
// ECDSA: 65 bytes, 0x04, a point on P-256). kInvalidKey says what is wrong.
Status check_public_key(Algorithm alg, std::span<const uint8_t> public_key);

// The SSH signature blob of PROTOCOL.u2f: string algorithm name, string
// signature (Ed25519's 64 bytes; ECDSA: mpint r, mpint s), byte flags,
// uint32 counter. kMalformed for parts of the wrong size.
Result<Bytes> ssh_signature(Algorithm alg, uint8_t flags, uint32_t counter, std::span<const uint8_t> sig_r,
                            std::span<const uint8_t> sig_s);

}  // namespace tessera::fido

#endif  // TESSERA_FIDO_PROTOCOL_H_
