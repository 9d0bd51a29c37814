// Private parts of sshd_config reading, shared by ssh/src/server/sshd_config_*.cc
// and the tests: sshd's option store, the flattened files with their Match
// scopes, and the steps between reading and the typed result.
#ifndef TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_INTERNAL_H_
#define TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/sshd_config.h"
#include "tessera/key/error.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::server::detail {

// Values of the multi-word keywords (sshd's constants, renumbered).
inline constexpr int kRootNo = 0, kRootForcedOnly = 1, kRootNoPassword = 2, kRootYes = 3;
inline constexpr int kForwardNo = 0, kForwardRemote = 1, kForwardLocal = 2, kForwardAll = 3;
inline constexpr int kFamilyAny = 0, kFamilyInet = 1, kFamilyInet6 = 2;
inline constexpr int kGatewayNo = 0, kGatewayYes = 1, kGatewayClientSpecified = 2;
// PerSourceMaxStartups none.
inline constexpr int kNoLimit = 0x7fffffff;

// sshd's ServerOptions, for the keywords tessera-sshd implements: -1,
// nullopt or empty until a line sets them. Values are kept as sshd keeps
// them (algorithm lists as written, paths made absolute) so that resolve()
// can combine Match blocks with the global values exactly as sshd does.
struct Options {
  // Only outside Match blocks.
  std::vector<int> ports;
  bool ports_from_command_line = false;
  int address_family = -1;
  struct QueuedListen {
    std::string host;  // "" : the wildcard
    int port = 0;      // 0 : every Port
  };
  std::vector<QueuedListen> queued_listens;
  std::vector<std::string> host_keys, host_certificates;
  std::optional<std::string> host_key_agent, pid_file, moduli_file, version_addendum;
  int login_grace_time = -1, syslog_facility = -1, fingerprint_hash = -1;
  std::optional<std::string> ciphers, macs, kex_algorithms, host_key_algorithms;
  int print_motd = -1, strict_modes = -1, tcp_keep_alive = -1, use_dns = -1, permit_user_env = -1;
  std::optional<std::string> permit_user_env_allowlist;
  std::vector<Subsystem> subsystems;
  int max_startups_begin = -1, max_startups_rate = -1, max_startups = -1;
  int per_source_max_startups = -1, per_source_ipv4 = -1, per_source_ipv6 = -1;

  // Allowed in Match blocks: resolve() copies what a Match block set over
  // the global values (sshd's copy_set_server_options()).
  int permit_root_login = -1, log_level = -1, pubkey_authentication = -1, password_authentication = -1,
      kbd_interactive_authentication = -1, allow_tcp_forwarding = -1, allow_stream_local_forwarding = -1,
      allow_agent_forwarding = -1, disable_forwarding = -1, expose_auth_info = -1, gateway_ports = -1,
      stream_local_bind_unlink = -1, stream_local_bind_mask = -1, permit_tty = -1, permit_user_rc = -1, max_sessions = -1,
      max_auth_tries = -1, client_alive_count_max = -1, client_alive_interval = -1, required_rsa_size = -1,
      unused_connection_timeout = -1, rekey_interval = -1;
  int64_t rekey_limit = -1;
  std::optional<std::string> banner, trusted_user_ca_keys, revoked_keys, authorized_principals_file,
      pubkey_accepted_algorithms, ca_signature_algorithms, force_command, chroot_directory;
  std::vector<std::string> authorized_keys_files, allow_users, deny_users, allow_groups, deny_groups, accept_env,
      set_env, authentication_methods, permit_open, permit_listen;
};

// One Match criterion, checked when the line was read.
struct Criterion {
  enum class Kind : uint8_t { kAll, kUser, kGroup, kHost, kAddress, kLocalAddress, kLocalPort, kRDomain };
  Kind kind = Kind::kAll;
  std::string argument;  // the pattern list (or the port as written)
  int port = 0;          // kLocalPort
};

// A run of lines that share one Match state: a file's lines before its first
// Match, or one Match block of a file. A file read by Include starts in the
// state of the scope its Include line was in; its Match blocks depend on that
// scope too (an Include inside a Match block that does not apply never
// applies, whatever Match lines the included file has).
struct Scope {
  int parent = -1;                               // the Include line's scope; -1 for the main file
  std::optional<std::vector<Criterion>> match;   // nullopt: a file's start
  config::Origin origin;                         // the Match line
};

// A line of a file other than Match and Include, split as sshd splits it.
struct Line {
  config::Origin origin;
  const KeywordName* name = nullptr;
  std::string keyword;             // as written
  std::vector<std::string> args;   // argv_split() of the rest
  std::string rest;                // the rest of the line as written (ForceCommand, VersionAddendum)
  int scope = 0;
};

// What the lines of one pass are checked and made absolute against.
struct ParseEnv {
  config::Algorithms algorithms;
  std::string cwd;
  std::string home;
  bool resolve_listen_addresses = true;
};

struct LoadedConfig {
  ParseEnv env;
  std::vector<Scope> scopes;
  std::vector<Line> lines;  // in file order, Included files in place
  Options global;           // after -o and the files outside Match blocks, before defaults
};

// Collects what one load finds, at most config::kMaxDiagnostics of each kind
// kept word for word.
struct Diagnostics {
  std::vector<config::Diagnostic> errors, warnings, notes;
  size_t error_count = 0;
  void error(const config::Origin& origin, std::string_view keyword, std::string message);
  void warning(const config::Origin& origin, std::string_view keyword, std::string message);
  void note(const config::Origin& origin, std::string_view keyword, std::string message);
};

// How a line is applied: `active` as sshd's *activep; `command_line` for -o
// lines; `diagnostics` null in the Match pass of resolve() (every line was
// checked when loaded).
struct LineState {
  bool active = true;
  bool command_line = false;
  Diagnostics* diagnostics = nullptr;
};

// process_server_config_line() for every keyword but Match and Include.
void apply_line(Options& options, const Line& line, const LineState& state, const ParseEnv& env);

// match_cfg_line()'s checks: the criteria after "Match", or an error
// message. `all` is set for "Match all".
key::Result<std::vector<Criterion>> parse_match_criteria(std::string_view criteria);
// match_cfg_line() against a connection; null context: the load pass, where
// only "all" matches.
key::Result<bool> evaluate_match(const std::vector<Criterion>& criteria, const MatchContext* context);

// fill_default_server_options() and the typed result. An Error when an
// algorithm list leaves nothing.
key::Result<SshdConfig> finish(const Options& options, const ParseEnv& env, std::vector<std::string>* dropped);
// copy_set_server_options(): what a Match pass set, over the global values.
void copy_match_options(Options& to, const Options& from);

// Numbers as sshd reads them: sscanf("%d:%d:%d") and strtol(s, &end, 8).
// The count of numbers read (0..max); values past INT_MAX count as unread.
int scan_colon_numbers(std::string_view text, int* values, int max);
// strtol(text, &end, 8) accepting trailing text; nullopt when no digit.
std::optional<long> parse_octal_prefix(std::string_view text);

}  // namespace tessera::ssh::server::detail

#endif  // TESSERA_SSH_SRC_SERVER_SSHD_CONFIG_INTERNAL_H_
