// sshd_config(5) as OpenSSH 9.2's sshd reads it (servconf.c, Debian's build):
// the keyword table, the reader with Include and Match, the typed result with
// sshd's defaults, and "sshd -T" output.
//
// load_sshd_config() reads the -o options and then the file (first obtained
// value wins, as in sshd, so -o beats the file), follows Include, checks
// every line as sshd checks it (a config sshd rejects is rejected, with
// sshd's message naming file and line), and applies what is outside Match
// blocks: that is the listener's configuration. resolve() then applies the
// Match blocks that fit one connection, as sshd does once it knows the user.
//
// What tessera-sshd does with each keyword is the Support column of the
// keyword table (sshd_config_keywords.cc, docs/sshd_config.md): implemented,
// ignored with a warning (the value weakens nothing), or refused with an
// error (the value would weaken security or asks for something tessera-sshd
// does not do). Any keyword set to OpenSSH's default gives at most a note.
//
// Nothing here reads the network; files are read through config::ConfigFiles
// (the real file system by default) and ListenAddress names are checked with
// getaddrinfo() unless LoadOptions says not to.
#ifndef TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_H_
#define TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::server {

// ---- limits ------------------------------------------------------------------------

// Include nesting (SERVCONF_MAX_DEPTH).
inline constexpr int kMaxIncludeDepth = 16;
// Port lines (MAX_PORTS) and Subsystem lines (MAX_SUBSYSTEMS), as sshd.
inline constexpr size_t kMaxPorts = 256;
inline constexpr size_t kMaxSubsystems = 256;
// Entries of any list that grows line by line (HostKey, ListenAddress,
// AllowUsers, AcceptEnv, ...): sshd allows INT_MAX.
inline constexpr size_t kMaxListEntries = 4096;
// Files read for one load (the main file and every Include'd one), and all
// their bytes together; each line and file is also bounded by
// config::kMaxLineBytes and config::kMaxFileBytes.
inline constexpr size_t kMaxFilesRead = 1024;
inline constexpr size_t kMaxTotalBytes = 16 * 1024 * 1024;

// ---- the keyword table ---------------------------------------------------------------

// Every keyword OpenSSH 9.2's sshd (Debian's build) accepts, in servconf.c's
// table order; an alias has its own spelling in all_keyword_names() but sets
// the keyword it names.
enum class Keyword : uint8_t {
  kUsePam, kPamAuthenticationViaKbdInt, kPort, kHostKey, kHostKeyAgent, kPidFile, kModuliFile, kServerKeyBits,
  kLoginGraceTime, kKeyRegenerationInterval, kPermitRootLogin, kSyslogFacility, kLogLevel, kLogVerbose,
  kRhostsAuthentication, kRhostsRsaAuthentication, kHostbasedAuthentication, kHostbasedUsesNameFromPacketOnly,
  kHostbasedAcceptedAlgorithms, kHostKeyAlgorithms, kRsaAuthentication, kPubkeyAuthentication,
  kPubkeyAcceptedAlgorithms, kPubkeyAuthOptions, kKerberosAuthentication, kKerberosOrLocalPasswd,
  kKerberosTicketCleanup, kKerberosGetAfsToken, kKerberosTgtPassing, kAfsTokenPassing, kGssapiAuthentication,
  kGssapiCleanupCredentials, kGssapiStrictAcceptorCheck, kGssapiKeyExchange, kGssapiStoreCredentialsOnRekey,
  kGssapiKexAlgorithms, kGssUseSessionCCache, kGssapiUseSessionCredCache, kPasswordAuthentication,
  kKbdInteractiveAuthentication, kCheckMail, kListenAddress, kAddressFamily, kPrintMotd, kPrintLastLog,
  kIgnoreRhosts, kIgnoreUserKnownHosts, kX11Forwarding, kX11DisplayOffset, kX11UseLocalhost, kXAuthLocation,
  kStrictModes, kPermitBlacklistedKeys, kPermitEmptyPasswords, kPermitUserEnvironment, kUseLogin, kCompression,
  kRekeyLimit, kTcpKeepAlive, kAllowTcpForwarding, kAllowAgentForwarding, kAllowUsers, kDenyUsers, kAllowGroups,
  kDenyGroups, kCiphers, kMacs, kProtocol, kGatewayPorts, kSubsystem, kMaxStartups, kPerSourceMaxStartups,
  kPerSourceNetBlockSize, kMaxAuthTries, kMaxSessions, kBanner, kUseDns, kVerifyReverseMapping,
  kReverseMappingCheck, kClientAliveInterval, kClientAliveCountMax, kAuthorizedKeysFile, kAuthorizedKeysFile2,
  kUsePrivilegeSeparation, kAcceptEnv, kSetEnv, kPermitTunnel, kPermitTty, kPermitUserRc, kMatch, kPermitOpen,
  kPermitListen, kForceCommand, kChrootDirectory, kHostCertificate, kRevokedKeys, kTrustedUserCaKeys,
  kAuthorizedPrincipalsFile, kKexAlgorithms, kInclude, kIpQos, kAuthorizedKeysCommand, kAuthorizedKeysCommandUser,
  kAuthorizedPrincipalsCommand, kAuthorizedPrincipalsCommandUser, kVersionAddendum, kAuthenticationMethods,
  kStreamLocalBindMask, kStreamLocalBindUnlink, kAllowStreamLocalForwarding, kFingerprintHash,
  kDisableForwarding, kExposeAuthInfo, kRDomain, kCaSignatureAlgorithms, kSecurityKeyProvider, kRequiredRsaSize,
  kChannelTimeout, kUnusedConnectionTimeout, kDebianBanner,
  kCount
};
inline constexpr size_t kKeywordCount = static_cast<size_t>(Keyword::kCount);

