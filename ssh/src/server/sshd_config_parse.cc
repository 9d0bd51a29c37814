// Reading sshd_config as OpenSSH 9.2's sshd does: process_server_config_line()
// for every keyword (the same checks and messages, first obtained value wins),
// the -o options first, Include with its glob and depth limit, and Match
// lines split into scopes for resolve(). What tessera-sshd ignores or refuses
// is checked on every line, active or not.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>

#include "config/internal.h"
#include "server/address_match.h"
#include "server/sshd_config_internal.h"
#include "tessera/key/match.h"

namespace tessera::ssh::server {
namespace detail {

void Diagnostics::error(const config::Origin& origin, std::string_view keyword, std::string message) {
  ++error_count;
  if (errors.size() < config::kMaxDiagnostics) errors.push_back({origin, std::string(keyword), std::move(message)});
}
void Diagnostics::warning(const config::Origin& origin, std::string_view keyword, std::string message) {
  if (warnings.size() < config::kMaxDiagnostics) {
    warnings.push_back({origin, std::string(keyword), std::move(message)});
  }
}
void Diagnostics::note(const config::Origin& origin, std::string_view keyword, std::string message) {
  if (notes.size() < config::kMaxDiagnostics) notes.push_back({origin, std::string(keyword), std::move(message)});
}

namespace {

using config::detail::equals_ignore_case;

constexpr std::string_view kWhitespace = " \t\r\n";
bool is_whitespace(char c) { return kWhitespace.find(c) != std::string_view::npos; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

struct Multistate {
  std::string_view key;
  int value;
};
constexpr Multistate kFlag[] = {{"yes", 1}, {"no", 0}};
constexpr Multistate kIgnoreRhosts[] = {{"yes", 1}, {"no", 0}, {"shosts-only", 2}};
constexpr Multistate kAddressFamilies[] = {{"inet", kFamilyInet}, {"inet6", kFamilyInet6}, {"any", kFamilyAny}};
constexpr Multistate kRootLogin[] = {{"without-password", kRootNoPassword},
                                     {"prohibit-password", kRootNoPassword},
                                     {"forced-commands-only", kRootForcedOnly},
                                     {"yes", kRootYes},
                                     {"no", kRootNo}};
constexpr Multistate kCompression[] = {{"yes", 2}, {"delayed", 2}, {"no", 0}};
constexpr Multistate kGateway[] = {{"clientspecified", kGatewayClientSpecified}, {"yes", kGatewayYes}, {"no", kGatewayNo}};
constexpr Multistate kTcpForwarding[] = {
    {"yes", kForwardAll}, {"all", kForwardAll}, {"no", kForwardNo}, {"remote", kForwardRemote}, {"local", kForwardLocal}};
// PermitTunnel's words are compared with case.
constexpr Multistate kTunnel[] = {{"no", 0}, {"point-to-point", 1}, {"ethernet", 2}, {"yes", 3}};

std::string_view multistate_name(std::span<const Multistate> table, int value) {
  for (const Multistate& m : table) {
    if (m.value == value) return m.key;
  }
  return "UNKNOWN";
}

// misc.c's hpdelim(): the host part of "host:port", "[v6]:port" or "host";
// `rest` becomes what follows the ':' (nullopt when there is none). nullopt
// for a '[' without ']', junk after "]", or a '/' delimiter.
std::optional<std::string> split_host(std::string_view text, std::optional<std::string>* rest) {
  size_t end;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    end = close + 1;
  } else {
    end = text.find_first_of(":/");
    if (end == std::string_view::npos) end = text.size();
  }
  if (end == text.size()) {
    rest->reset();
    return std::string(text);
  }
  if (text[end] != ':') return std::nullopt;
  *rest = std::string(text.substr(end + 1));
  return std::string(text.substr(0, end));
}

// cleanhostname(): "[addr]" loses its brackets.
std::string clean_host(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

// permitopen_port(): "*" is any port (0); -1 when invalid.
int permit_port(std::string_view text) {
  if (text == "*") return 0;
  int port = config::detail::parse_port(text);
  return port > 0 ? port : -1;
}

// match_user(NULL, NULL, NULL, pattern): only the part after the first '@'
// is checked, as an address list.
bool valid_user_pattern(std::string_view pattern) {
  size_t at = pattern.find('@');
  if (at == std::string_view::npos) return true;
  return address_list_valid(pattern.substr(at + 1));
}

// auth2_methods_valid(list, 0): every comma-separated method (":submethod"
// dropped) is one sshd knows; an error message otherwise.
std::optional<std::string> invalid_methods(std::string_view list) {
  static constexpr std::string_view kMethods[] = {"none",     "publickey",   "gssapi-with-mic", "gssapi-keyex",
                                                  "password", "keyboard-interactive", "hostbased"};
  if (list.empty()) return std::string("empty authentication method list");
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string_view method = list.substr(start, comma == std::string_view::npos ? comma : comma - start);
    std::string_view name = method.substr(0, method.find(':'));
    if (std::find(std::begin(kMethods), std::end(kMethods), name) == std::end(kMethods)) {
      return "Unknown authentication method \"" + std::string(name) + "\" in list";
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::nullopt;
}

// Applies one line to the options, as process_server_config_line() does.
class Applier {
 public:
  Applier(Options& options, const Line& line, const LineState& state, const ParseEnv& env)
      : o_(options), line_(line), state_(state), env_(env), keyword_(line.keyword) {}

  void run();

 private:
  const std::string* arg() { return next_ < line_.args.size() ? &line_.args[next_++] : nullptr; }
  void consume_all() { next_ = line_.args.size(); }
  bool active() const { return state_.active; }

  // Reports an error (only when loading) and stops the line.
  void fail(std::string message) {
    failed_ = true;
    if (state_.diagnostics != nullptr) state_.diagnostics->error(line_.origin, keyword_, std::move(message));
  }

  // What tessera-sshd does with a value of a keyword it does not implement:
  // OpenSSH's default is noted, other values are warned about or refused.
  void check_support(std::string_view value);

  // The value of a keyword sshd reads with the parser named.
  std::optional<int> multistate(std::span<const Multistate> table, bool fold_case = true);
  std::optional<int> flag() { return multistate(kFlag); }
  std::optional<int> integer() { return integer_of(arg()); }
  std::optional<int> integer_of(const std::string* text);
  std::optional<int> time_value();
  std::optional<std::string> filename(std::string_view missing = "missing file name.");
  std::optional<std::string> derelativise(std::string_view path);
  std::optional<std::string> tilde(std::string_view path);
  std::optional<std::string> algorithms(config::detail::AlgorithmKind kind, std::string_view bad);

  void set_int(int& field, std::optional<int> value) {
    if (value && active() && field == -1) field = *value;
  }
  void set_string(std::optional<std::string>& field, std::optional<std::string> value) {
    if (value && active() && !field) field = std::move(value);
  }
  bool room(const std::vector<std::string>& list) {
    if (list.size() < kMaxListEntries) return true;
    fail("too many " + keyword_ + " entries (at most " + std::to_string(kMaxListEntries) + ")");
    return false;
  }

  void listen_address();
  void rekey_limit();
  void subsystem();
  void max_startups();
  void per_source_netblock_size();
  void permit_open(bool listen);
  void authentication_methods();
  void log_verbose();
  void channel_timeout();

  Options& o_;
  const Line& line_;
  const LineState& state_;
  const ParseEnv& env_;
  const std::string& keyword_;
  size_t next_ = 0;
  bool failed_ = false;
};

void Applier::check_support(std::string_view value) {
  if (state_.diagnostics == nullptr || failed_) return;
  const KeywordInfo& info = keyword_info(line_.name->keyword);
  Diagnostics& d = *state_.diagnostics;
  switch (info.openssh) {
    case OpenSshStatus::kSilentlyIgnored:
      d.note(line_.origin, keyword_, std::string(info.name) + " is ignored, as by OpenSSH");
      return;
    case OpenSshStatus::kDeprecated:
      d.warning(line_.origin, keyword_, "Deprecated option " + keyword_);
      return;
    case OpenSshStatus::kUnsupported:
      d.warning(line_.origin, keyword_, "Unsupported option " + keyword_);
      return;
    default:
      break;
  }
  if (info.support == Support::kImplemented) return;
  std::string setting = std::string(info.name) + " " + std::string(value);
  bool is_default = value == info.openssh_default ||
                    (equals_ignore_case(value, "none") && equals_ignore_case(info.openssh_default, "none"));
  if (is_default) {
    d.note(line_.origin, keyword_, setting + " is OpenSSH's default; tessera-sshd: " + std::string(info.note));
  } else if (info.support == Support::kIgnored) {
    d.warning(line_.origin, keyword_, setting + " is ignored by tessera-sshd: " + std::string(info.note));
  } else {
    std::string fix = info.openssh_default.empty() ? std::string("remove the line")
                                                   : "set " + std::string(info.name) + " " +
                                                         std::string(info.openssh_default) + " or remove the line";
    fail(setting + " is not supported by tessera-sshd: " + std::string(info.note) + "; " + fix);
  }
}

std::optional<int> Applier::multistate(std::span<const Multistate> table, bool fold_case) {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) {
    fail("missing argument.");
    return std::nullopt;
  }
  for (const Multistate& m : table) {
    if (fold_case ? equals_ignore_case(*a, m.key) : *a == m.key) return m.value;
  }
  fail("unsupported option \"" + *a + "\".");
  return std::nullopt;
}

std::optional<int> Applier::integer_of(const std::string* a) {
  std::string why;
  auto value = config::detail::parse_integer(a == nullptr ? std::string_view() : std::string_view(*a), &why);
  if (!value) fail(keyword_ + " integer value " + why + ".");
  return value;
}

std::optional<int> Applier::time_value() {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) {
    fail("missing time value.");
    return std::nullopt;
  }
  auto value = config::detail::parse_time(*a);
  if (!value) fail("invalid time value.");
  return value;
}

std::optional<std::string> Applier::tilde(std::string_view path) {
  auto expanded = config::detail::expand_tilde(path, env_.home);
  if (!expanded.ok()) {
    fail("tilde_expand_filename: " + expanded.error().message());
    return std::nullopt;
  }
  return std::move(expanded).value();
}

// derelativise_path(): "none" stays, '~' expands, a relative path is taken
// from the working directory.
std::optional<std::string> Applier::derelativise(std::string_view path) {
  if (equals_ignore_case(path, "none")) return std::string("none");
  auto expanded = tilde(path);
  if (!expanded) return std::nullopt;
  if (!expanded->empty() && (*expanded)[0] == '/') return expanded;
  return env_.cwd + "/" + *expanded;
}

std::optional<std::string> Applier::filename(std::string_view missing) {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) {
    fail(std::string(missing));
    return std::nullopt;
  }
  return derelativise(*a);
}

std::optional<std::string> Applier::algorithms(config::detail::AlgorithmKind kind, std::string_view bad) {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) {
    fail(kind == config::detail::AlgorithmKind::kKey ? "Missing argument." : keyword_ + " missing argument.");
    return std::nullopt;
  }
  std::string_view names = *a;
  if (names[0] != '-') {
    if (names[0] == '+' || names[0] == '^') names.remove_prefix(1);
    if (!config::detail::algorithm_names_valid(kind, names, {})) {
      fail(std::string(bad) + " '" + *a + "'.");
      return std::nullopt;
    }
  }
  return *a;
}

void Applier::listen_address() {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) return fail("missing address");
  std::string host;
  int port = 0;
  size_t colon = a->find(':');
  if (a->find('[') == std::string::npos && colon != std::string::npos &&
      a->find(':', colon + 1) != std::string::npos) {
    host = *a;  // a bare IPv6 address
  } else {
    std::optional<std::string> rest;
    auto part = split_host(*a, &rest);
    if (!part) return fail("bad address:port usage");
    host = clean_host(*part);
    if (rest) {
      port = config::detail::parse_port(*rest);
      if (port <= 0) return fail("bad port number");
    }
  }
  if (const std::string* extra = arg(); extra != nullptr) {
    if (*extra != "rdomain" || arg() == nullptr) return fail("bad ListenAddress syntax");
    // sshd's check of the routing domain fails on Linux.
    return fail("bad routing domain");
  }
  if (o_.queued_listens.size() >= kMaxListEntries) return fail("too many listen addresses");
  o_.queued_listens.push_back({host, port});
}

