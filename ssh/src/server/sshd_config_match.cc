// Match blocks as OpenSSH 9.2's sshd applies them: the criteria
// (match_cfg_line()), sshd -C's connection spec, resolve(), which reads the
// Match blocks again for one connection and copies what they set over the
// listener's values (parse_server_match_config()), and the AllowUsers-style
// lists (allowed_user()). Address lists are server/address_match.h's.
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <string>

#include "config/internal.h"
#include "server/address_match.h"
#include "server/sshd_config_internal.h"
#include "tessera/key/match.h"

namespace tessera::ssh::server {
namespace {

using config::detail::equals_ignore_case;

key::Error bad(std::string message) { return key::Error(key::Errc::kInvalidArgument, std::move(message)); }

// The system's group names for a user, as sshd's ga_init() finds them.
std::optional<std::vector<std::string>> system_groups(const std::string& user) {
  if (user.empty() || user.size() > 256 || user.find('\0') != std::string::npos) return std::nullopt;
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  int count = 64;
  std::vector<gid_t> gids(static_cast<size_t>(count));
  if (::getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) == -1) {
    if (count <= 0 || count > 65536) return std::vector<std::string>();
    gids.resize(static_cast<size_t>(count));
    if (::getgrouplist(user.c_str(), found->pw_gid, gids.data(), &count) == -1) return std::vector<std::string>();
  }
  gids.resize(static_cast<size_t>(count));
  std::vector<std::string> names;
  for (gid_t gid : gids) {
    group g{};
    group* result = nullptr;
    std::vector<char> gbuf(65536);
    if (::getgrgid_r(gid, &g, gbuf.data(), gbuf.size(), &result) == 0 && result != nullptr && g.gr_name) {
      names.emplace_back(g.gr_name);
    }
  }
  return names;
}

// ga_match_pattern_list(): a group matches, and no group matches negated.
bool groups_match(const std::vector<std::string>& groups, std::string_view patterns) {
  bool found = false;
  for (const std::string& group : groups) {
    int r = key::match_pattern_list(group, patterns);
    if (r == -1) return false;
    if (r == 1) found = true;
  }
  return found;
}

}  // namespace

int match_user_pattern(std::string_view user, std::string_view host, std::string_view address,
                       std::string_view pattern) {
  size_t at = pattern.find('@');
  if (at == std::string_view::npos) return key::match_pattern(user, pattern) ? 1 : 0;
  if (!key::match_pattern(user, pattern.substr(0, at))) return 0;
  return match_host_and_address(host, address, pattern.substr(at + 1));
}

std::optional<std::string> user_access_denied(const SshdConfig& config, std::string_view user,
                                              const std::optional<std::vector<std::string>>& groups,
                                              std::string_view host, std::string_view address) {
  const std::string who = "User " + std::string(user) + " from " + std::string(host);
  for (const std::string& pattern : config.deny_users) {
    int r = match_user_pattern(user, host, address, pattern);
    if (r < 0) return "Invalid DenyUsers pattern \"" + pattern + "\"";
    if (r != 0) return who + " not allowed because listed in DenyUsers";
  }
  if (!config.allow_users.empty()) {
    bool listed = false;
    for (const std::string& pattern : config.allow_users) {
      int r = match_user_pattern(user, host, address, pattern);
      if (r < 0) return "Invalid AllowUsers pattern \"" + pattern + "\"";
      if (r == 1) {
        listed = true;
        break;
      }
    }
    if (!listed) return who + " not allowed because not listed in AllowUsers";
  }
  if (config.deny_groups.empty() && config.allow_groups.empty()) return std::nullopt;
  if (!groups || groups->empty()) return who + " not allowed because not in any group";
  // ga_match(): any of the user's groups against each pattern alone.
  auto any_group = [&](const std::vector<std::string>& patterns) {
    for (const std::string& group : *groups) {
      for (const std::string& pattern : patterns) {
        if (key::match_pattern(group, pattern)) return true;
      }
    }
    return false;
  };
  if (!config.deny_groups.empty() && any_group(config.deny_groups)) {
    return who + " not allowed because a group is listed in DenyGroups";
  }
  if (!config.allow_groups.empty() && !any_group(config.allow_groups)) {
    return who + " not allowed because none of user's groups are listed in AllowGroups";
  }
  return std::nullopt;
}

