// authorized_keys options and lines, following OpenSSH 9.2's auth-options.c
// (sshauthopt_parse, sshauthopt_from_cert, sshauthopt_merge) and
// auth2-pubkeyfile.c (auth_authorise_keyopts, auth_check_authkey_line,
// auth_check_principals_line) for what is accepted and in which order things
// are checked. Lines are handled as C strings would be: a NUL byte ends them.
#include "server/authorized_keys.h"

#include <netdb.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <utility>

#include "server/address_match.h"
#include "tessera/key/encoding.h"
#include "tessera/key/key.h"

namespace tessera::ssh::server {

using key::Errc;
using key::Error;
using key::Result;
using config::LogLevel;

namespace {

// Largest base64 key (or certificate) text on a line: a certificate may carry
// up to 256 principals, so allow well beyond SSH_MAX_PUBKEY_BYTES.
constexpr size_t kMaxKeyBase64Bytes = 128 * 1024;
// Longest service name tried as a permitopen port (a2port's getservbyname).
constexpr size_t kMaxServiceNameBytes = 64;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Everything up to the first NUL byte: what sshd's C strings see.
std::string_view c_string(std::string_view s) { return s.substr(0, s.find('\0')); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_ignore_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

Error malformed(std::string detail) { return Error(Errc::kMalformed, std::move(detail)); }

// strtonum(s, min, max) in base 10, as OpenSSH's a2port and a2tun use it:
// leading white space and a sign are allowed, nothing may follow the digits.
std::optional<int64_t> parse_number(std::string_view s, int64_t min, int64_t max) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  const size_t digits = i;
  int64_t value = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  if (i == digits || i != s.size()) return std::nullopt;
  if (negative) value = -value;
  if (value < min || value > max) return std::nullopt;
  return value;
}

// a2port(): a number 0..65535, or a TCP service name; -1 if neither.
int parse_port(std::string_view s) {
  if (auto n = parse_number(s, 0, 65535)) return static_cast<int>(*n);
  if (s.empty() || s.size() > kMaxServiceNameBytes) return -1;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '+') return -1;
  }
  const std::string name(s);
  servent entry{};
  servent* found = nullptr;
  std::array<char, 1024> buffer{};
  if (getservbyname_r(name.c_str(), "tcp", &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return -1;
  }
  return ntohs(static_cast<uint16_t>(found->s_port));
}

// hpdelim2(): splits "host:port", "host/port" or "[v6]:port". The host keeps
// its brackets; port is nullopt when there is no delimiter. Returns false
// where sshd's hpdelim2 returns NULL.
bool split_host_port(std::string_view s, std::string_view& host, std::optional<std::string_view>& port) {
  size_t end;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    end = close + 1;
  } else {
    end = std::min(s.size(), s.find_first_of(":/"));
  }
  if (end == s.size()) {
    host = s;
    port.reset();
    return true;
  }
  if (s[end] != ':' && s[end] != '/') return false;
  host = s.substr(0, end);
  port = s.substr(end + 1);
  return true;
}

// valid_env_name().
bool valid_environment_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

// The option parser's cursor: sshauthopt_parse's opt_flag / opt_match / opt_dequote.
class OptionCursor {
 public:
  explicit OptionCursor(std::string_view text) : text_(text) {}

  bool at_end_of_options() const { return pos_ >= text_.size() || is_blank(text_[pos_]); }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void advance() { ++pos_; }

  // opt_flag(): -1 if `name` (or "no-" name when negatable) is not next,
  // else 1 (or 0 when negated), consuming it. Prefixes match: "ptyx" is
  // "pty" followed by junk, which the caller then reports.
  int flag(std::string_view name, bool negatable) {
    size_t at = pos_;
    bool negated = false;
    if (negatable && starts_with_ignore_case(text_.substr(at), "no-")) {
      at += 3;
      negated = true;
    }
    if (!starts_with_ignore_case(text_.substr(at), name)) return -1;
    pos_ = at + name.size();
    return negated ? 0 : 1;
  }

