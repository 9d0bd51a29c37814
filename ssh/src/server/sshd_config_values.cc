// From sshd's option store to the typed configuration: OpenSSH 9.2's
// defaults (fill_default_server_options()), what a Match block copies over
// the global values (copy_set_server_options()), and the algorithm lists
// assembled against OpenSSH's or tessera's.
#include <algorithm>
#include <string>

#include "auth/client_auth.h"
#include "config/internal.h"
#include "server/sshd_config_internal.h"
#include "transport/cipher.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_method.h"

namespace tessera::ssh::server {

const config::Algorithms& openssh_server_algorithms() {
  // sshd 9.2's defaults and known names are the client's (KEX_SERVER_* and
  // KEX_CLIENT_* are the same lists).
  return config::openssh_algorithms();
}

config::Algorithms tessera_server_algorithms() {
  config::Algorithms a = openssh_server_algorithms();
  auto restrict_to = [](config::AlgorithmList& list, const std::vector<std::string>& ours) {
    std::vector<std::string> supported;
    for (const std::string& name : ours) {
      // Only names OpenSSH knows ("none" is not an algorithm here).
      if (std::find(list.supported.begin(), list.supported.end(), name) != list.supported.end()) {
        supported.push_back(name);
      }
    }
    std::erase_if(list.defaults, [&](const std::string& name) {
      return std::find(supported.begin(), supported.end(), name) == supported.end();
    });
    list.supported = std::move(supported);
  };
  auto names = [](auto table) {
    std::vector<std::string> out;
    for (const auto& entry : table) out.emplace_back(entry.name);
    return out;
  };
  restrict_to(a.ciphers, names(transport::supported_ciphers()));
  restrict_to(a.macs, names(transport::supported_macs()));
  restrict_to(a.kex, names(transport::supported_kex_methods()));
  restrict_to(a.host_key, names(transport::supported_host_key_algorithms()));
  const std::vector<std::string> user_keys = auth::default_pubkey_algorithms();
  restrict_to(a.pubkey, user_keys);
  restrict_to(a.hostbased, user_keys);
  restrict_to(a.ca_signature, user_keys);
  return a;
}

namespace detail {
namespace {

bool is_none(const std::string& value) { return config::detail::equals_ignore_case(value, "none"); }

// CLEAR_ON_NONE: unset or "none" is no value.
std::optional<std::string> unless_none(const std::optional<std::string>& value) {
  if (!value || is_none(*value)) return std::nullopt;
  return value;
}

int or_default(int value, int fallback) { return value == -1 ? fallback : value; }

key::Result<std::vector<std::string>> assemble(const char* keyword, const std::optional<std::string>& spec,
                                               const config::AlgorithmList& list, std::vector<std::string>* dropped) {
  std::vector<std::string> left_out;
  auto result = config::detail::assemble_algorithms(spec ? *spec : std::string(), list, &left_out);
  if (!result.ok()) {
    return key::Error(key::Errc::kInvalidArgument, std::string(keyword) + ": " + result.error().message());
  }
  if (dropped != nullptr) {
    for (const std::string& name : left_out) {
      dropped->push_back(std::string(keyword) + ": " + name + " is not supported by tessera-sshd and is left out");
    }
  }
  return result;
}

std::optional<std::vector<PermitTarget>> permit_targets(const std::vector<std::string>& entries) {
  if (entries.empty() || (entries.size() == 1 && entries[0] == "any")) return std::nullopt;
  std::vector<PermitTarget> out;
  if (entries.size() == 1 && entries[0] == "none") return out;
  for (const std::string& text : entries) {
    PermitTarget target;
    target.text = text;
    // Checked when read: "host:port" with host maybe in brackets, port "*" or a number.
    size_t split;
    if (!text.empty() && text[0] == '[') {
      size_t close = text.find(']');
      split = close == std::string::npos ? std::string::npos : text.find(':', close);
    } else {
      split = text.find(':');
    }
    std::string host = text.substr(0, split);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    target.host = host;
    std::string port = split == std::string::npos ? std::string() : text.substr(split + 1);
    target.port = port == "*" ? 0 : std::max(0, config::detail::parse_port(port));
    out.push_back(std::move(target));
  }
  return out;
}

template <typename E>
E as_enum(int value) {
  return static_cast<E>(value);
}

}  // namespace

void copy_match_options(Options& to, const Options& from) {
  auto copy_int = [](int& dst, int src) {
    if (src != -1) dst = src;
  };
  copy_int(to.password_authentication, from.password_authentication);
  copy_int(to.pubkey_authentication, from.pubkey_authentication);
  copy_int(to.kbd_interactive_authentication, from.kbd_interactive_authentication);
  copy_int(to.permit_root_login, from.permit_root_login);
  copy_int(to.allow_tcp_forwarding, from.allow_tcp_forwarding);
  copy_int(to.allow_stream_local_forwarding, from.allow_stream_local_forwarding);
  copy_int(to.allow_agent_forwarding, from.allow_agent_forwarding);
  copy_int(to.disable_forwarding, from.disable_forwarding);
  copy_int(to.expose_auth_info, from.expose_auth_info);
  copy_int(to.gateway_ports, from.gateway_ports);
  copy_int(to.stream_local_bind_unlink, from.stream_local_bind_unlink);
  copy_int(to.permit_tty, from.permit_tty);
  copy_int(to.permit_user_rc, from.permit_user_rc);
  copy_int(to.max_sessions, from.max_sessions);
  copy_int(to.max_auth_tries, from.max_auth_tries);
  copy_int(to.client_alive_count_max, from.client_alive_count_max);
  copy_int(to.client_alive_interval, from.client_alive_interval);
  copy_int(to.rekey_interval, from.rekey_interval);
  copy_int(to.log_level, from.log_level);
  copy_int(to.required_rsa_size, from.required_rsa_size);
  copy_int(to.unused_connection_timeout, from.unused_connection_timeout);
  copy_int(to.stream_local_bind_mask, from.stream_local_bind_mask);
  if (from.rekey_limit != -1) to.rekey_limit = from.rekey_limit;

  auto copy_string = [](std::optional<std::string>& dst, const std::optional<std::string>& src) {
    if (src) dst = src;
  };
  copy_string(to.banner, from.banner);
  copy_string(to.trusted_user_ca_keys, from.trusted_user_ca_keys);
  copy_string(to.revoked_keys, from.revoked_keys);
  copy_string(to.authorized_principals_file, from.authorized_principals_file);
  copy_string(to.pubkey_accepted_algorithms, from.pubkey_accepted_algorithms);
  copy_string(to.ca_signature_algorithms, from.ca_signature_algorithms);
  copy_string(to.permit_user_env_allowlist, from.permit_user_env_allowlist);
  copy_string(to.force_command, from.force_command);
  copy_string(to.chroot_directory, from.chroot_directory);

  auto copy_list = [](std::vector<std::string>& dst, const std::vector<std::string>& src) {
    if (!src.empty()) dst = src;
  };
  copy_list(to.authorized_keys_files, from.authorized_keys_files);
  copy_list(to.allow_users, from.allow_users);
  copy_list(to.deny_users, from.deny_users);
  copy_list(to.allow_groups, from.allow_groups);
  copy_list(to.deny_groups, from.deny_groups);
  copy_list(to.accept_env, from.accept_env);
  copy_list(to.set_env, from.set_env);
  copy_list(to.authentication_methods, from.authentication_methods);
  copy_list(to.permit_open, from.permit_open);
  copy_list(to.permit_listen, from.permit_listen);
}

key::Result<SshdConfig> finish(const Options& o, const ParseEnv& env, std::vector<std::string>* dropped) {
  SshdConfig c;
  c.ports.clear();
  for (int port : o.ports) c.ports.push_back(static_cast<uint16_t>(port));
  if (c.ports.empty()) c.ports.push_back(22);
  c.address_family = as_enum<config::AddressFamily>(or_default(o.address_family, kFamilyAny));
  if (o.queued_listens.empty()) {
    for (uint16_t port : c.ports) c.listen_addresses.push_back({"", port});
  }
  for (const Options::QueuedListen& q : o.queued_listens) {
    if (q.port > 0) {
      c.listen_addresses.push_back({q.host, static_cast<uint16_t>(q.port)});
    } else {
      for (uint16_t port : c.ports) c.listen_addresses.push_back({q.host, port});
    }
  }
  c.max_startups_begin = or_default(o.max_startups_begin, 10);
  c.max_startups_rate = or_default(o.max_startups_rate, 30);
  c.max_startups = or_default(o.max_startups, 100);
  if (o.per_source_max_startups != -1 && o.per_source_max_startups != kNoLimit) {
    c.per_source_max_startups = o.per_source_max_startups;
  }
  c.per_source_netblock_ipv4 = or_default(o.per_source_ipv4, 32);
  c.per_source_netblock_ipv6 = or_default(o.per_source_ipv6, 128);
  c.login_grace_time = or_default(o.login_grace_time, 120);
  c.pid_file = o.pid_file ? unless_none(o.pid_file) : std::optional<std::string>("/run/sshd.pid");
  c.version_addendum = o.version_addendum.value_or("");
  c.use_dns = or_default(o.use_dns, 0) != 0;
  c.tcp_keep_alive = or_default(o.tcp_keep_alive, 1) != 0;
  c.client_alive_interval = or_default(o.client_alive_interval, 0);
  c.client_alive_count_max = or_default(o.client_alive_count_max, 3);
  if (o.unused_connection_timeout > 0) c.unused_connection_timeout = o.unused_connection_timeout;

  for (const std::string& path : o.host_keys) {
    if (!is_none(path)) c.host_keys.push_back(path);
  }
  if (o.host_keys.empty()) {
    c.host_keys = {"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"};
  }
  for (const std::string& path : o.host_certificates) {
    if (!is_none(path)) c.host_certificates.push_back(path);
  }
  c.host_key_agent = unless_none(o.host_key_agent);
  c.moduli_file = o.moduli_file.value_or("/etc/ssh/moduli");
  TESSERA_ASSIGN_OR_RETURN(c.ciphers, assemble("Ciphers", o.ciphers, env.algorithms.ciphers, dropped));
  TESSERA_ASSIGN_OR_RETURN(c.macs, assemble("MACs", o.macs, env.algorithms.macs, dropped));
  TESSERA_ASSIGN_OR_RETURN(c.kex_algorithms, assemble("KexAlgorithms", o.kex_algorithms, env.algorithms.kex, dropped));
  TESSERA_ASSIGN_OR_RETURN(c.host_key_algorithms,
                           assemble("HostKeyAlgorithms", o.host_key_algorithms, env.algorithms.host_key, dropped));
  c.rekey_limit = static_cast<uint64_t>(o.rekey_limit == -1 ? 0 : o.rekey_limit);
  c.rekey_interval = or_default(o.rekey_interval, 0);
  c.required_rsa_size = or_default(o.required_rsa_size, 1024);

  c.pubkey_authentication = or_default(o.pubkey_authentication, 1) != 0;
  TESSERA_ASSIGN_OR_RETURN(c.pubkey_accepted_algorithms, assemble("PubkeyAcceptedAlgorithms",
                                                                  o.pubkey_accepted_algorithms,
                                                                  env.algorithms.pubkey, dropped));
  TESSERA_ASSIGN_OR_RETURN(c.ca_signature_algorithms, assemble("CASignatureAlgorithms", o.ca_signature_algorithms,
                                                               env.algorithms.ca_signature, dropped));
  c.password_authentication = false;
  c.kbd_interactive_authentication = false;
  // "any" alone is no requirement (sshd drops it when it sets up the lists).
  if (!(o.authentication_methods.size() == 1 && o.authentication_methods[0] == "any")) {
    c.authentication_methods = o.authentication_methods;
  }
  c.max_auth_tries = or_default(o.max_auth_tries, 6);
  c.permit_root_login = [&] {
    switch (or_default(o.permit_root_login, kRootNoPassword)) {
      case kRootYes: return PermitRootLogin::kYes;
      case kRootForcedOnly: return PermitRootLogin::kForcedCommandsOnly;
      case kRootNo: return PermitRootLogin::kNo;
      default: return PermitRootLogin::kProhibitPassword;
    }
  }();
  if (!o.authorized_keys_files.empty()) c.authorized_keys_files = o.authorized_keys_files;
  c.authorized_principals_file = unless_none(o.authorized_principals_file);
  c.trusted_user_ca_keys = unless_none(o.trusted_user_ca_keys);
  c.revoked_keys = unless_none(o.revoked_keys);
  c.allow_users = o.allow_users;
  c.deny_users = o.deny_users;
  c.allow_groups = o.allow_groups;
  c.deny_groups = o.deny_groups;
  c.strict_modes = or_default(o.strict_modes, 1) != 0;
  c.banner = unless_none(o.banner);
  c.expose_auth_info = or_default(o.expose_auth_info, 0) != 0;

  c.max_sessions = or_default(o.max_sessions, 10);
  c.permit_tty = or_default(o.permit_tty, 1) != 0;
  c.permit_user_rc = or_default(o.permit_user_rc, 1) != 0;
  c.print_motd = or_default(o.print_motd, 1) != 0;
  c.force_command = unless_none(o.force_command);
  c.subsystems = o.subsystems;
  c.accept_env = o.accept_env;
  c.set_env = o.set_env;
  c.permit_user_environment = or_default(o.permit_user_env, 0) != 0;
  c.permit_user_environment_patterns = o.permit_user_env_allowlist;
  c.allow_agent_forwarding = or_default(o.allow_agent_forwarding, 1) != 0;
  auto forwarding = [](int value) {
    switch (value) {
      case kForwardNo: return Forwarding::kNo;
      case kForwardLocal: return Forwarding::kLocal;
      case kForwardRemote: return Forwarding::kRemote;
      default: return Forwarding::kYes;
    }
  };
  c.allow_tcp_forwarding = forwarding(or_default(o.allow_tcp_forwarding, kForwardAll));
  c.allow_stream_local_forwarding = forwarding(or_default(o.allow_stream_local_forwarding, kForwardAll));
  c.disable_forwarding = or_default(o.disable_forwarding, 0) != 0;
  c.gateway_ports = as_enum<GatewayPorts>(or_default(o.gateway_ports, kGatewayNo));
  c.permit_open = permit_targets(o.permit_open);
  c.permit_listen = permit_targets(o.permit_listen);
  c.stream_local_bind_mask = or_default(o.stream_local_bind_mask, 0177);
  c.stream_local_bind_unlink = or_default(o.stream_local_bind_unlink, 0) != 0;

  c.log_level = as_enum<config::LogLevel>(or_default(o.log_level, 3));
  c.syslog_facility = as_enum<SyslogFacility>(or_default(o.syslog_facility, 2));
  c.fingerprint_hash = as_enum<FingerprintHash>(or_default(o.fingerprint_hash, 2));
  return c;
}

}  // namespace detail
}  // namespace tessera::ssh::server
