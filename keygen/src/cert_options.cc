#include "cert_options.h"

#include "tessera/sys/convtime.h"

#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace tessera::keygen {
namespace {

key::Error invalid(std::string message) { return key::Error(key::Errc::kInvalidArgument, std::move(message)); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// OpenSSH 9.2's convtime(): a sequence of number[s|m|h|d|w]; the total
// must fit an int. -1 when it does not parse.
long long convtime(std::string_view s) {
  const std::optional<int> seconds = sys::parse_convtime(s);
  return seconds ? *seconds : -1;
}

// "-timespec" / "+timespec" from now.
key::Result<uint64_t> parse_relative_time(const std::string& s, std::time_t now) {
  long long secs = convtime(std::string_view(s).substr(1));
  if (secs == -1) return invalid("Invalid relative certificate time " + s);
  if (s[0] == '-') {
    if (secs > now) return invalid("Certificate time " + s + " cannot be represented");
    return static_cast<uint64_t>(now - secs);
  }
  return static_cast<uint64_t>(now) + static_cast<uint64_t>(secs);
}

key::Result<uint64_t> parse_hex_time(const std::string& s) {
  errno = 0;
  char* end = nullptr;
  unsigned long long value = std::strtoull(s.c_str(), &end, 16);
  if (s.empty() || *end != '\0') return invalid("Invalid certificate time: not a number");
  if (errno == ERANGE && value == ULLONG_MAX) {
    return invalid("parse_hex_u64: Invalid certificate time: " + std::string(std::strerror(ERANGE)));
  }
  return static_cast<uint64_t>(value);
}

// OpenSSH's parse_absolute_time(): YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS,
// local time unless it ends in Z or UTC (either case).
std::optional<uint64_t> parse_absolute_time(const std::string& s) {
  size_t len = s.size();
  bool utc = false;
  if (len > 1 && ::strcasecmp(s.c_str() + len - 1, "Z") == 0) {
    utc = true;
    len -= 1;
  } else if (len > 3 && ::strcasecmp(s.c_str() + len - 3, "UTC") == 0) {
    utc = true;
    len -= 3;
  }
  const char* p = s.c_str();
  char buf[32];
  const char* fmt = nullptr;
  switch (len) {
    case 8:
      fmt = "%Y-%m-%d";
      std::snprintf(buf, sizeof buf, "%.4s-%.2s-%.2s", p, p + 4, p + 6);
      break;
    case 12:
      fmt = "%Y-%m-%dT%H:%M";
      std::snprintf(buf, sizeof buf, "%.4s-%.2s-%.2sT%.2s:%.2s", p, p + 4, p + 6, p + 8, p + 10);
      break;
    case 14:
      fmt = "%Y-%m-%dT%H:%M:%S";
      std::snprintf(buf, sizeof buf, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", p, p + 4, p + 6, p + 8, p + 10, p + 12);
      break;
    default:
      return std::nullopt;
  }
  std::tm tm{};
  const char* rest = ::strptime(buf, fmt, &tm);
  if (rest == nullptr || *rest != '\0') return std::nullopt;
  std::time_t t = utc ? ::timegm(&tm) : std::mktime(&tm);
  if (t < 0) return std::nullopt;
  return static_cast<uint64_t>(t);
}

// One end of from:to. `open_word` is "always" or "forever".
key::Result<uint64_t> parse_bound(const std::string& s, std::time_t now, std::string_view open_word,
                                  uint64_t open_value, std::string_view which) {
  if (s[0] == '-' || s[0] == '+') return parse_relative_time(s, now);
  if (s == open_word) return open_value;
  if (s.starts_with("0x")) return parse_hex_time(s);
  if (auto t = parse_absolute_time(s)) return *t;
  return invalid("Invalid " + std::string(which) + " time \"" + s + "\"");
}

std::string format_time(uint64_t t) {
  // As OpenSSH's format_absolute_time(): clamped to time_t, local time.
  std::time_t tt = t > static_cast<uint64_t>(LLONG_MAX) ? LLONG_MAX : static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(buf, n);
}

// OpenSSH's addr_match_cidr_list(NULL, list): every entry an address or
// network in CIDR form, with no host bits set.
key::Status check_cidr_list(std::string_view list) {
  constexpr std::string_view kAllowed = "0123456789abcdefABCDEF.:/";
  constexpr size_t kMaxEntry = 46 + 3;  // INET6_ADDRSTRLEN + "/128"
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string entry(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (entry.empty()) return invalid("empty entry in list");
    if (entry.size() > kMaxEntry) return invalid("list entry \"" + entry + "\" is too long");
    if (entry.find_first_not_of(kAllowed) != std::string::npos) {
      return invalid("list entry \"" + entry + "\" contains invalid characters");
    }
    std::string address = entry;
    long mask = -1;
    if (size_t slash = entry.find('/'); slash != std::string::npos) {
      address = entry.substr(0, slash);
      std::string bits = entry.substr(slash + 1);
      char* end = nullptr;
      mask = bits.empty() ? -1 : std::strtol(bits.c_str(), &end, 10);
      if (bits.empty() || *end != '\0' || mask < 0) return invalid("invalid network entry \"" + entry + "\"");
    }
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* ai = nullptr;
    if (address.empty() || ::getaddrinfo(address.c_str(), nullptr, &hints, &ai) != 0 || ai == nullptr) {
      return invalid("invalid network entry \"" + entry + "\"");
    }
    std::vector<uint8_t> bytes;
    if (ai->ai_family == AF_INET) {
      auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      auto* b = reinterpret_cast<const uint8_t*>(&sin->sin_addr);
      bytes.assign(b, b + 4);
    } else if (ai->ai_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      auto* b = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
      bytes.assign(b, b + 16);
    }
    ::freeaddrinfo(ai);
    if (bytes.empty()) return invalid("invalid network entry \"" + entry + "\"");
    long max_mask = static_cast<long>(bytes.size() * 8);
    if (mask == -1) mask = max_mask;
    if (mask > max_mask) return invalid("inconsistent mask length for network \"" + entry + "\"");
    for (long bit = mask; bit < max_mask; ++bit) {
      if ((bytes[static_cast<size_t>(bit / 8)] >> (7 - bit % 8)) & 1) {
        return invalid("inconsistent mask length for network \"" + entry + "\"");
      }
    }
    if (comma == std::string_view::npos) return {};
    start = comma + 1;
  }
}

key::CertOption flag(std::string_view name) { return {std::string(name), {}}; }

key::CertOption with_value(std::string_view name, std::string_view value) {
  key::Writer data;
  data.string(value);
  return {std::string(name), data.take()};
}

}  // namespace

key::Result<Validity> parse_validity(std::string_view spec_view, std::time_t now) {
  const std::string spec(spec_view);
  if (spec.starts_with('+') && spec.find(':') == std::string::npos) {
    long long secs = convtime(std::string_view(spec).substr(1));
    if (secs == -1) return invalid("Invalid relative certificate life " + spec);
    // Backdated a minute (rounded down) for hosts with poorly synchronised clocks, as ssh-keygen.
    return Validity{static_cast<uint64_t>(((now - 59) / 60) * 60),
                    static_cast<uint64_t>(now) + static_cast<uint64_t>(secs)};
  }
  size_t colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
    return invalid("Invalid certificate life specification " + spec);
  }
  Validity v;
  TESSERA_ASSIGN_OR_RETURN(v.valid_after, parse_bound(spec.substr(0, colon), now, "always", 0, "from"));
  TESSERA_ASSIGN_OR_RETURN(v.valid_before, parse_bound(spec.substr(colon + 1), now, "forever", UINT64_MAX, "to"));
  if (v.valid_before <= v.valid_after) return invalid("Empty certificate validity interval");
  return v;
}

std::string format_validity(uint64_t valid_after, uint64_t valid_before) {
  if (valid_after == 0 && valid_before == UINT64_MAX) return "forever";
  std::string text;
  if (valid_after == 0) {
    text = "before " + format_time(valid_before);
  } else if (valid_before == UINT64_MAX) {
    text = "after " + format_time(valid_after);
  } else {
    text = "from " + format_time(valid_after) + " to " + format_time(valid_before);
  }
  // ssh-keygen formats into a 64-byte buffer.
  if (text.size() > 63) text.resize(63);
  return text;
}

key::Status CertificateSections::apply(std::string_view opt) {
  struct Permission {
    std::string_view name;
    unsigned bit;
    bool set;
  };
  static constexpr Permission kPermissions[] = {
      {"no-x11-forwarding", kPermitX11Forwarding, false},   {"permit-x11-forwarding", kPermitX11Forwarding, true},
      {"no-agent-forwarding", kPermitAgentForwarding, false}, {"permit-agent-forwarding", kPermitAgentForwarding, true},
      {"no-port-forwarding", kPermitPortForwarding, false},  {"permit-port-forwarding", kPermitPortForwarding, true},
      {"no-pty", kPermitPty, false},                          {"permit-pty", kPermitPty, true},
      {"no-user-rc", kPermitUserRc, false},                   {"permit-user-rc", kPermitUserRc, true},
      {"touch-required", kNoTouchRequired, false},            {"no-touch-required", kNoTouchRequired, true},
      {"no-verify-required", kVerifyRequired, false},         {"verify-required", kVerifyRequired, true},
  };
  if (iequals(opt, "clear")) {
    permissions_ = 0;
    return {};
  }
  for (const Permission& p : kPermissions) {
    if (!iequals(opt, p.name)) continue;
    permissions_ = p.set ? (permissions_ | p.bit) : (permissions_ & ~p.bit);
    return {};
  }
  if (istarts_with(opt, "force-command=")) {
    std::string_view value = opt.substr(14);
    if (value.empty()) return invalid("Empty force-command option");
    if (force_command_) return invalid("force-command already specified");
    force_command_ = std::string(value);
    return {};
  }
  if (istarts_with(opt, "source-address=")) {
    std::string_view value = opt.substr(15);
    if (value.empty()) return invalid("Empty source-address option");
    if (source_address_) return invalid("source-address already specified");
    if (auto checked = check_cidr_list(value); !checked.ok()) {
      return invalid("Invalid source-address list: " + checked.error().detail());
    }
    source_address_ = std::string(value);
    return {};
  }
  bool critical = istarts_with(opt, "critical:");
  if (critical || istarts_with(opt, "extension:")) {
    std::string_view rest = opt.substr(opt.find(':') + 1);
    size_t eq = rest.find('=');
    key::CertOption option = eq == std::string_view::npos ? flag(rest) : with_value(rest.substr(0, eq), rest.substr(eq + 1));
    (critical ? custom_critical_ : custom_extensions_).push_back(std::move(option));
    return {};
  }
  return invalid("Unsupported certificate option \"" + std::string(opt) + "\"");
}

key::Status CertificateSections::build(std::vector<key::CertOption>& critical,
                                       std::vector<key::CertOption>& extensions) const {
  critical.clear();
  extensions.clear();
  if (force_command_) critical.push_back(with_value("force-command", *force_command_));
  if (source_address_) critical.push_back(with_value("source-address", *source_address_));
  if (permissions_ & kVerifyRequired) critical.push_back(flag("verify-required"));
  critical.insert(critical.end(), custom_critical_.begin(), custom_critical_.end());

  static constexpr std::pair<unsigned, std::string_view> kExtensionNames[] = {
      {kPermitX11Forwarding, "permit-X11-forwarding"}, {kPermitAgentForwarding, "permit-agent-forwarding"},
      {kPermitPortForwarding, "permit-port-forwarding"}, {kPermitPty, "permit-pty"},
      {kPermitUserRc, "permit-user-rc"},                 {kNoTouchRequired, "no-touch-required"},
  };
  for (const auto& [bit, name] : kExtensionNames) {
    if (permissions_ & bit) extensions.push_back(flag(name));
  }
  extensions.insert(extensions.end(), custom_extensions_.begin(), custom_extensions_.end());
  TESSERA_TRY(key::sort_certificate_options(critical, "critical option"));
  return key::sort_certificate_options(extensions, "extension");
}

key::Result<std::vector<std::string>> split_principals(std::string_view list) {
  std::vector<std::string> principals;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string_view name = list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (name.empty()) return invalid("Empty principal name");
    principals.emplace_back(name);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (principals.size() > key::kMaxCertPrincipals) return invalid("Too many certificate principals specified");
  return principals;
}

}  // namespace tessera::keygen
