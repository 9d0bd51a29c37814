// resolve(): the sequence ssh.c follows from the command line to "ssh -G":
// -o options, the files (and their final pass), Hostname, the defaults, the
// expansions made before connecting; then what tessera-ssh ignores or
// refuses, and the typed Config.
#include <algorithm>
#include <memory>
#include <string>

#include "config/internal.h"

namespace tessera::ssh::config {
namespace {

using detail::Diagnostics;
using detail::Options;
using detail::Slot;

std::string lower_ascii(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::string keyword_of(Option option) { return lower_ascii(std::string(option_info(option).name)); }

// Where an option's value came from (its first entry for lists).
Origin origin_of(const Options& o, Option option) {
  auto first_forward = [](const std::vector<detail::ForwardEntry>& list, bool dynamic) {
    for (const detail::ForwardEntry& entry : list) {
      if (entry.forward.dynamic == dynamic) return entry.origin;
    }
    return Origin{};
  };
  switch (option) {
    case Option::kIdentityFile: return o.identity_files.empty() ? Origin{} : o.identity_files[0].origin;
    case Option::kCertificateFile: return o.certificate_files.empty() ? Origin{} : o.certificate_files[0].origin;
    case Option::kLocalForward: return first_forward(o.local_forwards, false);
    case Option::kDynamicForward: return first_forward(o.local_forwards, true);
    case Option::kRemoteForward: return o.remote_forwards.empty() ? Origin{} : o.remote_forwards[0].origin;
    case Option::kProxyJump: return o.jump.origin;
    case Option::kForwardAgent:
      return o.forward_agent_path.set ? o.forward_agent_path.origin : o[option].origin;
    case Option::kRekeyLimit:
      return o[option].origin.file.empty() ? o.rekey_interval.origin : o[option].origin;
    default: return o[option].origin;
  }
}

// Expands an option's value as ssh.c does before "ssh -G".
class Expander {
 public:
  Expander(const TokenValues& values, const std::string& home, const Environment& env, Diagnostics& diagnostics)
      : values_(values), home_(home), env_(env), diagnostics_(diagnostics) {}

  // ~, the default tokens and ${VAR} (ControlPath, IdentityAgent, ...).
  void path(std::string& value, Option option, const Origin& origin) {
    auto tilde = detail::expand_tilde(value, home_);
    if (!tilde.ok()) return report(option, origin, tilde.error());
    run(*tilde, value, option, origin, true);
  }
  // The default tokens only (RemoteCommand, forwarding socket paths).
  void tokens(std::string& value, Option option, const Origin& origin) { run(value, value, option, origin, false); }

 private:
  void run(const std::string& input, std::string& output, Option option, const Origin& origin, bool dollar) {
    detail::TokenTable table = detail::token_table(values_, kTokenDefault, nullptr);
    auto expanded = detail::expand_string(input, &table, dollar, env_);
    if (!expanded.ok()) return report(option, origin, expanded.error());
    output = std::move(expanded).value();
  }
  void report(Option option, const Origin& origin, const key::Error& error) {
    diagnostics_.error(origin, keyword_of(option), std::string(option_info(option).name) + ": " + error.message());
  }

  const TokenValues& values_;
  const std::string& home_;
  const Environment& env_;
  Diagnostics& diagnostics_;
};

void check_support(const Options& o, const ResolveRequest& request, Diagnostics& diagnostics) {
  Options defaults;
  detail::fill_defaults(defaults, request, nullptr);
  for (const OptionInfo& info : all_options()) {
    if (info.support == Support::kImplemented) continue;
    if (info.openssh != OpenSshStatus::kActive && info.openssh != OpenSshStatus::kDebian) continue;
    std::vector<std::string> now = detail::dump_values(o, info.option);
    if (now == detail::dump_values(defaults, info.option)) continue;
    std::string value;
    for (const std::string& v : now) value += (value.empty() ? "" : " ") + v;
    if (value.empty()) value = "none";
    if (value.size() > 100) value = value.substr(0, 100) + "...";
    std::string subject = std::string(info.name) + " " + value;
    Origin origin = origin_of(o, info.option);
    if (info.support == Support::kRefused) {
      diagnostics.error(origin, keyword_of(info.option),
                        subject + " is not supported by tessera-ssh: " + std::string(info.note) +
                            "; remove it from the configuration, or use OpenSSH's ssh for this host");
    } else {
      diagnostics.warning(origin, keyword_of(info.option),
                          subject + " is ignored by tessera-ssh: " + std::string(info.note));
    }
  }
}

std::vector<JumpHost> jump_hosts(const detail::JumpSpec& jump) {
  std::vector<JumpHost> hops;
  if (!jump.set) return hops;
  std::string_view extra = jump.extra;
  while (!extra.empty()) {
    size_t comma = extra.find(',');
    JumpHost hop;
    if (detail::parse_jump_host(extra.substr(0, comma), &hop)) hops.push_back(hop);
    if (comma == std::string_view::npos) break;
    extra = extra.substr(comma + 1);
  }
  JumpHost last;
  last.user = jump.user;
  last.host = jump.host;
  if (jump.port > 0) last.port = static_cast<uint16_t>(jump.port);
  hops.push_back(last);
  return hops;
}

Config build_config(const Options& o, const ResolveRequest& request, const std::string& host,
                    const TokenValues& tokens, const Environment& env) {
  auto flag = [&o](Option option) { return o[option].number != 0; };
  auto text = [&o](Option option) -> std::optional<std::string> {
    if (!o[option].set) return std::nullopt;
    return o[option].text;
  };
  auto number = [&o](Option option) { return static_cast<int>(o[option].number); };

  Config c;
  c.host_argument = request.host;
  c.hostname = host;
  c.user = o[Option::kUser].text;
  c.port = static_cast<uint16_t>(o[Option::kPort].number);

  bool any_user_identity = false;
  for (const detail::PathEntry& entry : o.identity_files) {
    c.identity_files.push_back(entry.path);
    any_user_identity = any_user_identity || entry.user_provided || !entry.origin.file.empty();
  }
  c.identity_files_are_defaults = !any_user_identity;
  for (const detail::PathEntry& entry : o.certificate_files) c.certificate_files.push_back(entry.path);
  c.identities_only = flag(Option::kIdentitiesOnly);
  c.identity_agent = text(Option::kIdentityAgent);
  c.pkcs11_provider = text(Option::kPkcs11Provider);
  c.security_key_provider = o[Option::kSecurityKeyProvider].set ? o[Option::kSecurityKeyProvider].text : "";

  c.user_known_hosts_files = o[Option::kUserKnownHostsFile].list;
  c.global_known_hosts_files = o[Option::kGlobalKnownHostsFile].list;
  switch (number(Option::kStrictHostKeyChecking)) {
    case detail::kStrictYes: c.strict_host_key_checking = StrictHostKeyChecking::kYes; break;
    case detail::kStrictNew: c.strict_host_key_checking = StrictHostKeyChecking::kAcceptNew; break;
    case detail::kStrictOff: c.strict_host_key_checking = StrictHostKeyChecking::kNo; break;
    default: c.strict_host_key_checking = StrictHostKeyChecking::kAsk; break;
  }
  c.hash_known_hosts = flag(Option::kHashKnownHosts);
  c.host_key_alias = text(Option::kHostKeyAlias);
  c.revoked_host_keys = text(Option::kRevokedHostKeys);
  c.check_host_ip = flag(Option::kCheckHostIp);
  c.update_host_keys = static_cast<UpdateHostKeys>(std::clamp(number(Option::kUpdateHostKeys), 0, 2));
  c.required_rsa_size = number(Option::kRequiredRsaSize);

  c.kex_algorithms = o[Option::kKexAlgorithms].list;
  c.host_key_algorithms = o[Option::kHostKeyAlgorithms].list;
  c.host_key_algorithms_configured = o[Option::kHostKeyAlgorithms].set;
  c.ciphers = o[Option::kCiphers].list;
  c.macs = o[Option::kMacs].list;
  c.pubkey_accepted_algorithms = o[Option::kPubkeyAcceptedAlgorithms].list;
  c.ca_signature_algorithms = o[Option::kCaSignatureAlgorithms].list;

  switch (number(Option::kPubkeyAuthentication)) {
    case detail::kPubkeyNo: c.pubkey_authentication = PubkeyAuthentication::kNo; break;
    case detail::kPubkeyUnbound: c.pubkey_authentication = PubkeyAuthentication::kUnbound; break;
    case detail::kPubkeyHostBound: c.pubkey_authentication = PubkeyAuthentication::kHostBound; break;
    default: c.pubkey_authentication = PubkeyAuthentication::kYes; break;
  }
  c.password_authentication = flag(Option::kPasswordAuthentication);
  c.kbd_interactive_authentication = flag(Option::kKbdInteractiveAuthentication);
  c.preferred_authentications = text(Option::kPreferredAuthentications);
  c.number_of_password_prompts = number(Option::kNumberOfPasswordPrompts);
  c.batch_mode = flag(Option::kBatchMode);

  if (o[Option::kConnectTimeout].set) c.connect_timeout = number(Option::kConnectTimeout);
  c.connection_attempts = number(Option::kConnectionAttempts);
  c.server_alive_interval = number(Option::kServerAliveInterval);
  c.server_alive_count_max = number(Option::kServerAliveCountMax);
  c.tcp_keep_alive = flag(Option::kTcpKeepAlive);
  c.rekey_limit_bytes = static_cast<uint64_t>(o[Option::kRekeyLimit].number);
  c.rekey_interval_seconds = static_cast<int>(o.rekey_interval.number);
  switch (number(Option::kAddressFamily)) {
    case detail::kFamilyInet: c.address_family = AddressFamily::kInet; break;
    case detail::kFamilyInet6: c.address_family = AddressFamily::kInet6; break;
    default: c.address_family = AddressFamily::kAny; break;
  }
  c.bind_address = text(Option::kBindAddress);
  c.proxy_command = text(Option::kProxyCommand);
  c.proxy_jump = jump_hosts(o.jump);

  c.forward_agent = flag(Option::kForwardAgent);
  if (o.forward_agent_path.set) c.forward_agent_socket = o.forward_agent_path.text;
  for (const detail::ForwardEntry& entry : o.local_forwards) {
    if (!entry.forward.dynamic) c.local_forwards.push_back(entry.forward);
  }
  c.exit_on_forward_failure = flag(Option::kExitOnForwardFailure);
  switch (number(Option::kRequestTty)) {
    case detail::kTtyNo: c.request_tty = RequestTty::kNo; break;
    case detail::kTtyYes: c.request_tty = RequestTty::kYes; break;
    case detail::kTtyForce: c.request_tty = RequestTty::kForce; break;
    default: c.request_tty = RequestTty::kAuto; break;
  }
  switch (number(Option::kSessionType)) {
    case detail::kSessionNone: c.session_type = SessionType::kNone; break;
    case detail::kSessionSubsystem: c.session_type = SessionType::kSubsystem; break;
    default: c.session_type = SessionType::kDefault; break;
  }
  c.stdin_null = flag(Option::kStdinNull);
  c.send_env = o[Option::kSendEnv].list;
  c.set_env = o[Option::kSetEnv].list;
  c.remote_command = text(Option::kRemoteCommand);
  c.permit_local_command = flag(Option::kPermitLocalCommand);
  c.local_command = text(Option::kLocalCommand);
  int escape = number(Option::kEscapeChar);
  if (escape >= 0 && escape <= 255) {
    c.escape_char = static_cast<uint8_t>(escape);
  } else {
    c.escape_char.reset();
  }
  c.log_level = static_cast<LogLevel>(std::clamp(number(Option::kLogLevel), 0, 7));
  c.add_keys_to_agent = static_cast<AddKeysToAgent>(std::clamp(number(Option::kAddKeysToAgent), 0, 3));
  c.add_keys_to_agent_lifetime = static_cast<int>(o[Option::kAddKeysToAgent].number2);

  c.tokens = tokens;
  c.environment = env;
  return c;
}

}  // namespace

Resolution resolve(const ResolveRequest& request) {
  Resolution resolution;
  auto state = std::make_shared<detail::State>();
  Diagnostics diagnostics(resolution);
  ConfigFiles& files = request.reader != nullptr ? *request.reader : system_files();
  const Environment env = request.environment ? request.environment : detail::process_environment();
  Options& o = state->options;

  if (request.host.empty()) diagnostics.error(Origin{}, "", "no destination host given");

  detail::ReadPass pass;
  pass.request = &request;
  pass.files = &files;
  pass.env = &env;
  pass.options = &o;
  pass.diagnostics = &diagnostics;
  pass.host = request.host;
  detail::read_command_line(pass);
  bool want_final_pass = false;
  pass.want_final_pass = &want_final_pass;
  detail::read_files(pass);

  // The Hostname, with %h, lower case unless it is an address.
  std::string host = request.host;
  Slot& hostname = o[Option::kHostname];
  if (hostname.set) {
    TokenValues values;
    values.remote_host = host;
    detail::TokenTable table = detail::token_table(values, kTokenHost, nullptr);
    auto expanded = detail::expand_string(hostname.text, &table, false, env);
    if (expanded.ok()) {
      host = std::move(expanded).value();
    } else {
      diagnostics.error(hostname.origin, "hostname", "Hostname: " + expanded.error().message());
    }
    hostname.text = host;
  }
  if (!detail::is_numeric_address(host)) host = lower_ascii(host);

  // "Match final" (CanonicalizeHostname, which also asks for it, is refused):
  // read the files again with the final host name.
  if (want_final_pass) {
    hostname.set = true;
    hostname.text = host;
    pass.host = host;
    pass.final_pass = true;
    pass.want_final_pass = nullptr;
    detail::read_files(pass);
  }

  detail::fill_defaults(o, request, &diagnostics);
  if (!o[Option::kUser].set) {
    o[Option::kUser].set = true;
    o[Option::kUser].text = request.local.user;
  }
  if (o[Option::kHostKeyAlias].set) o[Option::kHostKeyAlias].text = lower_ascii(o[Option::kHostKeyAlias].text);
  if (o[Option::kProxyCommand].set && o[Option::kProxyCommand].text == "-" && o[Option::kProxyUseFdpass].number) {
    diagnostics.error(o[Option::kProxyCommand].origin, "proxycommand",
                      "ProxyCommand=- and ProxyUseFDPass are incompatible");
  }
  // UpdateHostKeys=ask needs a user to ask (what ssh.c knows at this point).
  Slot& update = o[Option::kUpdateHostKeys];
  if (update.number == 2) {
    if (o[Option::kControlPersist].number != 0 && o[Option::kControlPath].set) {
      update.number = 0;
    } else if (o[Option::kRemoteCommand].set || o[Option::kRequestTty].number == detail::kTtyNo) {
      update.number = 0;
    } else if (o[Option::kLogLevel].number < 3) {
      update.number = 0;
    }
  }
  if (o[Option::kConnectionAttempts].number <= 0) {
    diagnostics.error(o[Option::kConnectionAttempts].origin, "connectionattempts",
                      "Invalid number of ConnectionAttempts");
  }

  // The token values, as ssh.c computes them.
  TokenValues tokens;
  tokens.local_host = request.local.hostname;
  tokens.local_host_short = request.local.hostname.substr(0, request.local.hostname.find('.'));
  tokens.port = std::to_string(o[Option::kPort].number);
  tokens.uid = std::to_string(request.local.uid);
  tokens.key_alias = o[Option::kHostKeyAlias].set ? o[Option::kHostKeyAlias].text : request.host;
  tokens.connection_hash = connection_hash(tokens.local_host, host, tokens.port, o[Option::kUser].text);
  tokens.original_host = request.host;
  tokens.remote_host = host;
  tokens.remote_user = o[Option::kUser].text;
  tokens.home = request.local.home;
  tokens.local_user = request.local.user;

  Expander expander(tokens, request.local.home, env, diagnostics);
  if (Slot& s = o[Option::kRemoteCommand]; s.set) expander.tokens(s.text, Option::kRemoteCommand, s.origin);
  if (Slot& s = o[Option::kControlPath]; s.set) expander.path(s.text, Option::kControlPath, s.origin);
  if (Slot& s = o[Option::kIdentityAgent]; s.set) expander.path(s.text, Option::kIdentityAgent, s.origin);
  if (Slot& s = o.forward_agent_path; s.set) expander.path(s.text, Option::kForwardAgent, s.origin);
  for (Option option : {Option::kGlobalKnownHostsFile, Option::kUserKnownHostsFile}) {
    Slot& s = o[option];
    if (!s.list.empty() && lower_ascii(s.list[0]) == "none") {
      s.list.clear();
      continue;
    }
    if (option == Option::kUserKnownHostsFile) {
      for (std::string& path : s.list) expander.path(path, option, s.origin);
    }
  }
  for (auto* list : {&o.local_forwards, &o.remote_forwards}) {
    Option option = list == &o.local_forwards ? Option::kLocalForward : Option::kRemoteForward;
    for (detail::ForwardEntry& entry : *list) {
      if (entry.forward.listen.is_path()) expander.tokens(entry.forward.listen.path, option, entry.origin);
      if (entry.forward.connect.is_path()) expander.tokens(entry.forward.connect.path, option, entry.origin);
    }
  }

  if (request.check_support) check_support(o, request, diagnostics);

  resolution.config = build_config(o, request, host, tokens, env);
  state->host_argument = request.host;
  state->hostname = host;
  state->ok = resolution.ok();
  resolution.state = std::move(state);
  return resolution;
}

}  // namespace tessera::ssh::config