key::Result<MatchContext> parse_match_spec(std::string_view spec) {
  MatchContext context;
  context.test = true;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string_view field = spec.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (field.empty()) break;  // strsep() stops at an empty field
    auto value = [&](std::string_view prefix) { return std::string(field.substr(prefix.size())); };
    if (field.starts_with("addr=")) {
      context.address = value("addr=");
    } else if (field.starts_with("host=")) {
      context.host = value("host=");
    } else if (field.starts_with("user=")) {
      context.user = value("user=");
    } else if (field.starts_with("laddr=")) {
      context.local_address = value("laddr=");
    } else if (field.starts_with("rdomain=")) {
      context.rdomain = value("rdomain=");
    } else if (field.starts_with("lport=")) {
      int port = config::detail::parse_port(field.substr(6));
      if (port < 0) {
        return bad("Invalid port '" + value("lport=") + "' in test mode specification " + std::string(field));
      }
      context.local_port = port;
    } else {
      return bad("Invalid test mode specification " + std::string(field));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return context;
}

namespace detail {

key::Result<std::vector<Criterion>> parse_match_criteria(std::string_view text) {
  using Kind = Criterion::Kind;
  std::vector<Criterion> criteria;
  std::optional<std::string_view> rest = text;
  int attributes = 0;
  while (true) {
    std::optional<std::string> attribute = config::detail::next_token(rest);
    if (!attribute || attribute->empty() || (*attribute)[0] == '#') break;
    ++attributes;
    if (equals_ignore_case(*attribute, "all")) {
      std::optional<std::string> more = attributes > 1 ? std::nullopt : config::detail::next_token(rest);
      if (attributes > 1 || (more && !more->empty() && (*more)[0] != '#')) {
        return bad("'all' cannot be combined with other Match attributes");
      }
      return std::vector<Criterion>{Criterion{}};
    }
    std::optional<std::string> argument = config::detail::next_token(rest);
    if (!argument || argument->empty() || (*argument)[0] == '#') {
      return bad("Missing Match criteria for " + *attribute);
    }
    Criterion c;
    c.argument = *argument;
    if (equals_ignore_case(*attribute, "user")) {
      c.kind = Kind::kUser;
    } else if (equals_ignore_case(*attribute, "group")) {
      c.kind = Kind::kGroup;
    } else if (equals_ignore_case(*attribute, "host")) {
      c.kind = Kind::kHost;
    } else if (equals_ignore_case(*attribute, "address") || equals_ignore_case(*attribute, "localaddress")) {
      bool local = equals_ignore_case(*attribute, "localaddress");
      c.kind = local ? Kind::kLocalAddress : Kind::kAddress;
      if (!address_list_valid(c.argument)) {
        return bad(std::string("Invalid Match ") + (local ? "localaddress" : "address") + " argument '" +
                   c.argument + "'");
      }
    } else if (equals_ignore_case(*attribute, "localport")) {
      c.kind = Kind::kLocalPort;
      c.port = config::detail::parse_port(c.argument);
      if (c.port == -1) return bad("Invalid LocalPort '" + c.argument + "' on Match line");
    } else if (equals_ignore_case(*attribute, "rdomain")) {
      c.kind = Kind::kRDomain;
    } else {
      return bad("Unsupported Match attribute " + *attribute);
    }
    criteria.push_back(std::move(c));
  }
  if (attributes == 0) return bad("One or more attributes required for Match");
  return criteria;
}

key::Result<bool> evaluate_match(const std::vector<Criterion>& criteria, const MatchContext* context) {
  using Kind = Criterion::Kind;
  if (context == nullptr) return criteria.size() == 1 && criteria[0].kind == Kind::kAll;
  const MatchContext& ci = *context;
  // A value the criterion needs but the connection lacks: no match when
  // testing (sshd -C), an error otherwise.
  auto missing = [&](const char* criterion, const char* field) -> key::Result<bool> {
    if (ci.test) return false;
    return bad(std::string("'Match ") + criterion + "' in configuration but '" + field +
               "' not in connection test specification.");
  };
  bool result = true;
  for (const Criterion& c : criteria) {
    bool matched = false;
    switch (c.kind) {
      case Kind::kAll:
        return true;
      case Kind::kUser:
        if (!ci.user) {
          TESSERA_ASSIGN_OR_RETURN(matched, missing("User", "user"));
          break;
        }
        matched = key::match_pattern_list(*ci.user, c.argument) == 1;
        break;
      case Kind::kGroup: {
        if (!ci.user) {
          TESSERA_ASSIGN_OR_RETURN(matched, missing("Group", "user"));
          break;
        }
        auto groups = ci.groups ? ci.groups(*ci.user) : system_groups(*ci.user);
        matched = groups && groups_match(*groups, c.argument);
        break;
      }
      case Kind::kHost:
        if (!ci.host) {
          TESSERA_ASSIGN_OR_RETURN(matched, missing("Host", "host"));
          break;
        }
        matched = key::match_pattern_list(*ci.host, c.argument, true) == 1;
        break;
      case Kind::kAddress:
      case Kind::kLocalAddress: {
        bool local = c.kind == Kind::kLocalAddress;
        const std::optional<std::string>& address = local ? ci.local_address : ci.address;
        if (!address) {
          TESSERA_ASSIGN_OR_RETURN(matched, local ? missing("LocalAddress", "laddr") : missing("Address", "addr"));
          break;
        }
        AddressListMatch r = match_address_list_detail(*address, c.argument);
        if (r == AddressListMatch::kInvalid) {
          return bad("Bad Match condition: invalid address list '" + c.argument + "'");
        }
        matched = r == AddressListMatch::kMatch;
        break;
      }
      case Kind::kLocalPort:
        if (!ci.local_port || *ci.local_port == 0) {
          // sshd treats an absent local port as a missing value even in test mode.
          return bad("'Match LocalPort' in configuration but 'lport' not in connection test specification.");
        }
        matched = *ci.local_port == c.port;
        break;
      case Kind::kRDomain:
        if (!ci.rdomain) {
          TESSERA_ASSIGN_OR_RETURN(matched, missing("RDomain", "rdomain"));
          break;
        }
        matched = key::match_pattern_list(*ci.rdomain, c.argument) == 1;
        break;
    }
    if (!matched) result = false;
  }
  return result;
}

}  // namespace detail

key::Result<SshdConfig> resolve(const SshdConfigFile& file, const MatchContext* context) {
  if (!file.loaded) return bad("no sshd_config was loaded");
  const detail::LoadedConfig& loaded = *file.loaded;
  MatchContext blank;
  blank.test = true;
  const MatchContext& ci = context != nullptr ? *context : blank;

  // Every scope's state in this pass, parents first: global (the lines
  // before any Match, not applied again), active, or inactive.
  enum class State : uint8_t { kGlobal, kActive, kInactive };
  std::vector<State> states(loaded.scopes.size(), State::kInactive);
  for (size_t i = 0; i < loaded.scopes.size(); ++i) {
    const detail::Scope& scope = loaded.scopes[i];
    State outer = scope.parent < 0 ? State::kGlobal : states[static_cast<size_t>(scope.parent)];
    if (!scope.match) {
      states[i] = outer;
    } else if (outer == State::kInactive) {
      states[i] = State::kInactive;  // inside an Include of a block that does not apply
    } else {
      auto matched = detail::evaluate_match(*scope.match, &ci);
      if (!matched.ok()) {
        return key::Error(matched.error().code(), scope.origin.file + " line " + std::to_string(scope.origin.line) +
                                                      ": " + matched.error().message());
      }
      states[i] = *matched ? State::kActive : State::kInactive;
    }
  }
  detail::Options from_match;
  detail::LineState state;
  for (const detail::Line& line : loaded.lines) {
    if (states[static_cast<size_t>(line.scope)] == State::kActive) {
      detail::apply_line(from_match, line, state, loaded.env);
    }
  }
  detail::Options merged = loaded.global;
  detail::copy_match_options(merged, from_match);
  return detail::finish(merged, loaded.env, nullptr);
}

}  // namespace tessera::ssh::server
