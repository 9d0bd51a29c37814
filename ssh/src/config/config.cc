// Reading ssh_config files as OpenSSH 9.2 does: the line splitter
// (strdelim() and argv_split()), process_config_line() for every keyword,
// read_config_file() with Include, the passes ssh.c makes, the defaults, the
// expansions ssh.c makes before "ssh -G", and the checks of what tessera-ssh
// ignores or refuses.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>

#include "config/internal.h"
#include "tessera/key/match.h"

namespace tessera::ssh::config {
namespace detail {

// ---- line splitting ----

namespace {
constexpr std::string_view kWhitespace = " \t\r\n";
bool is_whitespace(char c) { return kWhitespace.find(c) != std::string_view::npos; }

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::optional<std::string> next_token(std::optional<std::string_view>& rest) {
  if (!rest) return std::nullopt;
  std::string_view s = *rest;
  size_t stop = s.find_first_of(" \t\r\n\"=");
  if (stop == std::string_view::npos) {
    rest.reset();
    return std::string(s);
  }
  auto skip_blanks = [](std::string_view text) {
    size_t n = 0;
    while (n < text.size() && is_whitespace(text[n])) ++n;
    return text.substr(n);
  };
  if (s[stop] == '"') {
    size_t close = s.find('"', stop + 1);
    if (close == std::string_view::npos) {
      rest.reset();
      return std::nullopt;  // no closing quote
    }
    std::string token(s.substr(0, stop));
    token.append(s.substr(stop + 1, close - stop - 1));
    rest = skip_blanks(s.substr(close + 1));
    return token;
  }
  bool split_on_equals = s[stop] == '=';
  std::string token(s.substr(0, stop));
  std::string_view after = skip_blanks(s.substr(stop + 1));
  // "keyword = value": one '=' may follow the blanks.
  if (!split_on_equals && !after.empty() && after[0] == '=') after = skip_blanks(after.substr(1));
  rest = after;
  return token;
}

std::optional<std::vector<std::string>> split_arguments(std::string_view s) {
  std::vector<std::string> args;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t') {
      ++i;
      continue;
    }
    if (s[i] == '#') break;  // a comment starts where a word would
    std::string arg;
    char quote = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '\\') {
        char next = i + 1 < s.size() ? s[i + 1] : '\0';
        if (next == '\'' || next == '"' || next == '\\' || (quote == 0 && next == ' ')) {
          arg += next;
          ++i;
        } else {
          arg += c;  // an unknown escape stays as written
        }
      } else if (quote == 0 && (c == ' ' || c == '\t')) {
        break;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else {
        arg += c;
      }
    }
    if (quote != 0) return std::nullopt;
    args.push_back(std::move(arg));
  }
  return args;
}

// ---- the reader ----

namespace {

enum Flags : unsigned {
  kUserConfig = 1,    // SSHCONF_USERCONF: relative Includes are in ~/.ssh, '~' allowed
  kCheckPerm = 2,     // SSHCONF_CHECKPERM
  kFinalPass = 4,     // SSHCONF_FINAL
  kNeverMatch = 8,    // SSHCONF_NEVERMATCH: inside an Include of an inactive section
};

const Origin kCommandLine{"command-line", 0};

class Reader {
 public:
  Reader(const ResolveRequest& request, ConfigFiles& files, const Environment& env, Options& options,
         Diagnostics& diagnostics)
      : request_(request), files_(files), env_(env), o_(options), diagnostics_(diagnostics) {}

  void error(const Origin& origin, std::string_view keyword, std::string message) {
    diagnostics_.error(origin, keyword, std::move(message));
  }
  void warning(const Origin& origin, std::string_view keyword, std::string message) {
    diagnostics_.warning(origin, keyword, std::move(message));
  }

