// Loading sshd_config: the -o options, then the file and what it includes,
// line by line as sshd's parse_server_config() reads them. Each file and each
// Match block becomes a scope; the lines allowed in Match blocks are kept for
// resolve(). Lines that apply outside Match blocks (or after "Match all") are
// applied now: that is the listener's configuration.
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <string>

#include "config/internal.h"
#include "server/sshd_config_internal.h"

namespace tessera::ssh::server {
namespace {

using detail::Diagnostics;
using detail::Line;

const config::Origin kCommandLine{"command-line", 0};

bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

class Loader {
 public:
  Loader(detail::LoadedConfig& loaded, Diagnostics& diagnostics, config::ConfigFiles& files, std::string system_dir)
      : loaded_(loaded), d_(diagnostics), files_(files), system_dir_(std::move(system_dir)) {}

  void command_line(const std::string& text) {
    int no_scope = -1;
    line(text, kCommandLine, no_scope, -1, 0);
  }

  // read a file: false when it does not exist.
  bool file(const std::string& path, int parent, int depth, const config::Origin& included_from) {
    if (depth > kMaxIncludeDepth) {
      d_.error(included_from, "include", "Too many recursive configuration includes");
      return true;
    }
    if (++files_read_ > kMaxFilesRead) {
      d_.error(included_from, "include", "more than " + std::to_string(kMaxFilesRead) + " configuration files read");
      return true;
    }
    auto contents = files_.read(path, false);
    if (!contents.ok()) {
      d_.error(included_from, "", contents.error().message());
      return true;
    }
    if (!contents->has_value()) return false;
    const std::string& text = **contents;
    total_bytes_ += text.size();
    if (text.size() > config::kMaxFileBytes || total_bytes_ > kMaxTotalBytes) {
      d_.error({path, 0}, "", "configuration too large (a file may hold " + std::to_string(config::kMaxFileBytes) +
                                  " bytes, all files " + std::to_string(kMaxTotalBytes) + ")");
      return true;
    }
    if (text.find('\0') != std::string::npos) {
      d_.error({path, 0}, "", path + " holds a NUL byte: not a configuration file");
      return true;
    }
    // The file starts in the state of the Include line's scope.
    int scope = new_scope(parent, std::nullopt, {}, parent < 0 || active_[static_cast<size_t>(parent)]);
    int number = 0;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      std::string_view one = std::string_view(text).substr(start, end == std::string::npos ? end : end - start);
      line(one, config::Origin{path, ++number}, scope, parent, depth);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return true;
  }

 private:
  int new_scope(int parent, std::optional<std::vector<detail::Criterion>> match, config::Origin origin, bool active) {
    under_match_.push_back(match.has_value() || (parent >= 0 && under_match_[static_cast<size_t>(parent)]));
    loaded_.scopes.push_back({parent, std::move(match), std::move(origin)});
    active_.push_back(active);
    return static_cast<int>(loaded_.scopes.size() - 1);
  }

