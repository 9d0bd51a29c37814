// The SSH agent protocol (draft-ietf-sshm-ssh-agent, OpenSSH PROTOCOL.agent):
// message numbers, typed messages, and their codecs. Shared by the agent,
// the client library and tessera-add, so both sides encode exactly alike.
//
// Payloads are the bytes after the uint32 length prefix. Parsers take
// untrusted bytes, consume the whole payload (trailing data is an error) and
// never abort; serializers cannot fail.
#ifndef TESSERA_AGENT_PROTOCOL_H_
#define TESSERA_AGENT_PROTOCOL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::agent {

using key::Bytes;
using key::Error;
using key::Errc;
using key::Result;
using key::Status;

// Largest message either side accepts (as OpenSSH's AGENT_MAX_LEN).
inline constexpr size_t kMaxMessageBytes = 256 * 1024;
// Most identities in one answer a client accepts (as OpenSSH's MAX_AGENT_IDENTITIES).
inline constexpr size_t kMaxIdentities = 2048;
// Most destination constraints and associated certificates per key (as OpenSSH).
inline constexpr size_t kMaxDestinationConstraints = 1024;
inline constexpr size_t kMaxHopKeys = 1024;
inline constexpr size_t kMaxAssociatedCerts = 1024;

enum class MessageType : uint8_t {
  kFailure = 5,
  kSuccess = 6,
  kRemoveAllRsaIdentities = 9,  // legacy protocol 1; answered with success
  kRequestIdentities = 11,
  kIdentitiesAnswer = 12,
  kSignRequest = 13,
  kSignResponse = 14,
  kAddIdentity = 17,
  kRemoveIdentity = 18,
  kRemoveAllIdentities = 19,
  kAddSmartcardKey = 20,
  kRemoveSmartcardKey = 21,
  kLock = 22,
  kUnlock = 23,
  kAddIdConstrained = 25,
  kAddSmartcardKeyConstrained = 26,
  kExtension = 27,
  kExtensionFailure = 28,
  kExtensionResponse = 29,
};

// Sign request flags.
inline constexpr uint32_t kSignFlagRsaSha256 = 0x02;
inline constexpr uint32_t kSignFlagRsaSha512 = 0x04;

// Constraint identifiers.
inline constexpr uint8_t kConstrainLifetime = 1;
inline constexpr uint8_t kConstrainConfirm = 2;
inline constexpr uint8_t kConstrainMaxSign = 3;  // XMSS only: refused
inline constexpr uint8_t kConstrainExtension = 255;

inline constexpr std::string_view kExtSessionBind = "session-bind@openssh.com";
inline constexpr std::string_view kExtQuery = "query";
// tessera-agent's state report (tessera/agent/status.h).
inline constexpr std::string_view kExtStatus = "status@tessera.dev";
inline constexpr std::string_view kConstraintRestrictDestination = "restrict-destination-v00@openssh.com";
inline constexpr std::string_view kConstraintAssociatedCerts = "associated-certs-v00@openssh.com";
inline constexpr std::string_view kConstraintSkProvider = "sk-provider@openssh.com";

// ---- constraints ----

struct HopKey {
  key::PublicKey key;  // a host key, or a CA key when is_ca
  bool is_ca = false;
};

struct DestinationHop {
  std::string user;      // may hold wildcards; must be empty in a "from" hop
  std::string hostname;  // empty in "from" means the host running the agent
  std::vector<HopKey> keys;
};

struct DestinationConstraint {
  DestinationHop from;
  DestinationHop to;
};

struct AssociatedCerts {
  bool certs_only = false;
  std::vector<key::Certificate> certs;
};

struct Constraints {
  std::optional<uint32_t> lifetime_seconds;
  bool confirm = false;
  std::vector<DestinationConstraint> destinations;
  std::optional<std::string> sk_provider;
  std::optional<AssociatedCerts> associated_certs;  // smartcard adds only

  bool empty() const {
    return !lifetime_seconds && !confirm && destinations.empty() && !sk_provider && !associated_certs;
  }
};

// ---- requests (client -> agent) ----

struct RequestIdentities {};

struct SignRequest {
  Bytes key_blob;  // a public key or certificate blob, as listed
  Bytes data;
  uint32_t flags = 0;
};

// SSH2_AGENTC_ADD_IDENTITY / ADD_ID_CONSTRAINED. For a certificate, `key` is
// the certified key's private key and `certificate` the certificate.
struct AddIdentity {
  key::PrivateKey key;
  std::optional<key::Certificate> certificate;
  std::string comment;
  Constraints constraints;  // empty for ADD_IDENTITY
};

struct RemoveIdentity {
  Bytes key_blob;
};

struct RemoveAllIdentities {
  bool legacy_rsa1 = false;  // message 9 rather than 19
};

// ADD_SMARTCARD_KEY(_CONSTRAINED) and REMOVE_SMARTCARD_KEY.
struct SmartcardRequest {
  bool add = true;
  std::string provider;  // path, p11-kit module name or pkcs11: URI
  key::SecretBytes pin;
  Constraints constraints;
};

struct LockRequest {
  bool lock = true;  // false: unlock
  key::SecretBytes passphrase;
};

// session-bind@openssh.com
struct SessionBind {
  key::PublicKey host_key;  // the host key, or the certified key of a host certificate
  std::optional<key::Certificate> host_certificate;  // set when the server's host key is a certificate
  Bytes session_id;
  Bytes signature;  // by host_key over session_id
  bool forwarding = false;
};

struct QueryRequest {};

// status@tessera.dev: asks for the agent's state report, in the newest
// format the client reads (tessera/agent/status.h has the answer's codec).
struct StatusRequest {
  uint32_t version = 1;
};

// An extension tessera does not know: answered with SSH_AGENT_FAILURE.
struct UnknownExtension {
  std::string name;
};

using Request = std::variant<RequestIdentities, SignRequest, AddIdentity, RemoveIdentity, RemoveAllIdentities,
                             SmartcardRequest, LockRequest, SessionBind, QueryRequest, StatusRequest,
                             UnknownExtension>;

// Parses one request payload. Errors: kTruncated/kMalformed/kTrailingData
// for broken messages, kUnsupported for unknown message types, key types or
// constraints (the agent answers all of them with SSH_AGENT_FAILURE).
Result<Request> parse_request(std::span<const uint8_t> payload);
Bytes serialize_request(const Request& request);

// ---- responses (agent -> client) ----

struct Identity {
  Bytes key_blob;
  std::string comment;
};

struct Failure {};
struct Success {};
struct IdentitiesAnswer {
  std::vector<Identity> identities;
};
struct SignResponse {
  Bytes signature;
};
struct ExtensionFailure {};
// SSH_AGENT_EXTENSION_RESPONSE: extension-specific contents after the message byte.
struct ExtensionResponse {
  Bytes contents;
};

using Response = std::variant<Failure, Success, IdentitiesAnswer, SignResponse, ExtensionFailure, ExtensionResponse>;

Result<Response> parse_response(std::span<const uint8_t> payload);
Bytes serialize_response(const Response& response);

// The query extension's answer: the extension names an agent supports,
// encoded as current OpenSSH (ssh-agent.c process_ext_query) does.
ExtensionResponse make_query_response(const std::vector<std::string>& extension_names);
Result<std::vector<std::string>> parse_query_response(const ExtensionResponse& response);

// ---- framing ----

// uint32 length || payload.
Bytes frame(std::span<const uint8_t> payload);

}  // namespace tessera::agent

#endif  // TESSERA_AGENT_PROTOCOL_H_
