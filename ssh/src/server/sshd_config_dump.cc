// "sshd -T" output for the keywords tessera-sshd implements (dump_config():
// sshd's order and spelling), and the listen addresses resolved as sshd
// resolves them.
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "config/internal.h"
#include "server/sshd_config_internal.h"

namespace tessera::ssh::server {
namespace {

std::string_view family_name(config::AddressFamily family) {
  switch (family) {
    case config::AddressFamily::kInet: return "inet";
    case config::AddressFamily::kInet6: return "inet6";
    case config::AddressFamily::kAny: break;
  }
  return "any";
}

std::string_view root_login_name(PermitRootLogin value) {
  switch (value) {
    case PermitRootLogin::kYes: return "yes";
    case PermitRootLogin::kForcedCommandsOnly: return "forced-commands-only";
    case PermitRootLogin::kNo: return "no";
    case PermitRootLogin::kProhibitPassword: break;
  }
  return "without-password";
}

std::string_view forwarding_name(Forwarding value) {
  switch (value) {
    case Forwarding::kNo: return "no";
    case Forwarding::kLocal: return "local";
    case Forwarding::kRemote: return "remote";
    case Forwarding::kYes: break;
  }
  return "yes";
}

std::string_view gateway_name(GatewayPorts value) {
  switch (value) {
    case GatewayPorts::kYes: return "yes";
    case GatewayPorts::kClientSpecified: return "clientspecified";
    case GatewayPorts::kNo: break;
  }
  return "no";
}

std::string_view yes_no(bool value) { return value ? "yes" : "no"; }

std::string joined(const std::vector<std::string>& names, std::string_view separator) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

std::string octal(int value) {
  std::string digits;
  auto v = static_cast<unsigned>(value);
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + (v & 7u)));
    v >>= 3;
  } while (v != 0);
  return "0" + digits;
}

struct AddrinfoFree {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};

}  // namespace

key::Result<std::vector<ResolvedListenAddress>> resolve_listen_addresses(const SshdConfig& config) {
  std::vector<ResolvedListenAddress> out;
  for (const ListenAddress& listen : config.listen_addresses) {
    if (listen.host.size() > 1024 || listen.host.find('\0') != std::string::npos) {
      return key::Error(key::Errc::kInvalidArgument, "bad addr or host: " + listen.host.substr(0, 100));
    }
    addrinfo hints{};
    hints.ai_family = config.address_family == config::AddressFamily::kInet    ? AF_INET
                      : config.address_family == config::AddressFamily::kInet6 ? AF_INET6
                                                                                : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = listen.host.empty() ? AI_PASSIVE : 0;
    std::string port = std::to_string(listen.port);
    addrinfo* found = nullptr;
    int r = ::getaddrinfo(listen.host.empty() ? nullptr : listen.host.c_str(), port.c_str(), &hints, &found);
    if (r != 0) {
      return key::Error(key::Errc::kInvalidArgument, "bad addr or host: " +
                                                          (listen.host.empty() ? std::string("<NULL>") : listen.host) +
                                                          " (" + ::gai_strerror(r) + ")");
    }
    std::unique_ptr<addrinfo, AddrinfoFree> guard(found);
    // sshd stacks each name's addresses and prints the stack from the
    // bottom: names in order, each name's addresses last first.
    std::vector<ResolvedListenAddress> group;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_addr == nullptr || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      std::array<char, NI_MAXHOST> host{};
      std::array<char, NI_MAXSERV> service{};
      if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, host.data(), host.size(), service.data(), service.size(),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        continue;
      }
      ResolvedListenAddress entry;
      std::memcpy(&entry.address, ai->ai_addr, ai->ai_addrlen);
      entry.length = ai->ai_addrlen;
      entry.text = ai->ai_family == AF_INET6 ? "[" + std::string(host.data()) + "]:" + service.data()
                                             : std::string(host.data()) + ":" + service.data();
      group.push_back(std::move(entry));
    }
    std::reverse(group.begin(), group.end());
    for (ResolvedListenAddress& entry : group) out.push_back(std::move(entry));
  }
  return out;
}

