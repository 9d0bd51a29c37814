#include "daemon/stats.h"

#include "daemon/pkcs11_process.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::agent::daemon {

std::string_view failure_cause_name(FailureCause cause) {
  switch (cause) {
    case FailureCause::kOther: return "other";
    case FailureCause::kLocked: return "agent_locked";
    case FailureCause::kMalformed: return "malformed_request";
    case FailureCause::kKeyNotFound: return "key_not_found";
    case FailureCause::kDestination: return "destination_refused";
    case FailureCause::kConfirmDenied: return "confirm_denied";
    case FailureCause::kKeyRemoved: return "key_removed";
    case FailureCause::kApplicationRefused: return "application_refused";
    case FailureCause::kTokenRemoved: return "token_removed";
    case FailureCause::kPinIncorrect: return "pin_incorrect";
    case FailureCause::kPinLocked: return "pin_locked";
    case FailureCause::kNoPin: return "no_pin";
    case FailureCause::kHelperTimeout: return "helper_timeout";
    case FailureCause::kHelperFailed: return "helper_failed";
    case FailureCause::kTokenError: return "token_error";
    case FailureCause::kTooLarge: return "too_large";
    case FailureCause::kSigningFailed: return "signing_failed";
    case FailureCause::kSecurityKeyFailed: return "security_key_failed";
  }
  return "other";
}

FailureCause token_failure_cause(const key::Error& error) {
  switch (error.subcode()) {
    case kHelperTimedOut: return FailureCause::kHelperTimeout;
    case kHelperEnded: return FailureCause::kHelperFailed;
    case kNoPinGiven: return FailureCause::kNoPin;
    default: break;
  }
  if (error.code() == key::Errc::kTooLarge) return FailureCause::kTooLarge;
  if (error.subcode() == 0) return FailureCause::kTokenError;
  switch (pkcs11::helper_code(error)) {
    case pkcs11::ErrorCode::kTokenRemoved:
    case pkcs11::ErrorCode::kTokenNotFound: return FailureCause::kTokenRemoved;
    case pkcs11::ErrorCode::kPinIncorrect:
    case pkcs11::ErrorCode::kPinInvalid: return FailureCause::kPinIncorrect;
    case pkcs11::ErrorCode::kPinLocked: return FailureCause::kPinLocked;
    default: return FailureCause::kTokenError;
  }
}

void AgentStats::count(const std::string& fingerprint, bool signed_ok, FailureCause cause) {
  if (signed_ok) {
    ++signatures_;
  } else {
    ++failures_[static_cast<size_t>(cause)];
  }
  if (fingerprint.empty()) return;
  KeyCounters& counters = by_key_[fingerprint];
  ++(signed_ok ? counters.signatures : counters.failures);
}

KeyCounters AgentStats::key(const std::string& fingerprint) const {
  auto it = by_key_.find(fingerprint);
  return it == by_key_.end() ? KeyCounters{} : it->second;
}

std::vector<StatusCounter> AgentStats::failures() const {
  std::vector<StatusCounter> out;
  for (size_t i = 0; i < kFailureCauses; ++i) {
    if (failures_[i] == 0) continue;
    out.push_back(StatusCounter{std::string(failure_cause_name(static_cast<FailureCause>(i))), failures_[i]});
  }
  return out;
}

void AgentStats::keep_only(const std::set<std::string>& fingerprints) {
  std::erase_if(by_key_, [&](const auto& entry) { return fingerprints.count(entry.first) == 0; });
}

uint64_t WallClock::seconds(Clock::time_point t) const {
  auto wall = wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady_now);
  auto since_epoch = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
  return since_epoch < 0 ? 0 : static_cast<uint64_t>(since_epoch);
}

}  // namespace tessera::agent::daemon