  // opt_match(): "name=" next (case-insensitive), consumed.
  bool value_option(std::string_view name) {
    const std::string_view rest = text_.substr(pos_);
    if (!starts_with_ignore_case(rest, name) || rest.size() <= name.size() || rest[name.size()] != '=') return false;
    pos_ += name.size() + 1;
    return true;
  }

  // opt_dequote(): a double-quoted value, \" standing for a quote.
  Result<std::string> quoted() {
    if (pos_ >= text_.size() || text_[pos_] != '"') return malformed("missing start quote");
    std::string out;
    size_t i = pos_ + 1;
    while (i < text_.size() && text_[i] != '"') {
      if (text_[i] == '\\' && i + 1 < text_.size() && text_[i + 1] == '"') ++i;
      out.push_back(text_[i++]);
    }
    if (i >= text_.size()) return malformed("missing end quote");
    pos_ = i + 1;
    return out;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// handle_permit(): one permitopen= / permitlisten= value.
key::Status add_permit(OptionCursor& cursor, bool allow_bare_port, std::vector<std::string>& permits) {
  if (permits.size() > kMaxPermitOptions) return malformed("too many permission directives");
  TESSERA_ASSIGN_OR_RETURN(std::string value, cursor.quoted());
  if (allow_bare_port && value.find(':') == std::string::npos) value = "*:" + value;
  std::string_view host;
  std::optional<std::string_view> port;
  if (!split_host_port(value, host, port) || host.size() > kMaxPermitHostBytes) {
    return malformed("invalid permission hostname");
  }
  if (!port || (*port != "*" && parse_port(*port) <= 0)) return malformed("invalid permission port");
  permits.push_back(std::move(value));
  return {};
}

Result<uint32_t> parse_tunnel(std::string_view value) {
  if (value.size() == 3 && starts_with_ignore_case(value, "any")) return kTunnelAny;
  auto n = parse_number(value, 0, kMaxTunnelDevice);
  if (!n) return malformed("invalid tun device");
  return static_cast<uint32_t>(*n);
}

// One value option at the cursor; false if the cursor holds none.
Result<bool> parse_value_option(OptionCursor& cursor, AuthOptions& out) {
  if (cursor.value_option("command")) {
    if (out.force_command) return malformed("multiple \"command\" clauses");
    TESSERA_ASSIGN_OR_RETURN(out.force_command, cursor.quoted());
  } else if (cursor.value_option("principals")) {
    if (out.cert_principals) return malformed("multiple \"principals\" clauses");
    TESSERA_ASSIGN_OR_RETURN(out.cert_principals, cursor.quoted());
  } else if (cursor.value_option("from")) {
    if (out.required_from_host_keys) return malformed("multiple \"from\" clauses");
    TESSERA_ASSIGN_OR_RETURN(out.required_from_host_keys, cursor.quoted());
  } else if (cursor.value_option("expiry-time")) {
    TESSERA_ASSIGN_OR_RETURN(std::string value, cursor.quoted());
    auto t = key::parse_absolute_time(value);
    if (!t.ok() || *t == 0) return malformed("invalid expires time");
    if (out.valid_before == 0 || *t < out.valid_before) out.valid_before = *t;
  } else if (cursor.value_option("environment")) {
    if (out.environment.size() > kMaxEnvironmentOptions) return malformed("too many environment strings");
    TESSERA_ASSIGN_OR_RETURN(std::string value, cursor.quoted());
    const size_t eq = value.find('=');
    if (eq == std::string::npos || !valid_environment_name(std::string_view(value).substr(0, eq))) {
      return malformed("invalid environment string");
    }
    const std::string_view name = std::string_view(value).substr(0, eq + 1);  // "NAME="
    const bool seen = std::any_of(out.environment.begin(), out.environment.end(),
                                  [&](const std::string& e) { return std::string_view(e).starts_with(name); });
    if (!seen) out.environment.push_back(std::move(value));
  } else if (cursor.value_option("permitopen")) {
    TESSERA_TRY(add_permit(cursor, false, out.permit_open));
  } else if (cursor.value_option("permitlisten")) {
    TESSERA_TRY(add_permit(cursor, true, out.permit_listen));
  } else if (cursor.value_option("tunnel")) {
    TESSERA_ASSIGN_OR_RETURN(std::string value, cursor.quoted());
    TESSERA_ASSIGN_OR_RETURN(out.force_tun_device, parse_tunnel(value));
  } else {
    return false;
  }
  return true;
}

// One flag option at the cursor (in sshd's order of trying them); false if none.
bool parse_flag_option(OptionCursor& cursor, AuthOptions& out) {
  int r;
  if (cursor.flag("restrict", false) != -1) {
    out.restricted = true;
    out.permit_port_forwarding = out.permit_agent_forwarding = out.permit_x11_forwarding = false;
    out.permit_pty = out.permit_user_rc = false;
  } else if (cursor.flag("cert-authority", false) != -1) {
    out.cert_authority = true;
  } else if ((r = cursor.flag("port-forwarding", true)) != -1) {
    out.permit_port_forwarding = r == 1;
  } else if ((r = cursor.flag("agent-forwarding", true)) != -1) {
    out.permit_agent_forwarding = r == 1;
  } else if ((r = cursor.flag("x11-forwarding", true)) != -1) {
    out.permit_x11_forwarding = r == 1;
  } else if ((r = cursor.flag("touch-required", true)) != -1) {
    out.no_require_user_presence = r != 1;
  } else if ((r = cursor.flag("verify-required", true)) != -1) {
    out.require_verify = r == 1;
  } else if ((r = cursor.flag("pty", true)) != -1) {
    out.permit_pty = r == 1;
  } else if ((r = cursor.flag("user-rc", true)) != -1) {
    out.permit_user_rc = r == 1;
  } else {
    return false;
  }
  return true;
}

// ---- keys on lines ----

// sshkey_read() at the start of `text`: "type base64", the type naming what
// the blob holds. `only_type` (when set) stands for sshd's wanted key type:
// other types are not read at all.
Result<key::KeyOrCertificate> read_key(std::string_view text, std::string_view only_type) {
  const size_t type_end = text.find_first_of(" \t");
  if (type_end == std::string_view::npos) return malformed("no key data after the key type");
  const std::string_view type = text.substr(0, type_end);
  if (!only_type.empty() && type != only_type) return malformed("not a " + std::string(only_type) + " key");
  if (key::find_key_type(type) == nullptr && key::find_certificate_type(type) == nullptr) {
    return Error(Errc::kUnsupported, "unknown key type");
  }
  std::string_view rest = text.substr(type_end);
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  const std::string_view encoded = rest.substr(0, rest.find_first_of(" \t"));
  if (encoded.empty()) return malformed("no key data after the key type");
  if (encoded.size() > kMaxKeyBase64Bytes) return Error(Errc::kTooLarge, "key data too long");
  auto blob = key::base64_decode(encoded);
  if (!blob.ok()) return blob.error();
  TESSERA_ASSIGN_OR_RETURN(key::KeyOrCertificate found, key::KeyOrCertificate::from_blob(*blob));
  if (found.type_name() != type) return malformed("line names type " + std::string(type) + " for a " +
                                                  std::string(found.type_name()));
  return found;
}

// sshkey_advance_past_options(): the length of the options field, or nullopt
// for an unbalanced quote.
std::optional<size_t> options_field_length(std::string_view text) {
  bool quoted = false;
  size_t i = 0;
  for (; i < text.size() && (quoted || !is_blank(text[i])); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '"') {
      ++i;
    } else if (text[i] == '"') {
      quoted = !quoted;
    }
  }
  if (i == text.size() && quoted) return std::nullopt;
  return i;
}

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

// ---- binary form of AuthOptions ----

void put_optional(key::Writer& out, const std::optional<std::string>& s) {
  out.boolean(s.has_value());
  out.string(s ? std::string_view(*s) : std::string_view());
}

Result<std::optional<std::string>> get_optional(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t present, in.u8());
  TESSERA_ASSIGN_OR_RETURN(std::string_view s, in.text());
  if (present > 1) return malformed("auth options: bad presence flag");
  if (present == 0) {
    if (!s.empty()) return malformed("auth options: absent string with contents");
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::string(s));
}

