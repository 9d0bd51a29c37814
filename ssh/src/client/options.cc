#include "client/options.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace tessera::ssh::client {

using key::Errc;
using key::Error;
using config::CommandLineOption;

namespace {

// OpenSSH 9.2's getopt string: a letter followed by ':' takes an argument.
constexpr std::string_view kOptstring =
    "1246ab:c:e:fgi:kl:m:no:p:qstvx"
    "AB:CD:E:F:GI:J:KL:MNO:PQ:R:S:TVw:W:XYy";

bool takes_argument(char c) {
  const size_t at = kOptstring.find(c);
  return at != std::string_view::npos && at + 1 < kOptstring.size() && kOptstring[at + 1] == ':';
}

bool known_flag(char c) { return c != ':' && kOptstring.find(c) != std::string_view::npos; }

// -L's one argument ([bind:]port:host:hostport, or with socket paths) as
// ssh_config's two: the listening side and the target. The target is the
// last host:port pair, or the last field when it is a socket path.
std::pair<std::string, std::string> split_forward(const std::string& spec) {
  std::vector<std::string> fields;
  std::string cur;
  int depth = 0;
  for (const char c : spec) {
    if (c == '[') depth++;
    if (c == ']') depth--;
    if (c == ':' && depth == 0) {
      fields.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  fields.push_back(cur);
  if (fields.size() < 2) return {spec, ""};
  const size_t target_fields = fields.back().find('/') != std::string::npos ? 1 : 2;
  if (fields.size() <= target_fields) return {spec, ""};
  auto join = [&](size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) out += (i > from ? ":" : "") + fields[i];
    return out;
  };
  return {join(0, fields.size() - target_fields), join(fields.size() - target_fields, fields.size())};
}

key::Status apply(char flag, const std::string& arg, CommandLine& cl) {
  auto set = [&](std::string keyword, std::vector<std::string> args) {
    cl.options.push_back(CommandLineOption::set(std::move(keyword), std::move(args)));
  };
  switch (flag) {
    case '1':
      return Error(Errc::kUnsupported, "SSH protocol v.1 is no longer supported");
    case '2':
      return key::ok_status();
    case '4': set("AddressFamily", {"inet"}); return key::ok_status();
    case '6': set("AddressFamily", {"inet6"}); return key::ok_status();
    case 'A': set("ForwardAgent", {"yes"}); return key::ok_status();
    case 'a': set("ForwardAgent", {"no"}); return key::ok_status();
    case 'b': set("BindAddress", {arg}); return key::ok_status();
    case 'B': set("BindInterface", {arg}); return key::ok_status();
    case 'C': set("Compression", {"yes"}); return key::ok_status();
    case 'c': set("Ciphers", {arg}); return key::ok_status();
    case 'm': set("MACs", {arg}); return key::ok_status();
    case 'e': set("EscapeChar", {arg}); return key::ok_status();
    case 'E': cl.log_file = arg; return key::ok_status();
    case 'F':
      cl.config_file = arg;
      cl.files = arg == "none" ? config::ResolveRequest::Files::kNone : config::ResolveRequest::Files::kFile;
      return key::ok_status();
    case 'G': cl.dump_config = true; return key::ok_status();
    case 'g': set("GatewayPorts", {"yes"}); return key::ok_status();
    case 'i': set("IdentityFile", {arg}); return key::ok_status();
    case 'I': set("PKCS11Provider", {arg}); return key::ok_status();
    case 'J': set("ProxyJump", {arg}); return key::ok_status();
    case 'k': set("GSSAPIDelegateCredentials", {"no"}); return key::ok_status();
    case 'K':
      set("GSSAPIAuthentication", {"yes"});
      set("GSSAPIDelegateCredentials", {"yes"});
      return key::ok_status();
    case 'l': set("User", {arg}); return key::ok_status();
    case 'L': {
      auto [listen, target] = split_forward(arg);
      if (target.empty()) return Error(Errc::kInvalidArgument, "Bad local forwarding specification '" + arg + "'");
      set("LocalForward", {listen, target});
      return key::ok_status();
    }
    case 'R': set("RemoteForward", {arg}); return key::ok_status();
    case 'D': set("DynamicForward", {arg}); return key::ok_status();
    case 'n': cl.stdin_null = true; return key::ok_status();
    case 'N': cl.no_command = true; return key::ok_status();
    case 'o': cl.options.push_back(CommandLineOption::o(arg)); return key::ok_status();
    case 'p': set("Port", {arg}); return key::ok_status();
    case 'q': cl.quiet = true; return key::ok_status();
    case 'Q': cl.query = arg; return key::ok_status();
    case 's': cl.subsystem = true; return key::ok_status();
    case 't': cl.force_tty++; return key::ok_status();
    case 'T': cl.no_tty = true; return key::ok_status();
    case 'v': cl.verbose++; return key::ok_status();
    case 'V': cl.version = true; return key::ok_status();
    case 'W': cl.stdio_forward = arg; return key::ok_status();
    case 'x': set("ForwardX11", {"no"}); return key::ok_status();
    case 'X': set("ForwardX11", {"yes"}); return key::ok_status();
    case 'Y':
      set("ForwardX11", {"yes"});
      set("ForwardX11Trusted", {"yes"});
      return key::ok_status();
    case 'y': set("SyslogFacility", {"USER"}); return key::ok_status();
    case 'P': return key::ok_status();  // a no-op in OpenSSH 9.2 as well
    case 'f': set("ForkAfterAuthentication", {"yes"}); return key::ok_status();
    case 'M': set("ControlMaster", {"yes"}); return key::ok_status();
    case 'S': set("ControlPath", {arg}); return key::ok_status();
    case 'O': return Error(Errc::kUnsupported, "tessera-ssh has no connection multiplexing (-O " + arg + ")");
    case 'w': set("Tunnel", {"yes"}); set("TunnelDevice", {arg}); return key::ok_status();
    default:
      return Error(Errc::kInvalidArgument, std::string("unknown option -- ") + flag);
  }
}

// user@ and ssh://...:port count where they stand on the command line:
// the first of -l and user@ wins, as in OpenSSH.
void add_destination_options(CommandLine& cl) {
  if (cl.user) cl.options.push_back(CommandLineOption::set("User", {*cl.user}));
  if (cl.port) cl.options.push_back(CommandLineOption::set("Port", {std::to_string(*cl.port)}));
}

}  // namespace

key::Status parse_destination(std::string_view text, CommandLine& out) {
  std::string_view rest = text;
  if (rest.starts_with("ssh://")) {
    rest.remove_prefix(6);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    const size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
      out.user = std::string(rest.substr(0, at));
      rest.remove_prefix(at + 1);
    }
    std::string_view host = rest;
    std::string_view port;
    if (rest.starts_with('[')) {
      const size_t close = rest.find(']');
      if (close == std::string_view::npos) return Error(Errc::kInvalidArgument, "Invalid destination: " + std::string(text));
      host = rest.substr(1, close - 1);
      std::string_view after = rest.substr(close + 1);
      if (after.starts_with(':')) port = after.substr(1);
      else if (!after.empty()) return Error(Errc::kInvalidArgument, "Invalid destination: " + std::string(text));
    } else if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (!port.empty()) {
      char* end = nullptr;
      const std::string p(port);
      const long n = std::strtol(p.c_str(), &end, 10);
      if (*end != '\0' || n <= 0 || n > 65535) return Error(Errc::kInvalidArgument, "Bad port '" + p + "'");
      out.port = static_cast<uint16_t>(n);
    }
    if (host.empty()) return Error(Errc::kInvalidArgument, "Invalid destination: " + std::string(text));
    out.host = std::string(host);
    return key::ok_status();
  }
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    out.user = std::string(rest.substr(0, at));
    rest.remove_prefix(at + 1);
  }
  if (rest.empty()) return Error(Errc::kInvalidArgument, "Invalid destination: " + std::string(text));
  out.host = std::string(rest);
  return key::ok_status();
}