std::string dump_sshd_config(const SshdConfig& c) {
  std::string out;
  auto line = [&out](std::string_view keyword, std::string_view value) {
    out.append(keyword).append(" ").append(value).append("\n");
  };
  auto number = [&line](std::string_view keyword, long long value) { line(keyword, std::to_string(value)); };
  auto optional = [&line](std::string_view keyword, const std::optional<std::string>& value) {
    line(keyword, value ? std::string_view(*value) : std::string_view("none"));
  };
  auto permits = [&line](std::string_view keyword, const std::optional<std::vector<PermitTarget>>& targets) {
    if (!targets) return line(keyword, "any");
    if (targets->empty()) return line(keyword, "none");
    std::string value;
    for (const PermitTarget& t : *targets) value += (value.empty() ? "" : " ") + t.text;
    line(keyword, value);
  };

  for (uint16_t port : c.ports) number("port", port);
  line("addressfamily", family_name(c.address_family));
  if (auto addresses = resolve_listen_addresses(c); addresses.ok()) {
    for (const ResolvedListenAddress& a : *addresses) line("listenaddress", a.text);
  }
  number("logingracetime", c.login_grace_time);
  number("maxauthtries", c.max_auth_tries);
  number("maxsessions", c.max_sessions);
  number("clientaliveinterval", c.client_alive_interval);
  number("clientalivecountmax", c.client_alive_count_max);
  number("requiredrsasize", c.required_rsa_size);
  line("streamlocalbindmask", octal(c.stream_local_bind_mask));
  if (c.unused_connection_timeout) {
    number("unusedconnectiontimeout", *c.unused_connection_timeout);
  } else {
    line("unusedconnectiontimeout", "none");
  }
  line("permitrootlogin", root_login_name(c.permit_root_login));
  line("pubkeyauthentication", yes_no(c.pubkey_authentication));
  line("passwordauthentication", yes_no(c.password_authentication));
  line("kbdinteractiveauthentication", yes_no(c.kbd_interactive_authentication));
  line("printmotd", yes_no(c.print_motd));
  line("permittty", yes_no(c.permit_tty));
  line("permituserrc", yes_no(c.permit_user_rc));
  line("strictmodes", yes_no(c.strict_modes));
  line("tcpkeepalive", yes_no(c.tcp_keep_alive));
  line("gatewayports", gateway_name(c.gateway_ports));
  line("usedns", yes_no(c.use_dns));
  line("allowtcpforwarding", forwarding_name(c.allow_tcp_forwarding));
  line("allowagentforwarding", yes_no(c.allow_agent_forwarding));
  line("disableforwarding", yes_no(c.disable_forwarding));
  line("allowstreamlocalforwarding", forwarding_name(c.allow_stream_local_forwarding));
  line("streamlocalbindunlink", yes_no(c.stream_local_bind_unlink));
  line("fingerprinthash", config::detail::fingerprint_hash_name(static_cast<int>(c.fingerprint_hash)));
  line("exposeauthinfo", yes_no(c.expose_auth_info));
  optional("pidfile", c.pid_file);
  line("modulifile", c.moduli_file);
  line("ciphers", joined(c.ciphers, ","));
  line("macs", joined(c.macs, ","));
  optional("banner", c.banner);
  optional("forcecommand", c.force_command);
  line("chrootdirectory", "none");
  optional("trustedusercakeys", c.trusted_user_ca_keys);
  optional("revokedkeys", c.revoked_keys);
  optional("authorizedprincipalsfile", c.authorized_principals_file);
  line("versionaddendum", c.version_addendum.empty() ? std::string_view("none") : c.version_addendum);
  optional("hostkeyagent", c.host_key_agent);
  line("kexalgorithms", joined(c.kex_algorithms, ","));
  line("casignaturealgorithms", joined(c.ca_signature_algorithms, ","));
  line("hostkeyalgorithms", joined(c.host_key_algorithms, ","));
  line("pubkeyacceptedalgorithms", joined(c.pubkey_accepted_algorithms, ","));
  line("loglevel", c.log_level == config::LogLevel::kQuiet
                       ? std::string_view("SILENT")
                       : config::detail::log_level_name(static_cast<int>(c.log_level)));
  line("syslogfacility", config::detail::log_facility_name(static_cast<int>(c.syslog_facility)));
  if (!c.authorized_keys_files.empty()) line("authorizedkeysfile", joined(c.authorized_keys_files, " "));
  for (const std::string& key : c.host_keys) line("hostkey", key);
  for (const std::string& cert : c.host_certificates) line("hostcertificate", cert);
  for (const std::string& p : c.allow_users) line("allowusers", p);
  for (const std::string& p : c.deny_users) line("denyusers", p);
  for (const std::string& p : c.allow_groups) line("allowgroups", p);
  for (const std::string& p : c.deny_groups) line("denygroups", p);
  for (const std::string& p : c.accept_env) line("acceptenv", p);
  for (const std::string& p : c.set_env) line("setenv", p);
  line("authenticationmethods", c.authentication_methods.empty() ? "any" : joined(c.authentication_methods, " "));
  for (const Subsystem& s : c.subsystems) line("subsystem", s.name + " " + s.args);
  line("maxstartups", std::to_string(c.max_startups_begin) + ":" + std::to_string(c.max_startups_rate) + ":" +
                          std::to_string(c.max_startups));
  if (c.per_source_max_startups) {
    number("persourcemaxstartups", *c.per_source_max_startups);
  } else {
    line("persourcemaxstartups", "none");
  }
  line("persourcenetblocksize",
       std::to_string(c.per_source_netblock_ipv4) + ":" + std::to_string(c.per_source_netblock_ipv6));
  line("rekeylimit", std::to_string(c.rekey_limit) + " " + std::to_string(c.rekey_interval));
  permits("permitopen", c.permit_open);
  permits("permitlisten", c.permit_listen);
  if (c.permit_user_environment_patterns) {
    line("permituserenvironment", *c.permit_user_environment_patterns);
  } else {
    line("permituserenvironment", yes_no(c.permit_user_environment));
  }
  return out;
}

}  // namespace tessera::ssh::server