void put_list(key::Writer& out, const std::vector<std::string>& list) {
  out.u32(static_cast<uint32_t>(list.size()));
  for (const std::string& s : list) out.string(s);
}

Result<std::vector<std::string>> get_list(key::Reader& in, size_t max) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, in.u32());
  if (count > max) return Error(Errc::kTooLarge, "auth options: list of " + std::to_string(count) + " entries");
  std::vector<std::string> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    TESSERA_ASSIGN_OR_RETURN(std::string_view s, in.text());
    out.emplace_back(s);
  }
  return out;
}

Result<bool> get_flag(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t v, in.u8());
  if (v > 1) return malformed("auth options: bad flag value");
  return v == 1;
}

// printf's "%.Ns": at most n bytes.
std::string clip(std::string_view s, size_t n) { return std::string(s.substr(0, n)); }

}  // namespace

// ---- AuthOptions ----

AuthOptions AuthOptions::nothing_permitted() {
  AuthOptions out;
  out.permit_port_forwarding = out.permit_agent_forwarding = out.permit_x11_forwarding = false;
  out.permit_pty = out.permit_user_rc = false;
  return out;
}

void AuthOptions::serialize(key::Writer& out) const {
  for (bool flag : {permit_port_forwarding, permit_agent_forwarding, permit_x11_forwarding, permit_pty,
                    permit_user_rc, restricted, cert_authority, no_require_user_presence, require_verify}) {
    out.boolean(flag);
  }
  out.u64(valid_before);
  out.boolean(force_tun_device.has_value());
  out.u32(force_tun_device.value_or(0));
  put_optional(out, cert_principals);
  put_optional(out, force_command);
  put_optional(out, required_from_host_cert);
  put_optional(out, required_from_host_keys);
  put_list(out, environment);
  put_list(out, permit_open);
  put_list(out, permit_listen);
}

