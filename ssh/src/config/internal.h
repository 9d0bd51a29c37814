// Private parts of ssh_config handling, shared by ssh/src/config/*.cc and
// the tests: the option store readconf.c calls "Options", the value parsers,
// token expansion and Host/Match evaluation.
#ifndef TESSERA_SSH_SRC_CONFIG_INTERNAL_H_
#define TESSERA_SSH_SRC_CONFIG_INTERNAL_H_

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::config::detail {

// ---- choice words ------------------------------------------------------------------

struct ChoiceWord {
  std::string_view word;
  int value;
};

// Internal values of the choice options (OpenSSH's constants, renumbered).
inline constexpr int kStrictOff = 0, kStrictNew = 1, kStrictYes = 2, kStrictAsk = 3;
inline constexpr int kPubkeyNo = 0, kPubkeyUnbound = 1, kPubkeyHostBound = 2, kPubkeyAll = 3;
inline constexpr int kTtyAuto = 0, kTtyNo = 1, kTtyYes = 2, kTtyForce = 3;
inline constexpr int kSessionNone = 0, kSessionSubsystem = 1, kSessionDefault = 2;
inline constexpr int kFamilyAny = 0, kFamilyInet = 1, kFamilyInet6 = 2;
inline constexpr int kTunnelNo = 0, kTunnelPointToPoint = 1, kTunnelEthernet = 2;
inline constexpr int kAddKeysNo = 0, kAddKeysYes = 1, kAddKeysAsk = 2, kAddKeysConfirm = 3;
// TunnelDevice: "any", and the most a device number may be (SSH_TUNID_*).
inline constexpr int kTunAny = 0x7fffffff;
inline constexpr int kTunError = kTunAny - 1;
inline constexpr int kTunMax = kTunAny - 2;
// IPQoS "none" (OpenSSH stores INT_MAX: 0 is CS0).
inline constexpr int kIpQosNone = 0x7fffffff;

// The words a kFlag or kChoice option accepts, in OpenSSH's table order (a
// value prints as the first word that has it). Empty for other options.
std::span<const ChoiceWord> choice_words(Option option);
// ASCII letters compared without regard to case (keywords, choice words).
bool equals_ignore_case(std::string_view a, std::string_view b);

// The value of the word (compared without regard to case); nullopt if the
// option does not accept it.
std::optional<int> choice_value(Option option, std::string_view word);

// ---- the option store ------------------------------------------------------------

// One option's value. As in readconf.c, an option has a value once `set`; a
// later line cannot change it (the first obtained value wins).
struct Slot {
  bool set = false;
  Origin origin;
  int64_t number = 0;   // flags, choices, integers, times, ports, masks
  int64_t number2 = 0;  // the second number of RekeyLimit-like pairs
  std::string text;
  std::vector<std::string> list;
};

struct PathEntry {
  std::string path;
  bool user_provided = false;  // from a user config or the command line
  Origin origin;
};

struct ForwardEntry {
  Forward forward;
  Origin origin;
};

struct CnameRule {
  std::string source;
  std::string target;
};

struct JumpSpec {
  bool set = false;
  Origin origin;
  std::string user;
  std::string host;
  int port = -1;      // -1: not given; 0: "none"
  std::string extra;  // the hops before the last, as written
};

struct Options {
  std::array<Slot, kOptionCount> slots;
  Slot rekey_interval;      // RekeyLimit's second value is obtained on its own
  Slot forward_agent_path;  // ForwardAgent's path, also on its own
  std::vector<PathEntry> identity_files;
  std::vector<PathEntry> certificate_files;
  std::vector<ForwardEntry> local_forwards;  // LocalForward and DynamicForward
  std::vector<ForwardEntry> remote_forwards;
  std::vector<CnameRule> permitted_cnames;
  JumpSpec jump;

  Slot& operator[](Option option) { return slots[static_cast<size_t>(option)]; }
  const Slot& operator[](Option option) const { return slots[static_cast<size_t>(option)]; }
};

// What resolve() keeps for dump().
struct State {
  Options options;
  std::string host_argument;
  std::string hostname;
  bool ok = false;
};

// Collects a resolution's warnings and errors, each once (the final pass
// reads the files again), at most kMaxDiagnostics of each kept word for word.
class Diagnostics {
 public:
  explicit Diagnostics(Resolution& resolution) : resolution_(resolution) {}
  void error(const Origin& origin, std::string_view keyword, std::string message);
  void warning(const Origin& origin, std::string_view keyword, std::string message);

 private:
  void add(bool is_error, const Origin& origin, std::string_view keyword, std::string message);
  Resolution& resolution_;
  std::set<std::string> seen_;
};

// Fills every unset option with OpenSSH 9.2's default (fill_default_options())
// and assembles the algorithm lists from the request's. Problems go to
// `diagnostics` when it is not null.
void fill_defaults(Options& options, const ResolveRequest& request, Diagnostics* diagnostics);

// One reading of the sources: the command line, or the files of one pass.
struct ReadPass {
  const ResolveRequest* request = nullptr;
  ConfigFiles* files = nullptr;
  const Environment* env = nullptr;
  Options* options = nullptr;
  Diagnostics* diagnostics = nullptr;
  bool* want_final_pass = nullptr;  // set by "Match final"
  std::string host;                 // what Host lines match in this pass
  bool final_pass = false;
};
void read_command_line(const ReadPass& pass);
void read_files(const ReadPass& pass);

// The values "ssh -G" prints for an option, one string per line it prints
// (without the keyword); empty when it prints none. Also how the ignore and
// refuse checks compare a value with the default.
std::vector<std::string> dump_values(const Options& options, Option option);

// ---- values ------------------------------------------------------------------------

// convtime(): "90", "90s", "1h30m", "2w"; nullopt when invalid or over 2^31-1 s.
std::optional<int> parse_time(std::string_view text);
// scan_scaled(): "64M", "1.5G", "0"; nullopt when invalid.
std::optional<int64_t> parse_scaled(std::string_view text);
// a2port(): 0..65535 or a TCP service name; -1 when invalid.
int parse_port(std::string_view text);
// atoi_err(): 0..INT_MAX; nullopt and `why` ("missing", "invalid", "too large", "too small").
std::optional<int> parse_integer(std::string_view text, std::string* why);
// a2tun(): "any", a number, "local:remote"; kTunError when invalid.
int parse_tunnel_device(std::string_view text, int* remote);
// parse_ipqos() / iptos2str(): a DSCP name, "none" or 0..255; -1 when invalid.
int parse_ipqos(std::string_view text);
std::string ipqos_name(int value);
// EscapeChar: one character, "^X" or "none" (-2 for none); -1 when invalid.
int parse_escape_char(std::string_view text);
// vis(3) with VIS_WHITE, as ssh -G prints the escape character.
std::string visible_char(uint8_t c);
// LogLevel and SyslogFacility names; -1 when unknown.
int parse_log_level(std::string_view text);
std::string_view log_level_name(int level);
int parse_log_facility(std::string_view text);
std::string_view log_facility_name(int facility);
// FingerprintHash: md5, sha1, sha256, sha384, sha512; -1 when unknown.
int parse_fingerprint_hash(std::string_view text);
std::string_view fingerprint_hash_name(int hash);
// valid_domain(): checks, lower-cases and drops one trailing '.'.
bool valid_domain(std::string& name, bool lower, std::string* why);
// An environment variable name: letters, digits and '_'.
bool valid_env_name(std::string_view name);
// getaddrinfo(AI_NUMERICHOST) succeeds: an IPv4 or IPv6 address.
bool is_numeric_address(const std::string& host);
// parse_forward(): "[listen_host:]port:host:hostport", paths, ...; ${VAR} is
// expanded first. nullopt when invalid.
std::optional<Forward> parse_forward(std::string_view spec, bool dynamic, bool remote, const Environment& env);
// parse_user_host_port() and parse_ssh_uri() for one ProxyJump hop.
bool parse_jump_host(std::string_view text, JumpHost* hop);
// The text "ssh -G" prints for one forward end.
std::string forward_end_text(const ForwardEnd& end);

// ---- algorithm lists ------------------------------------------------------------

enum class AlgorithmKind : uint8_t { kCipher, kMac, kKex, kKey, kGssKex };
// OpenSSH's ciphers_valid(), mac_valid(), kex_names_valid(),
// sshkey_names_valid2(names, 1): every name known to OpenSSH 9.2 or in `extra`.
bool algorithm_names_valid(AlgorithmKind kind, std::string_view names, std::span<const std::string> extra);
// kex_assemble_names(): the spec ("+a,b", "-a*", "^a", "a,b", "" for the
// defaults) applied to the list. An Error when it leaves nothing or holds a
// '!' pattern. Names the spec gives in full that are not supported are put
// in `dropped`.
key::Result<std::vector<std::string>> assemble_algorithms(std::string_view spec, const AlgorithmList& list,
                                                          std::vector<std::string>* dropped);

// ---- expansion -------------------------------------------------------------------

// A %-token table: token character -> replacement.
struct TokenTable {
  std::array<const std::string*, 128> values{};
  void add(char token, const std::string& value) { values[static_cast<unsigned char>(token) & 127u] = &value; }
};
TokenTable token_table(const TokenValues& values, uint32_t tokens, const UseTokens* use);
// percent_expand() / dollar_expand() / percent_dollar_expand(): with
// `percent`, "%%" and the table's tokens; with `dollar`, "${VAR}".
key::Result<std::string> expand_string(std::string_view text, const TokenTable* percent, bool dollar,
                                       const Environment& env);
// tilde_expand(): "~", "~/x", "~user/x".
key::Result<std::string> expand_tilde(std::string_view path, const std::string& home);
// The process environment.
Environment process_environment();

// ---- Host and Match ------------------------------------------------------------------

// Host patterns (whitespace-separated arguments, each maybe '!'-negated)
// against the host: true when one matches and no negated one does.
bool host_patterns_match(std::span<const std::string> patterns, std::string_view host);

struct MatchContext {
  const Options* options = nullptr;
  const ResolveRequest* request = nullptr;
  std::string_view host_arg;       // the host Host lines match in this pass
  std::string_view original_host;  // the destination as given
  bool final_pass = false;
  bool never_match = false;        // inside an Include of an inactive section: do not run exec
  bool* want_final_pass = nullptr;
  const Environment* env = nullptr;
};
// Evaluates a Match line's criteria (the text after "Match"). Returns the
// match, or an Error whose detail is the line's message(s), one per line.
// `consumed_all` is false when "all" was followed by more arguments.
key::Result<bool> evaluate_match(std::string_view criteria, const MatchContext& context);

// ---- line splitting ----------------------------------------------------------------

// OpenSSH's strdelim(): the next token of `rest`, splitting on whitespace,
// one '=' or a "double-quoted" run; `rest` becomes nullopt at the end.
// nullopt when a quote is not closed.
std::optional<std::string> next_token(std::optional<std::string_view>& rest);
// OpenSSH's argv_split(s, terminate_on_comment=1): nullopt on unbalanced quotes.
std::optional<std::vector<std::string>> split_arguments(std::string_view text);

}  // namespace tessera::ssh::config::detail

#endif  // TESSERA_SSH_SRC_CONFIG_INTERNAL_H_
