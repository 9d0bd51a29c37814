// The tessera-agent command line: ssh-agent's flags (OpenSSH 9.2) with the
// same meaning, parsed as ssh-agent's getopt does (options end at the first
// non-option argument, which starts the command to run), plus long options
// of tessera's own.
#ifndef TESSERA_AGENT_DAEMON_OPTIONS_H_
#define TESSERA_AGENT_DAEMON_OPTIONS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/key/fingerprint.h"

namespace tessera::agent::daemon {

// ssh-agent's default -P: provider libraries the agent may load.
inline constexpr std::string_view kDefaultAllowedProviders = "/usr/lib*/*,/usr/local/lib*/*";

struct Options {
  bool csh = false;            // -c
  bool sh = false;             // -s
  bool foreground = false;     // -D
  bool debug = false;          // -d (foreground, debug log on stderr)
  bool kill = false;           // -k
  bool help = false;           // --help
  std::optional<std::string> socket_path;                             // -a
  key::FingerprintHash fingerprint_hash = key::FingerprintHash::kSha256;  // -E
  std::string allowed_providers{kDefaultAllowedProviders};           // -P
  uint32_t default_lifetime = 0;  // -t, seconds; 0 = keys live until removed
  bool allow_remote_pkcs11 = false;   // -O allow-remote-pkcs11
  bool no_restrict_websafe = false;   // -O no-restrict-websafe
  std::optional<std::string> audit_log;  // --audit-log FILE
  bool audit_syslog = false;             // --audit-syslog
  unsigned workers = 0;                  // --workers N; 0 = one per CPU
  std::optional<std::string> pkcs11_helper;  // --pkcs11-helper PATH
  uint32_t pkcs11_timeout = 30;              // --pkcs11-timeout, seconds
  uint32_t pkcs11_poll = 2;                  // --pkcs11-poll, seconds
  bool pkcs11_reuse_pin = false;             // --pkcs11-reuse-pin
  bool no_reader_events = false;             // --no-reader-events
  std::optional<std::string> pinentry;       // --pinentry PROGRAM
  std::vector<std::string> command;      // command [arg ...]
};

// A command line that cannot run: the message (may be empty), the exit
// status (1 for usage errors, 255 for ssh-agent's fatal() errors) and
// whether the usage text follows.
struct CommandLineError {
  std::string message;
  int exit_status;
  bool show_usage;
};

std::variant<Options, CommandLineError> parse_command_line(const std::vector<std::string>& args);

// ssh-agent's time format (misc.c convtime): a sequence of NUMBER[smhdwSMHDW],
// e.g. "90m", "1h30m"; no suffix means seconds. nullopt if invalid or
// larger than INT_MAX seconds.
std::optional<uint32_t> parse_lifetime(std::string_view text);

void print_usage(std::FILE* out);
void print_help(std::FILE* out);

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_OPTIONS_H_