  // One -o option, or one config line. `active` is null on the command line.
  void line(std::string_view text, const Origin& origin, bool* active, unsigned flags, int depth) {
    if (text.size() > kMaxLineBytes) {
      error(origin, "", "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
      return;
    }
    // A NUL ends the line, as for OpenSSH's C strings.
    if (size_t nul = text.find('\0'); nul != std::string_view::npos) text = text.substr(0, nul);
    // Trailing whitespace goes; a form feed too, at the end only.
    while (text.size() > 1 && (is_whitespace(text.back()) || text.back() == '\f')) text.remove_suffix(1);
    std::optional<std::string_view> rest = text;
    std::optional<std::string> keyword = next_token(rest);
    if (!keyword) return;
    if (keyword->empty()) keyword = next_token(rest);  // the line started with blanks
    if (!keyword || keyword->empty() || (*keyword)[0] == '\n' || (*keyword)[0] == '#') return;
    std::string name = lower_ascii(*keyword);
    std::string_view str = rest ? *rest : std::string_view();
    while (!str.empty() && is_whitespace(str[0])) str.remove_prefix(1);
    if (str.empty()) {
      error(origin, name, "no argument after keyword \"" + name + "\"");
      return;
    }
    std::optional<Option> option = lookup(name);
    if (!option && !ignored_unknown(name)) {
      error(origin, name, "Bad configuration option: " + name);
      return;
    }
    std::optional<std::vector<std::string>> args = split_arguments(str);
    if (!args) {
      error(origin, name, "invalid quotes");
      return;
    }
    if (!option) return;  // matched IgnoreUnknown
    handle(*option, name, *args, str, origin, active, flags, depth);
  }

  // A command-line setting given as a keyword and arguments.
  void preset(const CommandLineOption& setting) {
    std::string name = lower_ascii(setting.keyword);
    std::optional<Option> option = lookup(name);
    if (!option) {
      error(kCommandLine, name, "Bad configuration option: " + name);
      return;
    }
    std::string raw;
    for (const std::string& arg : setting.args) {
      if (!raw.empty()) raw += ' ';
      raw += arg;
    }
    if (raw.size() > kMaxLineBytes) {
      error(kCommandLine, name, "value longer than " + std::to_string(kMaxLineBytes) + " bytes");
      return;
    }
    if (setting.args.empty() || raw.empty()) {
      error(kCommandLine, name, "no argument after keyword \"" + name + "\"");
      return;
    }
    handle(*option, name, setting.args, raw, kCommandLine, nullptr, kUserConfig, 0);
  }

  // read_config_file_depth(): false when the file does not exist.
  // A top-level default file (~/.ssh/config, /etc/ssh/ssh_config) that
  // cannot be opened is skipped, as by OpenSSH.
  bool file(const std::string& path, unsigned flags, bool* active, int depth, const Origin& included_from,
            bool skip_unopenable = false) {
    if (depth > kMaxIncludeDepth) {
      error(included_from, "include", "Too many recursive configuration includes");
      return true;
    }
    if (++files_read_ > kMaxFilesRead) {
      error(included_from, "include", "more than " + std::to_string(kMaxFilesRead) + " configuration files read");
      return true;
    }
    auto contents = files_.read(path, (flags & kCheckPerm) != 0);
    if (!contents.ok()) {
      if (skip_unopenable && contents.error().code() == key::Errc::kIo) return false;
      error(included_from, "", contents.error().message());
      return true;
    }
    if (!contents->has_value()) return false;
    const std::string& text = **contents;
    total_bytes_ += text.size();
    if (text.size() > kMaxFileBytes || total_bytes_ > kMaxTotalBytes) {
      error({path, 0}, "", "configuration too large (a file may hold " + std::to_string(kMaxFileBytes) +
                               " bytes, all files " + std::to_string(kMaxTotalBytes) + ")");
      return true;
    }
    int number = 0;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      std::string_view one = std::string_view(text).substr(start, end == std::string::npos ? end : end - start);
      ++number;
      line(one, Origin{path, number}, active, flags, depth);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return true;
  }

  bool* want_final_pass = nullptr;
  std::string host;  // the host this pass matches Host lines against
  std::string original_host;

 private:
  std::optional<Option> lookup(const std::string& name) { return find_keyword(name); }

  bool ignored_unknown(const std::string& name) {
    const Slot& slot = o_[Option::kIgnoreUnknown];
    return slot.set && key::match_pattern_list(name, slot.text, true) == 1;
  }

  // The option's value is taken when the section applies and none was obtained before.
  static bool take(bool active, Slot& slot, const Origin& origin) {
    if (!active || slot.set) return false;
    slot.set = true;
    slot.origin = origin;
    return true;
  }

  void handle(Option option, const std::string& name, const std::vector<std::string>& args, std::string_view str,
              const Origin& origin, bool* active_ptr, unsigned flags, int depth);

  void include(const std::vector<std::string>& args, size_t& next, const std::string& name, const Origin& origin,
               bool* active, unsigned flags, int depth);

  const ResolveRequest& request_;
  ConfigFiles& files_;
  const Environment& env_;
  Options& o_;
  Diagnostics& diagnostics_;
  size_t files_read_ = 0;
  size_t total_bytes_ = 0;
};

std::string_view bad_algorithms_message(AlgorithmKind kind) {
  switch (kind) {
    case AlgorithmKind::kCipher: return "Bad SSH2 cipher spec";
    case AlgorithmKind::kMac: return "Bad SSH2 MAC spec";
    case AlgorithmKind::kKex: return "Bad SSH2 KexAlgorithms";
    case AlgorithmKind::kKey: return "Bad key types";
    case AlgorithmKind::kGssKex: return "Bad GSSAPI KexAlgorithms";
  }
  return "Bad algorithms";
}

struct AlgorithmOption {
  AlgorithmKind kind;
  const AlgorithmList* list;  // null for GSSAPIKexAlgorithms
};

AlgorithmOption algorithm_option(Option option, const Algorithms& algorithms) {
  switch (option) {
    case Option::kCiphers: return {AlgorithmKind::kCipher, &algorithms.ciphers};
    case Option::kMacs: return {AlgorithmKind::kMac, &algorithms.macs};
    case Option::kKexAlgorithms: return {AlgorithmKind::kKex, &algorithms.kex};
    case Option::kHostKeyAlgorithms: return {AlgorithmKind::kKey, &algorithms.host_key};
    case Option::kPubkeyAcceptedAlgorithms: return {AlgorithmKind::kKey, &algorithms.pubkey};
    case Option::kHostbasedAcceptedAlgorithms: return {AlgorithmKind::kKey, &algorithms.hostbased};
    case Option::kCaSignatureAlgorithms: return {AlgorithmKind::kKey, &algorithms.ca_signature};
    default: return {AlgorithmKind::kGssKex, nullptr};
  }
}

void Reader::handle(Option option, const std::string& name, const std::vector<std::string>& args,
                    std::string_view str, const Origin& origin, bool* active_ptr, unsigned flags, int depth) {
  const bool command_line = active_ptr == nullptr;
  const bool active = command_line || *active_ptr;
  const OptionInfo& info = option_info(option);
  Slot& slot = o_[option];
  size_t next = 0;
  auto arg = [&]() -> const std::string* { return next < args.size() ? &args[next++] : nullptr; };
  auto fail = [&](std::string message) { error(origin, name, std::move(message)); };
  bool consumed_all = false;

  switch (option) {
    case Option::kHost: {
      if (command_line) return fail("Host directive not supported as a command-line option");
      *active_ptr = false;
      std::vector<std::string> patterns;
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (a->empty()) return fail("keyword " + name + " empty argument");
        if (flags & kNeverMatch) {
          consumed_all = true;
          break;
        }
        patterns.push_back(*a);
      }
      if (!(flags & kNeverMatch)) *active_ptr = host_patterns_match(patterns, host);
      consumed_all = true;
      break;
    }
    case Option::kMatch: {
      if (command_line) return fail("Host directive not supported as a command-line option");
      MatchContext context;
      context.options = &o_;
      context.request = &request_;
      context.host_arg = host;
      context.original_host = original_host;
      context.final_pass = (flags & kFinalPass) != 0;
      context.never_match = (flags & kNeverMatch) != 0;
      context.want_final_pass = want_final_pass;
      context.env = &env_;
      auto matched = evaluate_match(str, context);
      if (!matched.ok()) return fail("Bad Match condition: " + matched.error().message());
      *active_ptr = (flags & kNeverMatch) ? false : *matched;
      consumed_all = true;
      break;
    }
    case Option::kInclude:
      if (command_line) return fail("Include directive not supported as a command-line option");
      include(args, next, name, origin, active_ptr, flags, depth);
      consumed_all = true;
      break;

    case Option::kProtocol:
      consumed_all = true;
      break;
    case Option::kCipher: case Option::kFallBackToRsh: case Option::kGlobalKnownHostsFile2:
    case Option::kRhostsAuthentication: case Option::kUseBlacklistedKeys: case Option::kUserKnownHostsFile2:
    case Option::kUseRoaming: case Option::kUseRsh: case Option::kUsePrivilegedPort:
      warning(origin, name, "Deprecated option \"" + name + "\": ignored");
      consumed_all = true;
      break;
    case Option::kAfsTokenPassing: case Option::kKerberosAuthentication: case Option::kKerberosTgtPassing:
    case Option::kRsaAuthentication: case Option::kRhostsRsaAuthentication: case Option::kCompressionLevel:
      warning(origin, name, "Unsupported option \"" + name + "\": ignored");
      consumed_all = true;
      break;

    case Option::kConnectTimeout: case Option::kForwardX11Timeout: case Option::kServerAliveInterval: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing time value.");
      if (*a == "none") break;  // -1: stays unset, as in OpenSSH
      std::optional<int> seconds = parse_time(*a);
      if (!seconds) return fail("invalid time value.");
      if (take(active, slot, origin)) slot.number = *seconds;
      break;
    }

