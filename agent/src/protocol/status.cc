// The status@tessera.dev answer (tessera/agent/status.h): a versioned body
// in SSH wire encoding, every list preceded by its count.
#include "tessera/agent/status.h"

#include <algorithm>
#include <string>

#include "fields.h"

namespace tessera::agent {

using key::Reader;
using key::Writer;
using detail::in_field;

namespace {

// ---- reading ----

Result<std::string> read_text(Reader& in, std::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(std::string_view text, in_field(in.text(), field));
  if (text.size() > kMaxStatusTextBytes) {
    return Error(Errc::kTooLarge, std::string(field) + " of " + std::to_string(text.size()) +
                                      " bytes exceeds the limit of " + std::to_string(kMaxStatusTextBytes));
  }
  return std::string(text);
}

Result<uint32_t> read_count(Reader& in, size_t limit, std::string_view what) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, in_field(in.u32(), what));
  if (count > limit) {
    return Error(Errc::kTooLarge, std::string(what) + " " + std::to_string(count) + " exceeds the limit of " +
                                      std::to_string(limit));
  }
  return count;
}

template <typename Enum>
Result<Enum> read_enum(Reader& in, uint8_t first, uint8_t last, std::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t value, in_field(in.u8(), field));
  if (value < first || value > last) {
    return Error(Errc::kMalformed, "unknown " + std::string(field) + " " + std::to_string(value));
  }
  return static_cast<Enum>(value);
}

Result<StatusReader> read_reader(Reader& in) {
  StatusReader r;
  TESSERA_ASSIGN_OR_RETURN(r.name, read_text(in, "reader name"));
  TESSERA_ASSIGN_OR_RETURN(r.card_present, in_field(in.boolean(), "reader card"));
  return r;
}

Result<StatusToken> read_token(Reader& in) {
  StatusToken t;
  TESSERA_ASSIGN_OR_RETURN(t.label, read_text(in, "token label"));
  TESSERA_ASSIGN_OR_RETURN(t.serial, read_text(in, "token serial"));
  TESSERA_ASSIGN_OR_RETURN(t.slot_description, read_text(in, "token slot"));
  TESSERA_ASSIGN_OR_RETURN(t.manufacturer, read_text(in, "token manufacturer"));
  TESSERA_ASSIGN_OR_RETURN(t.model, read_text(in, "token model"));
  TESSERA_ASSIGN_OR_RETURN(t.flags, in_field(in.u32(), "token flags"));
  TESSERA_ASSIGN_OR_RETURN(t.present, in_field(in.boolean(), "token presence"));
  TESSERA_ASSIGN_OR_RETURN(t.logged_in, in_field(in.boolean(), "token login"));
  TESSERA_ASSIGN_OR_RETURN(t.pin_cached, in_field(in.boolean(), "token PIN"));
  TESSERA_ASSIGN_OR_RETURN(t.keys, in_field(in.u32(), "token keys"));
  TESSERA_ASSIGN_OR_RETURN(t.absent_since, in_field(in.u64(), "token absence"));
  return t;
}

Result<StatusProvider> read_provider(Reader& in) {
  StatusProvider p;
  TESSERA_ASSIGN_OR_RETURN(p.module_path, read_text(in, "provider module"));
  TESSERA_ASSIGN_OR_RETURN(p.filter_uri, read_text(in, "provider URI"));
  TESSERA_ASSIGN_OR_RETURN(p.module_description, read_text(in, "provider description"));
  TESSERA_ASSIGN_OR_RETURN(p.state, read_enum<HelperState>(in, 0, kMaxHelperState, "helper state"));
  TESSERA_ASSIGN_OR_RETURN(p.state_since, in_field(in.u64(), "helper state time"));
  TESSERA_ASSIGN_OR_RETURN(p.next_start, in_field(in.u64(), "helper next start"));
  TESSERA_ASSIGN_OR_RETURN(p.pid, in_field(in.u32(), "helper pid"));
  TESSERA_ASSIGN_OR_RETURN(p.in_flight, in_field(in.u32(), "helper requests"));
  TESSERA_ASSIGN_OR_RETURN(p.oldest_request_ms, in_field(in.u64(), "helper oldest request"));
  TESSERA_ASSIGN_OR_RETURN(p.usual_answer_us, in_field(in.u64(), "helper answer time"));
  TESSERA_ASSIGN_OR_RETURN(p.timeout_ms, in_field(in.u64(), "helper timeout"));
  TESSERA_ASSIGN_OR_RETURN(p.restarts, in_field(in.u32(), "helper restarts"));
  TESSERA_ASSIGN_OR_RETURN(p.last_error, read_text(in, "provider last error"));
  TESSERA_ASSIGN_OR_RETURN(p.last_error_time, in_field(in.u64(), "provider last error time"));
  TESSERA_ASSIGN_OR_RETURN(uint32_t tokens, read_count(in, kMaxStatusTokens, "token count"));
  for (uint32_t i = 0; i < tokens; ++i) {
    TESSERA_ASSIGN_OR_RETURN(StatusToken token, read_token(in));
    p.tokens.push_back(std::move(token));
  }
  return p;
}

