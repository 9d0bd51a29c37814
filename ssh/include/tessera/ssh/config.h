// ssh_config(5) as OpenSSH 9.2's ssh(1) reads it (readconf.c, and the parts of
// ssh.c that finish the options before "ssh -G" prints them).
//
// resolve() reads the command line's -o options, then ~/.ssh/config and
// /etc/ssh/ssh_config (or the -F file), with Host and Match sections, Include,
// IgnoreUnknown and "Match final" passes, fills OpenSSH's defaults, applies
// the Ciphers/MACs/... "+list", "-list" and "^list" forms to the caller's
// default algorithm lists, expands the values ssh expands before it connects
// (%-tokens, ~, ${VAR}), and returns a typed Config plus the warnings and
// errors each naming the file and line. First obtained value wins, as in
// OpenSSH: command line, then user file, then system file.
//
// Every keyword OpenSSH 9.2 (Debian's build: GSSAPI key exchange and the
// ProtocolKeepAlives/SetupTimeOut aliases included) accepts is parsed and
// checked exactly as OpenSSH does, so a config OpenSSH rejects is rejected and
// one it accepts is accepted. What tessera-ssh then does with each option is
// the Support column of the option table (ssh/src/config/keywords.cc):
// implemented, ignored with a warning (the value changes nothing about
// security), or refused with an error when set to anything but its default.
//
// Nothing here reads the network. Files are read through ConfigFiles (the
// real file system by default), "Match exec" runs through a callback the
// caller supplies, and the environment through a lookup function.
#ifndef TESSERA_SSH_CONFIG_H_
#define TESSERA_SSH_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"