    case Option::kForwardAgent: case Option::kIdentityAgent: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail(option == Option::kForwardAgent ? "missing argument." : "Missing argument.");
      Slot* path_slot = &slot;
      if (option == Option::kForwardAgent) {
        if (const std::optional<int> value = choice_value(option, *a)) {
          if (take(active, slot, origin)) slot.number = *value;
          break;
        }
        if (take(active, slot, origin)) slot.number = 1;
        path_slot = &o_.forward_agent_path;
      }
      if (!expand_string(*a, nullptr, true, env_).ok()) return fail("Invalid environment expansion " + *a + ".");
      if ((*a)[0] == '$' && (a->size() < 2 || (*a)[1] != '{') && !valid_env_name(std::string_view(*a).substr(1))) {
        return fail("Invalid environment name " + *a + ".");
      }
      if (take(active, *path_slot, origin)) path_slot->text = *a;
      break;
    }

    case Option::kPubkeyAuthentication: case Option::kStrictHostKeyChecking: case Option::kVerifyHostKeyDns:
    case Option::kUpdateHostKeys: case Option::kAddressFamily: case Option::kControlMaster: case Option::kTunnel:
    case Option::kRequestTty: case Option::kSessionType: case Option::kCanonicalizeHostname:
    case Option::kCompression: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing argument.");
      const std::optional<int> value = choice_value(option, *a);
      if (!value) return fail("unsupported option \"" + *a + "\".");
      if (take(active, slot, origin)) slot.number = *value;
      break;
    }

    case Option::kConnectionAttempts: case Option::kNumberOfPasswordPrompts: case Option::kServerAliveCountMax:
    case Option::kCanonicalizeMaxDots: case Option::kRequiredRsaSize: {
      const std::string* a = arg();
      std::string why;
      std::optional<int> value = parse_integer(a != nullptr ? *a : std::string_view(), &why);
      if (!value) return fail("integer value " + why + ".");
      if (take(active, slot, origin)) slot.number = *value;
      break;
    }

    case Option::kRekeyLimit: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      int64_t bytes = 0;
      if (*a != "default") {
        std::optional<int64_t> scaled = parse_scaled(*a);
        if (!scaled) return fail("Bad number '" + *a + "'");
        if (*scaled != 0 && *scaled < 16) return fail("RekeyLimit too small");
        bytes = *scaled;
      }
      if (take(active, slot, origin)) slot.number = bytes;
      if (const std::string* interval = arg()) {
        if (*interval == "none") break;
        if (interval->empty()) return fail("missing time value.");
        std::optional<int> seconds = parse_time(*interval);
        if (!seconds) return fail("invalid time value.");
        if (take(active, o_.rekey_interval, origin)) o_.rekey_interval.number = *seconds;
      }
      break;
    }

    case Option::kIdentityFile: case Option::kCertificateFile: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      if (!active) break;
      bool identity = option == Option::kIdentityFile;
      std::vector<PathEntry>& list = identity ? o_.identity_files : o_.certificate_files;
      size_t limit = identity ? kMaxIdentityFiles : kMaxCertificateFiles;
      if (list.size() >= limit) {
        return fail(std::string("Too many ") + (identity ? "identity" : "certificate") + " files specified (max " +
                    std::to_string(limit) + ").");
      }
      bool user = (flags & kUserConfig) != 0;
      bool duplicate = std::any_of(list.begin(), list.end(), [&](const PathEntry& entry) {
        return entry.user_provided == user && entry.path == *a;
      });
      if (!duplicate) list.push_back({*a, user, origin});
      break;
    }

    case Option::kUser: case Option::kHostname: case Option::kHostKeyAlias: case Option::kPreferredAuthentications:
    case Option::kBindAddress: case Option::kBindInterface: case Option::kPkcs11Provider:
    case Option::kSecurityKeyProvider: case Option::kRevokedHostKeys: case Option::kXAuthLocation:
    case Option::kKbdInteractiveDevices: case Option::kControlPath: case Option::kIgnoreUnknown:
    case Option::kGssapiClientIdentity: case Option::kGssapiServerIdentity: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      if (take(active, slot, origin)) slot.text = *a;
      break;
    }

    case Option::kProxyCommand: case Option::kLocalCommand: case Option::kRemoteCommand:
    case Option::kKnownHostsCommand: {
      size_t skip = 0;
      while (skip < str.size() && (is_whitespace(str[skip]) || str[skip] == '=')) ++skip;
      // A ProxyJump obtained first makes ProxyCommand a no-op ("ProxyJump
      // none" does not, as OpenSSH 9.2 behaves).
      bool blocked = option == Option::kProxyCommand && o_.jump.set && !(o_.jump.host == "none" && o_.jump.port == 0);
      if (!blocked && take(active, slot, origin)) slot.text = std::string(str.substr(skip));
      consumed_all = true;
      break;
    }

    case Option::kProxyJump: {
      size_t skip = 0;
      while (skip < str.size() && (is_whitespace(str[skip]) || str[skip] == '=')) ++skip;
      std::string_view spec = str.substr(skip);
      // A comment and the blanks before it are not part of the hops.
      if (size_t hash = spec.find('#'); hash != std::string_view::npos) spec = spec.substr(0, hash);
      while (!spec.empty() && is_whitespace(spec.back())) spec.remove_suffix(1);
      consumed_all = true;
      bool none = equals_ignore_case(spec, "none");
      JumpHost last;
      std::string extra;
      if (!none) {
        size_t comma = spec.rfind(',');
        std::string_view last_text = comma == std::string_view::npos ? spec : spec.substr(comma + 1);
        if (!parse_jump_host(last_text, &last)) return fail("Invalid ProxyJump \"" + std::string(spec) + "\"");
        if (comma != std::string_view::npos) {
          extra = std::string(spec.substr(0, comma));
          std::string_view others = extra;
          size_t count = 1;
          while (true) {
            size_t c = others.rfind(',');
            JumpHost hop;
            if (!parse_jump_host(c == std::string_view::npos ? others : others.substr(c + 1), &hop)) {
              return fail("Invalid ProxyJump \"" + std::string(spec) + "\"");
            }
            if (++count > kMaxListEntries) return fail("too many ProxyJump hosts");
            if (c == std::string_view::npos) break;
            others = others.substr(0, c);
          }
        }
      }
      if (!active || o_[Option::kProxyCommand].set || o_.jump.set) break;
      o_.jump.set = true;
      o_.jump.origin = origin;
      if (none) {
        o_.jump.host = "none";
        o_.jump.port = 0;
      } else {
        o_.jump.user = last.user;
        o_.jump.host = last.host;
        o_.jump.port = last.port ? *last.port : -1;
        o_.jump.extra = extra;
        Slot& proxy = o_[Option::kProxyCommand];
        proxy.set = true;
        proxy.origin = origin;
        proxy.text = "none";
      }
      break;
    }

    case Option::kPort: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      int port = parse_port(*a);
      if (port <= 0) return fail("Bad port '" + *a + "'.");
      if (take(active, slot, origin)) slot.number = port;
      break;
    }

    case Option::kCiphers: case Option::kMacs: case Option::kKexAlgorithms: case Option::kHostKeyAlgorithms:
    case Option::kCaSignatureAlgorithms: case Option::kHostbasedAcceptedAlgorithms:
    case Option::kPubkeyAcceptedAlgorithms: case Option::kGssapiKexAlgorithms: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      AlgorithmOption kind = algorithm_option(option, request_.algorithms);
      std::span<const std::string> extra;
      if (kind.list != nullptr) extra = kind.list->supported;
      bool prefixed = (*a)[0] == '+' || (*a)[0] == '^';
      bool removing = (*a)[0] == '-' && option != Option::kGssapiKexAlgorithms;
      if (!removing && !algorithm_names_valid(kind.kind, prefixed && option != Option::kGssapiKexAlgorithms
                                                              ? std::string_view(*a).substr(1)
                                                              : std::string_view(*a),
                                              extra)) {
        return fail(std::string(bad_algorithms_message(kind.kind)) + " '" + *a + "'.");
      }
      if (take(active, slot, origin)) slot.text = *a;
      break;
    }

    case Option::kLogLevel: {
      const std::string* a = arg();
      int level = a != nullptr ? parse_log_level(*a) : -1;
      if (level < 0) return fail("unsupported log level '" + (a != nullptr ? *a : std::string("<NONE>")) + "'");
      if (take(active, slot, origin)) slot.number = level;
      break;
    }
    case Option::kSyslogFacility: {
      const std::string* a = arg();
      int facility = a != nullptr ? parse_log_facility(*a) : -1;
      if (facility < 0) {
        return fail("unsupported log facility '" + (a != nullptr ? *a : std::string("<NONE>")) + "'");
      }
      // OpenSSH takes the first facility whether or not the section applies.
      if (take(true, slot, origin)) slot.number = facility;
      break;
    }
    case Option::kLogVerbose: {
      size_t i = 0;
      for (const std::string* a = arg(); a != nullptr; a = arg(), ++i) {
        if (a->empty()) return fail("keyword " + name + " empty argument");
        if (equals_ignore_case(*a, "none") && (i > 0 || next < args.size())) {
          return fail("keyword " + name + " \"none\" argument must appear alone.");
        }
        // OpenSSH 9.2 keeps only the first word of the first line that applies.
        if (active && slot.list.empty()) {
          slot.set = true;
          slot.origin = origin;
          slot.list.push_back(*a);
        }
      }
      break;
    }

    case Option::kLocalForward: case Option::kRemoteForward: case Option::kDynamicForward: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      bool remote = option == Option::kRemoteForward;
      bool dynamic = option == Option::kDynamicForward;
      std::string spec = *a;
      if (!dynamic) {
        const std::string* target = arg();
        if (target == nullptr || target->empty()) {
          if (!remote) return fail("Missing target argument.");
          dynamic = true;
        } else {
          spec += ':';
          spec += *target;
        }
      }
      // OpenSSH builds the specification in a 256-byte buffer.
      if (spec.size() > 255) return fail("Bad forwarding specification.");
      std::optional<Forward> forward = parse_forward(spec, dynamic, remote, env_);
      if (!forward) return fail("Bad forwarding specification.");
      if (!active) break;
      std::vector<ForwardEntry>& list = remote ? o_.remote_forwards : o_.local_forwards;
      if (std::any_of(list.begin(), list.end(), [&](const ForwardEntry& e) { return e.forward == *forward; })) break;
      if (list.size() >= kMaxListEntries) return fail("too many forwardings");
      list.push_back({*forward, origin});
      break;
    }

    case Option::kPermitRemoteOpen: {
      bool first = slot.list.empty();
      std::vector<std::string> entries;
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (equals_ignore_case(*a, "any") || equals_ignore_case(*a, "none")) {
          if (!entries.empty() || next < args.size()) {
            return fail("keyword " + name + " \"" + *a + "\" argument must appear alone.");
          }
          entries.push_back(*a);
          continue;
        }
        // hpdelim(): a host (maybe "[...]") and ':'; then a port or '*'.
        std::string_view rest = *a;
        size_t end = rest.find_first_of(":/");
        if (!rest.empty() && rest[0] == '[') {
          size_t close = rest.find(']');
          if (close == std::string_view::npos) return fail("missing host in " + name);
          end = close + 1;
          if (end < rest.size() && rest[end] != ':' && rest[end] != '/') return fail("missing host in " + name);
        }
        if (end != std::string_view::npos && end < rest.size() && rest[end] == '/') {
          return fail("missing host in " + name);
        }
        if (end == std::string_view::npos || end >= rest.size()) return fail("bad port number in " + name);
        std::string_view port = rest.substr(end + 1);
        if (port != "*" && parse_port(port) <= 0) return fail("bad port number in " + name);
        if (entries.size() >= kMaxListEntries) return fail("too many " + name + " entries");
        entries.push_back(*a);
      }
      if (entries.empty()) return fail("missing " + name + " specification");
      if (active && first) {
        slot.set = true;
        slot.origin = origin;
        slot.list = std::move(entries);
      }
      break;
    }

    case Option::kEscapeChar: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      int c = parse_escape_char(*a);
      if (c == -1) return fail("Bad escape character.");
      if (take(active, slot, origin)) slot.number = c;
      break;
    }

    case Option::kGlobalKnownHostsFile: case Option::kUserKnownHostsFile: {
      bool first = slot.list.empty();
      size_t i = 0;
      for (const std::string* a = arg(); a != nullptr; a = arg(), ++i) {
        if (a->empty()) return fail("keyword " + name + " empty argument");
        if (equals_ignore_case(*a, "none") && (i > 0 || next < args.size())) {
          return fail("keyword " + name + " \"none\" argument must appear alone.");
        }
        if (active && first) {
          if (slot.list.size() >= kMaxKnownHostsFiles) return fail("too many " + name + " entries.");
          if (slot.list.empty()) {
            slot.set = true;
            slot.origin = origin;
          }
          slot.list.push_back(*a);
        }
      }
      break;
    }

    case Option::kSendEnv: {
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        if (a->empty() || a->find('=') != std::string::npos) return fail("Invalid environment name.");
        if (!active) continue;
        if ((*a)[0] == '-') {
          std::string_view pattern = std::string_view(*a).substr(1);
          std::erase_if(slot.list, [&](const std::string& entry) { return key::match_pattern(entry, pattern); });
          continue;
        }
        if (slot.list.size() >= kMaxListEntries) return fail("too many " + name + " entries");
        if (slot.list.empty()) slot.origin = origin;
        slot.set = true;
        slot.list.push_back(*a);
      }
      break;
    }

    case Option::kSetEnv: {
      bool first = slot.list.empty();
      for (const std::string* a = arg(); a != nullptr; a = arg()) {
        size_t equals = a->find('=');
        if (equals == std::string::npos) return fail("Invalid SetEnv.");
        if (!active || !first) continue;
        std::string_view var = std::string_view(*a).substr(0, equals);
        bool duplicate = std::any_of(slot.list.begin(), slot.list.end(), [&](const std::string& entry) {
          return entry.size() > var.size() && entry.compare(0, var.size(), var) == 0 && entry[var.size()] == '=';
        });
        if (duplicate) continue;
        if (slot.list.size() >= kMaxListEntries) return fail("too many " + name + " entries");
        if (slot.list.empty()) {
          slot.set = true;
          slot.origin = origin;
        }
        slot.list.push_back(*a);
      }
      break;
    }

    case Option::kControlPersist: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing ControlPersist argument.");
      int value = 0;
      int timeout = 0;
      if (*a == "no" || *a == "false") {
        value = 0;
      } else if (*a == "yes" || *a == "true") {
        value = 1;
      } else if (std::optional<int> seconds = parse_time(*a)) {
        value = 1;
        timeout = *seconds;
      } else {
        return fail("Bad ControlPersist argument.");
      }
      if (take(active, slot, origin)) {
        slot.number = value;
        slot.number2 = timeout;
      }
      break;
    }

    case Option::kTunnelDevice: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      int remote = 0;
      int local = parse_tunnel_device(*a, &remote);
      if (local == kTunError) return fail("Bad tun device.");
      if (take(active, slot, origin)) {
        slot.number = local;
        slot.number2 = remote;
      }
      break;
    }

    case Option::kIpQos: {
      const std::string* a = arg();
      int interactive = a != nullptr ? parse_ipqos(*a) : -1;
      if (interactive < 0) return fail("Bad IPQoS value: " + (a != nullptr ? *a : std::string("(null)")));
      int bulk = interactive;
      if (const std::string* b = arg()) {
        bulk = parse_ipqos(*b);
        if (bulk < 0) return fail("Bad IPQoS value: " + *b);
      }
      if (take(active, slot, origin)) {
        slot.number = interactive;
        slot.number2 = bulk;
      }
      break;
    }

    case Option::kCanonicalDomains: {
      bool had = slot.set;
      size_t i = 0;
      for (const std::string* a = arg(); a != nullptr; a = arg(), ++i) {
        if (a->empty()) return fail("keyword " + name + " empty argument");
        if (equals_ignore_case(*a, "none") && (i > 0 || next < args.size())) {
          return fail("keyword " + name + " \"none\" argument must appear alone.");
        }
        std::string domain = *a;
        std::string why;
        if (!valid_domain(domain, true, &why)) return fail(why);
        if (!active || had) continue;
        if (slot.list.size() >= kMaxCanonicalDomains) return fail("too many hostname suffixes.");
        if (!slot.set) {
          slot.set = true;
          slot.origin = origin;
        }
        slot.list.push_back(domain);
      }
      break;
    }

    case Option::kCanonicalizePermittedCnames: {
      bool had = slot.set;
      size_t i = 0;
      for (const std::string* a = arg(); a != nullptr; a = arg(), ++i) {
        CnameRule rule;
        if (equals_ignore_case(*a, "none")) {
          if (i > 0 || next < args.size()) return fail("keyword " + name + " \"none\" argument must appear alone.");
          rule.source = *a;
        } else if (*a == "*") {
          rule.source = "*";
          rule.target = "*";
        } else {
          std::string lowered = lower_ascii(*a);
          size_t colon = lowered.find(':');
          if (colon == std::string::npos || colon + 1 == lowered.size()) {
            return fail("Invalid permitted CNAME \"" + lowered + "\"");
          }
          rule.source = lowered.substr(0, colon);
          rule.target = lowered.substr(colon + 1);
        }
        if (!active || had) continue;
        if (o_.permitted_cnames.size() >= kMaxCanonicalDomains) return fail("too many permitted CNAMEs.");
        if (!slot.set) {
          slot.set = true;
          slot.origin = origin;
        }
        o_.permitted_cnames.push_back(rule);
      }
      break;
    }

    case Option::kStreamLocalBindMask: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing StreamLocalBindMask argument.");
      // strtol(arg, &end, 8): an octal prefix is enough.
      size_t i = 0;
      while (i < a->size() && is_whitespace((*a)[i])) ++i;
      bool negative = false;
      if (i < a->size() && ((*a)[i] == '+' || (*a)[i] == '-')) negative = (*a)[i++] == '-';
      size_t start = i;
      int64_t value = 0;
      while (i < a->size() && (*a)[i] >= '0' && (*a)[i] <= '7') {
        if (value < 01000) value = value * 8 + ((*a)[i] - '0');
        ++i;
      }
      if (i == start || (negative && value != 0) || value > 0777) return fail("Bad mask.");
      // OpenSSH keeps the last mask read, whether or not its section applies.
      slot.set = true;
      slot.origin = origin;
      slot.number = value;
      break;
    }

    case Option::kFingerprintHash: {
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("Missing argument.");
      int hash = parse_fingerprint_hash(*a);
      if (hash < 0) return fail("Invalid hash algorithm \"" + *a + "\".");
      if (take(active, slot, origin)) slot.number = hash;
      break;
    }

    case Option::kAddKeysToAgent: {
      const std::string* a = arg();
      const std::string* b = arg();
      int value = -1;
      if (a != nullptr) {
        for (const ChoiceWord& word : {ChoiceWord{"true", 1}, ChoiceWord{"false", 0}, ChoiceWord{"yes", 1},
                                       ChoiceWord{"no", 0}, ChoiceWord{"ask", 2}, ChoiceWord{"confirm", 3}}) {
          if (equals_ignore_case(*a, word.word)) {
            value = word.value;
            break;
          }
        }
      }
      int lifetime = 0;
      if (value == kAddKeysConfirm && b != nullptr) {
        std::optional<int> seconds = parse_time(*b);
        if (!seconds) return fail("invalid time value.");
        lifetime = *seconds;
      } else if (value == -1 && b == nullptr) {
        std::optional<int> seconds = a != nullptr ? parse_time(*a) : std::nullopt;
        if (!seconds) return fail("unsupported option");
        lifetime = *seconds;
        value = kAddKeysYes;
      } else if (value == -1 || b != nullptr) {
        return fail("unsupported option");
      }
      if (take(active, slot, origin)) {
        slot.number = value;
        slot.number2 = lifetime;
      }
      break;
    }

    default: {
      // The plain yes/no flags.
      if (info.kind != ValueKind::kFlag) return fail("Unimplemented option " + name);
      const std::string* a = arg();
      if (a == nullptr || a->empty()) return fail("missing argument.");
      const std::optional<int> value = choice_value(option, *a);
      if (!value) return fail("unsupported option \"" + *a + "\".");
      if (take(active, slot, origin)) slot.number = *value;
      break;
    }
  }
  if (!consumed_all && next < args.size()) fail("keyword " + name + " extra arguments at end of line");
}