  // One line: `scope` is the file's current scope (-1 on the command line),
  // `parent` the scope its Include line was in.
  void line(std::string_view text, const config::Origin& origin, int& scope, int parent, int depth) {
    const bool command_line = scope < 0;
    if (text.size() > config::kMaxLineBytes) {
      d_.error(origin, "", "line longer than " + std::to_string(config::kMaxLineBytes) + " bytes");
      return;
    }
    // Trailing whitespace goes; a form feed too, at the end only.
    while (text.size() > 1 && (is_whitespace(text.back()) || text.back() == '\f')) text.remove_suffix(1);
    std::optional<std::string_view> rest = text;
    std::optional<std::string> keyword = config::detail::next_token(rest);
    if (!keyword) return;
    if (keyword->empty()) keyword = config::detail::next_token(rest);  // leading whitespace
    if (!keyword || keyword->empty() || (*keyword)[0] == '#') return;
    std::string_view str = rest ? *rest : std::string_view();
    while (!str.empty() && is_whitespace(str[0])) str.remove_prefix(1);
    if (str.empty()) {
      d_.error(origin, *keyword, "no argument after keyword \"" + *keyword + "\"");
      return;
    }
    const KeywordName* name = find_keyword(*keyword);
    if (name == nullptr) {
      d_.error(origin, *keyword, "Bad configuration option: " + *keyword);
      // In a Match block that does not apply, sshd's fatal error for a
      // keyword Match does not allow follows.
      if (!command_line && !active_[static_cast<size_t>(scope)]) {
        d_.error(origin, *keyword, "Directive '" + *keyword + "' is not allowed within a Match block");
      }
      return;
    }
    std::optional<std::vector<std::string>> args = config::detail::split_arguments(str);
    if (!args) {
      d_.error(origin, *keyword, "invalid quotes");
      return;
    }
    const bool active = command_line || active_[static_cast<size_t>(scope)];

    if (name->keyword == Keyword::kMatch) {
      if (command_line) return d_.error(origin, *keyword, "Match directive not supported as a command-line option");
      auto criteria = detail::parse_match_criteria(str);
      bool outer = parent < 0 || active_[static_cast<size_t>(parent)];
      if (!criteria.ok()) {
        d_.error(origin, *keyword, "Bad Match condition: " + criteria.error().message());
        scope = new_scope(parent, std::vector<detail::Criterion>(), origin, false);
        return;
      }
      // While loading, only "Match all" applies (and not inside an Include
      // of a block that does not).
      auto all = detail::evaluate_match(*criteria, nullptr);
      bool applies = outer && all.ok() && *all;
      scope = new_scope(parent, std::move(criteria).value(), origin, applies);
      return;
    }
    if (!active && !name->in_match) {
      d_.error(origin, *keyword, "Directive '" + *keyword + "' is not allowed within a Match block");
      return;
    }
    if (name->keyword == Keyword::kInclude) {
      if (command_line) return d_.error(origin, *keyword, "Include directive not supported as a command-line option");
      return include(*args, *keyword, origin, scope, depth);
    }
    Line l;
    l.origin = origin;
    l.name = name;
    l.keyword = *keyword;
    l.args = std::move(*args);
    l.rest = std::string(str);
    l.scope = scope;
    detail::LineState state;
    state.active = active;
    state.command_line = command_line;
    state.diagnostics = &d_;
    size_t errors = d_.error_count;
    detail::apply_line(loaded_.global, l, state, loaded_.env);
    if (!command_line && name->in_match && d_.error_count == errors) {
      if (under_match_[static_cast<size_t>(scope)]) check_match_algorithms(l);
      loaded_.lines.push_back(std::move(l));
    }
  }

  // An algorithm list in a Match block is assembled only when a connection
  // matches; check now that it leaves something, and say what tessera lacks.
  void check_match_algorithms(const Line& l) {
    if (l.args.empty()) return;
    Keyword k = l.name->keyword;
    if (k != Keyword::kPubkeyAcceptedAlgorithms && k != Keyword::kCaSignatureAlgorithms) return;
    const config::AlgorithmList& list = k == Keyword::kPubkeyAcceptedAlgorithms
                                            ? loaded_.env.algorithms.pubkey
                                            : loaded_.env.algorithms.ca_signature;
    std::vector<std::string> dropped;
    auto assembled = config::detail::assemble_algorithms(l.args[0], list, &dropped);
    if (!assembled.ok()) d_.error(l.origin, l.keyword, assembled.error().message());
    for (const std::string& name : dropped) {
      d_.warning(l.origin, l.keyword, name + " is not supported by tessera-sshd and is left out");
    }
  }

  void include(const std::vector<std::string>& args, const std::string& keyword, const config::Origin& origin,
               int scope, int depth) {
    size_t count = 0;
    for (const std::string& arg : args) {
      if (arg.empty()) return d_.error(origin, keyword, "keyword " + keyword + " empty argument");
      ++count;
      std::string pattern = arg[0] != '/' && arg[0] != '~' ? system_dir_ + "/" + arg : arg;
      auto paths = files_.glob(pattern);
      if (!paths.ok()) return d_.error(origin, keyword, "include \"" + pattern + "\" glob failed");
      if (paths->size() > config::kMaxGlobMatches) {
        return d_.error(origin, keyword,
                        "include \"" + pattern + "\" matches more than " + std::to_string(config::kMaxGlobMatches) +
                            " files");
      }
      for (const std::string& path : *paths) {
        if (!file(path, scope, depth + 1, origin)) {
          d_.error(origin, keyword, path + ": No such file or directory");
        }
      }
    }
    if (count == 0) d_.error(origin, keyword, keyword + " missing filename argument");
  }

