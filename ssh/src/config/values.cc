// Parsers for ssh_config values, each accepting what the OpenSSH 9.2 function
// named in its comment (internal.h) accepts: times, sizes, ports, tunnel
// devices, IPQoS, escape characters, log levels, domains, forwardings,
// ProxyJump hops and algorithm lists.
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "config/internal.h"
#include "tessera/sys/convtime.h"
#include "tessera/key/match.h"

namespace tessera::ssh::config::detail {
namespace {

constexpr int kIntMax = std::numeric_limits<int>::max();

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }


enum class NumError { kNone, kInvalid, kTooSmall, kTooLarge };

// strtonum(3): optional blanks, an optional sign, decimal digits, nothing after.
NumError to_number(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  size_t digits_start = i;
  // Saturate well past any limit a caller uses.
  constexpr int64_t kCap = int64_t{1} << 62;
  int64_t value = 0;
  while (i < text.size() && is_digit(text[i])) {
    value = value < kCap / 10 ? value * 10 + (text[i] - '0') : kCap;
    ++i;
  }
  if (i == digits_start || i != text.size()) return NumError::kInvalid;
  if (negative) value = -value;
  if (value < min) return NumError::kTooSmall;
  if (value > max) return NumError::kTooLarge;
  *out = value;
  return NumError::kNone;
}

int service_port(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.find('\0') != std::string_view::npos) return -1;
  std::string copy(name);
  servent entry{};
  servent* result = nullptr;
  std::array<char, 1024> buffer{};
  if (::getservbyname_r(copy.c_str(), "tcp", &entry, buffer.data(), buffer.size(), &result) != 0 ||
      result == nullptr) {
    return -1;
  }
  return ntohs(static_cast<uint16_t>(result->s_port));
}

}  // namespace

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<int> parse_time(std::string_view text) { return sys::parse_convtime(text); }

std::optional<int64_t> parse_scaled(std::string_view text) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  int sign = 0;
  while (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    if (sign != 0) return std::nullopt;
    sign = text[i++] == '-' ? -1 : 1;
  }
  int64_t whole = 0;
  int64_t fraction = 0;
  int fraction_digits = 0;  // digits after the point, plus one once a point is seen
  int whole_digits = 0;
  for (; i < text.size() && (is_digit(text[i]) || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (fraction_digits > 0) return std::nullopt;
      fraction_digits = 1;
      continue;
    }
    int digit = text[i] - '0';
    if (fraction_digits > 0) {
      if (fraction_digits >= 18) continue;  // further fractional digits change nothing
      ++fraction_digits;
      fraction = fraction * 10 + digit;
    } else {
      if (++whole_digits >= 21 || whole > (kMax - digit) / 10) return std::nullopt;
      whole = whole * 10 + digit;
    }
  }
  if (sign < 0) whole = -whole;
  if (i == text.size()) return whole;  // no unit: the fraction is dropped
  static constexpr std::string_view kUnits = "BKMGTPE";
  size_t unit = kUnits.find(static_cast<char>(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 'a' + 'A' : text[i]));
  if (unit == std::string_view::npos || i + 1 != text.size()) return std::nullopt;
  int64_t factor = int64_t{1} << (10 * unit);
  if (whole > kMax / factor || whole < -(kMax / factor)) return std::nullopt;
  whole *= factor;
  // Keep the fraction's digits from overflowing once scaled.
  while (fraction >= kMax / factor) {
    fraction /= 10;
    --fraction_digits;
  }
  fraction *= factor;
  for (int d = 0; d < fraction_digits - 1; ++d) fraction /= 10;
  whole = sign < 0 ? whole - fraction : whole + fraction;
  return whole;
}

int parse_port(std::string_view text) {
  int64_t value = 0;
  if (to_number(text, 0, 65535, &value) == NumError::kNone) return static_cast<int>(value);
  return service_port(text);
}

std::optional<int> parse_integer(std::string_view text, std::string* why) {
  if (text.empty()) {
    *why = "missing";
    return std::nullopt;
  }
  int64_t value = 0;
  switch (to_number(text, 0, kIntMax, &value)) {
    case NumError::kNone: return static_cast<int>(value);
    case NumError::kInvalid: *why = "invalid"; break;
    case NumError::kTooSmall: *why = "too small"; break;
    case NumError::kTooLarge: *why = "too large"; break;
  }
  return std::nullopt;
}