key::Result<CommandLine> parse_command_line(const std::vector<std::string>& args) {
  CommandLine cl;
  size_t i = 0;
  bool have_host = false;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      // The destination; options may follow it, the command starts after.
      if (have_host) break;
      TESSERA_TRY(parse_destination(a, cl));
      add_destination_options(cl);
      have_host = true;
      ++i;
      continue;
    }
    ++i;
    for (size_t j = 1; j < a.size(); ++j) {
      const char flag = a[j];
      if (!known_flag(flag)) return Error(Errc::kInvalidArgument, std::string("unknown option -- ") + flag);
      std::string arg;
      if (takes_argument(flag)) {
        if (j + 1 < a.size()) {
          arg = a.substr(j + 1);
        } else if (i < args.size()) {
          arg = args[i++];
        } else {
          return Error(Errc::kInvalidArgument, std::string("option requires an argument -- ") + flag);
        }
        TESSERA_TRY(apply(flag, arg, cl));
        break;
      }
      TESSERA_TRY(apply(flag, arg, cl));
    }
  }
  if (!have_host && i < args.size()) {
    TESSERA_TRY(parse_destination(args[i], cl));
    add_destination_options(cl);
    have_host = true;
    ++i;
  }
  for (; i < args.size(); ++i) cl.command.push_back(args[i]);
  if (!have_host && !cl.version && !cl.query) return Error(Errc::kInvalidArgument, "");
  return cl;
}