  detail::LoadedConfig& loaded_;
  Diagnostics& d_;
  config::ConfigFiles& files_;
  std::string system_dir_;
  std::vector<bool> active_;       // each scope's state while loading
  std::vector<bool> under_match_;  // whether a scope is in a Match block (maybe through Include)
  size_t files_read_ = 0;
  size_t total_bytes_ = 0;
};

std::string current_directory() {
  std::array<char, 4096> buffer{};
  if (::getcwd(buffer.data(), buffer.size()) == nullptr) return "/";
  return buffer.data();
}

std::string home_directory() {
  passwd entry{};
  passwd* found = nullptr;
  std::array<char, 16384> buffer{};
  if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr ||
      found->pw_dir == nullptr) {
    return "/";
  }
  return found->pw_dir;
}

constexpr std::string_view kBadOption = "Bad configuration option: ";
constexpr std::string_view kBadMatch = "Bad Match condition: ";

// The errors as sshd prints them. An unknown keyword is reported
// ("FILE: line N: Bad configuration option: X") and reading goes on, to
// "FILE: terminating, N bad configuration options"; any other error ends the
// reading where it is found (its line, after the unknown keywords before it),
// and so does an unknown keyword in a -o option, which sshd checks first
// (kInvalidArgument: sshd exits 1 for it, 255 for the rest).
key::Error failure(const Diagnostics& d) {
  std::string detail;
  auto add = [&](const std::string& line) { detail += (detail.empty() ? "" : "\n") + line; };
  size_t bad_options = 0;
  std::string bad_file;
  for (const config::Diagnostic& e : d.errors) {
    const std::string& m = e.message;
    if (m.starts_with(kBadOption) && !e.origin.file.empty()) {
      add(e.origin.file + ": line " + std::to_string(e.origin.line) + ": " + m);
      if (e.origin.file == kCommandLine.file) return key::Error(key::Errc::kInvalidArgument, detail);
      if (bad_options++ == 0) bad_file = e.origin.file;
      continue;
    }
    if (m.starts_with(kBadMatch) && !e.origin.file.empty()) {
      // match_cfg_line() says what is wrong, then the caller names the line.
      add(m.substr(kBadMatch.size()));
      add(e.origin.file + " line " + std::to_string(e.origin.line) + ": Bad Match condition");
    } else {
      add(e.text());
    }
    return key::Error(key::Errc::kMalformed, detail);
  }
  if (d.error_count > d.errors.size()) {
    add("(" + std::to_string(d.error_count - d.errors.size()) + " more errors)");
  }
  if (bad_options > 0) {
    add(bad_file + ": terminating, " + std::to_string(d.error_count) + " bad configuration options");
  }
  return key::Error(key::Errc::kMalformed, detail);
}

}  // namespace

key::Result<SshdConfigFile> load_sshd_config(const std::string& path, const LoadOptions& options) {
  auto loaded = std::make_shared<detail::LoadedConfig>();
  loaded->env.algorithms = options.algorithms;
  loaded->env.cwd = options.cwd.empty() ? current_directory() : options.cwd;
  loaded->env.home = options.home.empty() ? home_directory() : options.home;
  loaded->env.resolve_listen_addresses = options.resolve_listen_addresses;
  if (!options.ports.empty()) {
    for (uint16_t port : options.ports) loaded->global.ports.push_back(port);
    loaded->global.ports_from_command_line = true;
  }

  Diagnostics d;
  config::ConfigFiles& files = options.files != nullptr ? *options.files : config::system_files();
  Loader loader(*loaded, d, files, options.system_dir);
  for (const std::string& text : options.overrides) loader.command_line(text);
  if (!loader.file(path, -1, 0, {})) {
    return key::Error(key::Errc::kIo, path + ": No such file or directory");
  }
  if (d.error_count > 0) return failure(d);

  SshdConfigFile result;
  std::vector<std::string> dropped;
  auto global = detail::finish(loaded->global, loaded->env, &dropped);
  if (!global.ok()) {
    d.error({}, "", global.error().message());
    return failure(d);
  }
  result.global = std::move(global).value();
  // sshd's check that a login is possible at all (Match blocks aside): only
  // publickey can be required, so it must be enabled.
  if (!result.global.authentication_methods.empty() && !result.global.pubkey_authentication) {
    d.error({}, "authenticationmethods",
            "Disabled method \"publickey\" in AuthenticationMethods list: AuthenticationMethods cannot be "
            "satisfied by enabled authentication methods");
    return failure(d);
  }
  for (std::string& message : dropped) d.warning({}, "", std::move(message));
  if (options.resolve_listen_addresses) {
    auto addresses = resolve_listen_addresses(result.global);
    if (!addresses.ok()) {
      d.error({}, "listenaddress", addresses.error().message());
      return failure(d);
    }
  }
  result.warnings = std::move(d.warnings);
  result.notes = std::move(d.notes);
  result.loaded = std::move(loaded);
  return result;
}

}  // namespace tessera::ssh::server
