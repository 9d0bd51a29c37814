#include "status.h"

#include <cstdio>
#include <ctime>
#include <string_view>

#include "tessera/key/encoding.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::add {

using agent::HelperState;
using agent::KeySource;
using agent::ReaderService;
using agent::StatusKey;
using agent::StatusProvider;
using agent::StatusReport;
using agent::StatusToken;

namespace {

// Width of the labels in the text report.
constexpr int kLabelWidth = 14;

// ---- words ----

// Text from the agent (labels, comments, paths: from tokens, files and
// users) made safe for a terminal: C0 and C1 control characters become '?'.
std::string safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out += '?';  // U+0080..U+009F, which some terminals obey as C1 controls
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quoted(std::string_view text) { return "'" + safe(text) + "'"; }

std::string duration_text(uint64_t seconds) {
  char buf[64];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(seconds));
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%llum %02llus", static_cast<unsigned long long>(seconds / 60),
                  static_cast<unsigned long long>(seconds % 60));
  } else if (seconds < 86400) {
    std::snprintf(buf, sizeof buf, "%lluh %02llum", static_cast<unsigned long long>(seconds / 3600),
                  static_cast<unsigned long long>(seconds / 60 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llud %lluh", static_cast<unsigned long long>(seconds / 86400),
                  static_cast<unsigned long long>(seconds / 3600 % 24));
  }
  return buf;
}

std::string milliseconds_text(uint64_t ms) {
  if (ms >= 10'000) return duration_text(ms / 1000);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return ms >= 1000 ? buf : std::to_string(ms) + " ms";
}

std::string microseconds_text(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1000.0);
  return buf;
}