namespace tessera::ssh::config {

// ---- limits ---------------------------------------------------------------------

// Longest line read from a config file or given with -o (OpenSSH has none).
inline constexpr size_t kMaxLineBytes = 64 * 1024;
// Largest config file read, each Include'd file counted on its own.
inline constexpr size_t kMaxFileBytes = 4 * 1024 * 1024;
// All the config text read for one resolve(), over every file and pass.
inline constexpr size_t kMaxTotalBytes = 64 * 1024 * 1024;
// Include nesting, as OpenSSH's READCONF_MAX_DEPTH.
inline constexpr int kMaxIncludeDepth = 16;
// Files one Include pattern may name, and files read in all.
inline constexpr size_t kMaxGlobMatches = 1024;
inline constexpr size_t kMaxFilesRead = 4096;
// OpenSSH's SSH_MAX_IDENTITY_FILES, SSH_MAX_CERTIFICATE_FILES,
// SSH_MAX_HOSTS_FILES and MAX_CANON_DOMAINS.
inline constexpr size_t kMaxIdentityFiles = 100;
inline constexpr size_t kMaxCertificateFiles = 100;
inline constexpr size_t kMaxKnownHostsFiles = 32;
inline constexpr size_t kMaxCanonicalDomains = 32;
// Entries of the lists OpenSSH lets grow without bound (SendEnv, SetEnv,
// LocalForward, RemoteForward, DynamicForward, PermitRemoteOpen, LogVerbose).
inline constexpr size_t kMaxListEntries = 1024;
// Longest value after %-token, ~ and ${VAR} expansion.
inline constexpr size_t kMaxExpandedBytes = 64 * 1024;
// Errors kept word for word (all are counted in Resolution::error_count).
inline constexpr size_t kMaxDiagnostics = 200;

// ---- the option table ---------------------------------------------------------

// Every option OpenSSH 9.2's ssh_config knows, aliases folded into the option
// they set ("DSAAuthentication" sets kPubkeyAuthentication).
enum class Option : uint8_t {
  // Sections and files.
  kHost, kMatch, kInclude,
  // Accepted and ignored by OpenSSH itself (Protocol silently, the others as
  // "deprecated" or "unsupported").
  kProtocol, kCipher, kFallBackToRsh, kGlobalKnownHostsFile2, kRhostsAuthentication, kUseBlacklistedKeys,
  kUserKnownHostsFile2, kUseRoaming, kUseRsh, kUsePrivilegedPort, kAfsTokenPassing, kKerberosAuthentication,
  kKerberosTgtPassing, kRsaAuthentication, kRhostsRsaAuthentication, kCompressionLevel,
  // GSSAPI (the last six are Debian's key exchange patch).
  kGssapiAuthentication, kGssapiDelegateCredentials, kGssapiKeyExchange, kGssapiTrustDns,
  kGssapiClientIdentity, kGssapiServerIdentity, kGssapiRenewalForcesRekey, kGssapiKexAlgorithms,
  // The rest in readconf.c's keyword order.
  kPkcs11Provider, kForwardAgent, kForwardX11, kForwardX11Trusted, kForwardX11Timeout, kExitOnForwardFailure,
  kXAuthLocation, kGatewayPorts, kPasswordAuthentication, kKbdInteractiveAuthentication, kKbdInteractiveDevices,
  kPubkeyAuthentication, kHostbasedAuthentication, kIdentityFile, kIdentitiesOnly, kCertificateFile,
  kAddKeysToAgent, kIdentityAgent, kHostname, kHostKeyAlias, kProxyCommand, kPort, kCiphers, kMacs,
  kRemoteForward, kLocalForward, kPermitRemoteOpen, kUser, kEscapeChar, kGlobalKnownHostsFile,
  kUserKnownHostsFile, kConnectionAttempts, kBatchMode, kCheckHostIp, kStrictHostKeyChecking, kCompression,
  kTcpKeepAlive, kNumberOfPasswordPrompts, kSyslogFacility, kLogLevel, kLogVerbose, kDynamicForward,
  kPreferredAuthentications, kHostKeyAlgorithms, kCaSignatureAlgorithms, kBindAddress, kBindInterface,
  kClearAllForwardings, kEnableSshKeysign, kVerifyHostKeyDns, kNoHostAuthenticationForLocalhost, kRekeyLimit,
  kConnectTimeout, kAddressFamily, kServerAliveInterval, kServerAliveCountMax, kSendEnv, kSetEnv,
  kControlPath, kControlMaster, kControlPersist, kHashKnownHosts, kTunnel, kTunnelDevice, kLocalCommand,
  kPermitLocalCommand, kRemoteCommand, kVisualHostKey, kKexAlgorithms, kIpQos, kRequestTty, kSessionType,
  kStdinNull, kForkAfterAuthentication, kProxyUseFdpass, kCanonicalDomains, kCanonicalizeFallbackLocal,
  kCanonicalizeHostname, kCanonicalizeMaxDots, kCanonicalizePermittedCnames, kStreamLocalBindMask,
  kStreamLocalBindUnlink, kRevokedHostKeys, kFingerprintHash, kUpdateHostKeys, kHostbasedAcceptedAlgorithms,
  kPubkeyAcceptedAlgorithms, kIgnoreUnknown, kProxyJump, kSecurityKeyProvider, kKnownHostsCommand,
  kRequiredRsaSize, kEnableEscapeCommandline,
  kCount
};
inline constexpr size_t kOptionCount = static_cast<size_t>(Option::kCount);

// What tessera-ssh does with an option.
enum class Support : uint8_t {
  kImplemented,  // honoured
  kIgnored,      // accepted; a value other than the default gives a warning
  kRefused,      // accepted only at its default; any other value is an error
};

// What OpenSSH 9.2 does with the keyword.
enum class OpenSshStatus : uint8_t {
  kActive,
  kSilentlyIgnored,  // Protocol
  kDeprecated,       // "Deprecated option" (debug message only)
  kUnsupported,      // "Unsupported option" (an error message, not fatal)
  kDebian,           // only in Debian's build (GSSAPI key exchange, aliases)
};

// How a value is written (and so parsed).
enum class ValueKind : uint8_t {
  kSection,        // Host patterns, Match criteria
  kInclude,        // file names and globs
  kAnything,       // deprecated and unsupported keywords: arguments are not read
  kFlag,           // yes/no/true/false
  kChoice,         // one word of a fixed set (see OptionInfo::choices)
  kInteger,        // 0 .. 2^31-1
  kPort,           // 1 .. 65535 or a service name
  kTime,           // "10m", "1h30m", or "none"
  kString,         // one argument
  kCommand,        // the rest of the line, quotes and all
  kFileList,       // whitespace separated, "none" alone (first line wins whole)
  kFile,           // one per line, accumulating (IdentityFile, CertificateFile)
  kForward,        // LocalForward / RemoteForward / DynamicForward specifications
  kAlgorithms,     // comma list, optionally starting with '+', '-' or '^'
  kEnvironmentNames,   // SendEnv: names and patterns, "-pattern" removes
  kEnvironmentValues,  // SetEnv: NAME=value (first line wins whole)
  kSpecial,        // a format of its own: see the option's man page entry
};

// The %-tokens an option's value accepts (OpenSSH 9.2's TOKENS section).
enum Tokens : uint32_t {
  kNoTokens = 0,
  kTokenHost = 1u << 0,            // %h  (plus %% for every option with tokens)
  kTokenDefault = 1u << 1,         // %C %d %h %i %k %L %l %n %p %r %u
  kTokenProxy = 1u << 2,           // %h %n %p %r
  kTokenTunnel = 1u << 3,          // %T  (LocalCommand)
  kTokenKnownHosts = 1u << 4,      // %f %H %I %K %t  (KnownHostsCommand)
};

struct OptionInfo {
  Option option;
  std::string_view name;          // "StrictHostKeyChecking"
  ValueKind kind;
  Support support;                // tessera-ssh's classification: edit the table to change it
  OpenSshStatus openssh;
  uint32_t tokens;                // Tokens bits
  bool tilde;                     // a leading '~' is expanded
  bool environment;               // ${VAR} is expanded
  std::string_view default_value; // as "ssh -G" prints it when unset ("" when it prints nothing)
  std::string_view choices;       // kChoice/kFlag: the accepted words, space separated
  std::string_view note;          // what tessera does, for docs and messages ("" when implemented plainly)
};

// Every keyword OpenSSH 9.2 accepts, lower case, aliases included.
struct KeywordName {
  std::string_view keyword;  // "pubkeyacceptedkeytypes"
  Option option;             // kPubkeyAcceptedAlgorithms
};

const OptionInfo& option_info(Option option);
std::span<const OptionInfo> all_options();
std::span<const KeywordName> all_keywords();
// The option a keyword names, compared without regard to case; nullopt for an
// unknown keyword.
std::optional<Option> find_keyword(std::string_view keyword);

// ---- the resolved configuration -------------------------------------------------

enum class StrictHostKeyChecking : uint8_t { kYes, kAcceptNew, kNo /* also "off" */, kAsk };
enum class PubkeyAuthentication : uint8_t { kNo, kYes, kUnbound, kHostBound };
enum class RequestTty : uint8_t { kNo, kYes, kForce, kAuto };
enum class SessionType : uint8_t { kNone, kSubsystem, kDefault };
enum class AddressFamily : uint8_t { kAny, kInet, kInet6 };
enum class UpdateHostKeys : uint8_t { kNo, kYes, kAsk };
enum class LogLevel : uint8_t { kQuiet, kFatal, kError, kInfo, kVerbose, kDebug1, kDebug2, kDebug3 };
enum class AddKeysToAgent : uint8_t { kNo, kYes, kAsk, kConfirm };

// One end of a forwarding: a host and port, or a Unix socket path.
struct ForwardEnd {
  std::optional<std::string> host;  // nullopt: not given ("[*]" and "" mean every address)
  uint16_t port = 0;                // 0 with a path, or a remote listener the server picks
  std::string path;                 // Unix socket path (then host and port are unused)
  bool is_path() const { return !path.empty(); }
  friend bool operator==(const ForwardEnd&, const ForwardEnd&) = default;
};

struct Forward {
  ForwardEnd listen;
  ForwardEnd connect;    // unused when dynamic
  bool dynamic = false;  // SOCKS (DynamicForward, or RemoteForward with one argument)
  friend bool operator==(const Forward&, const Forward&) = default;
};

// One ProxyJump hop: [user@]host[:port] or ssh://[user@]host[:port].
struct JumpHost {
  std::string user;  // "" when not given
  std::string host;
  std::optional<uint16_t> port;
};

// Where a value came from: a file and line, or "command-line" line 0.
struct Origin {
  std::string file;
  int line = 0;
};

// The values %-tokens expand to, as ssh computes them once the options are final.
struct TokenValues {
  std::string connection_hash;  // %C: SHA1 hex of %l%h%p%r
  std::string home;             // %d
  std::string remote_host;      // %h
  std::string uid;              // %i
  std::string key_alias;        // %k: HostKeyAlias, else the host as given
  std::string local_host_short; // %L
  std::string local_host;       // %l
  std::string original_host;    // %n
  std::string port;             // %p
  std::string remote_user;      // %r
  std::string local_user;       // %u
};

// Looks up an environment variable; nullopt when it is unset.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

struct Config {
  std::string host_argument;     // the destination as given ("host" in ssh -G)
  std::string hostname;          // Hostname with %h expanded (else host_argument), lower case unless an address
  std::string user;              // User, else the local user
  uint16_t port = 22;

