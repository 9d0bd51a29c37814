// The agent's counters for its status report (status@tessera.dev): sign
// requests answered with a signature, per key and in all, and those that
// failed or were refused, by cause. Owned and used by the event loop's
// thread only; counting costs a hash lookup per sign request.
#ifndef TESSERA_AGENT_DAEMON_STATS_H_
#define TESSERA_AGENT_DAEMON_STATS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/event_loop.h"
#include "tessera/agent/status.h"
#include "tessera/key/error.h"

namespace tessera::agent::daemon {

// Why a sign request failed. The names are part of the status report.
enum class FailureCause : uint8_t {
  kOther,
  kLocked,               // the agent is locked
  kMalformed,            // the request could not be parsed
  kKeyNotFound,          // the agent does not hold the key
  kDestination,          // a destination constraint refused it
  kConfirmDenied,        // the user said no (or nobody could be asked)
  kKeyRemoved,           // the key went away while its use was being confirmed
  kApplicationRefused,   // a security key of another application than ssh:
  kTokenRemoved,         // the token is not there
  kPinIncorrect,         // a wrong (or unacceptable) PIN
  kPinLocked,            // the token's PIN is locked
  kNoPin,                // no PIN was given (askpass cancelled or missing)
  kHelperTimeout,        // the PKCS#11 module or token did not answer in time
  kHelperFailed,         // the PKCS#11 helper ended, or could not start
  kTokenError,           // any other failure of the token or its module
  kTooLarge,             // data too large for the token's helper
  kSigningFailed,        // a key held by the agent failed to sign
  kSecurityKeyFailed,    // a FIDO security key failed to sign
};
inline constexpr size_t kFailureCauses = static_cast<size_t>(FailureCause::kSecurityKeyFailed) + 1;

std::string_view failure_cause_name(FailureCause cause);
// The cause of a failed token signature, from the error's subcode (the
// helper's pkcs11::ErrorCode, or one of the agent's own in pkcs11_process.h).
FailureCause token_failure_cause(const key::Error& error);

struct KeyCounters {
  uint64_t signatures = 0;
  uint64_t failures = 0;
};

class AgentStats {
 public:
  explicit AgentStats(Clock::time_point started) : started_(started) {}

  // One sign request's outcome. `fingerprint` names the key (of the agent's
  // -E hash); empty when no held key is concerned.
  void count(const std::string& fingerprint, bool signed_ok, FailureCause cause);

  Clock::time_point started() const { return started_; }
  uint64_t signatures() const { return signatures_; }
  KeyCounters key(const std::string& fingerprint) const;
  // The failure counters that are not zero.
  std::vector<StatusCounter> failures() const;

  // Keys counted, and dropping the counters of keys no longer held (so that
  // a stream of keys added and removed cannot grow the table for ever).
  size_t counted_keys() const { return by_key_.size(); }
  void keep_only(const std::set<std::string>& fingerprints);

 private:
  Clock::time_point started_;
  uint64_t signatures_ = 0;
  std::array<uint64_t, kFailureCauses> failures_{};
  std::unordered_map<std::string, KeyCounters> by_key_;
};

// The loop's (steady) times as seconds since the epoch, for reports.
struct WallClock {
  Clock::time_point steady_now;
  std::chrono::system_clock::time_point wall_now;

  static WallClock now(const EventLoop& loop) { return {loop.now(), std::chrono::system_clock::now()}; }
  uint64_t seconds(Clock::time_point t) const;
  uint64_t seconds_now() const { return seconds(steady_now); }
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_STATS_H_
