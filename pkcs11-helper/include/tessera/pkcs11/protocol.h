// The agent <-> tessera-pkcs11-helper protocol: frames, messages and their
// codecs. Both sides link this (target pkcs11proto) so they encode alike.
// docs/tessera-pkcs11-helper.md describes every message.
//
// A frame is a uint32 length (1..kMaxFrameBytes) then the payload. A payload
// is: byte message type, uint32 request id, then the message's fields in SSH
// wire encoding. Every request gets exactly one reply with the same id;
// replies may come in any order. Parsers take untrusted bytes, consume the
// whole payload (trailing data is an error), enforce the size limits below
// and never abort; serializers cannot fail.
#ifndef TESSERA_PKCS11_PROTOCOL_H_
#define TESSERA_PKCS11_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::pkcs11 {

using key::Bytes;
using key::Error;
using key::Errc;
using key::Result;
using key::SecretBytes;
using key::Status;

// 3: the kTokenPinToBeChanged flag.
inline constexpr uint32_t kProtocolVersion = 3;

// Field limits. PKCS#11 pads token serials to 16 bytes, labels to 32 and
// slot descriptions to 64; the limits leave room for other modules' quirks.
inline constexpr size_t kMaxTextBytes = 256;        // serial, slot description, labels, algorithm
inline constexpr size_t kMaxKeyIdBytes = 256;       // CKA_ID
inline constexpr size_t kMaxUriBytes = 4096;
inline constexpr size_t kMaxKeyBlobBytes = 16 * 1024;
inline constexpr size_t kMaxSignatureBytes = 16 * 1024;
inline constexpr size_t kMaxPinBytes = 256;
inline constexpr size_t kMaxMessageTextBytes = 2048;  // error messages, module description
inline constexpr size_t kMaxKeys = 2048;              // keys in one KeyList page
inline constexpr size_t kMaxListedKeys = 65536;       // keys in a whole listing (all pages)
inline constexpr size_t kMaxListingBytes = 16 << 20;  // the serialized keys of a whole listing

// The most data a Sign request carries: the agent protocol's message cap
// (256 KiB; tessera-agent checks at compile time that its own cap is not
// larger), so that whatever data an agent client may send fits.
inline constexpr size_t kMaxSignDataBytes = 256 * 1024;
// Everything of a Sign request but its data, at the field limits: type and
// id, serial, slot description, CKA_ID, the data's length, algorithm, PIN.
inline constexpr size_t kMaxSignOverheadBytes =
    1 + 4 + (4 + kMaxTextBytes) * 2 + (4 + kMaxKeyIdBytes) + 4 + (4 + kMaxTextBytes) + (1 + 4 + kMaxPinBytes);
// Largest frame payload either side accepts: room for the largest Sign.
inline constexpr size_t kMaxFrameBytes = kMaxSignDataBytes + kMaxSignOverheadBytes;

enum class MessageType : uint8_t {
  // agent -> helper
  kHello = 1,
  kListKeys = 2,
  kLogin = 3,
  kLogout = 4,
  kSign = 5,
  // helper -> agent
  kOk = 64,
  kHelloReply = 65,
  kKeyList = 66,
  kSignature = 67,
  kError = 68,
};

// Stable error codes of kError replies. Values never change meaning.
enum class ErrorCode : uint32_t {
  kTokenRemoved = 1,   // the token went away (CKR_DEVICE_REMOVED, _TOKEN_NOT_PRESENT, _SESSION_HANDLE_INVALID)
  kNotLoggedIn = 2,    // log in (or, for an always-authenticate key, send a context PIN) and retry
  kPinIncorrect = 3,   // the PIN was wrong; the helper never retries it
  kPinLocked = 4,      // the PIN is blocked
  kPinInvalid = 5,     // the PIN has characters or a length the token refuses
  kKeyNotFound = 6,    // no such key on that token
  kTokenNotFound = 7,  // no token with that serial and slot description
  kDeviceError = 8,    // CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY, ...: the token is there but failing
  kUnsupported = 9,    // algorithm, key type or mechanism the key or token cannot do
  kBadRequest = 10,    // a request the helper could not parse
  kModuleError = 11,   // any other failure of the PKCS#11 module
  kInternal = 12,      // the helper itself failed
};
inline constexpr uint32_t kMaxErrorCode = 12;

// A short stable name: "token_removed", "not_logged_in", ...
std::string_view error_code_name(ErrorCode code);

// Errors of the helper and its clients are key::Errors that carry the
// helper's error code as their subcode and, for a token, its kToken* flags
// as their flags; their Errc says the kind of failure.
Error helper_error(ErrorCode code, std::string message, uint32_t token_flags = 0);
// The helper error code an Error carries; kInternal when it carries none.
ErrorCode helper_code(const Error& error);

// Flags of a listed key (KeyInfo::flags) and of an error (ErrorReply::token_flags).
inline constexpr uint32_t kKeyAlwaysAuthenticate = 1u << 0;  // CKA_ALWAYS_AUTHENTICATE (known once logged in)
inline constexpr uint32_t kTokenPinCountLow = 1u << 1;       // CKF_USER_PIN_COUNT_LOW
inline constexpr uint32_t kTokenPinFinalTry = 1u << 2;       // CKF_USER_PIN_FINAL_TRY
inline constexpr uint32_t kTokenPinLocked = 1u << 3;         // CKF_USER_PIN_LOCKED
inline constexpr uint32_t kTokenProtectedAuthPath = 1u << 4; // CKF_PROTECTED_AUTHENTICATION_PATH (PIN pad)
inline constexpr uint32_t kTokenLoginRequired = 1u << 5;     // CKF_LOGIN_REQUIRED
inline constexpr uint32_t kTokenLoggedIn = 1u << 6;          // the helper holds a user login on the token
inline constexpr uint32_t kTokenPinToBeChanged = 1u << 7;    // CKF_USER_PIN_TO_BE_CHANGED
inline constexpr uint32_t kKnownFlags = (1u << 8) - 1;