int parse_tunnel_device(std::string_view text, int* remote) {
  auto one = [](std::string_view part) {
    if (equals_ignore_case(part, "any")) return kTunAny;
    int64_t value = 0;
    if (to_number(part, 0, kTunMax, &value) != NumError::kNone) return kTunError;
    return static_cast<int>(value);
  };
  if (remote != nullptr) {
    *remote = kTunAny;
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return one(text);
    *remote = one(text.substr(colon + 1));
    int local = one(text.substr(0, colon));
    return *remote == kTunError ? kTunError : local;
  }
  return one(text);
}

namespace {
struct IpQosName {
  std::string_view name;
  int value;
};
constexpr IpQosName kIpQos[] = {
    {"none", kIpQosNone}, {"af11", 0x28}, {"af12", 0x30}, {"af13", 0x38}, {"af21", 0x48}, {"af22", 0x50},
    {"af23", 0x58},       {"af31", 0x68}, {"af32", 0x70}, {"af33", 0x78}, {"af41", 0x88}, {"af42", 0x90},
    {"af43", 0x98},       {"cs0", 0x00},  {"cs1", 0x20},  {"cs2", 0x40},  {"cs3", 0x60},  {"cs4", 0x80},
    {"cs5", 0xa0},        {"cs6", 0xc0},  {"cs7", 0xe0},  {"ef", 0xb8},   {"le", 0x01},   {"lowdelay", 0x10},
    {"throughput", 0x08}, {"reliability", 0x04},
};
}  // namespace

int parse_ipqos(std::string_view text) {
  for (const IpQosName& entry : kIpQos) {
    if (equals_ignore_case(text, entry.name)) return entry.value;
  }
  // strtol(text, &end, 0): decimal, 0x hex or 0 octal, all of the text.
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  int base = 10;
  if (i + 1 < text.size() && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X') && i + 2 < text.size() &&
      std::strchr("0123456789abcdefABCDEF", text[i + 2]) != nullptr) {
    base = 16;
    i += 2;
  } else if (i < text.size() && text[i] == '0') {
    base = 8;
  }
  size_t start = i;
  int64_t value = 0;
  for (; i < text.size(); ++i) {
    char c = lower(text[i]);
    int digit = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : 99;
    if (digit >= base) break;
    if (value < 0x10000) value = value * base + digit;
  }
  if (text.empty() || i == start || i != text.size()) return -1;
  if (negative) value = -value;
  if (value < 0 || value > 255) return -1;
  return static_cast<int>(value);
}

