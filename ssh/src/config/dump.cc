// "ssh -G": the resolved options in OpenSSH 9.2's dump_client_config()
// order and spelling (Debian's build, which adds its GSSAPI lines).
#include <array>
#include <string>

#include "config/internal.h"

namespace tessera::ssh::config {
namespace detail {
namespace {

std::string keyword(Option option) {
  if (option == Option::kCanonicalizePermittedCnames) return "canonicalizePermittedcnames";  // sic, as OpenSSH
  std::string name(option_info(option).name);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

std::string word_for(Option option, int64_t value) {
  for (const ChoiceWord& word : choice_words(option)) {
    if (word.value == value) return std::string(word.word);
  }
  return "UNKNOWN";
}

std::string yes_no(int64_t value) { return value == 0 ? "no" : value == 1 ? "yes" : "UNKNOWN"; }

std::string join(const std::vector<std::string>& list, char separator) {
  std::string out;
  for (const std::string& item : list) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string one_line(const std::vector<std::string>& list) { return list.empty() ? "none" : join(list, ' '); }

bool numeric_host(const std::string& host) {
  return host.find(':') != std::string::npos || host.find_first_not_of("1234567890.") == std::string::npos;
}

}  // namespace

std::vector<std::string> dump_values(const Options& o, Option option) {
  const Slot& slot = o[option];
  const OptionInfo& info = option_info(option);
  switch (option) {
    case Option::kHost: case Option::kMatch: case Option::kInclude:
      return {};
    case Option::kPubkeyAuthentication: case Option::kStrictHostKeyChecking: case Option::kVerifyHostKeyDns:
    case Option::kUpdateHostKeys: case Option::kAddressFamily: case Option::kControlMaster: case Option::kTunnel:
    case Option::kRequestTty: case Option::kSessionType: case Option::kCanonicalizeHostname:
      return {word_for(option, slot.number)};
    case Option::kCompression:
      return {yes_no(slot.number)};
    case Option::kForwardAgent:
      if (o.forward_agent_path.set) return {o.forward_agent_path.text};
      return {yes_no(slot.number)};
    case Option::kFingerprintHash:
      return {std::string(fingerprint_hash_name(static_cast<int>(slot.number)))};
    case Option::kLogLevel:
      return {std::string(log_level_name(static_cast<int>(slot.number)))};
    case Option::kSyslogFacility:
      return {std::string(log_facility_name(static_cast<int>(slot.number)))};
    case Option::kConnectTimeout:
      return {slot.set ? std::to_string(slot.number) : "none"};
    case Option::kCiphers: case Option::kMacs: case Option::kKexAlgorithms: case Option::kHostKeyAlgorithms:
    case Option::kCaSignatureAlgorithms: case Option::kHostbasedAcceptedAlgorithms:
    case Option::kPubkeyAcceptedAlgorithms:
      return {join(slot.list, ',')};
    case Option::kLocalForward: case Option::kDynamicForward: {
      std::vector<std::string> lines;
      bool dynamic = option == Option::kDynamicForward;
      for (const ForwardEntry& entry : o.local_forwards) {
        if (entry.forward.dynamic != dynamic) continue;
        std::string line = forward_end_text(entry.forward.listen);
        if (!dynamic) line += " " + forward_end_text(entry.forward.connect);
        lines.push_back(line);
      }
      return lines;
    }
    case Option::kRemoteForward: {
      std::vector<std::string> lines;
      for (const ForwardEntry& entry : o.remote_forwards) {
        std::string target = entry.forward.dynamic ? "[socks]:0" : forward_end_text(entry.forward.connect);
        lines.push_back(forward_end_text(entry.forward.listen) + " " + target);
      }
      return lines;
    }
    case Option::kIdentityFile: case Option::kCertificateFile: {
      std::vector<std::string> lines;
      for (const PathEntry& entry : option == Option::kIdentityFile ? o.identity_files : o.certificate_files) {
        lines.push_back(entry.path);
      }
      return lines;
    }
    case Option::kCanonicalDomains: case Option::kGlobalKnownHostsFile: case Option::kUserKnownHostsFile:
    case Option::kLogVerbose:
      return {one_line(slot.list)};
    case Option::kSendEnv: case Option::kSetEnv:
      return slot.list;
    case Option::kPermitRemoteOpen:
      return {slot.list.empty() ? "any" : join(slot.list, ' ')};
    case Option::kAddKeysToAgent: {
      // readconf.c's yes/no/ask/confirm table: a value prints as its first word.
      static constexpr std::array<std::string_view, 4> kWords = {"false", "true", "ask", "confirm"};
      if (slot.number2 <= 0) {
        return {std::string(slot.number >= 0 && slot.number < 4 ? kWords[static_cast<size_t>(slot.number)]
                                                                : std::string_view("UNKNOWN"))};
      }
      return {std::string(slot.number == kAddKeysConfirm ? "confirm " : "") + std::to_string(slot.number2)};
    }
    case Option::kTunnelDevice: {
      auto part = [](int64_t v) { return v == kTunAny ? std::string("any") : std::to_string(v); };
      return {part(slot.number) + ":" + part(slot.number2)};
    }
    case Option::kCanonicalizePermittedCnames: {
      if (o.permitted_cnames.empty()) return {"none"};
      std::string line;
      for (const CnameRule& rule : o.permitted_cnames) line += (line.empty() ? "" : " ") + rule.source + ":" + rule.target;
      return {line};
    }
    case Option::kControlPersist:
      if (slot.number == 0 || slot.number2 == 0) return {yes_no(slot.number)};
      return {std::to_string(slot.number2)};
    case Option::kEscapeChar:
      if (slot.number < 0) return {"none"};
      return {visible_char(static_cast<uint8_t>(slot.number))};
    case Option::kIpQos:
      return {ipqos_name(static_cast<int>(slot.number)) + " " + ipqos_name(static_cast<int>(slot.number2))};
    case Option::kRekeyLimit:
      return {std::to_string(static_cast<uint64_t>(slot.number)) + " " + std::to_string(o.rekey_interval.number)};
    case Option::kStreamLocalBindMask: {
      std::string octal;
      int64_t v = slot.number;
      do {
        octal.insert(octal.begin(), static_cast<char>('0' + (v & 7)));
        v >>= 3;
      } while (v > 0);
      return {"0" + octal};
    }
    case Option::kProxyCommand:
      if (o.jump.set || !slot.set) return {};
      return {slot.text};
    case Option::kProxyJump: {
      if (!o.jump.set) return {};
      std::string line;
      if (!o.jump.extra.empty()) line += o.jump.extra + ",";
      if (!o.jump.user.empty()) line += o.jump.user + "@";
      bool brackets = numeric_host(o.jump.host);
      line += (brackets ? "[" : "") + o.jump.host + (brackets ? "]" : "");
      if (o.jump.port > 0) line += ":" + std::to_string(o.jump.port);
      return {line};
    }
    default:
      break;
  }
  switch (info.kind) {
    case ValueKind::kFlag:
      return {yes_no(slot.number)};
    case ValueKind::kInteger: case ValueKind::kTime: case ValueKind::kPort:
      return {std::to_string(slot.number)};
    case ValueKind::kString: case ValueKind::kCommand: case ValueKind::kAlgorithms:
      if (!slot.set) return {};
      return {slot.text};
    default:
      return {};
  }
}

}  // namespace detail

std::string dump(const Resolution& resolution) {
  if (!resolution.state || !resolution.state->ok) return {};
  const detail::State& state = *resolution.state;
  const detail::Options& o = state.options;
  std::string out;
  auto line = [&out](std::string_view name, std::string_view value) {
    out.append(name);
    out += ' ';
    out.append(value);
    out += '\n';
  };
  auto option = [&](Option which) {
    std::string name = detail::keyword(which);
    if (which == Option::kDynamicForward) {
      // OpenSSH lists a LocalForward to a Unix socket among the dynamic ones
      // too (its connect host is unset, like no "socks" one).
      for (const detail::ForwardEntry& entry : o.local_forwards) {
        if (entry.forward.dynamic || entry.forward.connect.is_path()) {
          line(name, detail::forward_end_text(entry.forward.listen));
        }
      }
      return;
    }
    for (const std::string& value : detail::dump_values(o, which)) line(name, value);
  };
  line("host", state.host_argument);
  line("user", o[Option::kUser].text);
  line("hostname", state.hostname);
  line("port", std::to_string(o[Option::kPort].number));
  using enum Option;
  for (Option which :
       {kAddressFamily, kBatchMode, kCanonicalizeFallbackLocal, kCanonicalizeHostname, kCheckHostIp, kCompression,
        kControlMaster, kEnableSshKeysign, kClearAllForwardings, kExitOnForwardFailure, kFingerprintHash,
        kForwardX11, kForwardX11Trusted, kGatewayPorts, kGssapiAuthentication, kGssapiKeyExchange,
        kGssapiDelegateCredentials, kGssapiTrustDns, kGssapiRenewalForcesRekey, kGssapiClientIdentity,
        kGssapiServerIdentity, kGssapiKexAlgorithms, kHashKnownHosts, kHostbasedAuthentication, kIdentitiesOnly,
        kKbdInteractiveAuthentication, kNoHostAuthenticationForLocalhost, kPasswordAuthentication,
        kPermitLocalCommand, kProxyUseFdpass, kPubkeyAuthentication, kRequestTty, kSessionType, kStdinNull,
        kForkAfterAuthentication, kStreamLocalBindUnlink, kStrictHostKeyChecking, kTcpKeepAlive, kTunnel,
        kVerifyHostKeyDns, kVisualHostKey, kUpdateHostKeys, kEnableEscapeCommandline,
        // integers
        kCanonicalizeMaxDots, kConnectionAttempts, kForwardX11Timeout, kNumberOfPasswordPrompts,
        kServerAliveCountMax, kServerAliveInterval, kRequiredRsaSize,
        // strings
        kBindAddress, kBindInterface, kCiphers, kControlPath, kHostKeyAlgorithms, kHostKeyAlias,
        kHostbasedAcceptedAlgorithms, kIdentityAgent, kIgnoreUnknown, kKbdInteractiveDevices, kKexAlgorithms,
        kCaSignatureAlgorithms, kLocalCommand, kRemoteCommand, kLogLevel, kMacs, kPkcs11Provider,
        kSecurityKeyProvider, kPreferredAuthentications, kPubkeyAcceptedAlgorithms, kRevokedHostKeys,
        kXAuthLocation, kKnownHostsCommand,
        // forwardings
        kDynamicForward, kLocalForward, kRemoteForward,
        // lists
        kIdentityFile, kCanonicalDomains, kCertificateFile, kGlobalKnownHostsFile, kUserKnownHostsFile, kSendEnv,
        kSetEnv, kLogVerbose,
        // the rest
        kPermitRemoteOpen, kAddKeysToAgent, kForwardAgent, kConnectTimeout, kTunnelDevice,
        kCanonicalizePermittedCnames, kControlPersist, kEscapeChar, kIpQos, kRekeyLimit, kStreamLocalBindMask,
        kSyslogFacility, kProxyCommand, kProxyJump}) {
    option(which);
  }
  return out;
}

}  // namespace tessera::ssh::config
