// The table of every option OpenSSH 9.2's ssh_config knows: how its value is
// written, whether tessera-ssh implements, ignores or refuses it (the Support
// column: change it here when tessera-ssh learns an option), the tokens it
// accepts and the default "ssh -G" prints. Then every keyword spelling
// (aliases included) and the words of the choice options.
#include <algorithm>
#include <array>
#include <cstddef>
#include <iterator>

#include "config/internal.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::config {
namespace {

using enum ValueKind;
constexpr Support I = Support::kImplemented;
constexpr Support W = Support::kIgnored;  // warn
constexpr Support R = Support::kRefused;
constexpr OpenSshStatus A = OpenSshStatus::kActive;
constexpr OpenSshStatus S = OpenSshStatus::kSilentlyIgnored;
constexpr OpenSshStatus D = OpenSshStatus::kDeprecated;
constexpr OpenSshStatus U = OpenSshStatus::kUnsupported;
constexpr OpenSshStatus DEB = OpenSshStatus::kDebian;

constexpr uint32_t kNone = kNoTokens;
constexpr uint32_t kHostTok = kTokenHost;
constexpr uint32_t kDef = kTokenDefault;
constexpr uint32_t kProxy = kTokenProxy;

constexpr std::string_view kFlagWords = "yes no true false";

// clang-format off
constexpr std::array<OptionInfo, kOptionCount> kOptions = {{
  // option, name, kind, support, openssh, tokens, tilde, env, default, choices, note
  {Option::kHost, "Host", kSection, I, A, kNone, false, false, "", "", ""},
  {Option::kMatch, "Match", kSection, I, A, kDef, false, false, "",
   "all canonical final exec host originalhost user localuser", "Match exec runs through the caller's callback"},
  {Option::kInclude, "Include", kInclude, I, A, kNone, true, false, "", "", ""},
  {Option::kProtocol, "Protocol", kAnything, W, S, kNone, false, false, "", "", "ignored silently, as OpenSSH does"},
  {Option::kCipher, "Cipher", kAnything, W, D, kNone, false, false, "", "", "SSH-1 only; deprecated"},
  {Option::kFallBackToRsh, "FallBackToRsh", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kGlobalKnownHostsFile2, "GlobalKnownHostsFile2", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kRhostsAuthentication, "RhostsAuthentication", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kUseBlacklistedKeys, "UseBlacklistedKeys", kAnything, W, D, kNone, false, false, "", "",
   "deprecated (Debian)"},
  {Option::kUserKnownHostsFile2, "UserKnownHostsFile2", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kUseRoaming, "UseRoaming", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kUseRsh, "UseRsh", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kUsePrivilegedPort, "UsePrivilegedPort", kAnything, W, D, kNone, false, false, "", "", "deprecated"},
  {Option::kAfsTokenPassing, "AFSTokenPassing", kAnything, W, U, kNone, false, false, "", "", "unsupported"},
  {Option::kKerberosAuthentication, "KerberosAuthentication", kAnything, W, U, kNone, false, false, "", "",
   "unsupported"},
  {Option::kKerberosTgtPassing, "KerberosTgtPassing", kAnything, W, U, kNone, false, false, "", "", "unsupported"},
  {Option::kRsaAuthentication, "RSAAuthentication", kAnything, W, U, kNone, false, false, "", "", "SSH-1 only"},
  {Option::kRhostsRsaAuthentication, "RhostsRSAAuthentication", kAnything, W, U, kNone, false, false, "", "",
   "SSH-1 only"},
  {Option::kCompressionLevel, "CompressionLevel", kAnything, W, U, kNone, false, false, "", "", "SSH-1 only"},
  {Option::kGssapiAuthentication, "GSSAPIAuthentication", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "tessera-ssh has no GSSAPI authentication; the method is not tried"},
  {Option::kGssapiDelegateCredentials, "GSSAPIDelegateCredentials", kFlag, W, A, kNone, false, false, "no",
   kFlagWords, "no GSSAPI: nothing is delegated"},
  {Option::kGssapiKeyExchange, "GSSAPIKeyExchange", kFlag, W, DEB, kNone, false, false, "no", kFlagWords,
   "no GSSAPI key exchange"},
  {Option::kGssapiTrustDns, "GSSAPITrustDns", kFlag, W, DEB, kNone, false, false, "no", kFlagWords, "no GSSAPI"},
  {Option::kGssapiClientIdentity, "GSSAPIClientIdentity", kString, W, DEB, kNone, false, false, "", "", "no GSSAPI"},
  {Option::kGssapiServerIdentity, "GSSAPIServerIdentity", kString, W, DEB, kNone, false, false, "", "", "no GSSAPI"},
  {Option::kGssapiRenewalForcesRekey, "GSSAPIRenewalForcesRekey", kFlag, W, DEB, kNone, false, false, "no",
   kFlagWords, "no GSSAPI"},
  {Option::kGssapiKexAlgorithms, "GSSAPIKexAlgorithms", kAlgorithms, W, DEB, kNone, false, false,
   "gss-group14-sha256-,gss-group16-sha512-,gss-nistp256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,"
   "gss-gex-sha1-", "", "no GSSAPI key exchange"},
  {Option::kPkcs11Provider, "PKCS11Provider", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kForwardAgent, "ForwardAgent", kSpecial, I, A, kDef, true, true, "no", kFlagWords, ""},
  {Option::kForwardX11, "ForwardX11", kFlag, R, A, kNone, false, false, "no", kFlagWords,
   "tessera-ssh does not forward X11"},
  {Option::kForwardX11Trusted, "ForwardX11Trusted", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "no X11 forwarding"},
  {Option::kForwardX11Timeout, "ForwardX11Timeout", kTime, W, A, kNone, false, false, "1200", "",
   "no X11 forwarding"},
  {Option::kExitOnForwardFailure, "ExitOnForwardFailure", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kXAuthLocation, "XAuthLocation", kString, W, A, kNone, false, false, "/usr/bin/xauth", "",
   "no X11 forwarding"},
  {Option::kGatewayPorts, "GatewayPorts", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "forwarded ports stay bound to loopback unless a bind address is given"},
  {Option::kPasswordAuthentication, "PasswordAuthentication", kFlag, I, A, kNone, false, false, "yes", kFlagWords,
   ""},
  {Option::kKbdInteractiveAuthentication, "KbdInteractiveAuthentication", kFlag, I, A, kNone, false, false, "yes",
   kFlagWords, ""},
  {Option::kKbdInteractiveDevices, "KbdInteractiveDevices", kString, W, A, kNone, false, false, "", "",
   "the server's list of devices is used"},
  {Option::kPubkeyAuthentication, "PubkeyAuthentication", kChoice, I, A, kNone, false, false, "true",
   "yes no true false unbound host-bound", ""},
  {Option::kHostbasedAuthentication, "HostbasedAuthentication", kFlag, W, A, kNone, false, false, "no",
   kFlagWords, "tessera-ssh has no host-based authentication; the method is not tried"},
  {Option::kIdentityFile, "IdentityFile", kFile, I, A, kDef, true, true, "", "", ""},
  {Option::kIdentitiesOnly, "IdentitiesOnly", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kCertificateFile, "CertificateFile", kFile, I, A, kDef, true, true, "", "", ""},
  {Option::kAddKeysToAgent, "AddKeysToAgent", kSpecial, W, A, kNone, false, false, "false",
   "yes no ask confirm true false, or a time", "keys loaded from files are not added to the agent"},
  {Option::kIdentityAgent, "IdentityAgent", kString, I, A, kDef, true, true, "", "", ""},
  {Option::kHostname, "Hostname", kString, I, A, kHostTok, false, false, "", "", ""},
  {Option::kHostKeyAlias, "HostKeyAlias", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kProxyCommand, "ProxyCommand", kCommand, I, A, kProxy, false, false, "", "", ""},
  {Option::kPort, "Port", kPort, I, A, kNone, false, false, "22", "", ""},
  {Option::kCiphers, "Ciphers", kAlgorithms, I, A, kNone, false, false, "", "", ""},
  {Option::kMacs, "MACs", kAlgorithms, I, A, kNone, false, false, "", "", ""},
  {Option::kRemoteForward, "RemoteForward", kForward, R, A, kDef, false, true, "", "",
   "tessera-ssh does not do remote port forwarding"},
  {Option::kLocalForward, "LocalForward", kForward, I, A, kDef, false, true, "", "", ""},
  {Option::kPermitRemoteOpen, "PermitRemoteOpen", kSpecial, W, A, kNone, false, false, "any", "",
   "no remote forwarding"},
  {Option::kUser, "User", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kEscapeChar, "EscapeChar", kSpecial, I, A, kNone, false, false, "~", "", ""},
  {Option::kGlobalKnownHostsFile, "GlobalKnownHostsFile", kFileList, I, A, kNone, false, false,
   "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2", "", ""},
  {Option::kUserKnownHostsFile, "UserKnownHostsFile", kFileList, I, A, kDef, true, true,
   "~/.ssh/known_hosts ~/.ssh/known_hosts2", "", ""},
  {Option::kConnectionAttempts, "ConnectionAttempts", kInteger, I, A, kNone, false, false, "1", "", ""},
  {Option::kBatchMode, "BatchMode", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kCheckHostIp, "CheckHostIP", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kStrictHostKeyChecking, "StrictHostKeyChecking", kChoice, I, A, kNone, false, false, "ask",
   "yes no ask accept-new off true false", ""},
  {Option::kCompression, "Compression", kChoice, W, A, kNone, false, false, "no", "yes no",
   "tessera-ssh does not compress"},
  {Option::kTcpKeepAlive, "TCPKeepAlive", kFlag, I, A, kNone, false, false, "yes", kFlagWords, ""},
  {Option::kNumberOfPasswordPrompts, "NumberOfPasswordPrompts", kInteger, I, A, kNone, false, false, "3", "", ""},
  {Option::kSyslogFacility, "SyslogFacility", kSpecial, W, A, kNone, false, false, "USER", "",
   "tessera-ssh logs to standard error only"},
  {Option::kLogLevel, "LogLevel", kSpecial, I, A, kNone, false, false, "INFO",
   "QUIET FATAL ERROR INFO VERBOSE DEBUG DEBUG1 DEBUG2 DEBUG3", ""},
  {Option::kLogVerbose, "LogVerbose", kSpecial, W, A, kNone, false, false, "none", "", "no per-file log overrides"},
  {Option::kDynamicForward, "DynamicForward", kForward, R, A, kNone, false, true, "", "",
   "tessera-ssh does not act as a SOCKS proxy"},
  {Option::kPreferredAuthentications, "PreferredAuthentications", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kHostKeyAlgorithms, "HostKeyAlgorithms", kAlgorithms, I, A, kNone, false, false, "", "", ""},
  {Option::kCaSignatureAlgorithms, "CASignatureAlgorithms", kAlgorithms, I, A, kNone, false, false, "", "", ""},
  {Option::kBindAddress, "BindAddress", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kBindInterface, "BindInterface", kString, R, A, kNone, false, false, "", "",
   "tessera-ssh cannot bind to an interface; the connection could leave by another one"},
  {Option::kClearAllForwardings, "ClearAllForwardings", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kEnableSshKeysign, "EnableSSHKeysign", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "no host-based authentication"},
  {Option::kVerifyHostKeyDns, "VerifyHostKeyDNS", kChoice, W, A, kNone, false, false, "false", "yes no ask",
   "SSHFP records are not consulted: host keys are checked against known_hosts only"},
  {Option::kNoHostAuthenticationForLocalhost, "NoHostAuthenticationForLocalhost", kFlag, W, A, kNone, false, false,
   "no", kFlagWords, "localhost's host key is checked like any other"},
  {Option::kRekeyLimit, "RekeyLimit", kSpecial, I, A, kNone, false, false, "0 0", "", ""},
  {Option::kConnectTimeout, "ConnectTimeout", kTime, I, A, kNone, false, false, "none", "", ""},
  {Option::kAddressFamily, "AddressFamily", kChoice, I, A, kNone, false, false, "any", "any inet inet6", ""},
  {Option::kServerAliveInterval, "ServerAliveInterval", kTime, I, A, kNone, false, false, "0", "", ""},
  {Option::kServerAliveCountMax, "ServerAliveCountMax", kInteger, I, A, kNone, false, false, "3", "", ""},
  {Option::kSendEnv, "SendEnv", kEnvironmentNames, I, A, kNone, false, false, "", "", ""},
  {Option::kSetEnv, "SetEnv", kEnvironmentValues, I, A, kNone, false, false, "", "", ""},
  {Option::kControlPath, "ControlPath", kString, W, A, kDef, true, true, "", "",
   "no connection sharing: every tessera-ssh makes its own connection"},
  {Option::kControlMaster, "ControlMaster", kChoice, W, A, kNone, false, false, "false",
   "yes no ask auto autoask true false", "no connection sharing"},
  {Option::kControlPersist, "ControlPersist", kSpecial, W, A, kNone, false, false, "no", "", "no connection sharing"},
  {Option::kHashKnownHosts, "HashKnownHosts", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kTunnel, "Tunnel", kChoice, R, A, kNone, false, false, "false",
   "yes no point-to-point ethernet true false", "tessera-ssh does not forward tun/tap devices"},
  {Option::kTunnelDevice, "TunnelDevice", kSpecial, R, A, kNone, false, false, "any:any", "",
   "tessera-ssh does not forward tun/tap devices"},
  {Option::kLocalCommand, "LocalCommand", kCommand, W, A, kDef | kTokenTunnel, false, false, "", "",
   "tessera-ssh does not run local commands"},
  {Option::kPermitLocalCommand, "PermitLocalCommand", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "tessera-ssh does not run local commands"},
  {Option::kRemoteCommand, "RemoteCommand", kCommand, I, A, kDef, false, false, "", "", ""},
  {Option::kVisualHostKey, "VisualHostKey", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "no ASCII-art fingerprints"},
  {Option::kKexAlgorithms, "KexAlgorithms", kAlgorithms, I, A, kNone, false, false, "", "", ""},
  {Option::kIpQos, "IPQoS", kSpecial, W, A, kNone, false, false, "af21 cs1", "",
   "the system's default type of service is used"},
  {Option::kRequestTty, "RequestTTY", kChoice, I, A, kNone, false, false, "auto", "yes no force auto true false",
   ""},
  {Option::kSessionType, "SessionType", kChoice, I, A, kNone, false, false, "default", "none subsystem default", ""},
  {Option::kStdinNull, "StdinNull", kFlag, I, A, kNone, false, false, "no", kFlagWords, ""},
  {Option::kForkAfterAuthentication, "ForkAfterAuthentication", kFlag, R, A, kNone, false, false, "no", kFlagWords,
   "tessera-ssh does not go to the background"},
  {Option::kProxyUseFdpass, "ProxyUseFdpass", kFlag, R, A, kNone, false, false, "no", kFlagWords,
   "tessera-ssh cannot take a connected socket from a ProxyCommand"},
  {Option::kCanonicalDomains, "CanonicalDomains", kSpecial, W, A, kNone, false, false, "none", "",
   "only used for canonicalization, which tessera-ssh does not do"},
  {Option::kCanonicalizeFallbackLocal, "CanonicalizeFallbackLocal", kFlag, W, A, kNone, false, false, "yes",
   kFlagWords, "no canonicalization"},
  {Option::kCanonicalizeHostname, "CanonicalizeHostname", kChoice, R, A, kNone, false, false, "false",
   "yes no always true false", "tessera-ssh does not canonicalize host names, so Host sections would match"
   " other names than OpenSSH's"},
  {Option::kCanonicalizeMaxDots, "CanonicalizeMaxDots", kInteger, W, A, kNone, false, false, "1", "",
   "no canonicalization"},
  {Option::kCanonicalizePermittedCnames, "CanonicalizePermittedCNAMEs", kSpecial, R, A, kNone, false, false, "none",
   "", "tessera-ssh does not follow CNAMEs, so it would check another name's host key than OpenSSH"},
  {Option::kStreamLocalBindMask, "StreamLocalBindMask", kSpecial, W, A, kNone, false, false, "0177", "",
   "forwarded Unix sockets are created with mode 0600"},
  {Option::kStreamLocalBindUnlink, "StreamLocalBindUnlink", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "an existing socket file is not removed"},
  {Option::kRevokedHostKeys, "RevokedHostKeys", kString, I, A, kDef, true, false, "", "", ""},
  {Option::kFingerprintHash, "FingerprintHash", kSpecial, W, A, kNone, false, false, "SHA256", "md5 sha256",
   "fingerprints are shown as SHA256"},
  {Option::kUpdateHostKeys, "UpdateHostKeys", kChoice, I, A, kNone, false, false, "", "yes no ask", ""},
  {Option::kHostbasedAcceptedAlgorithms, "HostbasedAcceptedAlgorithms", kAlgorithms, W, A, kNone, false, false, "",
   "", "no host-based authentication"},
  {Option::kPubkeyAcceptedAlgorithms, "PubkeyAcceptedAlgorithms", kAlgorithms, I, A, kNone, false, false, "", "",
   ""},
  {Option::kIgnoreUnknown, "IgnoreUnknown", kString, I, A, kNone, false, false, "", "", ""},
  {Option::kProxyJump, "ProxyJump", kSpecial, I, A, kProxy, false, false, "", "", ""},
  {Option::kSecurityKeyProvider, "SecurityKeyProvider", kString, I, A, kNone, false, false, "internal", "",
   ""},
  {Option::kKnownHostsCommand, "KnownHostsCommand", kCommand, R, A, kDef | kTokenKnownHosts, false, true, "", "",
   "tessera-ssh does not run a KnownHostsCommand: the keys it would list are unknown to it"},
  {Option::kRequiredRsaSize, "RequiredRSASize", kInteger, I, A, kNone, false, false, "1024", "", ""},
  {Option::kEnableEscapeCommandline, "EnableEscapeCommandline", kFlag, W, A, kNone, false, false, "no", kFlagWords,
   "no ~C command line"},
}};

constexpr KeywordName kKeywords[] = {
  {"protocol", Option::kProtocol},
  {"cipher", Option::kCipher},
  {"fallbacktorsh", Option::kFallBackToRsh},
  {"globalknownhostsfile2", Option::kGlobalKnownHostsFile2},
  {"rhostsauthentication", Option::kRhostsAuthentication},
  {"useblacklistedkeys", Option::kUseBlacklistedKeys},
  {"userknownhostsfile2", Option::kUserKnownHostsFile2},
  {"useroaming", Option::kUseRoaming},
  {"usersh", Option::kUseRsh},
  {"useprivilegedport", Option::kUsePrivilegedPort},
  {"afstokenpassing", Option::kAfsTokenPassing},
  {"kerberosauthentication", Option::kKerberosAuthentication},
  {"kerberostgtpassing", Option::kKerberosTgtPassing},
  {"rsaauthentication", Option::kRsaAuthentication},
  {"rhostsrsaauthentication", Option::kRhostsRsaAuthentication},
  {"compressionlevel", Option::kCompressionLevel},
  {"gssapiauthentication", Option::kGssapiAuthentication},
  {"gssapikeyexchange", Option::kGssapiKeyExchange},
  {"gssapidelegatecredentials", Option::kGssapiDelegateCredentials},
  {"gssapitrustdns", Option::kGssapiTrustDns},
  {"gssapiclientidentity", Option::kGssapiClientIdentity},
  {"gssapiserveridentity", Option::kGssapiServerIdentity},
  {"gssapirenewalforcesrekey", Option::kGssapiRenewalForcesRekey},
  {"gssapikexalgorithms", Option::kGssapiKexAlgorithms},
  {"pkcs11provider", Option::kPkcs11Provider},
  {"smartcarddevice", Option::kPkcs11Provider},
  {"forwardagent", Option::kForwardAgent},
  {"forwardx11", Option::kForwardX11},
  {"forwardx11trusted", Option::kForwardX11Trusted},
  {"forwardx11timeout", Option::kForwardX11Timeout},
  {"exitonforwardfailure", Option::kExitOnForwardFailure},
  {"xauthlocation", Option::kXAuthLocation},
  {"gatewayports", Option::kGatewayPorts},
  {"passwordauthentication", Option::kPasswordAuthentication},
  {"kbdinteractiveauthentication", Option::kKbdInteractiveAuthentication},
  {"kbdinteractivedevices", Option::kKbdInteractiveDevices},
  {"challengeresponseauthentication", Option::kKbdInteractiveAuthentication},
  {"skeyauthentication", Option::kKbdInteractiveAuthentication},
  {"tisauthentication", Option::kKbdInteractiveAuthentication},
  {"pubkeyauthentication", Option::kPubkeyAuthentication},
  {"dsaauthentication", Option::kPubkeyAuthentication},
  {"hostbasedauthentication", Option::kHostbasedAuthentication},
  {"identityfile", Option::kIdentityFile},
  {"identityfile2", Option::kIdentityFile},
  {"identitiesonly", Option::kIdentitiesOnly},
  {"certificatefile", Option::kCertificateFile},
  {"addkeystoagent", Option::kAddKeysToAgent},
  {"identityagent", Option::kIdentityAgent},
  {"hostname", Option::kHostname},
  {"hostkeyalias", Option::kHostKeyAlias},
  {"proxycommand", Option::kProxyCommand},
  {"port", Option::kPort},
  {"ciphers", Option::kCiphers},
  {"macs", Option::kMacs},
  {"remoteforward", Option::kRemoteForward},
  {"localforward", Option::kLocalForward},
  {"permitremoteopen", Option::kPermitRemoteOpen},
  {"user", Option::kUser},
  {"host", Option::kHost},
  {"match", Option::kMatch},
  {"escapechar", Option::kEscapeChar},
  {"globalknownhostsfile", Option::kGlobalKnownHostsFile},
  {"userknownhostsfile", Option::kUserKnownHostsFile},
  {"connectionattempts", Option::kConnectionAttempts},
  {"batchmode", Option::kBatchMode},
  {"checkhostip", Option::kCheckHostIp},
  {"stricthostkeychecking", Option::kStrictHostKeyChecking},
  {"compression", Option::kCompression},
  {"tcpkeepalive", Option::kTcpKeepAlive},
  {"keepalive", Option::kTcpKeepAlive},
  {"numberofpasswordprompts", Option::kNumberOfPasswordPrompts},
  {"syslogfacility", Option::kSyslogFacility},
  {"loglevel", Option::kLogLevel},
  {"logverbose", Option::kLogVerbose},
  {"dynamicforward", Option::kDynamicForward},
  {"preferredauthentications", Option::kPreferredAuthentications},
  {"hostkeyalgorithms", Option::kHostKeyAlgorithms},
  {"casignaturealgorithms", Option::kCaSignatureAlgorithms},
  {"bindaddress", Option::kBindAddress},
  {"bindinterface", Option::kBindInterface},
  {"clearallforwardings", Option::kClearAllForwardings},
  {"enablesshkeysign", Option::kEnableSshKeysign},
  {"verifyhostkeydns", Option::kVerifyHostKeyDns},
  {"nohostauthenticationforlocalhost", Option::kNoHostAuthenticationForLocalhost},
  {"rekeylimit", Option::kRekeyLimit},
  {"connecttimeout", Option::kConnectTimeout},
  {"addressfamily", Option::kAddressFamily},
  {"serveraliveinterval", Option::kServerAliveInterval},
  {"serveralivecountmax", Option::kServerAliveCountMax},
  {"sendenv", Option::kSendEnv},
  {"setenv", Option::kSetEnv},
  {"controlpath", Option::kControlPath},
  {"controlmaster", Option::kControlMaster},
  {"controlpersist", Option::kControlPersist},
  {"hashknownhosts", Option::kHashKnownHosts},
  {"include", Option::kInclude},
  {"tunnel", Option::kTunnel},
  {"tunneldevice", Option::kTunnelDevice},
  {"localcommand", Option::kLocalCommand},
  {"permitlocalcommand", Option::kPermitLocalCommand},
  {"remotecommand", Option::kRemoteCommand},
  {"visualhostkey", Option::kVisualHostKey},
  {"kexalgorithms", Option::kKexAlgorithms},
  {"ipqos", Option::kIpQos},
  {"requesttty", Option::kRequestTty},
  {"sessiontype", Option::kSessionType},
  {"stdinnull", Option::kStdinNull},
  {"forkafterauthentication", Option::kForkAfterAuthentication},
  {"proxyusefdpass", Option::kProxyUseFdpass},
  {"canonicaldomains", Option::kCanonicalDomains},
  {"canonicalizefallbacklocal", Option::kCanonicalizeFallbackLocal},
  {"canonicalizehostname", Option::kCanonicalizeHostname},
  {"canonicalizemaxdots", Option::kCanonicalizeMaxDots},
  {"canonicalizepermittedcnames", Option::kCanonicalizePermittedCnames},
  {"streamlocalbindmask", Option::kStreamLocalBindMask},
  {"streamlocalbindunlink", Option::kStreamLocalBindUnlink},
  {"revokedhostkeys", Option::kRevokedHostKeys},
  {"fingerprinthash", Option::kFingerprintHash},
  {"updatehostkeys", Option::kUpdateHostKeys},
  {"hostbasedacceptedalgorithms", Option::kHostbasedAcceptedAlgorithms},
  {"hostbasedkeytypes", Option::kHostbasedAcceptedAlgorithms},
  {"pubkeyacceptedalgorithms", Option::kPubkeyAcceptedAlgorithms},
  {"pubkeyacceptedkeytypes", Option::kPubkeyAcceptedAlgorithms},
  {"ignoreunknown", Option::kIgnoreUnknown},
  {"proxyjump", Option::kProxyJump},
  {"securitykeyprovider", Option::kSecurityKeyProvider},
  {"knownhostscommand", Option::kKnownHostsCommand},
  {"requiredrsasize", Option::kRequiredRsaSize},
  {"enableescapecommandline", Option::kEnableEscapeCommandline},
  // Debian's compatibility aliases.
  {"protocolkeepalives", Option::kServerAliveInterval},
  {"setuptimeout", Option::kServerAliveInterval},
};
// clang-format on

constexpr size_t kKeywordCount = std::size(kKeywords);

constexpr bool options_in_order() {
  for (size_t i = 0; i < kOptions.size(); ++i) {
    if (static_cast<size_t>(kOptions[i].option) != i) return false;
  }
  return true;
}
static_assert(options_in_order(), "kOptions must list every Option in enum order");

constexpr bool keywords_lower_case_and_unique() {
  for (size_t i = 0; i < kKeywordCount; ++i) {
    for (char c : kKeywords[i].keyword) {
      if (c >= 'A' && c <= 'Z') return false;
    }
    for (size_t j = i + 1; j < kKeywordCount; ++j) {
      if (kKeywords[i].keyword == kKeywords[j].keyword) return false;
    }
  }
  return true;
}
static_assert(keywords_lower_case_and_unique(), "keywords are lower case and listed once");

// ---- choice words (readconf.c's multistate tables, in their order) ----

using detail::ChoiceWord;
constexpr ChoiceWord kFlagChoices[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}};
constexpr ChoiceWord kYesNoAsk[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"ask", 2}};
constexpr ChoiceWord kStrict[] = {{"true", detail::kStrictYes}, {"false", detail::kStrictOff},
                                  {"yes", detail::kStrictYes},  {"no", detail::kStrictOff},
                                  {"ask", detail::kStrictAsk},  {"off", detail::kStrictOff},
                                  {"accept-new", detail::kStrictNew}};