// What tessera-sshd does with a keyword.
enum class Support : uint8_t {
  kImplemented,  // honoured (a few values may still be refused: see the note)
  kIgnored,      // accepted and checked; a value other than OpenSSH's default gives a warning
  kRefused,      // accepted at OpenSSH's default only; any other value is an error
};

// What OpenSSH 9.2's sshd itself does with the keyword.
enum class OpenSshStatus : uint8_t {
  kActive,
  kSilentlyIgnored,  // Protocol
  kDeprecated,       // "Deprecated option" (logged, otherwise ignored)
  kUnsupported,      // "Unsupported option" (logged, otherwise ignored)
  kDebian,           // only in Debian's build (GSSAPI key exchange, DebianBanner)
  kNotOnLinux,       // RDomain: an error on Linux
};

struct KeywordInfo {
  Keyword keyword;
  std::string_view name;             // "PermitRootLogin", as sshd_config(5) spells it
  Support support;                   // tessera-sshd's classification: edit the table to change it
  OpenSshStatus openssh;
  std::string_view openssh_default;  // the value sshd -T prints when unset ("" when none)
  std::string_view note;             // what tessera-sshd does, for messages and docs
};

// Every spelling sshd accepts, lower case, aliases included.
struct KeywordName {
  std::string_view name;  // "challengeresponseauthentication"
  Keyword keyword;        // kKbdInteractiveAuthentication
  bool in_match;          // allowed after Match (SSHCFG_MATCH); a property of the spelling
};

const KeywordInfo& keyword_info(Keyword keyword);
std::span<const KeywordInfo> all_keywords();
std::span<const KeywordName> all_keyword_names();
// The spelling, compared without regard to case; null when unknown.
const KeywordName* find_keyword(std::string_view name);

// ---- the typed configuration ---------------------------------------------------------

enum class PermitRootLogin : uint8_t { kYes, kProhibitPassword /* also without-password */, kForcedCommandsOnly, kNo };
// AllowTcpForwarding and AllowStreamLocalForwarding.
enum class Forwarding : uint8_t { kYes /* also all */, kNo, kLocal, kRemote };
enum class GatewayPorts : uint8_t { kNo, kYes, kClientSpecified };
enum class SyslogFacility : uint8_t {
  kDaemon, kUser, kAuth, kAuthPriv, kLocal0, kLocal1, kLocal2, kLocal3, kLocal4, kLocal5, kLocal6, kLocal7
};
enum class FingerprintHash : uint8_t { kMd5, kSha1, kSha256, kSha384, kSha512 };

// One address to listen on, before name resolution: every Port for a
// ListenAddress without one, or every Port on the wildcard address when
// there is no ListenAddress.
struct ListenAddress {
  std::string host;  // "" : the wildcard address of each family AddressFamily allows
  uint16_t port = 22;
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

struct Subsystem {
  std::string name;     // "sftp"
  std::string command;  // "/usr/lib/openssh/sftp-server" or "internal-sftp"
  std::string args;     // the command and its arguments, joined by single spaces
  friend bool operator==(const Subsystem&, const Subsystem&) = default;
};

// One PermitOpen / PermitListen entry.
struct PermitTarget {
  std::string text;  // as written ("host:port"; PermitListen "port" becomes "*:port")
  std::string host;  // "*" : any host
  int port = 0;      // 0 : any port ("*")
  friend bool operator==(const PermitTarget&, const PermitTarget&) = default;
};

// The configuration for the listener, or for one connection after resolve().
// Defaults are OpenSSH 9.2's; paths are absolute where sshd makes them so
// (relative ones are taken from the working directory, '~' is the home of
// the user sshd runs as). AuthorizedKeysFile and AuthorizedPrincipalsFile
// keep their %-tokens for the caller to expand per user.
struct SshdConfig {
  // Listening.
  std::vector<uint16_t> ports{22};
  config::AddressFamily address_family = config::AddressFamily::kAny;
  std::vector<ListenAddress> listen_addresses;  // in sshd's order; see resolve_listen_addresses()
  int max_startups_begin = 10, max_startups_rate = 30, max_startups = 100;  // MaxStartups start:rate:full
  std::optional<int> per_source_max_startups;  // nullopt: none
  int per_source_netblock_ipv4 = 32, per_source_netblock_ipv6 = 128;
  int login_grace_time = 120;                  // seconds; 0: none
  std::optional<std::string> pid_file = "/run/sshd.pid";
  std::string version_addendum;                // "" : none
  bool use_dns = false;                        // look up the client's name (Match Host, user@host patterns)
  bool tcp_keep_alive = true;
  int client_alive_interval = 0, client_alive_count_max = 3;
  std::optional<int> unused_connection_timeout;  // seconds; nullopt: none