std::string ipqos_name(int value) {
  for (const IpQosName& entry : kIpQos) {
    if (entry.value == value) return std::string(entry.name);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  out += kHex[(value >> 4) & 0xf];
  out += kHex[value & 0xf];
  return out;
}

int parse_escape_char(std::string_view text) {
  if (text == "none") return -2;
  if (text.size() == 1) return static_cast<unsigned char>(text[0]);
  if (text.size() == 2 && text[0] == '^') {
    auto c = static_cast<unsigned char>(text[1]);
    if (c >= 64 && c < 128) return c & 31;
  }
  return -1;
}

std::string visible_char(uint8_t c) {
  auto graph = [](int ch) { return ch > 0x20 && ch < 0x7f; };
  std::string out;
  if (graph(c)) {
    if (c == '\\') out += '\\';
    out += static_cast<char>(c);
    return out;
  }
  if ((c & 0x7f) == ' ') {
    out += '\\';
    out += static_cast<char>('0' + ((c >> 6) & 7));
    out += static_cast<char>('0' + ((c >> 3) & 7));
    out += static_cast<char>('0' + (c & 7));
    return out;
  }
  out += '\\';
  int ch = c;
  if (ch & 0x80) {
    ch &= 0x7f;
    out += 'M';
  }
  if (ch < 0x20 || ch == 0x7f) {
    out += '^';
    out += ch == 0x7f ? '?' : static_cast<char>(ch + '@');
  } else {
    out += '-';
    out += static_cast<char>(ch);
  }
  return out;
}

namespace {
struct Named {
  std::string_view name;
  int value;
};
constexpr Named kLogLevels[] = {{"QUIET", 0},   {"FATAL", 1},  {"ERROR", 2},  {"INFO", 3},  {"VERBOSE", 4},
                                {"DEBUG", 5},   {"DEBUG1", 5}, {"DEBUG2", 6}, {"DEBUG3", 7}};
constexpr Named kFacilities[] = {{"DAEMON", 0}, {"USER", 1},   {"AUTH", 2},   {"AUTHPRIV", 3},
                                 {"LOCAL0", 4}, {"LOCAL1", 5}, {"LOCAL2", 6}, {"LOCAL3", 7},
                                 {"LOCAL4", 8}, {"LOCAL5", 9}, {"LOCAL6", 10}, {"LOCAL7", 11}};
constexpr Named kHashes[] = {{"MD5", 0}, {"SHA1", 1}, {"SHA256", 2}, {"SHA384", 3}, {"SHA512", 4}};

template <size_t N>
int find_named(const Named (&table)[N], std::string_view text) {
  for (const Named& entry : table) {
    if (equals_ignore_case(text, entry.name)) return entry.value;
  }
  return -1;
}
template <size_t N>
std::string_view named(const Named (&table)[N], int value) {
  for (const Named& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "UNKNOWN";
}
}  // namespace

int parse_log_level(std::string_view text) { return find_named(kLogLevels, text); }
std::string_view log_level_name(int level) { return named(kLogLevels, level); }
int parse_log_facility(std::string_view text) { return find_named(kFacilities, text); }
std::string_view log_facility_name(int facility) { return named(kFacilities, facility); }
int parse_fingerprint_hash(std::string_view text) { return find_named(kHashes, text); }
std::string_view fingerprint_hash_name(int hash) { return named(kHashes, hash); }

bool valid_domain(std::string& name, bool make_lower, std::string* why) {
  auto quoted = [&name] { return "\"" + name.substr(0, 100) + "\""; };
  if (name.empty()) {
    *why = "empty domain name";
    return false;
  }
  if (!is_alnum(name[0])) {
    *why = "domain name " + quoted() + " starts with invalid character";
    return false;
  }
  char last = '\0';
  for (char& ch : name) {
    char c = lower(ch);
    if (make_lower) ch = c;
    if (last == '.' && c == '.') {
      *why = "domain name " + quoted() + " contains consecutive separators";
      return false;
    }
    if (c != '.' && c != '-' && !is_alnum(c) && c != '_') {
      *why = "domain name " + quoted() + " contains invalid characters";
      return false;
    }
    last = c;
  }
  if (name.back() == '.') name.pop_back();
  return true;
}

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '_'; });
}

bool is_numeric_address(const std::string& host) {
  if (host.empty() || host.size() > 1024 || host.find('\0') != std::string::npos) return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* result = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0) return false;
  ::freeaddrinfo(result);
  return true;
}

// ---- forwardings ----

namespace {

constexpr size_t kMaxHostBytes = 1024;     // NI_MAXHOST less the NUL
constexpr size_t kMaxSocketPathBytes = 107;  // sizeof(sun_path) less the NUL

struct Field {
  std::string text;
  bool is_path = false;
};

// parse_fwd_field(): one ':'-separated field; "[...]" is taken literally,
// elsewhere '\' escapes the next character. False at the end of the text or
// on a malformed field.
bool next_field(std::string_view& rest, bool& at_end, Field* field) {
  if (at_end || rest.empty()) {
    at_end = true;
    return false;
  }
  field->text.clear();
  field->is_path = false;
  if (rest[0] == '[') {
    size_t close = 1;
    while (close < rest.size() && rest[close] != ']') {
      if (rest[close] == '/') field->is_path = true;
      ++close;
    }
    if (close >= rest.size()) return false;
    bool end = close + 1 == rest.size();
    if (!end && rest[close + 1] != ':') return false;
    field->text = std::string(rest.substr(1, close - 1));
    rest = end ? std::string_view() : rest.substr(close + 2);
    if (end) at_end = true;
    return true;
  }
  size_t i = 0;
  for (; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '\\') {
      if (i + 1 >= rest.size()) return false;
      field->text += rest[++i];
      continue;
    }
    if (c == '/') field->is_path = true;
    if (c == ':') {
      rest = rest.substr(i + 1);
      return true;
    }
    field->text += c;
  }
  rest = std::string_view();
  at_end = true;
  return true;
}

}  // namespace

