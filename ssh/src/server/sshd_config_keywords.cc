// The table of every keyword OpenSSH 9.2's sshd (Debian's build) accepts:
// whether tessera-sshd implements, ignores or refuses it (the Support column:
// change it here when tessera-sshd learns a keyword, and in
// docs/sshd_config.md), what OpenSSH itself does with it, and the default
// "sshd -T" prints. Then every spelling with whether it may follow Match.
#include <array>

#include "config/internal.h"
#include "server/sshd_config.h"

namespace tessera::ssh::server {
namespace {

using K = Keyword;
constexpr Support I = Support::kImplemented;
constexpr Support W = Support::kIgnored;  // warn
constexpr Support R = Support::kRefused;
constexpr OpenSshStatus A = OpenSshStatus::kActive;
constexpr OpenSshStatus S = OpenSshStatus::kSilentlyIgnored;
constexpr OpenSshStatus D = OpenSshStatus::kDeprecated;
constexpr OpenSshStatus U = OpenSshStatus::kUnsupported;
constexpr OpenSshStatus DEB = OpenSshStatus::kDebian;

constexpr std::string_view kNoHostbased = "tessera-sshd has no host-based authentication";
constexpr std::string_view kNoKerberos = "tessera-sshd has no Kerberos authentication";
constexpr std::string_view kNoGssapi = "tessera-sshd has no GSSAPI authentication or key exchange";
constexpr std::string_view kNoX11 = "tessera-sshd does not forward X11";
constexpr std::string_view kDeprecated = "deprecated: OpenSSH ignores it too";
constexpr std::string_view kUnsupported = "not supported by OpenSSH either: ignored";

// clang-format off
constexpr std::array<KeywordInfo, kKeywordCount> kKeywords = {{
  // keyword, name, support, openssh, default (as sshd -T prints it), note
  {K::kUsePam, "UsePAM", R, A, "no", "tessera-sshd does not use PAM"},
  {K::kPamAuthenticationViaKbdInt, "PAMAuthenticationViaKbdInt", W, D, "", kDeprecated},
  {K::kPort, "Port", I, A, "22", ""},
  {K::kHostKey, "HostKey", I, A, "",
   "key files (with HostKeyAgent, public halves of the agent's keys) or pkcs11: URIs of token keys (kept as "
   "URIs: sshd would make them paths); without any, the three default files"},
  {K::kHostKeyAgent, "HostKeyAgent", I, A, "none",
   "as OpenSSH: a socket or SSH_AUTH_SOCK; keys it lacks are skipped with a log line"},
  {K::kPidFile, "PidFile", I, A, "/run/sshd.pid", ""},
  {K::kModuliFile, "ModuliFile", I, A, "/etc/ssh/moduli", ""},
  {K::kServerKeyBits, "ServerKeyBits", W, D, "", kDeprecated},
  {K::kLoginGraceTime, "LoginGraceTime", I, A, "120", ""},
  {K::kKeyRegenerationInterval, "KeyRegenerationInterval", W, D, "", kDeprecated},
  {K::kPermitRootLogin, "PermitRootLogin", I, A, "without-password", ""},
  {K::kSyslogFacility, "SyslogFacility", I, A, "AUTH", ""},
  {K::kLogLevel, "LogLevel", I, A, "INFO", ""},
  {K::kLogVerbose, "LogVerbose", W, A, "", "tessera-sshd has no per-source-file debug logging"},
  {K::kRhostsAuthentication, "RhostsAuthentication", W, D, "", kDeprecated},
  {K::kRhostsRsaAuthentication, "RhostsRSAAuthentication", W, D, "", kDeprecated},
  {K::kHostbasedAuthentication, "HostbasedAuthentication", R, A, "no", kNoHostbased},
  {K::kHostbasedUsesNameFromPacketOnly, "HostbasedUsesNameFromPacketOnly", W, A, "no", kNoHostbased},
  {K::kHostbasedAcceptedAlgorithms, "HostbasedAcceptedAlgorithms", W, A, "", kNoHostbased},
  {K::kHostKeyAlgorithms, "HostKeyAlgorithms", I, A, "", "OpenSSH's default list, less what tessera lacks"},
  {K::kRsaAuthentication, "RSAAuthentication", W, D, "", kDeprecated},
  {K::kPubkeyAuthentication, "PubkeyAuthentication", I, A, "yes", ""},
  {K::kPubkeyAcceptedAlgorithms, "PubkeyAcceptedAlgorithms", I, A, "",
   "OpenSSH's default list, less what tessera lacks"},
  {K::kPubkeyAuthOptions, "PubkeyAuthOptions", R, A, "none",
   "tessera-sshd does not enforce touch-required or verify-required yet"},
  {K::kKerberosAuthentication, "KerberosAuthentication", R, A, "no", kNoKerberos},
  {K::kKerberosOrLocalPasswd, "KerberosOrLocalPasswd", W, A, "yes", kNoKerberos},
  {K::kKerberosTicketCleanup, "KerberosTicketCleanup", W, A, "yes", kNoKerberos},
  {K::kKerberosGetAfsToken, "KerberosGetAFSToken", W, U, "", kUnsupported},
  {K::kKerberosTgtPassing, "KerberosTgtPassing", W, U, "", kUnsupported},
  {K::kAfsTokenPassing, "AFSTokenPassing", W, U, "", kUnsupported},
  {K::kGssapiAuthentication, "GSSAPIAuthentication", R, A, "no", kNoGssapi},
  {K::kGssapiCleanupCredentials, "GSSAPICleanupCredentials", W, A, "yes", kNoGssapi},
  {K::kGssapiStrictAcceptorCheck, "GSSAPIStrictAcceptorCheck", W, A, "yes", kNoGssapi},
  {K::kGssapiKeyExchange, "GSSAPIKeyExchange", R, DEB, "no", kNoGssapi},
  {K::kGssapiStoreCredentialsOnRekey, "GSSAPIStoreCredentialsOnRekey", W, DEB, "no", kNoGssapi},
  {K::kGssapiKexAlgorithms, "GSSAPIKexAlgorithms", W, DEB,
   "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,"
   "gss-gex-sha1-", kNoGssapi},
  {K::kGssUseSessionCCache, "GSSUseSessionCCache", W, U, "", kUnsupported},
  {K::kGssapiUseSessionCredCache, "GSSAPIUseSessionCredCache", W, U, "", kUnsupported},
  {K::kPasswordAuthentication, "PasswordAuthentication", I, A, "yes",
   "only no (tessera-sshd's default): tessera-sshd has no password authentication"},
  {K::kKbdInteractiveAuthentication, "KbdInteractiveAuthentication", I, A, "yes",
   "only no (tessera-sshd's default): tessera-sshd has no keyboard-interactive authentication"},
  {K::kCheckMail, "CheckMail", W, D, "", kDeprecated},
  {K::kListenAddress, "ListenAddress", I, A, "", "host, host:port, [v6]:port; \"rdomain\" is refused"},
  {K::kAddressFamily, "AddressFamily", I, A, "any", ""},
  {K::kPrintMotd, "PrintMotd", I, A, "yes", ""},
  {K::kPrintLastLog, "PrintLastLog", W, A, "yes", "tessera-sshd does not print the last login"},
  {K::kIgnoreRhosts, "IgnoreRhosts", W, A, "yes", ".rhosts and .shosts are never read (no host-based authentication)"},
  {K::kIgnoreUserKnownHosts, "IgnoreUserKnownHosts", W, A, "no", kNoHostbased},
  {K::kX11Forwarding, "X11Forwarding", R, A, "no", kNoX11},
  {K::kX11DisplayOffset, "X11DisplayOffset", W, A, "10", kNoX11},
  {K::kX11UseLocalhost, "X11UseLocalhost", W, A, "yes", kNoX11},
  {K::kXAuthLocation, "XAuthLocation", W, A, "/usr/bin/xauth", kNoX11},
  {K::kStrictModes, "StrictModes", I, A, "yes", ""},
  {K::kPermitBlacklistedKeys, "PermitBlacklistedKeys", W, D, "", kDeprecated},
  {K::kPermitEmptyPasswords, "PermitEmptyPasswords", R, A, "no", "tessera-sshd has no password authentication"},
  {K::kPermitUserEnvironment, "PermitUserEnvironment", I, A, "no", ""},
  {K::kUseLogin, "UseLogin", W, D, "", kDeprecated},
  {K::kCompression, "Compression", W, A, "yes", "tessera-sshd does not compress"},
  {K::kRekeyLimit, "RekeyLimit", I, A, "0 0", ""},
  {K::kTcpKeepAlive, "TCPKeepAlive", I, A, "yes", ""},
  {K::kAllowTcpForwarding, "AllowTcpForwarding", I, A, "yes", ""},
  {K::kAllowAgentForwarding, "AllowAgentForwarding", I, A, "yes", ""},
  {K::kAllowUsers, "AllowUsers", I, A, "", ""},
  {K::kDenyUsers, "DenyUsers", I, A, "", ""},
  {K::kAllowGroups, "AllowGroups", I, A, "", ""},
  {K::kDenyGroups, "DenyGroups", I, A, "", ""},
  {K::kCiphers, "Ciphers", I, A, "", "OpenSSH's default list, less what tessera lacks"},
  {K::kMacs, "MACs", I, A, "", "OpenSSH's default list, less what tessera lacks"},
  {K::kProtocol, "Protocol", W, S, "", "ignored silently, as OpenSSH does"},
  {K::kGatewayPorts, "GatewayPorts", I, A, "no", ""},
  {K::kSubsystem, "Subsystem", I, A, "", ""},
  {K::kMaxStartups, "MaxStartups", I, A, "10:30:100", ""},
  {K::kPerSourceMaxStartups, "PerSourceMaxStartups", I, A, "none", ""},
  {K::kPerSourceNetBlockSize, "PerSourceNetBlockSize", I, A, "32:128", ""},
  {K::kMaxAuthTries, "MaxAuthTries", I, A, "6", ""},
  {K::kMaxSessions, "MaxSessions", I, A, "10", ""},
  {K::kBanner, "Banner", I, A, "none", ""},
  {K::kUseDns, "UseDNS", I, A, "no", ""},
  {K::kVerifyReverseMapping, "VerifyReverseMapping", W, D, "", kDeprecated},
  {K::kReverseMappingCheck, "ReverseMappingCheck", W, D, "", kDeprecated},
  {K::kClientAliveInterval, "ClientAliveInterval", I, A, "0", ""},
  {K::kClientAliveCountMax, "ClientAliveCountMax", I, A, "3", ""},
  {K::kAuthorizedKeysFile, "AuthorizedKeysFile", I, A, ".ssh/authorized_keys .ssh/authorized_keys2", ""},
  {K::kAuthorizedKeysFile2, "AuthorizedKeysFile2", W, D, "", kDeprecated},
  {K::kUsePrivilegeSeparation, "UsePrivilegeSeparation", W, D, "",
   "deprecated: OpenSSH ignores it too, and tessera-sshd always separates privileges"},
  {K::kAcceptEnv, "AcceptEnv", I, A, "", ""},
  {K::kSetEnv, "SetEnv", I, A, "", ""},
  {K::kPermitTunnel, "PermitTunnel", R, A, "no", "tessera-sshd does not forward tun devices"},
  {K::kPermitTty, "PermitTTY", I, A, "yes", ""},
  {K::kPermitUserRc, "PermitUserRC", I, A, "yes", ""},
  {K::kMatch, "Match", I, A, "", "All, User, Group, Host, LocalAddress, LocalPort, Address, RDomain"},
  {K::kPermitOpen, "PermitOpen", I, A, "any", ""},
  {K::kPermitListen, "PermitListen", I, A, "any", ""},
  {K::kForceCommand, "ForceCommand", I, A, "none", ""},
  {K::kChrootDirectory, "ChrootDirectory", I, A, "none", "only none: tessera-sshd does not chroot sessions"},
  {K::kHostCertificate, "HostCertificate", I, A, "", ""},
  {K::kRevokedKeys, "RevokedKeys", I, A, "none", ""},
  {K::kTrustedUserCaKeys, "TrustedUserCAKeys", I, A, "none", ""},
  {K::kAuthorizedPrincipalsFile, "AuthorizedPrincipalsFile", I, A, "none", ""},
  {K::kKexAlgorithms, "KexAlgorithms", I, A, "", "OpenSSH's default list, less what tessera lacks"},
  {K::kInclude, "Include", I, A, "", "relative paths are in /etc/ssh"},
  {K::kIpQos, "IPQoS", W, A, "lowdelay throughput", "tessera-sshd does not set the IP type of service"},
  {K::kAuthorizedKeysCommand, "AuthorizedKeysCommand", R, A, "none",
   "tessera-sshd does not run commands to find keys"},
  {K::kAuthorizedKeysCommandUser, "AuthorizedKeysCommandUser", W, A, "none", "no AuthorizedKeysCommand"},
  {K::kAuthorizedPrincipalsCommand, "AuthorizedPrincipalsCommand", R, A, "none",
   "tessera-sshd does not run commands to find principals"},
  {K::kAuthorizedPrincipalsCommandUser, "AuthorizedPrincipalsCommandUser", W, A, "none",
   "no AuthorizedPrincipalsCommand"},
  {K::kVersionAddendum, "VersionAddendum", I, A, "none", ""},
  {K::kAuthenticationMethods, "AuthenticationMethods", I, A, "any",
   "only any or publickey: tessera-sshd has no other method"},
  {K::kStreamLocalBindMask, "StreamLocalBindMask", I, A, "0177", ""},
  {K::kStreamLocalBindUnlink, "StreamLocalBindUnlink", I, A, "no", ""},
  {K::kAllowStreamLocalForwarding, "AllowStreamLocalForwarding", I, A, "yes", ""},
  {K::kFingerprintHash, "FingerprintHash", I, A, "SHA256", ""},
  {K::kDisableForwarding, "DisableForwarding", I, A, "no", ""},
  {K::kExposeAuthInfo, "ExposeAuthInfo", I, A, "no", ""},
  {K::kRDomain, "RDomain", R, OpenSshStatus::kNotOnLinux, "", "routing domains do not exist on Linux"},
  {K::kCaSignatureAlgorithms, "CASignatureAlgorithms", I, A, "", "OpenSSH's default list, less what tessera lacks"},
  {K::kSecurityKeyProvider, "SecurityKeyProvider", R, A, "internal",
   "tessera-sshd loads no security key middleware"},
  {K::kRequiredRsaSize, "RequiredRSASize", I, A, "1024", ""},
  {K::kChannelTimeout, "ChannelTimeout", R, A, "", "tessera-sshd has no channel idle timeouts yet"},
  {K::kUnusedConnectionTimeout, "UnusedConnectionTimeout", I, A, "none", ""},
  {K::kDebianBanner, "DebianBanner", W, DEB, "yes", "tessera-sshd's version string has no Debian part"},
}};

// Every spelling, in servconf.c's order; G: global only, M: allowed after Match.
constexpr bool G = false;
constexpr bool M = true;
constexpr KeywordName kNames[] = {
  {"usepam", K::kUsePam, G},
  {"pamauthenticationviakbdint", K::kPamAuthenticationViaKbdInt, G},
  {"port", K::kPort, G},
  {"hostkey", K::kHostKey, G},
  {"hostdsakey", K::kHostKey, G},
  {"hostkeyagent", K::kHostKeyAgent, G},
  {"pidfile", K::kPidFile, G},
  {"modulifile", K::kModuliFile, G},
  {"serverkeybits", K::kServerKeyBits, G},
  {"logingracetime", K::kLoginGraceTime, G},
  {"keyregenerationinterval", K::kKeyRegenerationInterval, G},
  {"permitrootlogin", K::kPermitRootLogin, M},
  {"syslogfacility", K::kSyslogFacility, G},
  {"loglevel", K::kLogLevel, M},
  {"logverbose", K::kLogVerbose, M},
  {"rhostsauthentication", K::kRhostsAuthentication, G},
  {"rhostsrsaauthentication", K::kRhostsRsaAuthentication, M},
  {"hostbasedauthentication", K::kHostbasedAuthentication, M},
  {"hostbasedusesnamefrompacketonly", K::kHostbasedUsesNameFromPacketOnly, M},
  {"hostbasedacceptedalgorithms", K::kHostbasedAcceptedAlgorithms, M},
  {"hostbasedacceptedkeytypes", K::kHostbasedAcceptedAlgorithms, M},
  {"hostkeyalgorithms", K::kHostKeyAlgorithms, G},
  {"rsaauthentication", K::kRsaAuthentication, M},
  {"pubkeyauthentication", K::kPubkeyAuthentication, M},
  {"pubkeyacceptedalgorithms", K::kPubkeyAcceptedAlgorithms, M},
  {"pubkeyacceptedkeytypes", K::kPubkeyAcceptedAlgorithms, M},
  {"pubkeyauthoptions", K::kPubkeyAuthOptions, M},
  {"dsaauthentication", K::kPubkeyAuthentication, G},
  {"kerberosauthentication", K::kKerberosAuthentication, M},
  {"kerberosorlocalpasswd", K::kKerberosOrLocalPasswd, G},
  {"kerberosticketcleanup", K::kKerberosTicketCleanup, G},
  {"kerberosgetafstoken", K::kKerberosGetAfsToken, G},
  {"kerberostgtpassing", K::kKerberosTgtPassing, G},
  {"afstokenpassing", K::kAfsTokenPassing, G},
  {"gssapiauthentication", K::kGssapiAuthentication, M},
  {"gssapicleanupcredentials", K::kGssapiCleanupCredentials, G},
  {"gssapicleanupcreds", K::kGssapiCleanupCredentials, G},
  {"gssapistrictacceptorcheck", K::kGssapiStrictAcceptorCheck, G},
  {"gssapikeyexchange", K::kGssapiKeyExchange, G},
  {"gssapistorecredentialsonrekey", K::kGssapiStoreCredentialsOnRekey, G},
  {"gssapikexalgorithms", K::kGssapiKexAlgorithms, G},
  {"gssusesessionccache", K::kGssUseSessionCCache, G},
  {"gssapiusesessioncredcache", K::kGssapiUseSessionCredCache, G},
  {"passwordauthentication", K::kPasswordAuthentication, M},
  {"kbdinteractiveauthentication", K::kKbdInteractiveAuthentication, M},
  {"challengeresponseauthentication", K::kKbdInteractiveAuthentication, M},
  {"skeyauthentication", K::kKbdInteractiveAuthentication, M},
  {"checkmail", K::kCheckMail, G},
  {"listenaddress", K::kListenAddress, G},
  {"addressfamily", K::kAddressFamily, G},
  {"printmotd", K::kPrintMotd, G},
  {"printlastlog", K::kPrintLastLog, G},
  {"ignorerhosts", K::kIgnoreRhosts, M},
  {"ignoreuserknownhosts", K::kIgnoreUserKnownHosts, G},
  {"x11forwarding", K::kX11Forwarding, M},
  {"x11displayoffset", K::kX11DisplayOffset, M},
  {"x11uselocalhost", K::kX11UseLocalhost, M},
  {"xauthlocation", K::kXAuthLocation, G},
  {"strictmodes", K::kStrictModes, G},
  {"permitblacklistedkeys", K::kPermitBlacklistedKeys, G},
  {"permitemptypasswords", K::kPermitEmptyPasswords, M},
  {"permituserenvironment", K::kPermitUserEnvironment, G},
  {"uselogin", K::kUseLogin, G},
  {"compression", K::kCompression, G},
  {"rekeylimit", K::kRekeyLimit, M},
  {"tcpkeepalive", K::kTcpKeepAlive, G},
  {"keepalive", K::kTcpKeepAlive, G},
  {"allowtcpforwarding", K::kAllowTcpForwarding, M},
  {"allowagentforwarding", K::kAllowAgentForwarding, M},
  {"allowusers", K::kAllowUsers, M},
  {"denyusers", K::kDenyUsers, M},
  {"allowgroups", K::kAllowGroups, M},
  {"denygroups", K::kDenyGroups, M},
  {"ciphers", K::kCiphers, G},
  {"macs", K::kMacs, G},
  {"protocol", K::kProtocol, G},
  {"gatewayports", K::kGatewayPorts, M},
  {"subsystem", K::kSubsystem, G},
  {"maxstartups", K::kMaxStartups, G},
  {"persourcemaxstartups", K::kPerSourceMaxStartups, G},
  {"persourcenetblocksize", K::kPerSourceNetBlockSize, G},
  {"maxauthtries", K::kMaxAuthTries, M},
  {"maxsessions", K::kMaxSessions, M},
  {"banner", K::kBanner, M},
  {"usedns", K::kUseDns, G},
  {"verifyreversemapping", K::kVerifyReverseMapping, G},
  {"reversemappingcheck", K::kReverseMappingCheck, G},
  {"clientaliveinterval", K::kClientAliveInterval, M},
  {"clientalivecountmax", K::kClientAliveCountMax, M},
  {"authorizedkeysfile", K::kAuthorizedKeysFile, M},
  {"authorizedkeysfile2", K::kAuthorizedKeysFile2, M},
  {"useprivilegeseparation", K::kUsePrivilegeSeparation, G},
  {"acceptenv", K::kAcceptEnv, M},
  {"setenv", K::kSetEnv, M},
  {"permittunnel", K::kPermitTunnel, M},
  {"permittty", K::kPermitTty, M},
  {"permituserrc", K::kPermitUserRc, M},
  {"match", K::kMatch, M},
  {"permitopen", K::kPermitOpen, M},
  {"permitlisten", K::kPermitListen, M},
  {"forcecommand", K::kForceCommand, M},
  {"chrootdirectory", K::kChrootDirectory, M},
  {"hostcertificate", K::kHostCertificate, G},
  {"revokedkeys", K::kRevokedKeys, M},
  {"trustedusercakeys", K::kTrustedUserCaKeys, M},
  {"authorizedprincipalsfile", K::kAuthorizedPrincipalsFile, M},
  {"kexalgorithms", K::kKexAlgorithms, G},
  {"include", K::kInclude, M},
  {"ipqos", K::kIpQos, M},
  {"authorizedkeyscommand", K::kAuthorizedKeysCommand, M},
  {"authorizedkeyscommanduser", K::kAuthorizedKeysCommandUser, M},
  {"authorizedprincipalscommand", K::kAuthorizedPrincipalsCommand, M},
  {"authorizedprincipalscommanduser", K::kAuthorizedPrincipalsCommandUser, M},
  {"versionaddendum", K::kVersionAddendum, G},
  {"authenticationmethods", K::kAuthenticationMethods, M},
  {"streamlocalbindmask", K::kStreamLocalBindMask, M},
  {"streamlocalbindunlink", K::kStreamLocalBindUnlink, M},
  {"allowstreamlocalforwarding", K::kAllowStreamLocalForwarding, M},
  {"fingerprinthash", K::kFingerprintHash, G},
  {"disableforwarding", K::kDisableForwarding, M},
  {"exposeauthinfo", K::kExposeAuthInfo, M},
  {"rdomain", K::kRDomain, M},
  {"casignaturealgorithms", K::kCaSignatureAlgorithms, M},
  {"securitykeyprovider", K::kSecurityKeyProvider, G},
  {"requiredrsasize", K::kRequiredRsaSize, M},
  {"channeltimeout", K::kChannelTimeout, M},
  {"unusedconnectiontimeout", K::kUnusedConnectionTimeout, M},
  {"debianbanner", K::kDebianBanner, G},
};
// clang-format on

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kKeywords.size(); ++i) {
    if (static_cast<size_t>(kKeywords[i].keyword) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order(), "kKeywords must list every Keyword in enum order");

}  // namespace

const KeywordInfo& keyword_info(Keyword keyword) { return kKeywords[static_cast<size_t>(keyword)]; }
std::span<const KeywordInfo> all_keywords() { return kKeywords; }
std::span<const KeywordName> all_keyword_names() { return kNames; }

const KeywordName* find_keyword(std::string_view name) {
  for (const KeywordName& entry : kNames) {
    if (config::detail::equals_ignore_case(entry.name, name)) return &entry;
  }
  return nullptr;
}

}  // namespace tessera::ssh::server