  // Host keys and key exchange.
  std::vector<std::string> host_keys;          // paths or "pkcs11:" URIs; the three default files when none given
  std::vector<std::string> host_certificates;
  std::optional<std::string> host_key_agent;   // a socket path or "SSH_AUTH_SOCK"; nullopt: none
  std::string moduli_file = "/etc/ssh/moduli";
  std::vector<std::string> ciphers, macs, kex_algorithms, host_key_algorithms;  // assembled lists
  uint64_t rekey_limit = 0;                    // bytes; 0: the cipher's default
  int rekey_interval = 0;                      // seconds; 0: none
  int required_rsa_size = 1024;                // bits, for host and user keys

  // User authentication.
  bool pubkey_authentication = true;
  std::vector<std::string> pubkey_accepted_algorithms, ca_signature_algorithms;
  bool password_authentication = false;        // always: tessera-sshd has no passwords
  bool kbd_interactive_authentication = false; // always
  std::vector<std::string> authentication_methods;  // empty: any; else lists of "publickey"
  int max_auth_tries = 6;
  PermitRootLogin permit_root_login = PermitRootLogin::kProhibitPassword;
  std::vector<std::string> authorized_keys_files{".ssh/authorized_keys", ".ssh/authorized_keys2"};  // "none" kept
  std::optional<std::string> authorized_principals_file;
  std::optional<std::string> trusted_user_ca_keys, revoked_keys;
  std::vector<std::string> allow_users, deny_users, allow_groups, deny_groups;  // patterns, user@host allowed
  bool strict_modes = true;
  std::optional<std::string> banner;
  bool expose_auth_info = false;

  // Sessions and forwarding.
  int max_sessions = 10;
  bool permit_tty = true;
  bool permit_user_rc = true;  // ~/.ssh/rc runs (/etc/ssh/sshrc when it does not)
  bool print_motd = true;
  std::optional<std::string> force_command;
  // ChrootDirectory: only "none" is accepted.
  std::vector<Subsystem> subsystems;
  std::vector<std::string> accept_env;         // patterns
  std::vector<std::string> set_env;            // "NAME=value", first of a name wins
  bool permit_user_environment = false;
  std::optional<std::string> permit_user_environment_patterns;  // a pattern list instead of yes
  bool allow_agent_forwarding = true;
  Forwarding allow_tcp_forwarding = Forwarding::kYes;
  Forwarding allow_stream_local_forwarding = Forwarding::kYes;
  bool disable_forwarding = false;             // overrides the three above
  GatewayPorts gateway_ports = GatewayPorts::kNo;
  std::optional<std::vector<PermitTarget>> permit_open, permit_listen;  // nullopt: any; empty: none
  int stream_local_bind_mask = 0177;
  bool stream_local_bind_unlink = false;

