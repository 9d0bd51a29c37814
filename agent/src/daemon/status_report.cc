// The agent's state report (status@tessera.dev) and the counters behind it:
// the Dispatcher's status request, put together from the key store, the
// PKCS#11 providers and the sign request counters.
#include <unistd.h>

#include <algorithm>
#include <set>

#include "daemon/dispatcher.h"
#include "daemon/log.h"
#include "tessera/agent/status.h"

namespace tessera::agent::daemon {

namespace {

// Spare room for counters of keys no longer held before they are dropped.
constexpr size_t kSpareCountedKeys = 1024;
// Destinations spelled out per key; the rest are counted.
constexpr size_t kDestinationsShown = 8;

std::string hop_text(const DestinationHop& hop) {
  return hop.user.empty() ? hop.hostname : hop.user + "@" + hop.hostname;
}

std::string destination_summary(const std::vector<DestinationConstraint>& destinations) {
  std::string out;
  for (size_t i = 0; i < destinations.size() && i < kDestinationsShown; ++i) {
    if (!out.empty()) out += ", ";
    const auto& d = destinations[i];
    // An empty "from" host is the host running the agent.
    if (!d.from.hostname.empty()) out += hop_text(d.from) + ">";
    out += hop_text(d.to);
  }
  if (destinations.size() > kDestinationsShown) {
    out += ", and " + std::to_string(destinations.size() - kDestinationsShown) + " more";
  }
  return out;
}

// The SSH name of a listed blob: its first string.
std::string blob_type(std::span<const uint8_t> blob) {
  key::Reader in(blob);
  auto name = in.text();
  return name.ok() ? std::string(*name) : std::string();
}

}  // namespace

Dispatcher::Answer Dispatcher::status(const Connection& connection, const StatusRequest& request) {
  // A forwarded agent's far end may list and use keys, but the counters,
  // errors, module paths and process ids are the local user's business:
  // refused on session-bound connections, as adding providers is.
  if (!connection.bindings().hops().empty()) {
    return Refused{"status report refused on a forwarded (session-bound) connection"};
  }
  // Every version a client asks for (1 or newer) gets the newest this agent
  // writes, at most the one asked for: today there is only version 1.
  (void)request;
  return Response{make_status_response(status_report())};
}

StatusReport Dispatcher::status_report() {
  const WallClock clock = WallClock::now(loop_);
  StatusReport report;
  report.now = clock.seconds_now();
  report.started = clock.seconds(stats_.started());
  report.pid = static_cast<uint32_t>(::getpid());
  const ReadersSnapshot readers = readers_.snapshot();
  switch (readers.service) {
    case ReadersSnapshot::Service::kNotWatched: report.reader_service = ReaderService::kNotWatched; break;
    case ReadersSnapshot::Service::kRunning: report.reader_service = ReaderService::kRunning; break;
    case ReadersSnapshot::Service::kAbsent: report.reader_service = ReaderService::kAbsent; break;
  }
  for (const auto& reader : readers.readers) report.readers.push_back(StatusReader{reader.name, reader.card_present});
  auto providers = providers_.report(clock);
  report.providers = std::move(providers.providers);
  report.signatures = stats_.signatures();
  report.failures = stats_.failures();
  report.keys_total = static_cast<uint32_t>(keys_.size());

  // As many keys as fit in one answer (as the identities answer).
  const size_t base = make_status_response(report).contents.size();
  size_t budget = kMaxMessageBytes - std::min(kMaxMessageBytes, 1 + base);
  for (const auto& id : keys_.identities()) {
    StatusKey key;
    key.type = blob_type(id.blob);
    key.fingerprint = key_fingerprint(id.key);
    key.comment = id.comment;
    if (id.certificate) key.flags |= kStatusKeyCertificate;
    if (id.confirm) key.flags |= kStatusKeyConfirm;
    if (id.token) {
      key.source = KeySource::kToken;
      key.location = id.token->provider;
      auto flags = providers.key_flags.find(id.certificate ? id.key.blob() : id.blob);
      if (flags != providers.key_flags.end() && (flags->second & pkcs11::kKeyAlwaysAuthenticate)) {
        key.flags |= kStatusKeyAlwaysAuthenticate;
      }
    } else if (id.sk_provider) {
      key.source = KeySource::kSecurityKey;
      key.location = *id.sk_provider;
    }
    key.destinations = static_cast<uint32_t>(id.destinations.size());
    key.destination_summary = destination_summary(id.destinations);
    if (id.expires) {
      key.has_lifetime = true;
      auto left = std::chrono::ceil<std::chrono::seconds>(*id.expires - clock.steady_now).count();
      key.lifetime_left = left > 0 ? static_cast<uint64_t>(left) : 0;
    }
    KeyCounters counters = stats_.key(key.fingerprint);
    key.signatures = counters.signatures;
    key.failures = counters.failures;
    const size_t size = serialized_size(key);
    if (size > budget || report.keys.size() == kMaxStatusKeys) break;
    budget -= size;
    report.keys.push_back(std::move(key));
  }
  if (report.keys.size() < keys_.size()) {
    log_info("status report lists " + std::to_string(report.keys.size()) + " of " + std::to_string(keys_.size()) +
             " identities: the rest do not fit in one answer");
  }
  return report;
}

void Dispatcher::count_sign_outcome(const RequestContext& context, const Answer& outcome) {
  const std::string& fingerprint = context.audit->key_fingerprint;
  if (std::holds_alternative<Response>(outcome)) {
    stats_.count(fingerprint, true, FailureCause::kOther);
  } else {
    FailureCause cause = FailureCause::kOther;
    if (const auto* refused = std::get_if<Refused>(&outcome)) cause = refused->cause;
    if (const auto* fault = std::get_if<Faulted>(&outcome)) cause = fault->cause;
    // Requests for keys the agent does not hold (or did not look for) count in all only.
    const bool held = cause != FailureCause::kKeyNotFound && cause != FailureCause::kMalformed &&
                      cause != FailureCause::kLocked;
    stats_.count(held ? fingerprint : std::string(), false, cause);
  }
  if (stats_.counted_keys() > 2 * keys_.size() + kSpareCountedKeys) {
    std::set<std::string> held_keys;
    for (const auto& id : keys_.identities()) held_keys.insert(key_fingerprint(id.key));
    stats_.keep_only(held_keys);
  }
}

}  // namespace tessera::agent::daemon