Result<AuthOptions> AuthOptions::parse(key::Reader& in) {
  AuthOptions out;
  for (bool* flag : {&out.permit_port_forwarding, &out.permit_agent_forwarding, &out.permit_x11_forwarding,
                     &out.permit_pty, &out.permit_user_rc, &out.restricted, &out.cert_authority,
                     &out.no_require_user_presence, &out.require_verify}) {
    TESSERA_ASSIGN_OR_RETURN(*flag, get_flag(in));
  }
  TESSERA_ASSIGN_OR_RETURN(out.valid_before, in.u64());
  TESSERA_ASSIGN_OR_RETURN(bool has_tunnel, get_flag(in));
  TESSERA_ASSIGN_OR_RETURN(uint32_t tunnel, in.u32());
  if (has_tunnel) {
    if (tunnel > kMaxTunnelDevice && tunnel != kTunnelAny) return malformed("auth options: bad tunnel device");
    out.force_tun_device = tunnel;
  } else if (tunnel != 0) {
    return malformed("auth options: tunnel device without its flag");
  }
  TESSERA_ASSIGN_OR_RETURN(out.cert_principals, get_optional(in));
  TESSERA_ASSIGN_OR_RETURN(out.force_command, get_optional(in));
  TESSERA_ASSIGN_OR_RETURN(out.required_from_host_cert, get_optional(in));
  TESSERA_ASSIGN_OR_RETURN(out.required_from_host_keys, get_optional(in));
  TESSERA_ASSIGN_OR_RETURN(out.environment, get_list(in, kMaxEnvironmentOptions + 1));
  TESSERA_ASSIGN_OR_RETURN(out.permit_open, get_list(in, kMaxPermitOptions + 1));
  TESSERA_ASSIGN_OR_RETURN(out.permit_listen, get_list(in, kMaxPermitOptions + 1));
  return out;
}