  // Identities. Paths are as written (~, tokens and ${VAR} not expanded):
  // expand each with expand() when it is used, as ssh does.
  std::vector<std::string> identity_files;  // the defaults when none were given
  bool identity_files_are_defaults = false; // then missing files are not worth a warning
  std::vector<std::string> certificate_files;
  bool identities_only = false;
  std::optional<std::string> identity_agent;  // expanded; "none", "SSH_AUTH_SOCK" and "$VAR" kept as given
  std::optional<std::string> pkcs11_provider; // nullopt: none
  std::string security_key_provider;          // "internal" by default

  // Host keys.
  std::vector<std::string> user_known_hosts_files;    // expanded; empty for "none"
  std::vector<std::string> global_known_hosts_files;  // empty for "none"
  StrictHostKeyChecking strict_host_key_checking = StrictHostKeyChecking::kAsk;
  bool hash_known_hosts = false;
  std::optional<std::string> host_key_alias;          // lower case
  std::optional<std::string> revoked_host_keys;       // as written: expand(kRevokedHostKeys) at use
  bool check_host_ip = false;
  UpdateHostKeys update_host_keys = UpdateHostKeys::kNo;
  int required_rsa_size = 1024;

  // Algorithms, each the caller's defaults with the config's changes applied.
  std::vector<std::string> kex_algorithms;
  std::vector<std::string> host_key_algorithms;
  bool host_key_algorithms_configured = false;  // false: ssh reorders the default by the known host keys
  std::vector<std::string> ciphers;
  std::vector<std::string> macs;
  std::vector<std::string> pubkey_accepted_algorithms;
  std::vector<std::string> ca_signature_algorithms;