constexpr ChoiceWord kFamily[] = {{"inet", detail::kFamilyInet}, {"inet6", detail::kFamilyInet6},
                                  {"any", detail::kFamilyAny}};
constexpr ChoiceWord kControlMaster[] = {{"true", 1}, {"yes", 1}, {"false", 0}, {"no", 0},
                                         {"auto", 2}, {"ask", 3}, {"autoask", 4}};
constexpr ChoiceWord kTunnel[] = {{"ethernet", detail::kTunnelEthernet}, {"point-to-point", detail::kTunnelPointToPoint},
                                  {"true", detail::kTunnelPointToPoint}, {"yes", detail::kTunnelPointToPoint},
                                  {"false", detail::kTunnelNo},         {"no", detail::kTunnelNo}};
constexpr ChoiceWord kRequestTty[] = {{"true", detail::kTtyYes},  {"yes", detail::kTtyYes},
                                      {"false", detail::kTtyNo},  {"no", detail::kTtyNo},
                                      {"force", detail::kTtyForce}, {"auto", detail::kTtyAuto}};
constexpr ChoiceWord kSession[] = {{"none", detail::kSessionNone}, {"subsystem", detail::kSessionSubsystem},
                                   {"default", detail::kSessionDefault}};
constexpr ChoiceWord kCanonicalize[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"always", 2}};
constexpr ChoiceWord kPubkey[] = {{"true", detail::kPubkeyAll},      {"false", detail::kPubkeyNo},
                                  {"yes", detail::kPubkeyAll},       {"no", detail::kPubkeyNo},
                                  {"unbound", detail::kPubkeyUnbound}, {"host-bound", detail::kPubkeyHostBound}};