Result<StatusKey> read_key(Reader& in) {
  StatusKey k;
  TESSERA_ASSIGN_OR_RETURN(k.type, read_text(in, "key type"));
  TESSERA_ASSIGN_OR_RETURN(k.fingerprint, read_text(in, "key fingerprint"));
  TESSERA_ASSIGN_OR_RETURN(k.comment, read_text(in, "key comment"));
  TESSERA_ASSIGN_OR_RETURN(k.source, read_enum<KeySource>(in, 1, kMaxKeySource, "key source"));
  TESSERA_ASSIGN_OR_RETURN(k.location, read_text(in, "key location"));
  TESSERA_ASSIGN_OR_RETURN(k.flags, in_field(in.u32(), "key flags"));
  if ((k.flags & ~kStatusKeyKnownFlags) != 0) return Error(Errc::kMalformed, "key flags: unknown bits");
  TESSERA_ASSIGN_OR_RETURN(k.destinations, in_field(in.u32(), "key destinations"));
  TESSERA_ASSIGN_OR_RETURN(k.destination_summary, read_text(in, "key destination summary"));
  TESSERA_ASSIGN_OR_RETURN(k.has_lifetime, in_field(in.boolean(), "key lifetime flag"));
  TESSERA_ASSIGN_OR_RETURN(k.lifetime_left, in_field(in.u64(), "key lifetime"));
  TESSERA_ASSIGN_OR_RETURN(k.signatures, in_field(in.u64(), "key signatures"));
  TESSERA_ASSIGN_OR_RETURN(k.failures, in_field(in.u64(), "key failures"));
  return k;
}

Result<StatusCounter> read_counter(Reader& in) {
  StatusCounter c;
  TESSERA_ASSIGN_OR_RETURN(c.name, read_text(in, "counter name"));
  TESSERA_ASSIGN_OR_RETURN(c.count, in_field(in.u64(), "counter value"));
  return c;
}

template <typename T>
Status read_list(Reader& in, size_t limit, std::string_view what, Result<T> (*read_one)(Reader&),
                 std::vector<T>& out) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, read_count(in, limit, what));
  for (uint32_t i = 0; i < count; ++i) {
    TESSERA_ASSIGN_OR_RETURN(T item, read_one(in));
    out.push_back(std::move(item));
  }
  return key::ok_status();
}

Result<StatusReport> read_body(Reader& in, uint32_t version) {
  StatusReport r;
  r.version = version;
  TESSERA_ASSIGN_OR_RETURN(r.now, in_field(in.u64(), "agent time"));
  TESSERA_ASSIGN_OR_RETURN(r.started, in_field(in.u64(), "agent start"));
  TESSERA_ASSIGN_OR_RETURN(r.pid, in_field(in.u32(), "agent pid"));
  TESSERA_ASSIGN_OR_RETURN(r.reader_service, read_enum<ReaderService>(in, 0, kMaxReaderService, "reader service"));
  TESSERA_TRY(read_list(in, kMaxStatusReaders, "reader count", &read_reader, r.readers));
  TESSERA_TRY(read_list(in, kMaxStatusProviders, "provider count", &read_provider, r.providers));
  TESSERA_ASSIGN_OR_RETURN(r.keys_total, in_field(in.u32(), "identity count"));
  TESSERA_TRY(read_list(in, kMaxStatusKeys, "key count", &read_key, r.keys));
  TESSERA_ASSIGN_OR_RETURN(r.signatures, in_field(in.u64(), "signature count"));
  TESSERA_TRY(read_list(in, kMaxStatusCounters, "failure counter count", &read_counter, r.failures));
  TESSERA_TRY(in_field(in.expect_end(), "status body"));
  return r;
}

// ---- writing ----

// At most kMaxStatusTextBytes, cut before a UTF-8 continuation byte so that
// no character is split.
std::string_view clamp(std::string_view text) {
  if (text.size() <= kMaxStatusTextBytes) return text;
  size_t end = kMaxStatusTextBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end);
}

void write_text(Writer& out, std::string_view text) { out.string(clamp(text)); }

void write_token(Writer& out, const StatusToken& t) {
  write_text(out, t.label);
  write_text(out, t.serial);
  write_text(out, t.slot_description);
  write_text(out, t.manufacturer);
  write_text(out, t.model);
  out.u32(t.flags);
  out.boolean(t.present);
  out.boolean(t.logged_in);
  out.boolean(t.pin_cached);
  out.u32(t.keys);
  out.u64(t.absent_since);
}