  // User authentication.
  PubkeyAuthentication pubkey_authentication = PubkeyAuthentication::kYes;
  bool password_authentication = true;
  bool kbd_interactive_authentication = true;
  std::optional<std::string> preferred_authentications;  // comma list; nullopt: ssh's default order
  int number_of_password_prompts = 3;
  bool batch_mode = false;

  // The connection.
  std::optional<int> connect_timeout;  // seconds; nullopt: the system's TCP timeout
  int connection_attempts = 1;
  int server_alive_interval = 0;       // seconds; 0: off
  int server_alive_count_max = 3;
  bool tcp_keep_alive = true;
  uint64_t rekey_limit_bytes = 0;      // 0: the cipher's default
  int rekey_interval_seconds = 0;      // 0: no time-based rekeying
  AddressFamily address_family = AddressFamily::kAny;
  std::optional<std::string> bind_address;
  std::optional<std::string> proxy_command;  // as written: expand with expand(kProxyCommand) at use
  std::vector<JumpHost> proxy_jump;          // first hop first; empty: none

  // The session.
  bool forward_agent = false;
  std::optional<std::string> forward_agent_socket;  // ForwardAgent given a path or $VAR (expanded)
  std::vector<Forward> local_forwards;              // LocalForward (Unix socket paths expanded)
  bool exit_on_forward_failure = false;
  RequestTty request_tty = RequestTty::kAuto;
  SessionType session_type = SessionType::kDefault;
  bool stdin_null = false;
  std::vector<std::string> send_env;                // names and patterns
  std::vector<std::string> set_env;                 // "NAME=value"
  std::optional<std::string> remote_command;        // expanded
  bool permit_local_command = false;
  std::optional<std::string> local_command;         // as written: expand(kLocalCommand, ..., tunnel) after forwarding
  std::optional<uint8_t> escape_char = '~';         // nullopt: none
  LogLevel log_level = LogLevel::kInfo;
  AddKeysToAgent add_keys_to_agent = AddKeysToAgent::kNo;
  int add_keys_to_agent_lifetime = 0;               // seconds; 0: no limit