void Reader::include(const std::vector<std::string>& args, size_t& next, const std::string& name,
                     const Origin& origin, bool* active, unsigned flags, int depth) {
  for (; next < args.size(); ++next) {
    const std::string& arg = args[next];
    if (arg.empty()) {
      error(origin, name, "keyword " + name + " empty argument");
      return;
    }
    // Paths are anchored: relative ones live in ~/.ssh (user files) or
    // /etc/ssh (system files); system files may not use '~'.
    bool user = (flags & kUserConfig) != 0;
    if (arg[0] == '~' && !user) {
      error(origin, name, "bad include path " + arg + ".");
      return;
    }
    std::string pattern = arg;
    if (arg[0] != '/' && arg[0] != '~') {
      pattern = (user ? std::string("~/.ssh") : request_.system_config_dir) + "/" + arg;
    }
    auto expanded = expand_tilde(pattern, request_.local.home);
    if (!expanded.ok()) {
      error(origin, name, "glob failed for " + pattern + ": " + expanded.error().message());
      return;
    }
    auto paths = files_.glob(*expanded);
    if (!paths.ok()) {
      error(origin, name, "glob failed for " + pattern + ": " + paths.error().message());
      return;
    }
    if (paths->size() > kMaxGlobMatches) {
      error(origin, name, "include " + pattern + " matched more than " + std::to_string(kMaxGlobMatches) + " files");
      return;
    }
    bool was_active = *active;
    for (const std::string& path : *paths) {
      unsigned child = flags | kCheckPerm | (was_active ? 0u : static_cast<unsigned>(kNeverMatch));
      // A file that vanished between glob and open is skipped, as by OpenSSH.
      (void)file(path, child, active, depth + 1, origin);
      // A Match inside the included file does not change this file's state.
      *active = was_active;
    }
  }
}

}  // namespace