const char* usage_text() {
  return "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface]\n"
         "           [-b bind_address] [-c cipher_spec] [-D [bind_address:]port]\n"
         "           [-E log_file] [-e escape_char] [-F configfile] [-I pkcs11]\n"
         "           [-i identity_file] [-J [user@]host[:port]] [-L address]\n"
         "           [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option] [-p port]\n"
         "           [-Q query_option] [-R address] [-S ctl_path] [-W host:port]\n"
         "           [-w local_tun[:remote_tun]] destination [command [argument ...]]\n";
}

const char* help_text() {
  return "tessera-ssh: OpenSSH 9.2's ssh, on tessera's SSH library.\n\n"
         "usage: tessera-ssh [options] destination [command [argument ...]]\n"
         "  destination          [user@]host or ssh://[user@]host[:port]\n"
         "  -p port, -l user     port and login name\n"
         "  -i file              identity (private key) file; repeatable\n"
         "  -F file | none       configuration file instead of ~/.ssh/config and /etc/ssh/ssh_config\n"
         "  -o Keyword=value     any ssh_config option (first value wins)\n"
         "  -A / -a              forward / do not forward the agent\n"
         "  -t / -T              force / disable a pseudo-terminal\n"
         "  -N, -n, -s           no command; stdin from /dev/null; run a subsystem\n"
         "  -L [bind:]port:host:hostport   local forwarding\n"
         "  -W host:port         join stdin and stdout to host:port through the server\n"
         "  -J [user@]host[:port][,...]    connect through jump hosts\n"
         "  -c ciphers, -m macs  algorithm lists (also -o KexAlgorithms=..., HostKeyAlgorithms=...)\n"
         "  -e char | none       escape character (default ~)\n"
         "  -v, -q, -E file      more messages, fewer messages, messages to a file\n"
         "  -G                   print the resolved configuration and exit\n"
         "  -Q what              list supported algorithms (cipher, mac, kex, key, sig, ...)\n"
         "  -V                   version\n\n"
         "Exit status: the remote command's, or 255 when tessera-ssh fails.\n"
         "See docs/tessera-ssh.md and docs/ssh_config.md.\n";
}

}  // namespace tessera::ssh::client