  // For expand(): the token values, the local home and the environment.
  TokenValues tokens;
  Environment environment;
};

// ---- resolving --------------------------------------------------------------------

// The local user and machine, as ssh takes them from getpwuid() and gethostname().
struct LocalIdentity {
  std::string user;
  uint64_t uid = 0;
  std::string home;
  std::string hostname;  // with its domain, if the system gives one
};
// The real ones; kIo when the user has no password entry or there is no host name.
key::Result<LocalIdentity> local_identity_from_system();

// A default list (in preference order) and every name the client supports,
// for one algorithm list. A "+list" or an explicit list can only name
// supported algorithms; names OpenSSH knows but the client does not are
// dropped with a warning.
struct AlgorithmList {
  std::vector<std::string> defaults;
  std::vector<std::string> supported;
};
struct Algorithms {
  AlgorithmList ciphers, macs, kex, host_key, pubkey, hostbased, ca_signature;
};
// OpenSSH 9.2's defaults and supported lists (what "ssh -G" and "ssh -Q" print).
const Algorithms& openssh_algorithms();

// Runs a "Match exec" command (already %-expanded) under the user's shell:
// true for exit status 0, false for any other, an Error when it cannot be
// run or does not exit normally (OpenSSH then stops).
using MatchExec = std::function<key::Result<bool>(const std::string& command)>;

// How resolve() reads files; tests and fuzzers supply their own.
class ConfigFiles {
 public:
  virtual ~ConfigFiles() = default;
  // The file's contents; nullopt when it does not exist. With
  // check_permissions, a file not owned by the user or root, or writable by
  // group or others, is an Error "Bad owner or permissions on PATH".
  // Contents over kMaxFileBytes are an Error.
  virtual key::Result<std::optional<std::string>> read(const std::string& path, bool check_permissions) = 0;
  // The paths a glob(7) pattern names, sorted; empty when none.
  virtual key::Result<std::vector<std::string>> glob(const std::string& pattern) = 0;
};
// The real file system (open, fstat against getuid(), glob(3)).
ConfigFiles& system_files();
// Files held in memory: glob() matches with fnmatch(3) (FNM_PATHNAME |
// FNM_PERIOD); permissions are always good.
class MemoryFiles : public ConfigFiles {
 public:
  void add(std::string path, std::string contents) { files_[std::move(path)] = std::move(contents); }
  key::Result<std::optional<std::string>> read(const std::string& path, bool check_permissions) override;
  key::Result<std::vector<std::string>> glob(const std::string& pattern) override;

