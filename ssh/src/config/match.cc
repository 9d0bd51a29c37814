// Host and Match sections, evaluated as OpenSSH 9.2's readconf.c does
// (process_config_line()'s oHost case and match_cfg_line()).
#include <string>

#include "config/internal.h"
#include "tessera/key/match.h"

namespace tessera::ssh::config::detail {
namespace {

key::Error bad(std::string detail) { return key::Error(key::Errc::kMalformed, std::move(detail)); }

}  // namespace

bool host_patterns_match(std::span<const std::string> patterns, std::string_view host) {
  bool matched = false;
  for (const std::string& pattern : patterns) {
    bool negated = !pattern.empty() && pattern[0] == '!';
    std::string_view body = negated ? std::string_view(pattern).substr(1) : std::string_view(pattern);
    if (!key::match_pattern(host, body)) continue;
    if (negated) return false;  // a negated match rules the section out
    matched = true;
  }
  return matched;
}

key::Result<bool> evaluate_match(std::string_view criteria, const MatchContext& context) {
  const Options& options = *context.options;
  const ResolveRequest& request = *context.request;
  const LocalIdentity& local = request.local;

  // The configuration is not complete yet: use defaults where needed.
  const Slot& port_slot = options[Option::kPort];
  std::string port = std::to_string(port_slot.set ? port_slot.number : 22);
  const Slot& user_slot = options[Option::kUser];
  const std::string& remote_user = user_slot.set ? user_slot.text : local.user;
  const Slot& hostname_slot = options[Option::kHostname];
  std::string host;
  if (context.final_pass) {
    host = hostname_slot.text;
  } else if (hostname_slot.set) {
    TokenValues values;
    values.remote_host = std::string(context.host_arg);
    TokenTable table = token_table(values, kTokenHost, nullptr);
    auto expanded = expand_string(hostname_slot.text, &table, false, *context.env);
    if (!expanded.ok()) return bad("Hostname: " + expanded.error().message());
    host = std::move(expanded).value();
  } else {
    host = std::string(context.host_arg);
  }

  std::optional<std::string_view> rest = criteria;
  bool result = true;
  int attributes = 0;
  while (true) {
    std::optional<std::string> token = next_token(rest);
    if (!token || token->empty()) break;
    if ((*token)[0] == '#') break;  // a comment ends the criteria
    const std::string& original = *token;
    bool negate = original[0] == '!';
    std::string attribute = negate ? original.substr(1) : original;

    if (equals_ignore_case(attribute, "all")) {
      std::optional<std::string> next;
      if (attributes <= 1) next = next_token(rest);
      if (attributes > 1 || (next && !next->empty() && (*next)[0] != '#')) {
        return bad("'" + original + "' cannot be combined with other Match attributes");
      }
      if (result) result = !negate;
      return result;
    }
    ++attributes;
    if (equals_ignore_case(attribute, "canonical") || equals_ignore_case(attribute, "final")) {
      if (equals_ignore_case(attribute, "final") && context.want_final_pass != nullptr) {
        *context.want_final_pass = true;
      }
      if (context.final_pass == negate) result = false;
      continue;
    }
    std::optional<std::string> argument = next_token(rest);
    if (!argument || argument->empty() || (*argument)[0] == '#') {
      return bad("Missing Match criteria for " + attribute);
    }
    bool matched;
    if (equals_ignore_case(attribute, "host")) {
      matched = key::match_pattern_list(host, *argument, true) == 1;
    } else if (equals_ignore_case(attribute, "originalhost")) {
      matched = key::match_pattern_list(context.original_host, *argument, true) == 1;
    } else if (equals_ignore_case(attribute, "user")) {
      matched = key::match_pattern_list(remote_user, *argument) == 1;
    } else if (equals_ignore_case(attribute, "localuser")) {
      matched = key::match_pattern_list(local.user, *argument) == 1;
    } else if (equals_ignore_case(attribute, "exec")) {
      TokenValues values;
      values.local_host = local.hostname;
      values.local_host_short = local.hostname.substr(0, local.hostname.find('.'));
      values.port = port;
      values.uid = std::to_string(local.uid);
      values.connection_hash = connection_hash(values.local_host, host, port, remote_user);
      const Slot& alias = options[Option::kHostKeyAlias];
      values.key_alias = alias.set ? alias.text : host;
      values.home = local.home;
      values.remote_host = host;
      values.original_host = std::string(context.original_host);
      values.remote_user = remote_user;
      values.local_user = local.user;
      TokenTable table = token_table(values, kTokenDefault, nullptr);
      auto command = expand_string(*argument, &table, false, *context.env);
      if (!command.ok()) return bad("Match exec: " + command.error().message());
      // Once a criterion has failed the command is not run; nor inside an
      // Include of a section that does not apply (its result is unused).
      if (!result || context.never_match) continue;
      if (!request.match_exec) return bad("Match exec is not available: no command runner was given");
      auto ran = request.match_exec(*command);
      if (!ran.ok()) return bad("match exec '" + command->substr(0, 100) + "' error: " + ran.error().message());
      matched = *ran;
    } else {
      return bad("Unsupported Match attribute " + attribute);
    }
    if (matched == negate) result = false;
  }
  if (attributes == 0) return bad("One or more attributes required for Match");
  return result;
}

}  // namespace tessera::ssh::config::detail