void write_provider(Writer& out, const StatusProvider& p) {
  write_text(out, p.module_path);
  write_text(out, p.filter_uri);
  write_text(out, p.module_description);
  out.u8(static_cast<uint8_t>(p.state));
  out.u64(p.state_since);
  out.u64(p.next_start);
  out.u32(p.pid);
  out.u32(p.in_flight);
  out.u64(p.oldest_request_ms);
  out.u64(p.usual_answer_us);
  out.u64(p.timeout_ms);
  out.u32(p.restarts);
  write_text(out, p.last_error);
  out.u64(p.last_error_time);
  const size_t tokens = std::min(p.tokens.size(), kMaxStatusTokens);
  out.u32(static_cast<uint32_t>(tokens));
  for (size_t i = 0; i < tokens; ++i) write_token(out, p.tokens[i]);
}

void write_key(Writer& out, const StatusKey& k) {
  write_text(out, k.type);
  write_text(out, k.fingerprint);
  write_text(out, k.comment);
  out.u8(static_cast<uint8_t>(k.source));
  write_text(out, k.location);
  out.u32(k.flags & kStatusKeyKnownFlags);
  out.u32(k.destinations);
  write_text(out, k.destination_summary);
  out.boolean(k.has_lifetime);
  out.u64(k.lifetime_left);
  out.u64(k.signatures);
  out.u64(k.failures);
}

}  // namespace

Result<StatusReport> parse_status_response(const ExtensionResponse& response) {
  Reader in(response.contents);
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(in.text(), "status answer"));
  if (name != kExtStatus) {
    return Error(Errc::kMalformed, "status answer names extension \"" + std::string(name) + "\", not \"" +
                                       std::string(kExtStatus) + "\"");
  }
  TESSERA_ASSIGN_OR_RETURN(uint32_t version, in_field(in.u32(), "status answer version"));
  if (version != kStatusVersion) {
    return Error(Errc::kUnsupported, "the agent answered with status format version " + std::to_string(version) +
                                         "; this program reads version " + std::to_string(kStatusVersion));
  }
  TESSERA_ASSIGN_OR_RETURN(Reader body, in_field(in.child(), "status body"));
  TESSERA_TRY(in_field(in.expect_end(), "status answer"));
  return read_body(body, version);
}

ExtensionResponse make_status_response(const StatusReport& report) {
  Writer body;
  body.u64(report.now);
  body.u64(report.started);
  body.u32(report.pid);
  body.u8(static_cast<uint8_t>(report.reader_service));
  const size_t readers = std::min(report.readers.size(), kMaxStatusReaders);
  body.u32(static_cast<uint32_t>(readers));
  for (size_t i = 0; i < readers; ++i) {
    write_text(body, report.readers[i].name);
    body.boolean(report.readers[i].card_present);
  }
  const size_t providers = std::min(report.providers.size(), kMaxStatusProviders);
  body.u32(static_cast<uint32_t>(providers));
  for (size_t i = 0; i < providers; ++i) write_provider(body, report.providers[i]);
  body.u32(report.keys_total);
  const size_t keys = std::min(report.keys.size(), kMaxStatusKeys);
  body.u32(static_cast<uint32_t>(keys));
  for (size_t i = 0; i < keys; ++i) write_key(body, report.keys[i]);
  body.u64(report.signatures);
  const size_t counters = std::min(report.failures.size(), kMaxStatusCounters);
  body.u32(static_cast<uint32_t>(counters));
  for (size_t i = 0; i < counters; ++i) {
    write_text(body, report.failures[i].name);
    body.u64(report.failures[i].count);
  }

  Writer out;
  out.string(kExtStatus);
  out.u32(report.version);
  out.string(body);
  return ExtensionResponse{out.take()};
}

size_t serialized_size(const StatusKey& key) {
  Writer out;
  write_key(out, key);
  return out.size();
}

std::string_view reader_service_name(ReaderService service) {
  switch (service) {
    case ReaderService::kNotWatched: return "not_watched";
    case ReaderService::kRunning: return "running";
    case ReaderService::kAbsent: return "absent";
  }
  return "unknown";
}

std::string_view helper_state_name(HelperState state) {
  switch (state) {
    case HelperState::kStopped: return "stopped";
    case HelperState::kStarting: return "starting";
    case HelperState::kRunning: return "running";
    case HelperState::kHung: return "hung";
    case HelperState::kRestarting: return "restarting";
  }
  return "unknown";
}

std::string_view key_source_name(KeySource source) {
  switch (source) {
    case KeySource::kFile: return "file";
    case KeySource::kToken: return "token";
    case KeySource::kSecurityKey: return "security_key";
  }
  return "unknown";
}

}  // namespace tessera::agent