  // Logging.
  config::LogLevel log_level = config::LogLevel::kInfo;
  SyslogFacility syslog_facility = SyslogFacility::kAuth;
  FingerprintHash fingerprint_hash = FingerprintHash::kSha256;
};

// ---- loading ----------------------------------------------------------------------------

// OpenSSH 9.2's server algorithm lists: its defaults and every name it knows.
const config::Algorithms& openssh_server_algorithms();
// The same restricted to what tessera's transport and server authentication
// support: defaults in OpenSSH's order, names OpenSSH knows but tessera does
// not are dropped from explicit lists with a warning.
config::Algorithms tessera_server_algorithms();

struct LoadOptions {
  std::vector<std::string> overrides;    // "-o" options, in command-line order ("Port 2222", "PermitTTY=no")
  std::vector<uint16_t> ports;           // "-p": when given, every Port line is ignored
  config::ConfigFiles* files = nullptr;  // null: the real file system
  std::string system_dir = "/etc/ssh";   // where a relative Include looks
  std::string cwd;                       // "" : getcwd(); relative paths are made absolute against it
  std::string home;                      // "" : the home of the user running; '~' expands to it
  config::Algorithms algorithms = tessera_server_algorithms();
  // Check each ListenAddress host with getaddrinfo() as sshd does (a name
  // may need DNS); false accepts any name, for fuzzing.
  bool resolve_listen_addresses = true;
};

namespace detail {
struct LoadedConfig;
}

struct SshdConfigFile {
  SshdConfig global;  // the listener's configuration: -o, then the file outside Match blocks (and "Match all")
  std::vector<config::Diagnostic> warnings;  // ignored keywords set to a non-default value; OpenSSH's deprecated
                                             // keywords; algorithms tessera lacks (log at info level)
  std::vector<config::Diagnostic> notes;     // keywords tessera does not use set to OpenSSH's default (debug)
  std::shared_ptr<const detail::LoadedConfig> loaded;  // what resolve() needs
};

// Reads `path` (and what it includes) as sshd -f path would, after the
// options' -o lines. kIo when the file cannot be read; kInvalidArgument when
// a -o line has an unknown keyword; kMalformed when a line is bad, a value is
// refused, or a ListenAddress does not resolve. The message is what sshd
// prints: every unknown keyword ("FILE: line N: Bad configuration option: X")
// and "FILE: terminating, N bad configuration options", or the unknown
// keywords before the first other error and that error ("FILE line N: ...").
key::Result<SshdConfigFile> load_sshd_config(const std::string& path, const LoadOptions& options = {});

// ---- Match -------------------------------------------------------------------------------

// What sshd knows about a connection when it applies Match blocks.
struct MatchContext {
  std::optional<std::string> user;
  std::optional<std::string> host;           // the client's name (with UseDNS no, its address)
  std::optional<std::string> address;       // the client's address
  std::optional<std::string> local_address;  // the address it connected to
  std::optional<int> local_port;
  std::optional<std::string> rdomain;
  // The group names of `user`; nullopt when there is no such user. Null: the
  // system's group database (getpwnam() and getgrouplist()), as sshd.
  std::function<std::optional<std::vector<std::string>>(const std::string& user)> groups;
  // sshd -T -C: a criterion whose value is not given does not match. Otherwise
  // (a real connection) it is an error, as are LocalPort without local_port.
  bool test = false;
};

// sshd -C: "user=alice,host=example.com,addr=192.0.2.1,laddr=192.0.2.2,lport=22,rdomain=0"
// (any subset, in any order). The result has test set. kInvalidArgument with
// sshd's message for an unknown field or a bad port.
key::Result<MatchContext> parse_match_spec(std::string_view spec);

// The configuration for one connection: the Match blocks that fit `context`
// applied over file.global as sshd applies them (a Match block's values
// override -o options too, as in sshd). With a null context, as "sshd -T"
// without -C: only "Match all" blocks apply. An Error when a Match line needs
// a value the context lacks, or an algorithm list set in a Match block leaves
// nothing.
key::Result<SshdConfig> resolve(const SshdConfigFile& file, const MatchContext* context);

// OpenSSH's match_user(): `pattern` is "user" or "user@host-or-address-list"
// (the list as server/address_match.h's match_host_and_address() reads it);
// 1 match, 0 no match, -1 an invalid pattern. `host` is the client's name
// (its address with UseDNS no), `address` its address.
int match_user_pattern(std::string_view user, std::string_view host, std::string_view address,
                       std::string_view pattern);

// The AllowUsers / DenyUsers / AllowGroups / DenyGroups part of sshd's
// allowed_user() for a resolved configuration: nullopt when the user may log
// in, else the reason as sshd logs it ("User alice from 192.0.2.1 not allowed
// because listed in DenyUsers"). `groups` are the user's group names, primary
// included (nullopt: the user has none, or no such user).
std::optional<std::string> user_access_denied(const SshdConfig& config, std::string_view user,
                                              const std::optional<std::vector<std::string>>& groups,
                                              std::string_view host, std::string_view address);

// ---- output -----------------------------------------------------------------------------

// One listening socket address, with the text sshd -T prints after "listenaddress ".
struct ResolvedListenAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;  // "0.0.0.0:22", "[::1]:2222"
};
// The sockets to listen on, in sshd's order (getaddrinfo() with the
// AddressFamily, passive for the wildcard). kInvalidArgument "bad addr or
// host: NAME (reason)" when a host does not resolve.
key::Result<std::vector<ResolvedListenAddress>> resolve_listen_addresses(const SshdConfig& config);

// The implemented keywords in "sshd -T" format: lower-case keyword, value,
// one per line, in sshd's order and spelling. Listen addresses are resolved
// as sshd does (one that does not resolve is left out).
std::string dump_sshd_config(const SshdConfig& config);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_H_
