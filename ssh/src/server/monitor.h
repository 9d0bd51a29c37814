// tessera-sshd's monitor protocol: what the unprivileged processes of a
// connection (the pre-auth child, then the session process) may ask of the
// privileged monitor, over a socketpair, one request and one reply at a time.
//
//   request  := uint32 length || byte type || fields
//   reply    := uint32 length || byte status (0 ok, 1 refused) || fields | string message
//
// The monitor's side (MonitorService) is the only code that parses bytes
// from those processes with privilege; it is small and fuzzed. It answers
// key exchanges through a LocalKexAuthority (it writes our KEXINIT, chooses
// and keeps the group of a group exchange, and signs only the exchange hashes
// it computed) and decides authentication itself:
// a signed publickey request is verified over data built from the session
// id the authority computed. What each process may ask depends on the phase:
// the pre-auth child may run key exchanges, authenticate and hand the
// connection over once (only after the monitor accepted a signature); the
// session process may run re-keys, prove host keys and record its ptys.
#ifndef TESSERA_SSH_SERVER_MONITOR_H_
#define TESSERA_SSH_SERVER_MONITOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "auth/server_auth.h"
#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"
#include "tessera/sys/fd.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::server {

enum class MonitorRequest : uint8_t {
  kKexInit = 1,       // -> string kexinit
  kKexAnswer = 2,     // string client version, string client KEXINIT, string message -> KexAnswer
  kPublickey = 3,     // string user, string algorithm, string blob, bool signed, [string signature] -> decision
  kHandOver = 4,      // string transport state -> ok (pre-auth child, after success)
  kHostKeys = 5,      // -> uint32 n, n x string blob
  kProveHostKeys = 6, // uint32 n, n x string blob -> uint32 n, n x string signature
  kPtyRecord = 7,     // bool login, string tty, uint32 pid -> ok
  kKexGroup = 8,      // string client version, string client KEXINIT, string GEX request -> string GEX group
  kLog = 9,           // uint8 level (1 fatal .. 7 debug3), string line -> ok
};

// The longest log line the monitor takes from a child; longer ones are cut.
inline constexpr size_t kMaxMonitorLogLine = 2048;

// Largest frame either side accepts (a transport state holds up to a
// packet's worth of unread bytes twice over, well below this).
inline constexpr size_t kMaxMonitorFrame = 4 * 1024 * 1024;

// Blocking, one frame at a time, on a connected stream socket. Retries on
// EINTR; a short read or write (the peer died) is kIo.
key::Status write_frame(int fd, std::span<const uint8_t> payload);
key::Result<key::SecretBytes> read_frame(int fd);

// The processes' end: one call at a time.
class MonitorClient {
 public:
  explicit MonitorClient(int fd) : fd_(fd) {}
  // Sends a request and waits for the reply's fields; a refusal becomes
  // an Error with the monitor's message.
  key::Result<key::SecretBytes> call(MonitorRequest type, std::span<const uint8_t> fields);

 private:
  int fd_;
};

// A KexAuthority whose every answer comes from the monitor.
class RemoteKexAuthority final : public transport::KexAuthority {
 public:
  explicit RemoteKexAuthority(MonitorClient& monitor) : monitor_(monitor) {}
  key::Result<key::Bytes> server_kexinit() override;
  key::Result<key::Bytes> gex_group(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                    std::span<const uint8_t> request) override;
  key::Result<transport::KexAnswer> answer(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                           std::span<const uint8_t> kex_message) override;
  std::vector<key::Bytes> host_key_blobs() override;
  key::Result<std::vector<key::Bytes>> prove_host_keys(std::span<const key::Bytes> blobs) override;

 private:
  MonitorClient& monitor_;
};

// The pre-auth child's decider: every decision is the monitor's.
class RemoteAuthDecider final : public auth::ServerAuthDecider {
 public:
  explicit RemoteAuthDecider(MonitorClient& monitor) : monitor_(monitor) {}
  auth::AuthDecision publickey(const auth::PublickeyAttempt& attempt) override;

 private:
  MonitorClient& monitor_;
};

// Serialised forms shared by both ends (and the fuzz target).
key::Bytes encode_kex_answer(const transport::KexAnswer& answer);
key::Result<transport::KexAnswer> decode_kex_answer(std::span<const uint8_t> fields);

// What the monitor's owner decides about a key (tessera-sshd: the user's
// authorized_keys, CAs, principals, KRL and sshd_config). Called for
// queries and signed requests alike, before any signature is checked.
struct KeyVerdict {
  bool allowed = false;
  std::string log_detail;  // "ED25519 SHA256:..." or why it was refused
  // For security keys: the signature must say the user touched the
  // authenticator (unless no-touch-required) / verified a PIN or biometric
  // (verify-required).
  bool require_user_presence = true;
  bool require_user_verification = false;
};

struct MonitorHooks {
  std::function<KeyVerdict(const auth::PublickeyAttempt&)> check_key;
  // One line per authentication attempt (accepted or not).
  std::function<void(const auth::PublickeyAttempt&, bool accepted, const std::string& detail)> log_attempt;
  // A pty record from the session process (utmp/wtmp).
  std::function<key::Status(bool login, std::string_view tty, uint32_t pid)> record_pty;
  // A log line from a child, level 1 (fatal) to 7 (debug3), cut to
  // kMaxMonitorLogLine bytes with control characters shown as '?': the
  // child never writes to the log itself, so it cannot forge lines,
  // rewrite or truncate the log.
  std::function<void(uint8_t level, std::string_view line)> log;
};

enum class MonitorPhase : uint8_t { kPreAuth, kSession };

class MonitorService {
 public:
  MonitorService(transport::LocalKexAuthority& authority, MonitorHooks hooks, unsigned max_auth_tries)
      : authority_(authority), hooks_(std::move(hooks)), max_auth_tries_(max_auth_tries) {}

  void set_phase(MonitorPhase phase) { phase_ = phase; }
  MonitorPhase phase() const { return phase_; }
  // max_auth_tries: refused publickey attempts (queries included) after
  // which the monitor refuses to judge more: the child should have
  // disconnected the client by then.
  // Handles one request frame; returns the reply frame. A request that is
  // malformed or not allowed in the phase gets a refusal, and broken()
  // becomes true: the owner then ends the connection.
  key::Bytes handle(std::span<const uint8_t> request);

  bool broken() const { return broken_; }
  // Why the last request was refused (a bad request, or a key exchange
  // that failed here: a host key that could not sign).
  const std::string& failure() const { return failure_; }
  // Publickey attempts refused so far (queries included).
  unsigned refusals() const { return refusals_; }
  // The user a signature was verified for (the pre-auth child may hand
  // over only then), and the key it used.
  const std::optional<auth::PublickeyAttempt>& authenticated() const { return authenticated_; }
  // The transport state from kHandOver (set once).
  const std::optional<key::SecretBytes>& handed_over() const { return handed_over_; }
  transport::LocalKexAuthority& authority() { return authority_; }

 private:
  key::Result<key::Bytes> dispatch(MonitorRequest type, key::Reader& in);
  key::Result<key::Bytes> on_publickey(key::Reader& in);

  transport::LocalKexAuthority& authority_;
  MonitorHooks hooks_;
  unsigned max_auth_tries_;
  unsigned attempts_ = 0;
  unsigned refusals_ = 0;
  MonitorPhase phase_ = MonitorPhase::kPreAuth;
  bool broken_ = false;
  std::string failure_;
  std::string first_user_;
  std::optional<auth::PublickeyAttempt> authenticated_;
  std::optional<key::SecretBytes> handed_over_;
};

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_MONITOR_H_