// A token's stable identity. Both fields are the token's padded PKCS#11
// fields with trailing spaces removed.
struct TokenId {
  std::string serial;            // CK_TOKEN_INFO.serialNumber
  std::string slot_description;  // CK_SLOT_INFO.slotDescription
  bool operator==(const TokenId&) const = default;
  auto operator<=>(const TokenId&) const = default;
};

// A key's stable identity: its token and its CKA_ID.
struct KeyId {
  TokenId token;
  Bytes cka_id;
  bool operator==(const KeyId&) const = default;
};

// ---- requests ----

struct Hello {
  uint32_t version = kProtocolVersion;
};
// Lists the keys of every token, kMaxFrameBytes at a time: the reply holds
// the keys from index `first` of a listing on that fit in one frame. A
// request with first == 0 makes a new listing (see `rescan`); a later page
// (first > 0) comes from the same listing, which the reply's generation
// names, so a client that sees the generation change mid-way starts again.
struct ListKeys {
  uint32_t first = 0;
  // true: read every key from the tokens again. false: re-read a token's
  // keys only when its token information (label, serial, flags) or the
  // helper's login on it changed since the last listing; what a poll needs.
  bool rescan = true;
};
// Logs the user in to a token. No PIN: log in through the protected
// authentication path (the token's PIN pad).
struct Login {
  TokenId token;
  std::optional<SecretBytes> pin;
};
// Logs out of a token; the helper forgets everything it held for the login.
struct Logout {
  TokenId token;
};
// Signs data with a key. algorithm is an SSH signature algorithm name:
// "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa", "ecdsa-sha2-nistp256/384/521",
// "ssh-ed25519". context_pin is the PIN for the context-specific login of a
// CKA_ALWAYS_AUTHENTICATE key.
struct Sign {
  KeyId key;
  Bytes data;
  std::string algorithm;
  std::optional<SecretBytes> context_pin;
};

using RequestBody = std::variant<Hello, ListKeys, Login, Logout, Sign>;
struct Request {
  uint32_t id = 0;
  RequestBody body;
};

// ---- replies ----

struct Ok {};
struct HelloReply {
  uint32_t version = kProtocolVersion;
  std::string module;  // the module's description (CK_INFO), for logs
};
struct KeyInfo {
  KeyId id;
  std::string token_label;  // CK_TOKEN_INFO.label, trimmed
  std::string label;        // CKA_LABEL
  std::string uri;          // RFC 7512 PKCS#11 URI of the key
  Bytes public_key;         // SSH public key blob
  uint32_t flags = 0;       // kKey* and kToken* bits
  bool operator==(const KeyInfo&) const = default;
};
struct KeyList {
  uint32_t generation = 0;  // changes whenever the helper makes a new listing
  uint32_t total = 0;       // keys in the whole listing
  uint32_t first = 0;       // index of keys[0] in the listing
  std::vector<KeyInfo> keys;
};
struct SignatureReply {
  Bytes signature;  // complete SSH signature blob
};
struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  uint32_t token_flags = 0;  // kToken* bits when a token is concerned (PIN state), else 0
  std::string message;       // for people; says what to do
};

using ReplyBody = std::variant<Ok, HelloReply, KeyList, SignatureReply, ErrorReply>;
struct Reply {
  uint32_t id = 0;
  ReplyBody body;
};

// ---- codecs ----

// Payload (unframed). A request may hold a PIN, so it serializes to SecretBytes.
Result<Request> parse_request(std::span<const uint8_t> payload);
SecretBytes serialize_request(const Request& request);
Result<Reply> parse_reply(std::span<const uint8_t> payload);
Bytes serialize_reply(const Reply& reply);

// The request id of a payload whose body may be broken, so that a bad
// request can still be answered. Fails when the payload is under 5 bytes.
Result<uint32_t> peek_request_id(std::span<const uint8_t> payload);

// Adds a KeyList page to a listing being put together from its first page
// on (start with an empty KeyList; it is complete once keys.size() ==
// total). false: the page is of a newer listing, so start again (at most
// kListingAttempts times). An error: the page does not continue the listing.
Result<bool> add_page(KeyList& listing, KeyList page);
inline constexpr int kListingAttempts = 3;

// ---- frames ----

// Frames a payload: uint32 length then the payload. kTooLarge for a payload
// over kMaxFrameBytes (kMalformed for an empty one), which nothing may send.
Result<Bytes> frame(std::span<const uint8_t> payload);
Result<SecretBytes> frame_secret(const SecretBytes& payload);
inline Result<Bytes> frame_reply(const Reply& reply) { return frame(serialize_reply(reply)); }
inline Result<SecretBytes> frame_request(const Request& request) { return frame_secret(serialize_request(request)); }

// The size of a key's entry in a KeyList payload, to fill a page.
size_t serialized_size(const KeyInfo& key);
// The size of a KeyList payload with no keys.
inline constexpr size_t kKeyListHeaderBytes = 1 + 4 + 4 + 4 + 4 + 4;

enum class FrameStatus { kComplete, kNeedMore, kBadLength };
// Looks at the start of buffer. kComplete: *payload is the first frame's
// payload and the frame spans 4 + payload->size() bytes. kBadLength: the
// length is 0 or over kMaxFrameBytes; the stream cannot be resynchronized.
FrameStatus peek_frame(std::span<const uint8_t> buffer, std::span<const uint8_t>* payload);

}  // namespace tessera::pkcs11

#endif  // TESSERA_PKCS11_PROTOCOL_H_