 private:
  std::map<std::string, std::string> files_;
};

// One command-line setting, in command-line order. "-o text" is parsed with
// the config parser; ssh's other flags are given as a keyword and its
// arguments already split (-l alice: {"User", {"alice"}}; -p 2222: {"Port",
// {"2222"}}; -i, -L, -J, ...), so that no quoting applies to them.
struct CommandLineOption {
  std::string text;                // "-o" text, when args is empty
  std::string keyword;             // else the keyword...
  std::vector<std::string> args;   // ...and its arguments
  static CommandLineOption o(std::string text) { return {std::move(text), {}, {}}; }
  static CommandLineOption set(std::string keyword, std::vector<std::string> args) {
    return {{}, std::move(keyword), std::move(args)};
  }
};

struct ResolveRequest {
  std::string host;  // the destination as given, without "user@" (ssh lower-cases it only later)
  std::vector<CommandLineOption> command_line;
  enum class Files : uint8_t {
    kDefault,  // user_config (permission-checked) then system_config
    kFile,     // ssh -F config_file: that file only (not permission-checked)
    kNone,     // ssh -F none
  };
  Files files = Files::kDefault;
  std::string config_file;                          // for kFile
  std::string user_config;                          // "" : ~/.ssh/config of local.home
  std::string system_config = "/etc/ssh/ssh_config";
  std::string system_config_dir = "/etc/ssh";       // where a system file's relative Include looks
  LocalIdentity local;
  Algorithms algorithms = openssh_algorithms();
  MatchExec match_exec;          // null: "Match exec" is an error
  ConfigFiles* reader = nullptr; // null: system_files()
  Environment environment;       // null: the process environment
  bool stdio_forward = false;    // ssh -W: ExitOnForwardFailure and ClearAllForwardings default to yes
  // False: options tessera ignores or refuses give no warning or error (for
  // inspecting a configuration, as with "ssh -G", never for connecting).
  bool check_support = true;
};

struct Diagnostic {
  Origin origin;        // file and line ("" file for messages about no line)
  std::string keyword;  // lower case, as on the line; "" when not about one
  std::string message;
  // "FILE line N: MESSAGE", "command-line line 0: MESSAGE", or MESSAGE.
  std::string text() const;
};

namespace detail {
struct State;
}

struct Resolution {
  Config config;  // meaningful only when ok()
  std::vector<Diagnostic> warnings;
  std::vector<Diagnostic> errors;
  size_t error_count = 0;  // errors found, including those beyond kMaxDiagnostics
  bool ok() const { return error_count == 0; }
  // ok, or kMalformed with every error's text on its own line.
  key::Status status() const;
  std::shared_ptr<const detail::State> state;  // for dump()
};

// Resolves the configuration for one destination. Never aborts on bad input:
// every problem is a Diagnostic. An unknown keyword, a bad value, a Match
// that cannot be evaluated, an unreadable or badly-permissioned file, or an
// option tessera refuses at a non-default value is an error; an option
// tessera ignores, set to a non-default value, is a warning.
Resolution resolve(const ResolveRequest& request);

// The resolved options in "ssh -G" format: one "keyword value" line per
// option, OpenSSH 9.2's keywords, order and value spelling. Empty when the
// resolution failed.
std::string dump(const Resolution& resolution);

// ---- expanding values at use ------------------------------------------------------

// Tokens that exist only at the moment a value is used.
struct UseTokens {
  std::string tunnel_interface = "NONE";  // %T (LocalCommand)
  std::string host_key_fingerprint;       // %f  (KnownHostsCommand)
  std::string known_hosts_name;           // %H
  std::string known_hosts_reason;         // %I: "ADDRESS", "HOSTNAME" or "ORDER"
  std::string host_key_base64;            // %K
  std::string host_key_type;              // %t
};

// Expands `value` of `option` as ssh does when it uses it: a leading '~'
// (IdentityFile, CertificateFile, ...), the %-tokens the option accepts, and
// ${VAR} where OpenSSH allows it. kMalformed for an unknown token, a '%' at
// the end, a ${ without '}', an unset variable, or a result over
// kMaxExpandedBytes; kInvalidArgument "No such user" for "~name".
key::Result<std::string> expand(const Config& config, Option option, std::string_view value,
                                const UseTokens& use = {});

// OpenSSH's %C: the lower-case SHA1 hex of local_host + host + port + user.
std::string connection_hash(std::string_view local_host, std::string_view host, std::string_view port,
                            std::string_view user);

}  // namespace tessera::ssh::config

#endif  // TESSERA_SSH_CONFIG_H_