// ---- defaults ----

void fill_defaults(Options& o, const ResolveRequest& request, Diagnostics* diagnostics) {
  auto number = [&o](Option option, int64_t value) {
    Slot& slot = o[option];
    if (!slot.set) {
      slot.set = true;
      slot.number = value;
    }
  };
  auto text = [&o](Option option, std::string value) {
    Slot& slot = o[option];
    if (!slot.set) {
      slot.set = true;
      slot.text = std::move(value);
    }
  };
  number(Option::kForwardAgent, 0);
  number(Option::kForwardX11, 0);
  number(Option::kForwardX11Trusted, 0);
  number(Option::kForwardX11Timeout, 1200);
  // ssh -W changes these two defaults.
  number(Option::kExitOnForwardFailure, request.stdio_forward ? 1 : 0);
  number(Option::kClearAllForwardings, request.stdio_forward ? 1 : 0);
  if (o[Option::kClearAllForwardings].number == 1) {
    o.local_forwards.clear();
    o.remote_forwards.clear();
    Slot& tunnel = o[Option::kTunnel];
    tunnel.set = true;
    tunnel.number = kTunnelNo;
  }
  text(Option::kXAuthLocation, "/usr/bin/xauth");
  number(Option::kGatewayPorts, 0);
  number(Option::kStreamLocalBindMask, 0177);
  number(Option::kStreamLocalBindUnlink, 0);
  number(Option::kPubkeyAuthentication, kPubkeyAll);
  number(Option::kGssapiAuthentication, 0);
  number(Option::kGssapiDelegateCredentials, 0);
  number(Option::kGssapiKeyExchange, 0);
  number(Option::kGssapiTrustDns, 0);
  number(Option::kGssapiRenewalForcesRekey, 0);
  text(Option::kGssapiKexAlgorithms, std::string(option_info(Option::kGssapiKexAlgorithms).default_value));
  number(Option::kPasswordAuthentication, 1);
  number(Option::kKbdInteractiveAuthentication, 1);
  number(Option::kHostbasedAuthentication, 0);
  number(Option::kBatchMode, 0);
  number(Option::kCheckHostIp, 0);
  number(Option::kStrictHostKeyChecking, kStrictAsk);
  number(Option::kCompression, 0);
  number(Option::kTcpKeepAlive, 1);
  number(Option::kPort, 22);
  number(Option::kAddressFamily, kFamilyAny);
  number(Option::kConnectionAttempts, 1);
  number(Option::kNumberOfPasswordPrompts, 3);
  if (!o[Option::kAddKeysToAgent].set) {
    number(Option::kAddKeysToAgent, kAddKeysNo);
    o[Option::kAddKeysToAgent].number2 = 0;
  }
  if (o.identity_files.empty()) {
    for (const char* name : {"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"}) {
      o.identity_files.push_back({std::string("~/.ssh/") + name, false, {}});
    }
  }
  number(Option::kEscapeChar, '~');
  if (!o[Option::kGlobalKnownHostsFile].set) {
    o[Option::kGlobalKnownHostsFile].set = true;
    o[Option::kGlobalKnownHostsFile].list = {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"};
  }
  if (!o[Option::kUpdateHostKeys].set) {
    const Slot& user_files = o[Option::kUserKnownHostsFile];
    bool dns = o[Option::kVerifyHostKeyDns].set && o[Option::kVerifyHostKeyDns].number > 0;
    bool default_files = user_files.list.empty() ||
                         (user_files.list.size() == 1 && user_files.list[0] == "~/.ssh/known_hosts");
    number(Option::kUpdateHostKeys, !dns && default_files ? 1 : 0);
  }
  if (!o[Option::kUserKnownHostsFile].set) {
    o[Option::kUserKnownHostsFile].set = true;
    o[Option::kUserKnownHostsFile].list = {"~/.ssh/known_hosts", "~/.ssh/known_hosts2"};
  }
  number(Option::kLogLevel, 3);  // INFO
  number(Option::kSyslogFacility, 1);  // USER
  number(Option::kNoHostAuthenticationForLocalhost, 0);
  number(Option::kIdentitiesOnly, 0);
  number(Option::kEnableSshKeysign, 0);
  number(Option::kRekeyLimit, 0);
  if (!o.rekey_interval.set) {
    o.rekey_interval.set = true;
    o.rekey_interval.number = 0;
  }
  number(Option::kVerifyHostKeyDns, 0);
  number(Option::kServerAliveInterval, 0);
  number(Option::kServerAliveCountMax, 3);
  number(Option::kControlMaster, 0);
  if (!o[Option::kControlPersist].set) {
    number(Option::kControlPersist, 0);
    o[Option::kControlPersist].number2 = 0;
  }
  number(Option::kHashKnownHosts, 0);
  number(Option::kTunnel, kTunnelNo);
  if (!o[Option::kTunnelDevice].set) {
    number(Option::kTunnelDevice, kTunAny);
    o[Option::kTunnelDevice].number2 = kTunAny;
  }
  number(Option::kPermitLocalCommand, 0);
  number(Option::kVisualHostKey, 0);
  if (!o[Option::kIpQos].set) {
    number(Option::kIpQos, 0x48);  // af21
    o[Option::kIpQos].number2 = 0x20;  // cs1
  }
  number(Option::kRequestTty, kTtyAuto);
  number(Option::kSessionType, kSessionDefault);
  number(Option::kStdinNull, 0);
  number(Option::kForkAfterAuthentication, 0);
  number(Option::kProxyUseFdpass, 0);
  number(Option::kCanonicalizeMaxDots, 1);
  number(Option::kCanonicalizeFallbackLocal, 1);
  number(Option::kCanonicalizeHostname, 0);
  number(Option::kFingerprintHash, 2);  // SHA256
  text(Option::kSecurityKeyProvider, "internal");
  number(Option::kRequiredRsaSize, 1024);
  number(Option::kEnableEscapeCommandline, 0);

  // Algorithm lists: the request's defaults with the config's changes.
  for (Option option : {Option::kCiphers, Option::kMacs, Option::kKexAlgorithms, Option::kHostKeyAlgorithms,
                        Option::kHostbasedAcceptedAlgorithms, Option::kPubkeyAcceptedAlgorithms,
                        Option::kCaSignatureAlgorithms}) {
    Slot& slot = o[option];
    AlgorithmOption kind = algorithm_option(option, request.algorithms);
    std::vector<std::string> dropped;
    auto list = assemble_algorithms(slot.set ? slot.text : std::string(), *kind.list, &dropped);
    std::string name(option_info(option).name);
    std::string keyword = lower_ascii(name);
    if (!list.ok()) {
      if (diagnostics != nullptr) diagnostics->error(slot.origin, keyword, name + ": " + list.error().message());
      slot.list.clear();
    } else {
      slot.list = std::move(list).value();
    }
    if (diagnostics != nullptr && !dropped.empty()) {
      std::string names;
      for (const std::string& d : dropped) names += (names.empty() ? "" : ",") + d;
      diagnostics->warning(slot.origin, keyword, name + ": not supported by tessera-ssh, left out: " + names);
    }
  }

  // "none" means unset for these.
  for (Option option : {Option::kLocalCommand, Option::kRemoteCommand, Option::kProxyCommand, Option::kControlPath,
                        Option::kRevokedHostKeys, Option::kPkcs11Provider, Option::kSecurityKeyProvider,
                        Option::kKnownHostsCommand}) {
    Slot& slot = o[option];
    if (slot.set && equals_ignore_case(slot.text, "none")) {
      slot.set = false;
      slot.text.clear();
    }
  }
  if (o.jump.set && o.jump.host == "none" && o.jump.port == 0 && o.jump.user.empty()) o.jump = JumpSpec{};
  if (o.permitted_cnames.size() == 1 && equals_ignore_case(o.permitted_cnames[0].source, "none") &&
      o.permitted_cnames[0].target.empty()) {
    o.permitted_cnames.clear();
  }
}

}  // namespace detail