void Applier::rekey_limit() {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
  int64_t bytes = 0;
  if (*a != "default") {
    auto scaled = config::detail::parse_scaled(*a);
    if (!scaled || *scaled < 0) return fail("Bad " + keyword_ + " number '" + *a + "': Invalid argument");
    if (*scaled != 0 && *scaled < 16) return fail(keyword_ + " too small");
    bytes = *scaled;
  }
  if (active() && o_.rekey_limit == -1) o_.rekey_limit = bytes;
  if (next_ < line_.args.size()) {
    if (line_.args[next_] == "none") {
      ++next_;
      return;
    }
    set_int(o_.rekey_interval, time_value());
  }
}

void Applier::subsystem() {
  if (o_.subsystems.size() >= kMaxSubsystems) return fail("too many subsystems defined.");
  const std::string* name = arg();
  if (name == nullptr || name->empty()) return fail(keyword_ + " missing argument.");
  if (!active()) {
    (void)arg();
    return;
  }
  for (const Subsystem& s : o_.subsystems) {
    if (s.name == *name) return fail("Subsystem '" + *name + "' already defined.");
  }
  const std::string* command = arg();
  if (command == nullptr || command->empty()) return fail("Missing subsystem command.");
  Subsystem s{*name, *command, *command};
  for (const std::string* more = arg(); more != nullptr; more = arg()) s.args += " " + *more;
  o_.subsystems.push_back(std::move(s));
}