std::optional<Forward> parse_forward(std::string_view spec, bool dynamic, bool remote, const Environment& env) {
  auto expanded = expand_string(spec, nullptr, true, env);
  if (!expanded.ok()) return std::nullopt;
  std::string_view rest = *expanded;
  while (!rest.empty() && is_space(rest[0])) rest.remove_prefix(1);

  std::array<Field, 4> fields;
  size_t count = 0;
  bool at_end = false;
  bool malformed = false;
  while (count < 4) {
    std::string_view before = rest;
    bool was_end = at_end;
    if (!next_field(rest, at_end, &fields[count])) {
      // A malformed field (not the end of the text) fails the whole spec.
      if (!was_end && !before.empty()) malformed = true;
      break;
    }
    ++count;
  }
  if (malformed || (count == 4 && !rest.empty())) return std::nullopt;

  // listen/connect ports: -1 invalid; paths use kPathPort.
  constexpr int kPathPort = -2;
  Forward forward;
  int listen_port = -1;
  int connect_port = 0;
  bool connect_socks = false;
  switch (count) {
    case 1:
      if (fields[0].is_path) {
        forward.listen.path = fields[0].text;
        listen_port = kPathPort;
      } else {
        listen_port = parse_port(fields[0].text);
      }
      connect_socks = true;
      break;
    case 2:
      if (fields[0].is_path && fields[1].is_path) {
        forward.listen.path = fields[0].text;
        listen_port = kPathPort;
        forward.connect.path = fields[1].text;
        connect_port = kPathPort;
      } else if (fields[1].is_path) {
        listen_port = parse_port(fields[0].text);
        forward.connect.path = fields[1].text;
        connect_port = kPathPort;
      } else {
        forward.listen.host = fields[0].text;
        listen_port = parse_port(fields[1].text);
        connect_socks = true;
      }
      break;
    case 3:
      if (fields[0].is_path) {
        forward.listen.path = fields[0].text;
        listen_port = kPathPort;
        forward.connect.host = fields[1].text;
        connect_port = parse_port(fields[2].text);
      } else if (fields[2].is_path) {
        forward.listen.host = fields[0].text;
        listen_port = parse_port(fields[1].text);
        forward.connect.path = fields[2].text;
        connect_port = kPathPort;
      } else {
        listen_port = parse_port(fields[0].text);
        forward.connect.host = fields[1].text;
        connect_port = parse_port(fields[2].text);
      }
      break;
    case 4:
      forward.listen.host = fields[0].text;
      listen_port = parse_port(fields[1].text);
      forward.connect.host = fields[2].text;
      connect_port = parse_port(fields[3].text);
      break;
    default:
      return std::nullopt;
  }

  bool listen_path = !forward.listen.path.empty() || listen_port == kPathPort;
  bool connect_path = !forward.connect.path.empty() || connect_port == kPathPort;
  if (dynamic) {
    if (count != 1 && count != 2) return std::nullopt;
    if (!connect_socks) return std::nullopt;
  } else {
    if (count != 3 && count != 4 && !connect_path && !listen_path) return std::nullopt;
    if (connect_socks || (connect_port <= 0 && !connect_path)) return std::nullopt;
  }
  if ((listen_port < 0 && !listen_path) || (!remote && listen_port == 0)) return std::nullopt;
  if (forward.connect.host && forward.connect.host->size() >= kMaxHostBytes + 1) return std::nullopt;
  if (forward.listen.host && forward.listen.host->size() >= kMaxHostBytes + 1) return std::nullopt;
  if (forward.connect.path.size() > kMaxSocketPathBytes || forward.listen.path.size() > kMaxSocketPathBytes) {
    return std::nullopt;
  }
  forward.dynamic = connect_socks;
  forward.listen.port = listen_port > 0 ? static_cast<uint16_t>(listen_port) : 0;
  forward.connect.port = connect_port > 0 ? static_cast<uint16_t>(connect_port) : 0;
  return forward;
}

std::string forward_end_text(const ForwardEnd& end) {
  if (end.is_path()) return end.path;
  if (!end.host) return std::to_string(end.port);
  return "[" + *end.host + "]:" + std::to_string(end.port);
}

// ---- ProxyJump hops ----