Result<AuthOptions> parse_auth_options(std::string_view text) {
  AuthOptions out;
  OptionCursor cursor(c_string(text));
  while (!cursor.at_end_of_options()) {
    if (!parse_flag_option(cursor, out)) {
      TESSERA_ASSIGN_OR_RETURN(bool found, parse_value_option(cursor, out));
      (void)found;  // nothing recognised: the ',' check below reports it
    }
    if (cursor.at_end_of_options()) break;
    if (cursor.peek() != ',') return malformed("unknown key option");
    cursor.advance();
    if (cursor.at_end()) return malformed("unexpected end-of-options");
  }
  return out;
}

// ---- certificates ----

Result<AuthOptions> auth_options_from_certificate(const key::Certificate& cert, std::vector<std::string>* ignored) {
  if (cert.type != key::CertType::kUser) return malformed("Certificate invalid: not a user certificate");
  AuthOptions out = AuthOptions::nothing_permitted();
  for (const key::CertOption& option : cert.critical_options) {
    const std::string& name = option.name;
    if (name.find('\0') != std::string::npos) return malformed("Unable to parse certificate options");
    key::Reader data(option.data);
    if (name == "verify-required") {
      out.require_verify = true;
    } else if (name == "force-command" || name == "source-address") {
      auto value = data.text();
      if (!value.ok()) return malformed("Unable to parse \"" + name + "\" section: " + value.error().message());
      if (name == "force-command") {
        if (out.force_command) return malformed("Certificate has multiple force-command options");
        out.force_command = std::string(*value);
      } else {
        if (out.required_from_host_cert) return malformed("Certificate has multiple source-address options");
        if (!cidr_list_valid(*value)) return malformed("Certificate source-address contents invalid");
        out.required_from_host_cert = std::string(*value);
      }
    } else {
      return Error(Errc::kUnsupported, "Certificate critical option \"" + name + "\" is not supported");
    }
    if (!data.empty()) return malformed("Certificate option \"" + name + "\" corrupt (extra data)");
  }
  for (const key::CertOption& option : cert.extensions) {
    const std::string& name = option.name;
    if (name.find('\0') != std::string::npos) return malformed("Unable to parse certificate options");
    if (name == "no-touch-required") {
      out.no_require_user_presence = true;
    } else if (name == "permit-X11-forwarding") {
      out.permit_x11_forwarding = true;
    } else if (name == "permit-agent-forwarding") {
      out.permit_agent_forwarding = true;
    } else if (name == "permit-port-forwarding") {
      out.permit_port_forwarding = true;
    } else if (name == "permit-pty") {
      out.permit_pty = true;
    } else if (name == "permit-user-rc") {
      out.permit_user_rc = true;
    } else {
      if (ignored != nullptr) ignored->push_back("Certificate extension \"" + name + "\" is not supported");
      continue;
    }
    if (!option.data.empty()) return malformed("Certificate option \"" + name + "\" corrupt (extra data)");
  }
  return out;
}