int scan_colon_numbers_impl(std::string_view text, int* values, int max) {
  size_t i = 0;
  int count = 0;
  while (count < max) {
    if (count > 0) {
      if (i >= text.size() || text[i] != ':') break;
      ++i;
    }
    while (i < text.size() && (is_whitespace(text[i]) || text[i] == '\f' || text[i] == '\v')) ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    size_t start = i;
    int64_t value = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (value <= INT_MAX) value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start || value > INT_MAX) break;
    values[count++] = static_cast<int>(negative ? -value : value);
  }
  return count;
}

void Applier::max_startups() {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
  std::array<int, 3> v{};
  int n = scan_colon_numbers_impl(*a, v.data(), 3);
  int begin = o_.max_startups_begin, rate = o_.max_startups_rate, full = o_.max_startups;
  if (n == 3) {
    begin = v[0];
    rate = v[1];
    full = v[2];
    if (begin > full || rate > 100 || rate < 1) return fail("Invalid " + keyword_ + " spec.");
  } else if (n == 1) {
    begin = full = v[0];
  } else {
    return fail("Invalid " + keyword_ + " spec.");
  }
  if (begin <= 0 || full <= 0) return fail("Invalid " + keyword_ + " spec.");
  o_.max_startups_begin = begin;
  o_.max_startups_rate = rate;
  o_.max_startups = full;
}

