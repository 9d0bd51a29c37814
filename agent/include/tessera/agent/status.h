// status@tessera.dev: tessera-agent's own agent extension, which reports its
// state (PC/SC readers, PKCS#11 providers and their helpers, tokens and
// their PIN state, keys and their constraints, signature counters) for
// `tessera-add --status`. docs/tessera-agent.md describes the format.
//
// Request (SSH_AGENTC_EXTENSION):   string "status@tessera.dev"
//                                   uint32 version   newest format the client reads
// Answer (SSH_AGENT_EXTENSION_RESPONSE, after the message byte):
//                                   string "status@tessera.dev"
//                                   uint32 version   the format of `body`
//                                   string body      that version's fields
//
// Everything in the answer is untrusted for the client: the parser caps every
// count and string (the limits below), reads each record whole and never
// aborts. The serializer cuts what exceeds the limits, so that whatever an
// agent holds makes a parsable answer.
#ifndef TESSERA_AGENT_STATUS_H_
#define TESSERA_AGENT_STATUS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/agent/protocol.h"

namespace tessera::agent {

// The format this code reads and writes (kExtStatus, the extension's name,
// and StatusRequest are in protocol.h).
inline constexpr uint32_t kStatusVersion = 1;

// Limits of an answer, enforced by the parser; the serializer cuts to them.
inline constexpr size_t kMaxStatusTextBytes = 4096;  // any one string (a PKCS#11 URI may be long)
inline constexpr size_t kMaxStatusReaders = 64;
inline constexpr size_t kMaxStatusProviders = 64;
inline constexpr size_t kMaxStatusTokens = 64;       // per provider
inline constexpr size_t kMaxStatusKeys = 8192;       // the 256 KiB message cap binds first
inline constexpr size_t kMaxStatusCounters = 64;

// Whether the agent follows PC/SC reader events (pcsc-lite), and how that goes.
enum class ReaderService : uint8_t {
  kNotWatched = 0,  // the agent does not follow readers
  kRunning = 1,     // pcscd answers
  kAbsent = 2,      // the agent would follow readers, but pcscd is not there
};
inline constexpr uint8_t kMaxReaderService = 2;

struct StatusReader {
  std::string name;
  bool card_present = false;
  bool operator==(const StatusReader&) const = default;
};

// The state of a provider's tessera-pkcs11-helper process.
enum class HelperState : uint8_t {
  kStopped = 0,     // none runs (not started yet)
  kStarting = 1,    // spawned, not yet answered its first request
  kRunning = 2,
  kHung = 3,        // running, but a request has waited far longer than the helper usually takes
  kRestarting = 4,  // ended or failed to start; a new one starts at next use, not before next_start
};
inline constexpr uint8_t kMaxHelperState = 4;

struct StatusToken {
  std::string label;
  std::string serial;
  std::string slot_description;
  std::string manufacturer;
  std::string model;
  uint32_t flags = 0;         // tessera::pkcs11::kToken* bits, as the token last reported them
  bool present = true;        // false: removed; its keys are hidden until it returns
  bool logged_in = false;     // the running helper holds a user login on it
  bool pin_cached = false;    // the agent holds its user PIN (never sent)
  uint32_t keys = 0;          // its keys the agent serves
  uint64_t absent_since = 0;  // seconds since the epoch, when not present
  bool operator==(const StatusToken&) const = default;
};

struct StatusProvider {
  std::string module_path;
  std::string filter_uri;          // the PKCS#11 URI it was added with, if any
  std::string module_description;  // from the module's CK_INFO
  HelperState state = HelperState::kStopped;
  uint64_t state_since = 0;        // seconds since the epoch
  uint64_t next_start = 0;         // kRestarting: not before (seconds since the epoch)
  uint32_t pid = 0;                // 0: no process
  uint32_t in_flight = 0;          // requests sent and not answered
  uint64_t oldest_request_ms = 0;  // how long the oldest of them has waited
  uint64_t usual_answer_us = 0;    // the helper's usual answer time (a moving average)
  uint64_t timeout_ms = 0;         // after this a request fails and the helper is restarted
  uint32_t restarts = 0;           // helpers started after the first
  std::string last_error;
  uint64_t last_error_time = 0;    // seconds since the epoch; 0: none
  std::vector<StatusToken> tokens;
  bool operator==(const StatusProvider&) const = default;
};

enum class KeySource : uint8_t {
  kFile = 1,         // a private key the agent holds (added from a file), shielded
  kToken = 2,        // a key on a PKCS#11 token; location is the provider's module path
  kSecurityKey = 3,  // a FIDO security key; location is its middleware
};
inline constexpr uint8_t kMaxKeySource = 3;

// StatusKey::flags.
inline constexpr uint32_t kStatusKeyCertificate = 1u << 0;          // the identity is a certificate
inline constexpr uint32_t kStatusKeyConfirm = 1u << 1;              // each use is confirmed (ssh-add -c)
inline constexpr uint32_t kStatusKeyAlwaysAuthenticate = 1u << 2;   // CKA_ALWAYS_AUTHENTICATE: PIN at every use
inline constexpr uint32_t kStatusKeyKnownFlags = (1u << 3) - 1;

struct StatusKey {
  std::string type;         // SSH name of the identity (a certificate type for a certificate)
  std::string fingerprint;  // of the key that signs, with the agent's -E hash
  std::string comment;
  KeySource source = KeySource::kFile;
  std::string location;
  uint32_t flags = 0;
  uint32_t destinations = 0;        // destination constraints (restrict-destination-v00@openssh.com)
  std::string destination_summary;  // "host, from>user@to, ..."
  bool has_lifetime = false;
  uint64_t lifetime_left = 0;       // seconds
  uint64_t signatures = 0;          // made since the agent started
  uint64_t failures = 0;            // sign requests for it that failed or were refused
  bool operator==(const StatusKey&) const = default;
};

// A named counter: failures by cause ("confirm_denied", "pin_incorrect", ...).
struct StatusCounter {
  std::string name;
  uint64_t count = 0;
  bool operator==(const StatusCounter&) const = default;
};

struct StatusReport {
  uint32_t version = kStatusVersion;
  uint64_t now = 0;      // the agent's clock when it answered, seconds since the epoch
  uint64_t started = 0;  // when the agent started, seconds since the epoch
  uint32_t pid = 0;
  ReaderService reader_service = ReaderService::kNotWatched;
  std::vector<StatusReader> readers;
  std::vector<StatusProvider> providers;
  uint32_t keys_total = 0;  // identities the agent holds; `keys` may carry fewer (the message cap)
  std::vector<StatusKey> keys;
  uint64_t signatures = 0;  // made since the agent started
  std::vector<StatusCounter> failures;  // sign requests that failed or were refused, by cause (non-zero ones)
  bool operator==(const StatusReport&) const = default;
};

// The answer. The parser refuses a version other than kStatusVersion
// (kUnsupported, saying which), a wrong extension name (kMalformed), counts
// or strings over the limits (kTooLarge), unknown enum values (kMalformed),
// and anything truncated or trailing.
Result<StatusReport> parse_status_response(const ExtensionResponse& response);
// Cuts strings longer than kMaxStatusTextBytes (at a UTF-8 character
// boundary) and lists longer than their limits.
ExtensionResponse make_status_response(const StatusReport& report);
// The bytes one key adds to an answer, so that a serializer can stop before
// the agent's message cap.
size_t serialized_size(const StatusKey& key);

// Short stable names, as --json prints them.
std::string_view reader_service_name(ReaderService service);
std::string_view helper_state_name(HelperState state);
std::string_view key_source_name(KeySource source);

}  // namespace tessera::agent

#endif  // TESSERA_AGENT_STATUS_H_
