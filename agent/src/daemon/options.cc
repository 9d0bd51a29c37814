#include "daemon/options.h"

#include "tessera/sys/convtime.h"

#include <climits>
#include <cstdlib>

namespace tessera::agent::daemon {

namespace {

// Most --workers a user may ask for.
constexpr unsigned kMaxWorkers = 256;

CommandLineError usage_error(std::string message = {}) { return {std::move(message), 1, true}; }
CommandLineError fatal_error(std::string message) { return {std::move(message), 255, false}; }

std::optional<unsigned> parse_workers(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  unsigned n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n == 0 || n > kMaxWorkers) return std::nullopt;
  return n;
}

}  // namespace

std::optional<uint32_t> parse_lifetime(std::string_view text) {
  const std::optional<int> seconds = sys::parse_convtime(text);
  if (!seconds) return std::nullopt;
  return static_cast<uint32_t>(*seconds);
}

std::variant<Options, CommandLineError> parse_command_line(const std::vector<std::string>& args) {
  Options o;
  bool providers_given = false;
  size_t i = 1;

  // Applies one short option; `value` is its argument when it takes one.
  auto apply_short = [&](char flag, const std::string& value) -> std::optional<CommandLineError> {
    switch (flag) {
      case 'c':
        if (o.sh) return usage_error();
        o.csh = true;
        break;
      case 's':
        if (o.csh) return usage_error();
        o.sh = true;
        break;
      case 'D':
        if (o.debug || o.foreground) return usage_error();
        o.foreground = true;
        break;
      case 'd':
        if (o.debug || o.foreground) return usage_error();
        o.debug = true;
        break;
      case 'k': o.kill = true; break;
      case 'a': o.socket_path = value; break;
      case 'E': {
        auto hash = key::parse_fingerprint_hash(value);
        if (!hash.ok()) return fatal_error("Invalid hash algorithm \"" + value + "\"");
        o.fingerprint_hash = *hash;
        break;
      }
      case 'O':
        if (value == "allow-remote-pkcs11") o.allow_remote_pkcs11 = true;
        else if (value == "no-restrict-websafe") o.no_restrict_websafe = true;
        else return fatal_error("Unknown -O option");
        break;
      case 'P':
        if (providers_given) return fatal_error("-P option already specified");
        providers_given = true;
        o.allowed_providers = value;
        break;
      case 't': {
        auto life = parse_lifetime(value);
        if (!life) return usage_error("Invalid lifetime");
        o.default_lifetime = *life;
        break;
      }
      default:
        return usage_error(std::string("unknown option -- ") + flag);
    }
    return std::nullopt;
  };
  auto takes_value = [](char flag) { return flag == 'a' || flag == 'E' || flag == 'O' || flag == 'P' || flag == 't'; };

  while (i < args.size()) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      bool needs_value = name == "audit-log" || name == "workers" || name == "pkcs11-helper" ||
                         name == "pinentry" || name == "pkcs11-timeout" || name == "pkcs11-poll";
      bool known = needs_value || name == "audit-syslog" || name == "help" || name == "pkcs11-reuse-pin" ||
                   name == "no-reader-events";
      if (!known) return usage_error("unknown option -- " + name);
      if (needs_value && !value) {
        if (i + 1 >= args.size()) return usage_error("option requires an argument -- " + name);
        value = args[++i];
      } else if (!needs_value && value) {
        return usage_error("option does not take an argument -- " + name);
      }
      if (name == "audit-log") {
        if (value->empty()) return usage_error("--audit-log needs a file name");
        o.audit_log = *value;
      } else if (name == "workers") {
        auto n = parse_workers(*value);
        if (!n) return usage_error("--workers needs a number from 1 to " + std::to_string(kMaxWorkers));
        o.workers = *n;
      } else if (name == "pkcs11-helper") {
        if (value->empty() || (*value)[0] != '/') return usage_error("--pkcs11-helper needs an absolute path");
        o.pkcs11_helper = *value;
      } else if (name == "pinentry") {
        if (value->empty()) return usage_error("--pinentry needs a program");
        o.pinentry = *value;
      } else if (name == "pkcs11-timeout" || name == "pkcs11-poll") {
        auto seconds = parse_lifetime(*value);
        if (!seconds || *seconds == 0) return usage_error("--" + name + " needs a time above zero (e.g. 30, 2m)");
        (name == "pkcs11-timeout" ? o.pkcs11_timeout : o.pkcs11_poll) = *seconds;
      } else if (name == "pkcs11-reuse-pin") {
        o.pkcs11_reuse_pin = true;
      } else if (name == "no-reader-events") {
        o.no_reader_events = true;
      } else if (name == "audit-syslog") {
        o.audit_syslog = true;
      } else {
        o.help = true;
      }
      ++i;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the command starts here
    for (size_t j = 1; j < arg.size(); ++j) {
      char flag = arg[j];
      std::string value;
      if (takes_value(flag)) {
        if (j + 1 < arg.size()) {
          value = arg.substr(j + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return usage_error(std::string("option requires an argument -- ") + flag);
        }
        if (auto error = apply_short(flag, value)) return *error;
        break;
      }
      if (auto error = apply_short(flag, value)) return *error;
    }
    ++i;
  }
  o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(std::min(i, args.size())), args.end());
  if (o.help) return o;
  if (!o.command.empty() && (o.csh || o.kill || o.sh || o.debug || o.foreground)) return usage_error();
  return o;
}

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: tessera-agent [-c | -s] [-Dd] [-a bind_address] [-E fingerprint_hash]\n"
      "                     [-O option] [-P allowed_providers] [-t life]\n"
      "                     [--audit-log file] [--audit-syslog] [--workers n]\n"
      "                     [--pkcs11-helper path] [--pkcs11-timeout time]\n"
      "                     [--pkcs11-poll time] [--pkcs11-reuse-pin] [--no-reader-events]\n"
      "                     [--pinentry program]\n"
      "       tessera-agent [-a bind_address] [-E fingerprint_hash] [-O option]\n"
      "                     [-P allowed_providers] [-t life] command [arg ...]\n"
      "       tessera-agent [-c | -s] -k\n"
      "       tessera-agent --help\n",
      out);
}