void Applier::per_source_netblock_size() {
  const std::string* a = arg();
  if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
  std::array<int, 2> v{};
  int n = scan_colon_numbers_impl(*a, v.data(), 2);
  if (n == 1) v[1] = 0;  // what sshd 9.2 ends up with when only IPv4's is given
  bool ok = (n == 1 || n == 2) && v[0] >= 0 && v[0] <= 32 && (n == 1 || (v[1] >= 0 && v[1] <= 128));
  if (!ok) return fail("Invalid " + keyword_ + " spec.");
  if (active()) {
    o_.per_source_ipv4 = v[0];
    o_.per_source_ipv6 = v[1];
  }
}

void Applier::permit_open(bool listen) {
  std::vector<std::string>& list = listen ? o_.permit_listen : o_.permit_open;
  const std::string* a = arg();
  if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
  const bool first_line = list.empty();
  if (*a == "any" || *a == "none") {
    if (active() && first_line) list.push_back(*a);
    return;
  }
  for (; a != nullptr && !a->empty(); a = arg()) {
    std::string entry;
    std::optional<std::string> port_text;
    if (listen && a->find(':') == std::string::npos) {
      entry = "*:" + *a;
      port_text = *a;
    } else {
      entry = *a;
      if (!split_host(*a, &port_text)) return fail(keyword_ + " missing host");
    }
    if (!port_text || permit_port(*port_text) < 0) return fail(keyword_ + " bad port number");
    if (active() && first_line) {
      if (!room(list)) return;
      list.push_back(std::move(entry));
    }
  }
}

void Applier::authentication_methods() {
  const bool first_line = o_.authentication_methods.empty();
  bool any = false, parsed = false;
  for (const std::string* a = arg(); a != nullptr; a = arg()) {
    if (*a == "any") {
      if (!o_.authentication_methods.empty()) return fail("\"any\" must appear alone in " + keyword_);
      any = true;
    } else if (any) {
      return fail("\"any\" must appear alone in " + keyword_);
    } else if (auto why = invalid_methods(*a)) {
      return fail("invalid " + keyword_ + " method list: " + *why);
    } else {
      // tessera-sshd authenticates by public key alone, one key per login.
      if (*a != "publickey") {
        return fail("AuthenticationMethods " + *a +
                    " is not supported by tessera-sshd: only \"any\" or \"publickey\" (one key) can be required; "
                    "remove the line or set AuthenticationMethods publickey");
      }
    }
    parsed = true;
    if (!first_line || !active()) continue;
    if (!room(o_.authentication_methods)) return;
    o_.authentication_methods.push_back(*a);
  }
  if (!parsed) fail("no " + keyword_ + " specified");
}

void Applier::log_verbose() {
  size_t count = 0;
  std::string value;
  for (const std::string* a = arg(); a != nullptr; a = arg()) {
    if (a->empty()) return fail("keyword " + keyword_ + " empty argument");
    if (equals_ignore_case(*a, "none") && (count > 0 || next_ < line_.args.size())) {
      return fail("keyword " + keyword_ + " \"none\" argument must appear alone.");
    }
    value += (count++ == 0 ? "" : " ") + *a;
  }
  check_support(equals_ignore_case(value, "none") ? "" : value);
}