Result<AuthOptions> merge_auth_options(const AuthOptions& primary, const AuthOptions& additional) {
  AuthOptions out = AuthOptions::nothing_permitted();
  out.required_from_host_cert =
      primary.required_from_host_cert ? primary.required_from_host_cert : additional.required_from_host_cert;
  out.required_from_host_keys =
      primary.required_from_host_keys ? primary.required_from_host_keys : additional.required_from_host_keys;
  out.force_tun_device = primary.force_tun_device ? primary.force_tun_device : additional.force_tun_device;
  out.environment = !primary.environment.empty() ? primary.environment : additional.environment;
  out.permit_open = !primary.permit_open.empty() ? primary.permit_open : additional.permit_open;
  out.permit_listen = !primary.permit_listen.empty() ? primary.permit_listen : additional.permit_listen;
  out.permit_port_forwarding = primary.permit_port_forwarding && additional.permit_port_forwarding;
  out.permit_agent_forwarding = primary.permit_agent_forwarding && additional.permit_agent_forwarding;
  out.permit_x11_forwarding = primary.permit_x11_forwarding && additional.permit_x11_forwarding;
  out.permit_pty = primary.permit_pty && additional.permit_pty;
  out.permit_user_rc = primary.permit_user_rc && additional.permit_user_rc;
  out.no_require_user_presence = primary.no_require_user_presence && additional.no_require_user_presence;
  out.require_verify = primary.require_verify || additional.require_verify;
  // The earlier of two expiry times. (sshd 9.2 keeps primary's alone when
  // only the additional options have one; certificates never carry one, so
  // this changes nothing sshd accepts.)
  out.valid_before = primary.valid_before;
  if (additional.valid_before != 0 && (out.valid_before == 0 || additional.valid_before < out.valid_before)) {
    out.valid_before = additional.valid_before;
  }
  if (primary.force_command && additional.force_command && *primary.force_command != *additional.force_command) {
    return malformed("forced command options do not match");
  }
  out.force_command = primary.force_command ? primary.force_command : additional.force_command;
  return out;
}

bool authorise_auth_options(const AuthOptions& options, bool allow_cert_authority, std::string_view user,
                            const RemoteClient& client, uint64_t now, std::string_view where, LogLines& log) {
  const std::string loc(where);
  if (options.valid_before != 0 && options.valid_before < now) {
    log.push_back({LogLevel::kDebug1, loc + ": entry expired at " + key::format_absolute_time(options.valid_before)});
    return false;
  }
  if (options.cert_principals && !options.cert_authority) {
    log.push_back({LogLevel::kDebug1, loc + ": principals on non-CA key"});
    return false;
  }
  if (!allow_cert_authority && options.cert_authority) {
    log.push_back({LogLevel::kDebug1, loc + ": cert-authority flag invalid here"});
    return false;
  }
  if (options.required_from_host_keys) {
    const int r = match_host_and_address(client.host, client.address, *options.required_from_host_keys);
    if (r != 1) {
      if (r == -1) log.push_back({LogLevel::kDebug1, loc + ": invalid from criteria"});
      log.push_back({LogLevel::kInfo, loc + ": Authentication tried for " + clip(user, 100) +
                                          " with correct key but not from a permitted host (host=" +
                                          clip(client.host, 200) + ", ip=" + clip(client.address, 200) +
                                          ", required=" + clip(*options.required_from_host_keys, 200) + ")."});
      return false;
    }
  }
  if (options.required_from_host_cert) {
    const int r = match_cidr_list(client.address, *options.required_from_host_cert);
    if (r != 1) {
      if (r == -1) log.push_back({LogLevel::kError, loc + ": Certificate source-address invalid"});
      log.push_back({LogLevel::kInfo, loc + ": Authentication tried for " + clip(user, 100) +
                                          " with valid certificate but not from a permitted source address (" +
                                          clip(client.address, 200) + ")."});
      return false;
    }
  }
  log.push_back({LogLevel::kDebug1, loc + ": key options:" + describe_auth_options(options)});
  return true;
}