// "2024-05-01 12:34:56 (3m 02s ago)", in local time.
std::string when_text(const StatusReport& report, uint64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string text = buf;
  if (epoch <= report.now) {
    text += " (" + duration_text(report.now - epoch) + " ago)";
  } else {
    text += " (in " + duration_text(epoch - report.now) + ")";
  }
  return text;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string token_name(const StatusToken& token) {
  return "token " + (token.label.empty() ? "with serial " + quoted(token.serial) : quoted(token.label));
}

std::string pin_state(uint32_t flags) {
  if (flags & pkcs11::kTokenPinLocked) return "locked";
  std::string state = flags & pkcs11::kTokenPinFinalTry ? "final try"
                      : flags & pkcs11::kTokenPinCountLow ? "count low (a wrong PIN was entered)"
                                                          : "ok";
  if (flags & pkcs11::kTokenPinToBeChanged) state += ", to be changed";
  return state;
}

std::vector<std::string> token_flag_names(uint32_t flags) {
  std::vector<std::string> names;
  if (flags & pkcs11::kTokenLoginRequired) names.emplace_back("login_required");
  if (flags & pkcs11::kTokenProtectedAuthPath) names.emplace_back("pin_pad");
  if (flags & pkcs11::kTokenPinCountLow) names.emplace_back("count_low");
  if (flags & pkcs11::kTokenPinFinalTry) names.emplace_back("final_try");
  if (flags & pkcs11::kTokenPinLocked) names.emplace_back("locked");
  if (flags & pkcs11::kTokenPinToBeChanged) names.emplace_back("to_be_changed");
  return names;
}

std::vector<std::string> key_flag_names(uint32_t flags) {
  std::vector<std::string> names;
  if (flags & agent::kStatusKeyAlwaysAuthenticate) names.emplace_back("always-authenticate");
  if (flags & agent::kStatusKeyConfirm) names.emplace_back("confirm");
  if (flags & agent::kStatusKeyCertificate) names.emplace_back("certificate");
  return names;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string_view helper_state_text(HelperState state) {
  switch (state) {
    case HelperState::kStopped: return "not started";
    case HelperState::kStarting: return "starting";
    case HelperState::kRunning: return "running";
    case HelperState::kHung: return "HUNG";
    case HelperState::kRestarting: return "not running (restarts at next use)";
  }
  return "unknown";
}

// ---- problems ----

void token_problems(const StatusToken& token, std::vector<Problem>& out) {
  const std::string name = token_name(token);
  if (!token.present) {
    out.push_back({name, "token_absent",
                   "not present: insert it; its keys return by themselves, and its PIN is asked again at next use"});
    return;
  }
  if (token.flags & pkcs11::kTokenPinLocked) {
    out.push_back({name, "pin_locked",
                   "PIN locked: unblock it with the SO PIN (pkcs11-tool --login --login-type so --init-pin) or the "
                   "token's own tool (e.g. yubico-piv-tool -a unblock-pin); the agent asks for the new PIN at next "
                   "use"});
  } else if (token.flags & pkcs11::kTokenPinFinalTry) {
    out.push_back({name, "pin_final_try",
                   "one more wrong PIN locks the token: be sure of the PIN before the next try"});
  } else if (token.flags & pkcs11::kTokenPinCountLow) {
    out.push_back({name, "pin_count_low",
                   "a wrong PIN was entered: few tries may be left; the counter resets after the right PIN"});
  }
  if (token.flags & pkcs11::kTokenPinToBeChanged) {
    out.push_back({name, "pin_to_be_changed",
                   "the token wants its PIN changed: change it with pkcs11-tool --login --change-pin or the "
                   "token's own tool"});
  }
}

void helper_problems(const StatusProvider& provider, std::vector<Problem>& out) {
  const std::string name = "PKCS#11 provider " + safe(provider.module_path);
  if (provider.state == HelperState::kHung) {
    out.push_back({name, "helper_hung",
                   "a request has waited " + milliseconds_text(provider.oldest_request_ms) +
                       " (it usually takes " + microseconds_text(provider.usual_answer_us) +
                       "): the module or token is stuck. The helper is restarted when the request times out after " +
                       milliseconds_text(provider.timeout_ms) + "; if it keeps happening, unplug and replug the "
                       "token or reader"});
  } else if (provider.state == HelperState::kRestarting) {
    out.push_back({name, "helper_not_running",
                   "its helper ended" + (provider.last_error.empty() ? "" : " (" + safe(provider.last_error) + ")") +
                       ": a new one starts at the next use of its keys; if it keeps ending, run the agent with -d "
                       "and look at the module's messages"});
  }
}

void provider_problems(const StatusProvider& provider, std::vector<Problem>& out) {
  helper_problems(provider, out);
  for (const auto& token : provider.tokens) token_problems(token, out);
}

// ---- text ----

class Text {
 public:
  void line(const std::string& text = {}) { out_ += text + "\n"; }
  void row(int indent, std::string_view label, const std::string& value) {
    std::string lead(static_cast<size_t>(indent), ' ');
    std::string padded(label);
    if (padded.size() < static_cast<size_t>(kLabelWidth)) padded.resize(static_cast<size_t>(kLabelWidth), ' ');
    out_ += lead + padded + " " + value + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void text_token(Text& t, const StatusReport& report, const StatusToken& token) {
  t.line("  " + token_name(token));
  t.row(4, "serial", safe(token.serial));
  t.row(4, "slot", safe(token.slot_description));
  if (!token.model.empty() || !token.manufacturer.empty()) {
    t.row(4, "model", safe(token.model) + (token.manufacturer.empty() ? "" : " by " + safe(token.manufacturer)));
  }
  if (!token.present) {
    t.row(4, "state", "ABSENT since " + when_text(report, token.absent_since) + "; its keys are hidden");
  } else {
    std::vector<std::string> state = {"present"};
    state.push_back(token.logged_in ? "logged in" : "not logged in");
    if (token.flags & pkcs11::kTokenLoginRequired) state.push_back(token.pin_cached ? "PIN cached" : "no PIN cached");
    if (token.flags & pkcs11::kTokenProtectedAuthPath) state.emplace_back("PIN pad");
    state.push_back(plural(token.keys, "key", "keys"));
    t.row(4, "state", joined(state));
  }
  t.row(4, "PIN", pin_state(token.flags));
  std::vector<Problem> problems;
  token_problems(token, problems);
  for (const auto& p : problems) t.row(4, "advice", p.advice);
}

void text_provider(Text& t, const StatusReport& report, const StatusProvider& p) {
  t.line();
  t.line("PKCS#11 provider " + safe(p.module_path) + (p.filter_uri.empty() ? "" : " (" + safe(p.filter_uri) + ")"));
  if (!p.module_description.empty()) t.row(2, "module", safe(p.module_description));
  std::string helper(helper_state_text(p.state));
  if (p.pid != 0) helper += ", pid " + std::to_string(p.pid);
  if (p.state_since != 0) helper += ", since " + when_text(report, p.state_since);
  t.row(2, "helper", helper);
  if (p.state == HelperState::kRestarting && p.next_start != 0) {
    t.row(2, "next start", "at next use, not before " + when_text(report, p.next_start));
  }
  std::string requests = std::to_string(p.in_flight) + " in flight";
  if (p.in_flight > 0) requests += " (oldest waiting " + milliseconds_text(p.oldest_request_ms) + ")";
  if (p.usual_answer_us > 0) requests += "; usual answer " + microseconds_text(p.usual_answer_us);
  requests += "; timeout " + milliseconds_text(p.timeout_ms);
  t.row(2, "requests", requests);
  t.row(2, "restarts", std::to_string(p.restarts));
  t.row(2, "last error", p.last_error.empty() ? "none"
                                              : safe(p.last_error) + " at " + when_text(report, p.last_error_time));
  std::vector<Problem> problems;
  helper_problems(p, problems);
  for (const auto& problem : problems) t.row(2, "advice", problem.advice);
  if (p.tokens.empty()) t.line("  no token");
  for (const auto& token : p.tokens) text_token(t, report, token);
}

void text_key(Text& t, const StatusKey& k) {
  t.line("  " + safe(k.type) + "  " + safe(k.fingerprint) + "  " + safe(k.comment));
  std::string where(k.source == KeySource::kToken         ? "token, provider " + safe(k.location)
                    : k.source == KeySource::kSecurityKey ? "security key, middleware " + safe(k.location)
                                                          : "file (held by the agent, shielded)");
  t.row(6, "where", where);
  if (k.flags != 0) t.row(6, "flags", joined(key_flag_names(k.flags)));
  if (k.destinations > 0) t.row(6, "destinations", std::to_string(k.destinations) + ": " + safe(k.destination_summary));
  if (k.has_lifetime) t.row(6, "lifetime", duration_text(k.lifetime_left) + " left");
  t.row(6, "signatures", std::to_string(k.signatures) + " ok, " + std::to_string(k.failures) + " failed");
}

// ---- JSON ----

class Json {
 public:
  Json& open(char bracket) {
    value();
    out_ += bracket;
    first_.push_back(true);
    return *this;
  }
  Json& close(char bracket) {
    out_ += bracket;
    first_.pop_back();
    return *this;
  }
  Json& key(std::string_view name) {
    value();
    out_ += key::json_string(name) + ":";
    after_key_ = true;
    return *this;
  }
  Json& string(std::string_view text) {
    value();
    out_ += key::json_string(text);
    return *this;
  }
  Json& number(uint64_t n) {
    value();
    out_ += std::to_string(n);
    return *this;
  }
  Json& boolean(bool b) {
    value();
    out_ += b ? "true" : "false";
    return *this;
  }
  Json& null() {
    value();
    out_ += "null";
    return *this;
  }
  // A time (seconds since the epoch), or null for 0 (never).
  Json& time(uint64_t epoch) { return epoch == 0 ? null() : number(epoch); }
  Json& strings(const std::vector<std::string>& items) {
    open('[');
    for (const auto& item : items) string(item);
    return close(']');
  }
  std::string take() { return std::move(out_); }

 private:
  // A comma before every value but the first of its object or array (a
  // key and its value count as one).
  void value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty() && !first_.back()) out_ += ',';
    if (!first_.empty()) first_.back() = false;
  }
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

void json_problems(Json& j, const std::vector<Problem>& problems) {
  j.open('[');
  for (const auto& p : problems) {
    j.open('{').key("subject").string(p.subject).key("kind").string(p.kind).key("advice").string(p.advice).close('}');
  }
  j.close(']');
}

void json_token(Json& j, const StatusToken& t) {
  std::vector<Problem> problems;
  token_problems(t, problems);
  j.open('{');
  j.key("label").string(t.label).key("serial").string(t.serial).key("slot").string(t.slot_description);
  j.key("manufacturer").string(t.manufacturer).key("model").string(t.model);
  j.key("present").boolean(t.present).key("absent_since").time(t.present ? 0 : t.absent_since);
  j.key("logged_in").boolean(t.logged_in).key("pin_cached").boolean(t.pin_cached).key("keys").number(t.keys);
  j.key("flags").strings(token_flag_names(t.flags));
  j.key("advice");
  json_problems(j, problems);
  j.close('}');
}

void json_provider(Json& j, const StatusProvider& p) {
  j.open('{');
  j.key("module").string(p.module_path).key("uri").string(p.filter_uri);
  j.key("description").string(p.module_description);
  j.key("helper").open('{');
  j.key("state").string(agent::helper_state_name(p.state)).key("since").time(p.state_since);
  j.key("next_start").time(p.next_start);
  if (p.pid == 0) {
    j.key("pid").null();
  } else {
    j.key("pid").number(p.pid);
  }
  j.key("in_flight").number(p.in_flight).key("oldest_request_ms").number(p.oldest_request_ms);
  j.key("usual_answer_us").number(p.usual_answer_us).key("timeout_ms").number(p.timeout_ms);
  j.key("restarts").number(p.restarts);
  j.close('}');
  j.key("last_error");
  if (p.last_error.empty()) {
    j.null();
  } else {
    j.open('{').key("message").string(p.last_error).key("time").time(p.last_error_time).close('}');
  }
  j.key("tokens").open('[');
  for (const auto& t : p.tokens) json_token(j, t);
  j.close(']');
  j.close('}');
}

void json_key(Json& j, const StatusKey& k) {
  j.open('{');
  j.key("type").string(k.type).key("fingerprint").string(k.fingerprint).key("comment").string(k.comment);
  j.key("source").string(agent::key_source_name(k.source)).key("location").string(k.location);
  j.key("certificate").boolean(k.flags & agent::kStatusKeyCertificate);
  j.key("confirm").boolean(k.flags & agent::kStatusKeyConfirm);
  j.key("always_authenticate").boolean(k.flags & agent::kStatusKeyAlwaysAuthenticate);
  j.key("destinations").number(k.destinations).key("destination_summary").string(k.destination_summary);
  j.key("lifetime_left");
  if (k.has_lifetime) {
    j.number(k.lifetime_left);
  } else {
    j.null();
  }
  j.key("signatures").number(k.signatures).key("failures").number(k.failures);
  j.close('}');
}

}  // namespace

std::vector<Problem> status_problems(const StatusReport& report) {
  // pcscd absent is no problem: tokens are then polled, and a machine with
  // no reader (SoftHSM2 only) need not run it.
  std::vector<Problem> out;
  for (const auto& provider : report.providers) provider_problems(provider, out);
  return out;
}

std::string status_text(const StatusReport& report) {
  Text t;
  t.line("tessera-agent (pid " + std::to_string(report.pid) + "), up " +
         duration_text(report.now >= report.started ? report.now - report.started : 0) + ", started " +
         when_text(report, report.started));

  t.line();
  switch (report.reader_service) {
    case ReaderService::kNotWatched: t.line("Readers (PC/SC): not watched (tokens are polled)"); break;
    case ReaderService::kAbsent:
      t.line("Readers (PC/SC): pcscd does not answer: cards put in or pulled out are noticed by polling (start "
             "pcscd, e.g. systemctl start pcscd.socket, to follow them at once)");
      break;
    case ReaderService::kRunning:
      t.line("Readers (PC/SC): pcscd answers, " + plural(report.readers.size(), "reader", "readers"));
      for (const auto& r : report.readers) t.row(2, r.card_present ? "card" : "empty", quoted(r.name));
      break;
  }

  if (report.providers.empty()) {
    t.line();
    t.line("PKCS#11 providers: none");
  }
  for (const auto& p : report.providers) text_provider(t, report, p);

  t.line();
  std::string keys_title = "Keys: " + std::to_string(report.keys_total);
  if (report.keys.size() < report.keys_total) {
    keys_title += " (" + std::to_string(report.keys.size()) + " shown: the rest do not fit in one answer)";
  }
  t.line(keys_title);
  for (const auto& k : report.keys) text_key(t, k);

  t.line();
  t.line("Counters (since the agent started)");
  t.row(2, "signatures", std::to_string(report.signatures));
  uint64_t failed = 0;
  for (const auto& c : report.failures) failed += c.count;
  t.row(2, "failures", std::to_string(failed));
  for (const auto& c : report.failures) t.row(4, safe(c.name), std::to_string(c.count));

  t.line();
  auto problems = status_problems(report);
  if (problems.empty()) {
    t.line("No problem found.");
  } else {
    t.line("Problems: " + std::to_string(problems.size()));
    for (const auto& p : problems) t.line("  " + p.subject + ": " + p.advice);
  }
  return t.take();
}

std::string status_json(const StatusReport& report) {
  Json j;
  j.open('{');
  j.key("version").number(report.version);
  j.key("agent").open('{');
  j.key("pid").number(report.pid).key("started").time(report.started).key("now").time(report.now);
  j.key("uptime_seconds").number(report.now >= report.started ? report.now - report.started : 0);
  j.close('}');
  j.key("readers").open('{').key("service").string(agent::reader_service_name(report.reader_service));
  j.key("readers").open('[');
  for (const auto& r : report.readers) {
    j.open('{').key("name").string(r.name).key("card_present").boolean(r.card_present).close('}');
  }
  j.close(']').close('}');
  j.key("providers").open('[');
  for (const auto& p : report.providers) json_provider(j, p);
  j.close(']');
  j.key("keys_total").number(report.keys_total);
  j.key("keys").open('[');
  for (const auto& k : report.keys) json_key(j, k);
  j.close(']');
  j.key("counters").open('{').key("signatures").number(report.signatures).key("failures").open('{');
  for (const auto& c : report.failures) j.key(c.name).number(c.count);
  j.close('}').close('}');
  j.key("problems");
  json_problems(j, status_problems(report));
  j.close('}');
  return j.take() + "\n";
}

}  // namespace tessera::add