// Compression: zlib is not offered, but OpenSSH built with zlib accepts "yes".
constexpr ChoiceWord kCompression[] = {{"yes", 1}, {"no", 0}};

}  // namespace

const OptionInfo& option_info(Option option) {
  size_t index = static_cast<size_t>(option);
  if (index >= kOptions.size()) index = 0;
  return kOptions[index];
}

std::span<const OptionInfo> all_options() { return kOptions; }

std::span<const KeywordName> all_keywords() { return kKeywords; }

std::optional<Option> find_keyword(std::string_view keyword) {
  if (keyword.size() > 64) return std::nullopt;
  std::string lower(keyword);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (size_t i = 0; i < kKeywordCount; ++i) {
    if (kKeywords[i].keyword == lower) return kKeywords[i].option;
  }
  return std::nullopt;
}

namespace detail {

std::span<const ChoiceWord> choice_words(Option option) {
  switch (option) {
    case Option::kStrictHostKeyChecking: return kStrict;
    case Option::kVerifyHostKeyDns:
    case Option::kUpdateHostKeys: return kYesNoAsk;
    case Option::kAddressFamily: return kFamily;
    case Option::kControlMaster: return kControlMaster;
    case Option::kTunnel: return kTunnel;
    case Option::kRequestTty: return kRequestTty;
    case Option::kSessionType: return kSession;
    case Option::kCanonicalizeHostname: return kCanonicalize;
    case Option::kPubkeyAuthentication: return kPubkey;
    case Option::kCompression: return kCompression;
    case Option::kForwardAgent: return kFlagChoices;  // or a socket path
    default: break;
  }
  if (option_info(option).kind == ValueKind::kFlag) return kFlagChoices;
  return {};
}

std::optional<int> choice_value(Option option, std::string_view word) {
  for (const ChoiceWord& choice : choice_words(option)) {
    if (equals_ignore_case(word, choice.word)) return choice.value;
  }
  return std::nullopt;
}

}  // namespace detail
}  // namespace tessera::ssh::config