namespace {

// hpdelim2(): the host part (maybe "[...]") up to ':' or '/'.
bool split_host(std::string_view& rest, bool& has_rest, std::string_view* host, char* delimiter) {
  size_t end;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return false;
    end = close + 1;
  } else {
    end = rest.find_first_of(":/");
    if (end == std::string_view::npos) end = rest.size();
  }
  *host = rest.substr(0, end);
  if (end == rest.size()) {
    has_rest = false;
    rest = std::string_view();
    return true;
  }
  if (rest[end] != ':' && rest[end] != '/') return false;
  *delimiter = rest[end];
  has_rest = true;
  rest = rest.substr(end + 1);
  return true;
}

std::string clean_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return std::string(host.substr(1, host.size() - 2));
  return std::string(host);
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// parse_uri("ssh", ...): 1 when not an ssh:// URI, -1 when invalid, 0 when parsed.
int parse_ssh_uri(std::string_view uri, JumpHost* hop) {
  constexpr std::string_view kScheme = "ssh://";
  if (!uri.starts_with(kScheme)) return 1;
  std::string_view rest = uri.substr(kScheme.size());
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view user = rest.substr(0, at);
    if (size_t semicolon = user.find(';'); semicolon != std::string_view::npos) user = user.substr(0, semicolon);
    if (user.empty()) return -1;
    auto decoded = url_decode(user);
    if (!decoded) return -1;
    hop->user = *decoded;
    rest = rest.substr(at + 1);
  }
  std::string_view host_part;
  char delimiter = '\0';
  bool has_rest = false;
  if (!split_host(rest, has_rest, &host_part, &delimiter) || host_part.empty()) return -1;
  hop->host = clean_host(host_part);
  std::string check = hop->host;
  std::string why;
  if (!valid_domain(check, false, &why)) return -1;
  if (has_rest && !rest.empty()) {
    if (delimiter == ':') {
      size_t slash = rest.find('/');
      int port = parse_port(rest.substr(0, slash));
      if (port <= 0) return -1;
      hop->port = static_cast<uint16_t>(port);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    if (!rest.empty()) return -1;  // a path is not allowed in an ssh:// jump host
  }
  return 0;
}

}  // namespace

bool parse_jump_host(std::string_view text, JumpHost* hop) {
  *hop = JumpHost{};
  int uri = parse_ssh_uri(text, hop);
  if (uri == 0) return true;
  if (uri < 0) return false;
  *hop = JumpHost{};
  std::string_view rest = text;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    if (at == 0) return false;
    hop->user = std::string(rest.substr(0, at));
    rest = rest.substr(at + 1);
  }
  std::string_view host_part;
  char delimiter = '\0';
  bool has_rest = false;
  if (!split_host(rest, has_rest, &host_part, &delimiter) || delimiter == '/' || host_part.empty()) return false;
  hop->host = clean_host(host_part);
  if (has_rest && !rest.empty()) {
    int port = parse_port(rest);
    if (port <= 0) return false;
    hop->port = static_cast<uint16_t>(port);
  }
  return true;
}

// ---- algorithm lists ----

