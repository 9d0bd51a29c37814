// tessera-ssh's command line, as OpenSSH 9.2's ssh(1) reads it.
#ifndef TESSERA_SSH_CLIENT_OPTIONS_H_
#define TESSERA_SSH_CLIENT_OPTIONS_H_

#include <optional>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::client {

struct CommandLine {
  // The destination: [user@]host or ssh://[user@]host[:port].
  std::string host;
  std::optional<std::string> user;  // from the destination
  std::optional<uint16_t> port;     // from an ssh:// destination
  std::vector<std::string> command; // the remote command's words (joined with spaces)

  // Settings for the config resolver, in command-line order (-o, -p, -l, ...).
  std::vector<config::CommandLineOption> options;
  config::ResolveRequest::Files files = config::ResolveRequest::Files::kDefault;
  std::string config_file;  // -F

  int verbose = 0;        // -v count
  bool quiet = false;     // -q
  bool no_command = false;   // -N
  bool stdin_null = false;   // -n
  int force_tty = 0;         // -t count
  bool no_tty = false;       // -T
  bool subsystem = false;    // -s
  std::optional<std::string> stdio_forward;  // -W host:port
  std::optional<std::string> log_file;       // -E
  bool dump_config = false;  // -G
  bool version = false;      // -V
  std::optional<std::string> query;  // -Q
};

// Parses argv (argv[0] excluded). Errors are usage errors: the caller prints
// the message (and the usage) and exits 255, as ssh does.
key::Result<CommandLine> parse_command_line(const std::vector<std::string>& args);

// ssh's usage text, and tessera-ssh --help (the usage with what each flag does).
const char* usage_text();
const char* help_text();

// Splits [user@]host and ssh://[user@]host[:port] destinations.
key::Status parse_destination(std::string_view text, CommandLine& out);

}  // namespace tessera::ssh::client

#endif  // TESSERA_SSH_CLIENT_OPTIONS_H_