// ---- public ----

std::string Diagnostic::text() const {
  if (origin.file.empty()) return message;
  return origin.file + " line " + std::to_string(origin.line) + ": " + message;
}

key::Status Resolution::status() const {
  if (ok()) return key::ok_status();
  std::string detail;
  for (const Diagnostic& e : errors) detail += (detail.empty() ? "" : "\n") + e.text();
  if (error_count > errors.size()) {
    detail += "\n(" + std::to_string(error_count - errors.size()) + " more errors)";
  }
  return key::Error(key::Errc::kMalformed, detail);
}

key::Result<LocalIdentity> local_identity_from_system() {
  LocalIdentity local;
  passwd entry{};
  passwd* found = nullptr;
  std::array<char, 16384> buffer{};
  uid_t uid = ::getuid();
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return key::Error(key::Errc::kIo, "No user exists for uid " + std::to_string(uid));
  }
  local.user = found->pw_name != nullptr ? found->pw_name : "";
  local.home = found->pw_dir != nullptr ? found->pw_dir : "/";
  local.uid = uid;
  std::array<char, 1025> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return key::Error(key::Errc::kIo, "gethostname failed");
  local.hostname = name.data();
  return local;
}

const Algorithms& openssh_algorithms() {
  static const Algorithms algorithms = [] {
    auto split = [](std::string_view text) {
      std::vector<std::string> out;
      size_t start = 0;
      while (start <= text.size()) {
        size_t comma = text.find(',', start);
        out.emplace_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
      return out;
    };
    Algorithms a;
    a.ciphers.defaults = split(
        "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com");
    a.ciphers.supported = split(
        "3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
        "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com");
    a.macs.defaults = split(
        "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
        "hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1");
    a.macs.supported = split(
        "hmac-sha1,hmac-sha1-96,hmac-sha2-256,hmac-sha2-512,hmac-md5,hmac-md5-96,umac-64@openssh.com,"
        "umac-128@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha1-96-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
        "hmac-sha2-512-etm@openssh.com,hmac-md5-etm@openssh.com,hmac-md5-96-etm@openssh.com,"
        "umac-64-etm@openssh.com,umac-128-etm@openssh.com");
    a.kex.defaults = split(
        "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
        "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
        "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256");
    a.kex.supported = split(
        "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,"
        "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha1,"
        "diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
        "curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com");
    a.host_key.defaults = split(
        "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
        "ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"
        "sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"
        "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,"
        "ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,"
        "rsa-sha2-512,rsa-sha2-256");
    a.host_key.supported = split(
        "ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,sk-ssh-ed25519@openssh.com,"
        "sk-ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
        "ecdsa-sha2-nistp384,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521,"
        "ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,"
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,"
        "ssh-dss-cert-v01@openssh.com,ssh-rsa,ssh-rsa-cert-v01@openssh.com,rsa-sha2-256,"
        "rsa-sha2-256-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-512-cert-v01@openssh.com");
    a.pubkey = a.host_key;
    a.hostbased = a.host_key;
    a.ca_signature.defaults = split(
        "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,"
        "sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256");
    a.ca_signature.supported = split(
        "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
        "sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,"
        "rsa-sha2-256,rsa-sha2-512");
    return a;
  }();
  return algorithms;
}

namespace detail {

void Diagnostics::add(bool is_error, const Origin& origin, std::string_view keyword, std::string message) {
  Diagnostic diagnostic{origin, std::string(keyword), std::move(message)};
  // Past the limit every problem is only counted (and may be counted twice).
  constexpr size_t kMaxRemembered = 4 * kMaxDiagnostics;
  if (seen_.size() < kMaxRemembered && !seen_.insert(diagnostic.text()).second) return;
  if (seen_.size() >= kMaxRemembered && seen_.count(diagnostic.text()) != 0) return;
  std::vector<Diagnostic>& list = is_error ? resolution_.errors : resolution_.warnings;
  if (is_error) ++resolution_.error_count;
  if (list.size() < kMaxDiagnostics) list.push_back(std::move(diagnostic));
}
void Diagnostics::error(const Origin& origin, std::string_view keyword, std::string message) {
  add(true, origin, keyword, std::move(message));
}
void Diagnostics::warning(const Origin& origin, std::string_view keyword, std::string message) {
  add(false, origin, keyword, std::move(message));
}

void read_command_line(const ReadPass& pass) {
  Reader reader(*pass.request, *pass.files, *pass.env, *pass.options, *pass.diagnostics);
  reader.host = pass.host;
  reader.original_host = pass.request->host;
  for (const CommandLineOption& setting : pass.request->command_line) {
    if (setting.args.empty() && setting.keyword.empty()) {
      reader.line(setting.text, kCommandLine, nullptr, kUserConfig, 0);
    } else {
      reader.preset(setting);
    }
  }
}

void read_files(const ReadPass& pass) {
  const ResolveRequest& request = *pass.request;
  Reader reader(request, *pass.files, *pass.env, *pass.options, *pass.diagnostics);
  reader.want_final_pass = pass.want_final_pass;
  reader.host = pass.host;
  reader.original_host = request.host;
  unsigned final_flag = pass.final_pass ? static_cast<unsigned>(kFinalPass) : 0u;
  bool active = true;
  switch (request.files) {
    case ResolveRequest::Files::kNone:
      return;
    case ResolveRequest::Files::kFile:
      if (!reader.file(request.config_file, kUserConfig | final_flag, &active, 0, Origin{})) {
        reader.error(Origin{}, "", "Can't open user config file " + request.config_file +
                                       ": No such file or directory");
      }
      return;
    case ResolveRequest::Files::kDefault: {
      std::string user = request.user_config.empty() ? request.local.home + "/.ssh/config" : request.user_config;
      (void)reader.file(user, kUserConfig | kCheckPerm | final_flag, &active, 0, Origin{}, true);
      active = true;
      (void)reader.file(request.system_config, final_flag, &active, 0, Origin{}, true);
      return;
    }
  }
}

}  // namespace detail
}  // namespace tessera::ssh::config