namespace {

constexpr std::string_view kOpenSshCiphers[] = {
    "3des-cbc",   "aes128-cbc", "aes192-cbc", "aes256-cbc", "aes128-ctr", "aes192-ctr", "aes256-ctr",
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"};
constexpr std::string_view kOpenSshMacs[] = {
    "hmac-sha1", "hmac-sha1-96", "hmac-sha2-256", "hmac-sha2-512", "hmac-md5", "hmac-md5-96",
    "umac-64@openssh.com", "umac-128@openssh.com", "hmac-sha1-etm@openssh.com", "hmac-sha1-96-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-md5-etm@openssh.com",
    "hmac-md5-96-etm@openssh.com", "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"};
constexpr std::string_view kOpenSshKex[] = {
    "diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group-exchange-sha256", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "curve25519-sha256", "curve25519-sha256@libssh.org", "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com"};
constexpr std::string_view kOpenSshKeys[] = {
    "ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
    "ssh-dss-cert-v01@openssh.com", "ssh-rsa", "ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com"};
constexpr std::string_view kDebianGssKex[] = {"gss-gex-sha1-",       "gss-group1-sha1-",     "gss-group14-sha1-",
                                              "gss-group14-sha256-", "gss-group16-sha512-", "gss-nistp256-sha256-",
                                              "gss-curve25519-sha256-"};

std::span<const std::string_view> known_names(AlgorithmKind kind) {
  switch (kind) {
    case AlgorithmKind::kCipher: return kOpenSshCiphers;
    case AlgorithmKind::kMac: return kOpenSshMacs;
    case AlgorithmKind::kKex: return kOpenSshKex;
    case AlgorithmKind::kKey: return kOpenSshKeys;
    case AlgorithmKind::kGssKex: return kDebianGssKex;
  }
  return {};
}

std::vector<std::string_view> split_commas(std::string_view list) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    out.push_back(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// kex_names_cat(): a, then the names of b that a does not hold.
void append_missing(std::vector<std::string>& to, std::span<const std::string> from) {
  for (const std::string& name : from) {
    if (!name.empty() && !contains(to, name)) to.push_back(name);
  }
}

}  // namespace

bool algorithm_names_valid(AlgorithmKind kind, std::string_view names, std::span<const std::string> extra) {
  if (names.empty()) return false;
  std::span<const std::string_view> known = known_names(kind);
  for (std::string_view name : split_commas(names)) {
    if (name.empty()) break;  // OpenSSH's loop stops at an empty name
    bool found = std::find(known.begin(), known.end(), name) != known.end() ||
                 std::find(extra.begin(), extra.end(), name) != extra.end();
    if (!found && kind == AlgorithmKind::kKey) {
      // A pattern is accepted when it matches (or excludes) some key type.
      for (std::string_view key : known) {
        if (key::match_pattern_list(key, name) != 0) {
          found = true;
          break;
        }
      }
    }
    if (!found) return false;
  }
  return true;
}

key::Result<std::vector<std::string>> assemble_algorithms(std::string_view spec, const AlgorithmList& list,
                                                          std::vector<std::string>* dropped) {
  // The defaults the client supports, in the default order.
  std::vector<std::string> defaults;
  for (const std::string& name : list.defaults) {
    if (contains(list.supported, name) && !contains(defaults, name)) defaults.push_back(name);
  }
  if (spec.empty()) {
    if (defaults.empty()) return key::Error(key::Errc::kInvalidArgument, "no default algorithms");
    return defaults;
  }

  std::vector<std::string> wanted;
  auto spec_names = [](std::string_view text) {
    std::vector<std::string> names;
    for (std::string_view name : split_commas(text)) names.emplace_back(name);
    return names;
  };
  if (spec[0] == '-') {
    std::string_view patterns = spec.substr(1);
    std::vector<std::string> kept;
    for (const std::string& name : defaults) {
      if (key::match_pattern_list(name, patterns) != 1) kept.push_back(name);
    }
    if (kept.empty()) {
      return key::Error(key::Errc::kInvalidArgument, "\"" + std::string(spec) + "\" leaves no algorithm");
    }
    return kept;
  }
  if (spec[0] == '+') {
    wanted = defaults;
    std::vector<std::string> added = spec_names(spec.substr(1));
    for (const std::string& name : added) {
      if (!contains(wanted, name)) wanted.push_back(name);  // empty names stay: they match nothing
    }
  } else if (spec[0] == '^') {
    for (const std::string& name : spec_names(spec.substr(1))) {
      if (!contains(wanted, name)) wanted.push_back(name);
    }
    append_missing(wanted, defaults);
  } else {
    wanted = spec_names(spec);
  }

  std::vector<std::string> result;
  for (const std::string& pattern : wanted) {
    if (!pattern.empty() && pattern[0] == '!') {
      return key::Error(key::Errc::kInvalidArgument, "negated algorithm \"" + pattern + "\" is not allowed here");
    }
    std::vector<std::string> matching;
    for (const std::string& name : list.supported) {
      if (key::match_pattern(name, pattern)) matching.push_back(name);
    }
    if (matching.empty() && dropped != nullptr && !pattern.empty() &&
        pattern.find_first_of("*?") == std::string::npos && !contains(*dropped, pattern)) {
      dropped->push_back(pattern);
    }
    append_missing(result, matching);
  }
  if (result.empty()) {
    return key::Error(key::Errc::kInvalidArgument, "\"" + std::string(spec) + "\" names no supported algorithm");
  }
  return result;
}

}  // namespace tessera::ssh::config::detail