void print_help(std::FILE* out) {
  print_usage(out);
  std::fputs(
      "\n"
      "An SSH agent that speaks OpenSSH's agent protocol and ssh-agent's command line.\n"
      "\n"
      "  -a bind_address   listen on this Unix socket (default $TMPDIR/ssh-XXXXXXXXXXXX/agent.<ppid>)\n"
      "  -c                print C-shell commands (default if $SHELL looks like csh)\n"
      "  -s                print Bourne shell commands\n"
      "  -D                foreground mode: do not fork\n"
      "  -d                debug mode: foreground, debug log on standard error\n"
      "  -E hash           fingerprint hash in prompts, logs and the audit: sha256 (default) or md5\n"
      "  -k                kill the agent named by SSH_AGENT_PID\n"
      "  -O option         allow-remote-pkcs11 | no-restrict-websafe\n"
      "  -P patterns       PKCS#11 provider allowlist (default \"/usr/lib*/*,/usr/local/lib*/*\")\n"
      "  -t life           default lifetime of added keys (e.g. 90, 30m, 1h30m, 2d, 1w)\n"
      "  command [arg ...] run the command with the agent; the agent exits when it does\n"
      "  --audit-log FILE  append one JSON line per sign request to FILE\n"
      "  --audit-syslog    send the same records to syslog (LOG_AUTH)\n"
      "  --workers N       signing threads (default: one per CPU)\n"
      "  --pkcs11-helper PATH  the tessera-pkcs11-helper program (default: beside tessera-agent)\n"
      "  --pkcs11-timeout TIME a PKCS#11 request that takes longer fails and its helper is\n"
      "                        restarted (default 30s; PIN-pad logins get 2m or more)\n"
      "  --pkcs11-poll TIME    how often tokens are looked for, to notice removal and return\n"
      "                        (default 2s; cards in PC/SC readers are followed at once)\n"
      "  --pkcs11-reuse-pin    sign with CKA_ALWAYS_AUTHENTICATE keys using the token's cached\n"
      "                        PIN instead of asking for it at every signature\n"
      "  --no-reader-events    do not follow smart card readers and cards through pcscd;\n"
      "                        cards pulled out or put in are then noticed by the poll only\n"
      "  --pinentry PROGRAM    ask token PINs through this pinentry program (e.g.\n"
      "                        pinentry-gnome3) instead of SSH_ASKPASS\n"
      "  --help            this text\n",
      out);
}

}  // namespace tessera::agent::daemon