void Applier::channel_timeout() {
  size_t count = 0;
  std::string value;
  for (const std::string* a = arg(); a != nullptr; a = arg()) {
    if (equals_ignore_case(*a, "none")) {
      if (count > 0 || next_ < line_.args.size()) {
        return fail("keyword " + keyword_ + " \"none\" argument must appear alone.");
      }
    } else {
      // parse_timeout(): "type=interval".
      size_t eq = a->find('=');
      if (eq == std::string::npos || eq == 0 || !config::detail::parse_time(a->substr(eq + 1))) {
        return fail("invalid channel timeout " + *a);
      }
    }
    value += (count++ == 0 ? "" : " ") + *a;
  }
  check_support(equals_ignore_case(value, "none") ? "" : value);
}

void Applier::run() {
  using K = Keyword;
  using config::detail::AlgorithmKind;
  const Keyword keyword = line_.name->keyword;
  auto support_flag = [this](std::optional<int> v) {
    if (v) check_support(*v ? "yes" : "no");
  };
  auto support_state = [this](std::span<const Multistate> table, std::optional<int> v) {
    if (v) check_support(multistate_name(table, *v));
  };
  switch (keyword) {
    case K::kMatch:
    case K::kInclude:
      return;  // the loader's
    case K::kPort: {
      if (o_.ports_from_command_line) return consume_all();
      if (o_.ports.size() >= kMaxPorts) return fail("too many ports.");
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing port number.");
      int port = config::detail::parse_port(*a);
      if (port <= 0) return fail("Badly formatted port number.");
      o_.ports.push_back(port);
      break;
    }
    case K::kHostKey:
    case K::kHostCertificate: {
      // A PKCS#11 URI is no path: sshd would make it one relative to its
      // working directory, tessera-sshd takes it as a token key.
      const bool uri =
          keyword == K::kHostKey && next_ < line_.args.size() && line_.args[next_].starts_with("pkcs11:");
      auto path = uri ? std::optional<std::string>(*arg()) : filename();
      if (!path || !active()) break;
      std::vector<std::string>& list = keyword == K::kHostKey ? o_.host_keys : o_.host_certificates;
      if (room(list)) list.push_back(std::move(*path));
      break;
    }
    case K::kHostKeyAgent: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing socket name.");
      if (!active() || o_.host_key_agent) break;
      if (*a == "SSH_AUTH_SOCK") {
        o_.host_key_agent = *a;
      } else {
        set_string(o_.host_key_agent, derelativise(*a));
      }
      break;
    }
    case K::kPidFile: set_string(o_.pid_file, filename()); break;
    case K::kModuliFile: set_string(o_.moduli_file, filename()); break;
    case K::kBanner: set_string(o_.banner, filename()); break;
    case K::kTrustedUserCaKeys: set_string(o_.trusted_user_ca_keys, filename()); break;
    case K::kRevokedKeys: set_string(o_.revoked_keys, filename()); break;
    case K::kXAuthLocation:
      if (auto path = filename()) check_support(*path);
      break;
    case K::kLoginGraceTime: set_int(o_.login_grace_time, time_value()); break;
    case K::kClientAliveInterval: set_int(o_.client_alive_interval, time_value()); break;
    case K::kUnusedConnectionTimeout:
      if (next_ < line_.args.size() && equals_ignore_case(line_.args[next_], "none")) {
        ++next_;
        if (active()) o_.unused_connection_timeout = 0;
        break;
      }
      set_int(o_.unused_connection_timeout, time_value());
      break;
    case K::kListenAddress: listen_address(); break;
    case K::kAddressFamily: set_int(o_.address_family, multistate(kAddressFamilies)); break;
    case K::kPermitRootLogin: set_int(o_.permit_root_login, multistate(kRootLogin)); break;
    case K::kIgnoreRhosts: support_state(kIgnoreRhosts, multistate(kIgnoreRhosts)); break;
    case K::kCompression: support_state(kCompression, multistate(kCompression)); break;
    case K::kGatewayPorts: set_int(o_.gateway_ports, multistate(kGateway)); break;
    case K::kAllowTcpForwarding: set_int(o_.allow_tcp_forwarding, multistate(kTcpForwarding)); break;
    case K::kAllowStreamLocalForwarding:
      set_int(o_.allow_stream_local_forwarding, multistate(kTcpForwarding));
      break;

    // Flags tessera-sshd implements.
    case K::kPubkeyAuthentication: set_int(o_.pubkey_authentication, flag()); break;
    case K::kPrintMotd: set_int(o_.print_motd, flag()); break;
    case K::kPermitTty: set_int(o_.permit_tty, flag()); break;
    case K::kPermitUserRc: set_int(o_.permit_user_rc, flag()); break;
    case K::kStrictModes: set_int(o_.strict_modes, flag()); break;
    case K::kTcpKeepAlive: set_int(o_.tcp_keep_alive, flag()); break;
    case K::kUseDns: set_int(o_.use_dns, flag()); break;
    case K::kAllowAgentForwarding: set_int(o_.allow_agent_forwarding, flag()); break;
    case K::kDisableForwarding: set_int(o_.disable_forwarding, flag()); break;
    case K::kStreamLocalBindUnlink: set_int(o_.stream_local_bind_unlink, flag()); break;
    case K::kExposeAuthInfo: set_int(o_.expose_auth_info, flag()); break;
    case K::kPasswordAuthentication:
    case K::kKbdInteractiveAuthentication: {
      auto v = flag();
      if (!v) break;
      if (*v != 0) {
        return fail(std::string(keyword_info(keyword).name) + " yes is not supported by tessera-sshd: " +
                    (keyword == K::kPasswordAuthentication ? "it has no password authentication"
                                                           : "it has no keyboard-interactive authentication") +
                    "; set it to no or remove the line");
      }
      set_int(keyword == K::kPasswordAuthentication ? o_.password_authentication : o_.kbd_interactive_authentication,
              v);
      break;
    }

    // Flags tessera-sshd ignores or refuses.
    case K::kUsePam:
    case K::kHostbasedAuthentication:
    case K::kHostbasedUsesNameFromPacketOnly:
    case K::kKerberosAuthentication:
    case K::kKerberosOrLocalPasswd:
    case K::kKerberosTicketCleanup:
    case K::kGssapiAuthentication:
    case K::kGssapiCleanupCredentials:
    case K::kGssapiStrictAcceptorCheck:
    case K::kGssapiKeyExchange:
    case K::kGssapiStoreCredentialsOnRekey:
    case K::kPrintLastLog:
    case K::kIgnoreUserKnownHosts:
    case K::kX11Forwarding:
    case K::kX11UseLocalhost:
    case K::kPermitEmptyPasswords:
    case K::kDebianBanner:
      support_flag(flag());
      break;

    case K::kX11DisplayOffset:
      if (auto v = integer()) check_support(std::to_string(*v));
      break;
    case K::kMaxAuthTries: set_int(o_.max_auth_tries, integer()); break;
    case K::kMaxSessions: set_int(o_.max_sessions, integer()); break;
    case K::kClientAliveCountMax: set_int(o_.client_alive_count_max, integer()); break;
    case K::kRequiredRsaSize: set_int(o_.required_rsa_size, integer()); break;

    case K::kHostbasedAcceptedAlgorithms:
      if (auto v = algorithms(AlgorithmKind::kKey, "Bad key types")) check_support(*v);
      break;
    case K::kHostKeyAlgorithms: set_string(o_.host_key_algorithms, algorithms(AlgorithmKind::kKey, "Bad key types")); break;
    case K::kCaSignatureAlgorithms:
      set_string(o_.ca_signature_algorithms, algorithms(AlgorithmKind::kKey, "Bad key types"));
      break;
    case K::kPubkeyAcceptedAlgorithms:
      set_string(o_.pubkey_accepted_algorithms, algorithms(AlgorithmKind::kKey, "Bad key types"));
      break;
    // Ciphers, MACs and KexAlgorithms are taken whether or not the line is
    // active, as by sshd (they cannot follow a Match that does not apply).
    case K::kCiphers:
      if (auto v = algorithms(AlgorithmKind::kCipher, "Bad SSH2 cipher spec"); v && !o_.ciphers) o_.ciphers = v;
      break;
    case K::kMacs:
      if (auto v = algorithms(AlgorithmKind::kMac, "Bad SSH2 mac spec"); v && !o_.macs) o_.macs = v;
      break;
    case K::kKexAlgorithms:
      if (auto v = algorithms(AlgorithmKind::kKex, "Bad SSH2 KexAlgorithms"); v && !o_.kex_algorithms) {
        o_.kex_algorithms = v;
      }
      break;
    case K::kGssapiKexAlgorithms: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      if (!config::detail::algorithm_names_valid(AlgorithmKind::kGssKex, *a, {})) {
        return fail("Bad GSSAPI KexAlgorithms '" + *a + "'.");
      }
      check_support(*a);
      break;
    }

    case K::kPubkeyAuthOptions: {
      std::string value;
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (equals_ignore_case(*a, "none")) continue;
        if (!equals_ignore_case(*a, "touch-required") && !equals_ignore_case(*a, "verify-required")) {
          return fail("unsupported " + keyword_ + " option " + *a);
        }
        value += (value.empty() ? "" : " ") + lower_ascii(*a);
      }
      check_support(value.empty() ? "none" : value);
      break;
    }
    case K::kPermitUserEnvironment: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      if (!active() || o_.permit_user_env != -1) break;
      if (*a == "yes") {
        o_.permit_user_env = 1;
      } else if (*a == "no") {
        o_.permit_user_env = 0;
      } else {
        o_.permit_user_env = 1;
        o_.permit_user_env_allowlist = *a;
      }
      break;
    }
    case K::kRekeyLimit: rekey_limit(); break;
    case K::kSyslogFacility: {
      const std::string* a = arg();
      int value = a == nullptr ? -1 : config::detail::parse_log_facility(*a);
      if (value < 0) return fail("unsupported log facility '" + (a == nullptr ? std::string("<NONE>") : *a) + "'");
      if (o_.syslog_facility == -1) o_.syslog_facility = value;
      break;
    }
    case K::kLogLevel: {
      const std::string* a = arg();
      // sshd 9.2 also knows QUIET as SILENT, the name it prints.
      int value = a == nullptr ? -1 : equals_ignore_case(*a, "SILENT") ? 0 : config::detail::parse_log_level(*a);
      if (value < 0) return fail("unsupported log level '" + (a == nullptr ? std::string("<NONE>") : *a) + "'");
      set_int(o_.log_level, value);
      break;
    }
    case K::kLogVerbose: log_verbose(); break;
    case K::kAllowUsers:
    case K::kDenyUsers:
    case K::kAllowGroups:
    case K::kDenyGroups: {
      const bool users = keyword == K::kAllowUsers || keyword == K::kDenyUsers;
      std::vector<std::string>& list = keyword == K::kAllowUsers   ? o_.allow_users
                                       : keyword == K::kDenyUsers  ? o_.deny_users
                                       : keyword == K::kAllowGroups ? o_.allow_groups
                                                                    : o_.deny_groups;
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (users && (a->empty() || !valid_user_pattern(*a))) {
          return fail("invalid " + keyword_ + " pattern: \"" + *a + "\"");
        }
        if (a->empty()) return fail("empty " + keyword_ + " pattern");
        if (!active()) continue;
        if (!room(list)) return;
        list.push_back(*a);
      }
      break;
    }
    case K::kSubsystem: subsystem(); break;
    case K::kMaxStartups: max_startups(); break;
    case K::kPerSourceNetBlockSize: per_source_netblock_size(); break;
    case K::kPerSourceMaxStartups: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      int value = kNoLimit;
      if (*a != "none") {
        auto v = integer_of(a);
        if (!v) return;
        value = *v;
      }
      if (active()) o_.per_source_max_startups = value;
      break;
    }
    case K::kAuthorizedKeysFile: {
      const bool first_line = o_.authorized_keys_files.empty();
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (a->empty()) return fail("keyword " + keyword_ + " empty argument");
        auto expanded = tilde(*a);
        if (!expanded) return;
        if (!active() || !first_line) continue;
        if (!room(o_.authorized_keys_files)) return;
        o_.authorized_keys_files.push_back(std::move(*expanded));
      }
      break;
    }
    case K::kAuthorizedPrincipalsFile: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      if (auto expanded = tilde(*a)) set_string(o_.authorized_principals_file, std::move(expanded));
      break;
    }
    case K::kAcceptEnv:
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (a->empty() || a->find('=') != std::string::npos) return fail("Invalid environment name.");
        if (!active()) continue;
        if (!room(o_.accept_env)) return;
        o_.accept_env.push_back(*a);
      }
      break;
    case K::kSetEnv: {
      const bool first_line = o_.set_env.empty();
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        size_t eq = a->find('=');
        if (a->empty() || eq == std::string::npos) return fail("Invalid environment.");
        if (!active() || !first_line) continue;
        // A name given twice keeps its first value.
        std::string_view name(a->data(), eq);
        bool seen = std::any_of(o_.set_env.begin(), o_.set_env.end(), [&](const std::string& e) {
          return std::string_view(e).substr(0, e.find('=')) == name;
        });
        if (seen) continue;
        if (!room(o_.set_env)) return;
        o_.set_env.push_back(*a);
      }
      break;
    }
    case K::kPermitTunnel: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      auto it = std::find_if(std::begin(kTunnel), std::end(kTunnel), [&](const Multistate& m) { return m.key == *a; });
      if (it == std::end(kTunnel)) return fail("bad " + keyword_ + " argument " + *a);
      check_support(it->key);
      break;
    }
    case K::kPermitOpen: permit_open(false); break;
    case K::kPermitListen: permit_open(true); break;
    case K::kForceCommand:
      if (active() && !o_.force_command) o_.force_command = line_.rest;
      consume_all();
      break;
    case K::kChrootDirectory: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      if (!equals_ignore_case(*a, "none")) {
        return fail("ChrootDirectory " + *a +
                    " is not supported by tessera-sshd: it does not chroot sessions; set ChrootDirectory none or "
                    "remove the line");
      }
      set_string(o_.chroot_directory, *a);
      break;
    }
    case K::kIpQos: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      int interactive = config::detail::parse_ipqos(*a);
      if (interactive < 0) return fail("Bad " + keyword_ + " value: " + *a);
      int bulk = interactive;
      if (const std::string* b = arg(); b != nullptr) {
        bulk = config::detail::parse_ipqos(*b);
        if (bulk < 0) return fail("Bad " + keyword_ + " value: " + *b);
      }
      check_support(config::detail::ipqos_name(interactive) + " " + config::detail::ipqos_name(bulk));
      break;
    }
    case K::kAuthorizedKeysCommand:
    case K::kAuthorizedPrincipalsCommand: {
      const std::string& command = line_.rest;
      if ((command.empty() || command[0] != '/') && !equals_ignore_case(command, "none")) {
        return fail(keyword_ + " must be an absolute path");
      }
      consume_all();
      check_support(command);
      break;
    }
    case K::kAuthorizedKeysCommandUser:
    case K::kAuthorizedPrincipalsCommandUser: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing " + keyword_ + " argument.");
      check_support(*a);
      break;
    }
    case K::kVersionAddendum: {
      if (line_.rest.find('\r') != std::string::npos) return fail("Invalid " + keyword_ + " argument");
      if (active() && !o_.version_addendum) {
        o_.version_addendum = equals_ignore_case(line_.rest, "none") ? std::string() : line_.rest;
      }
      consume_all();
      break;
    }
    case K::kAuthenticationMethods: authentication_methods(); break;
    case K::kStreamLocalBindMask: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      auto value = parse_octal_prefix(*a);
      if (!value || *value < 0 || *value > 0777) return fail("Invalid " + keyword_ + ".");
      if (active()) o_.stream_local_bind_mask = static_cast<int>(*value);
      break;
    }
    case K::kFingerprintHash: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      int value = config::detail::parse_fingerprint_hash(*a);
      if (value < 0) return fail("Invalid " + keyword_ + " algorithm \"" + *a + "\".");
      if (active()) o_.fingerprint_hash = value;
      break;
    }
    case K::kRDomain:
      return fail("setting RDomain not supported on this platform.");
    case K::kSecurityKeyProvider: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(keyword_ + " missing argument.");
      if (equals_ignore_case(*a, "internal")) {
        check_support("internal");
      } else if (auto path = derelativise(*a)) {
        check_support(*path);
      }
      break;
    }
    case K::kChannelTimeout: channel_timeout(); break;

    // What OpenSSH itself ignores: the arguments are not read.
    case K::kPamAuthenticationViaKbdInt:
    case K::kServerKeyBits:
    case K::kKeyRegenerationInterval:
    case K::kRhostsAuthentication:
    case K::kRhostsRsaAuthentication:
    case K::kRsaAuthentication:
    case K::kKerberosGetAfsToken:
    case K::kKerberosTgtPassing:
    case K::kAfsTokenPassing:
    case K::kGssUseSessionCCache:
    case K::kGssapiUseSessionCredCache:
    case K::kCheckMail:
    case K::kPermitBlacklistedKeys:
    case K::kUseLogin:
    case K::kProtocol:
    case K::kVerifyReverseMapping:
    case K::kReverseMappingCheck:
    case K::kAuthorizedKeysFile2:
    case K::kUsePrivilegeSeparation:
      consume_all();
      check_support("");
      break;
    case K::kCount:
      return;
  }
  if (!failed_ && next_ < line_.args.size()) fail("keyword " + keyword_ + " extra arguments at end of line");
}

}  // namespace

int scan_colon_numbers(std::string_view text, int* values, int max) { return scan_colon_numbers_impl(text, values, max); }

std::optional<long> parse_octal_prefix(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (is_whitespace(text[i]) || text[i] == '\f' || text[i] == '\v')) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  size_t start = i;
  long value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '7') {
    if (value < 0x10000) value = value * 8 + (text[i] - '0');
    ++i;
  }
  if (i == start) return std::nullopt;
  return negative ? -value : value;
}

void apply_line(Options& options, const Line& line, const LineState& state, const ParseEnv& env) {
  Applier(options, line, state, env).run();
}

}  // namespace detail
}  // namespace tessera::ssh::server