std::string describe_auth_options(const AuthOptions& o) {
  std::string out;
  if (o.permit_agent_forwarding) out += " agent-forwarding";
  if (o.force_command) out += " command";
  if (!o.environment.empty()) out += " environment";
  if (o.valid_before != 0) out += " expires";
  if (o.no_require_user_presence) out += " no-touch-required";
  if (!o.permit_open.empty()) out += " permitopen";
  if (!o.permit_listen.empty()) out += " permitlisten";
  if (o.permit_port_forwarding) out += " port-forwarding";
  if (o.cert_principals) out += " principals";
  if (o.permit_pty) out += " pty";
  if (o.require_verify) out += " uv";
  if (o.force_tun_device) {
    out += " tun=" + (*o.force_tun_device == kTunnelAny ? std::string("any") : std::to_string(*o.force_tun_device));
  }
  if (o.permit_user_rc) out += " user-rc";
  if (o.permit_x11_forwarding) out += " x11-forwarding";
  return out;
}

// ---- lines ----

Result<std::optional<AuthorizedKeysLine>> read_authorized_keys_line(std::string_view line,
                                                                    std::string_view only_type) {
  line = c_string(line);
  line = line.substr(0, line.find('\n'));
  if (line.size() > kMaxAuthorizedKeysLineBytes) return Error(Errc::kTooLarge, "line too long");
  line = skip_blanks(line);
  if (line.empty() || line.front() == '#') return std::optional<AuthorizedKeysLine>();

  auto at_start = read_key(line, only_type);
  if (at_start.ok()) {
    return std::optional<AuthorizedKeysLine>(AuthorizedKeysLine{std::move(*at_start), {}, AuthOptions{}});
  }
  auto field = options_field_length(line);
  if (!field) return malformed("invalid key option string");
  auto after = read_key(skip_blanks(line.substr(*field)), only_type);
  if (!after.ok()) return Error(after.error().code(), "no key: " + after.error().message());
  auto options = parse_auth_options(line);
  if (!options.ok()) return malformed("bad key options: " + options.error().message());
  return std::optional<AuthorizedKeysLine>(
      AuthorizedKeysLine{std::move(*after), std::string(line.substr(0, *field)), std::move(*options)});
}

Result<std::optional<PrincipalsLine>> read_principals_line(std::string_view line) {
  line = c_string(line);
  line = line.substr(0, line.find('\n'));
  if (line.size() > kMaxAuthorizedKeysLineBytes) return Error(Errc::kTooLarge, "line too long");
  line = skip_blanks(line);
  line = line.substr(0, line.find('#'));
  if (line.empty()) return std::optional<PrincipalsLine>();
  // Trailing blanks go, but never the first character (sshd's loop stops there).
  while (line.size() > 1 && is_blank(line.back())) line.remove_suffix(1);

  std::string_view principal = line;
  std::string_view options_text;
  size_t blank = line.rfind(' ');
  if (blank == std::string_view::npos) blank = line.rfind('\t');
  if (blank != std::string_view::npos) {
    options_text = line;
    principal = skip_blanks(line.substr(blank));
  }
  auto options = parse_auth_options(options_text);
  if (!options.ok()) return malformed("bad principals options: " + options.error().message());
  return std::optional<PrincipalsLine>(PrincipalsLine{std::string(principal), std::move(*options)});
}

bool principals_option_matches(std::string_view principals_option, const key::Certificate& cert) {
  for (const std::string& principal : cert.principals) {
    // match_list(): every comma-separated name of the principal against every name of the option.
    std::string_view names = c_string(principal);
    while (true) {
      const size_t comma = names.find(',');
      const std::string_view name = names.substr(0, comma);
      std::string_view allowed = c_string(principals_option);
      while (true) {
        const size_t c = allowed.find(',');
        if (allowed.substr(0, c) == name) return true;
        if (c == std::string_view::npos) break;
        allowed.remove_prefix(c + 1);
      }
      if (comma == std::string_view::npos) break;
      names.remove_prefix(comma + 1);
    }
  }
  return false;
}

}  // namespace tessera::ssh::server
