#include "tessera/tokens/names.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <p11-kit/uri.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "tessera/key/match.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/file.h"
#include "tessera/sys/path.h"

namespace tessera::tokens {

namespace {

struct UriDeleter {
  void operator()(P11KitUri* uri) const { p11_kit_uri_free(uri); }
};
using UriPtr = std::unique_ptr<P11KitUri, UriDeleter>;

UriPtr parse_uri(const std::string& text) {
  UriPtr uri(p11_kit_uri_new());
  if (!uri) return nullptr;
  if (p11_kit_uri_parse(text.c_str(), P11_KIT_URI_FOR_ANY, uri.get()) != P11_KIT_URI_OK) return nullptr;
  return uri;
}

constexpr std::string_view kBlanks = " \t\r\v\f";

std::string_view trim(std::string_view s) {
  size_t begin = s.find_first_not_of(kBlanks);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kBlanks) - begin + 1);
}

bool is_uri(const std::string& provider) { return provider.rfind("pkcs11:", 0) == 0; }

// A name p11-kit takes from a .module file name: an alphanumeric first, then
// alphanumerics, '_', '-' and '.'. Nothing else (no slash) can be one.
bool is_module_name(std::string_view name) {
  if (name.empty() || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

using Fields = std::map<std::string, std::string>;

// A p11-kit configuration file: "name: value" lines, blank lines and '#'
// comments; later lines win. Nothing (no error) when the file does not exist,
// or cannot be read and `ignore_denied` is set (as p11-kit reads the user's
// files).
key::Result<std::optional<Fields>> read_config(const std::string& path, bool ignore_denied) {
  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Fields>();
    if (ignore_denied && (errno == EACCES || errno == EPERM)) return std::optional<Fields>();
    return key::Error(key::Errc::kIo, path + ": " + std::strerror(errno));
  }
  auto contents = sys::read_all_secret(fd.get(), kMaxP11KitConfigBytes);
  if (!contents.ok()) return contents.error().with_context(path);
  Fields fields;
  std::string_view text = contents->reveal_text();
  for (size_t number = 1; !text.empty(); ++number) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.front() == '[') {
      return key::Error(key::Errc::kMalformed, path + " line " + std::to_string(number) +
                                                   ": not a \"name: value\" line, which p11-kit needs");
    }
    fields[std::string(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
  }
  return std::optional<Fields>(std::move(fields));
}

enum class UserConfig { kNone, kMerge, kOnly };

key::Result<UserConfig> user_config_mode(const Fields& fields, UserConfig fallback, const std::string& file) {
  auto it = fields.find("user-config");
  if (it == fields.end()) return fallback;
  if (it->second == "none") return UserConfig::kNone;
  if (it->second == "merge") return UserConfig::kMerge;
  if (it->second == "only" || it->second == "override") return UserConfig::kOnly;
  return key::Error(key::Errc::kMalformed, file + ": user-config \"" + it->second +
                                               "\" is none of none, merge, only and override");
}

// pkcs11.conf's user-config: the system file's, unless the user's own file
// (read only when the system allows one) says otherwise.
key::Result<UserConfig> user_config(const P11KitLayout& layout) {
  UserConfig mode = UserConfig::kMerge;
  if (!layout.user_config_allowed) return UserConfig::kNone;
  if (!layout.system_config_file.empty()) {
    TESSERA_ASSIGN_OR_RETURN(auto system, read_config(layout.system_config_file, false));
    if (system) {
      TESSERA_ASSIGN_OR_RETURN(mode, user_config_mode(*system, mode, layout.system_config_file));
    }
  }
  if (mode == UserConfig::kNone || layout.user_config_file.empty()) return mode;
  TESSERA_ASSIGN_OR_RETURN(auto user, read_config(layout.user_config_file, true));
  if (user) {
    TESSERA_ASSIGN_OR_RETURN(mode, user_config_mode(*user, mode, layout.user_config_file));
  }
  return mode;
}

// Whether `word` is one of the comma- or blank-separated words of `list`.
bool in_list(std::string_view list, std::string_view word) {
  auto delimiter = [](char c) { return c == ',' || std::isspace(static_cast<unsigned char>(c)); };
  size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && delimiter(list[i])) ++i;
    size_t end = i;
    while (end < list.size() && !delimiter(list[end])) ++end;
    if (end > i && list.substr(i, end - i) == word) return true;
    i = end;
  }
  return false;
}

std::string joined(const std::vector<std::string>& files) {
  std::string out;
  for (const auto& f : files) out += (out.empty() ? "" : ", ") + f;
  return out;
}

}  // namespace

P11KitLayout P11KitLayout::system() {
  P11KitLayout layout;
  // p11-kit finds "~" through $HOME first.
  std::string home;
  if (const char* env = std::getenv("HOME"); env != nullptr && *env != '\0') {
    home = env;
  } else {
    home = sys::home_directory();
  }
  layout.user_config_file = home + "/.config/pkcs11/pkcs11.conf";
  layout.user_module_dir = home + "/.config/pkcs11/modules";
  layout.system_config_file = TESSERA_P11KIT_SYSTEM_CONFIG_FILE;
  layout.system_module_dirs = {TESSERA_P11KIT_SYSTEM_CONFIG_DIR, TESSERA_P11KIT_PACKAGE_CONFIG_DIR};
  layout.module_dir = TESSERA_P11KIT_MODULE_DIR;
  layout.proxy_module = TESSERA_P11KIT_PROXY_MODULE;
  layout.user_config_allowed = ::getuid() != 0 && ::getauxval(AT_SECURE) == 0;
  return layout;
}

std::string program_name() { return program_invocation_short_name; }

key::Result<ModuleConfig> p11kit_module_config(const std::string& name, const P11KitLayout& layout) {
  if (!is_module_name(name)) {
    return key::Error(key::Errc::kInvalidArgument, "\"" + name + "\" cannot be a p11-kit module name");
  }
  TESSERA_ASSIGN_OR_RETURN(UserConfig mode, user_config(layout));
  std::vector<std::pair<std::string, bool>> dirs;  // (directory, is the user's)
  if (mode != UserConfig::kNone && !layout.user_module_dir.empty()) dirs.emplace_back(layout.user_module_dir, true);
  if (mode != UserConfig::kOnly) {
    for (const auto& dir : layout.system_module_dirs) dirs.emplace_back(dir, false);
  }
  ModuleConfig config;
  for (const auto& [dir, users] : dirs) {
    std::string file = dir + "/" + name + ".module";
    TESSERA_ASSIGN_OR_RETURN(auto fields, read_config(file, users));
    if (!fields) continue;
    // Keys already set by a file read before (the user's) win.
    for (auto& [key, value] : *fields) config.fields.try_emplace(key, std::move(value));
    config.files.push_back(file);
  }
  if (config.files.empty()) {
    return key::Error(key::Errc::kIo, "no PKCS#11 module \"" + name + "\": not a file, and p11-kit has no " + name +
                                          ".module");
  }
  return config;
}

bool p11kit_module_enabled(const ModuleConfig& config, std::string_view program) {
  auto enable_in = config.fields.find("enable-in");
  auto disable_in = config.fields.find("disable-in");
  // As p11-kit: enable-in, when set, decides alone.
  if (enable_in != config.fields.end()) return !program.empty() && in_list(enable_in->second, program);
  if (disable_in != config.fields.end()) return program.empty() || !in_list(disable_in->second, program);
  return true;
}

key::Result<std::string> p11kit_module_path(const std::string& name, const P11KitLayout& layout,
                                            std::string_view program) {
  TESSERA_ASSIGN_OR_RETURN(ModuleConfig config, p11kit_module_config(name, layout));
  auto module = config.fields.find("module");
  if (module == config.fields.end() || module->second.empty()) {
    return key::Error(key::Errc::kIo, "p11-kit's configuration of \"" + name + "\" (" + joined(config.files) +
                                          ") names no module: add a \"module:\" line");
  }
  if (!p11kit_module_enabled(config, program)) {
    return key::Error(key::Errc::kInvalidArgument,
                      "p11-kit module \"" + name + "\" is disabled for " + std::string(program) +
                          " by enable-in or disable-in in " + joined(config.files));
  }
  std::string path = module->second;
  if (path.front() != '/') path = layout.module_dir + "/" + path;
  return path;
}

key::Result<std::string> allowed_provider_path(const std::string& provider, std::string_view allowed) {
  char resolved[PATH_MAX];
  if (::realpath(provider.c_str(), resolved) == nullptr) {
    return key::Error(key::Errc::kIo, "realpath " + provider + ": " + std::strerror(errno));
  }
  std::string canonical = resolved;
  if (key::match_pattern_list(canonical, allowed) != 1) {
    return key::Error(key::Errc::kInvalidArgument, "provider " + canonical + " is not allowed by -P");
  }
  return canonical;
}

key::Result<ProviderSpec> resolve_provider(const std::string& provider, std::string_view allowed,
                                           const P11KitLayout& layout, std::string_view program) {
  ProviderSpec spec;
  std::string module;
  if (is_uri(provider)) {
    UriPtr uri = parse_uri(provider);
    if (!uri) return key::Error(key::Errc::kInvalidArgument, "\"" + provider + "\" is not a valid PKCS#11 URI");
    if (p11_kit_uri_any_unrecognized(uri.get())) {
      return key::Error(key::Errc::kInvalidArgument,
                        "\"" + provider + "\" has attributes p11-kit does not know (module-name and module-path "
                        "belong in the query: pkcs11:token=NAME?module-name=MODULE)");
    }
    spec.filter_uri = provider;
    if (const char* path = p11_kit_uri_get_module_path(uri.get())) {
      module = path;
    } else if (const char* name = p11_kit_uri_get_module_name(uri.get())) {
      TESSERA_ASSIGN_OR_RETURN(module, p11kit_module_path(name, layout, program));
    } else {
      module = layout.proxy_module;
    }
  } else if (is_module_name(provider) && ::access(provider.c_str(), F_OK) != 0) {
    TESSERA_ASSIGN_OR_RETURN(module, p11kit_module_path(provider, layout, program));
  } else {
    module = provider;
  }
  TESSERA_ASSIGN_OR_RETURN(spec.module_path, allowed_provider_path(module, allowed));
  return spec;
}

bool key_matches_uri(const pkcs11::KeyInfo& key, const std::string& filter_uri) {
  if (filter_uri.empty()) return true;
  UriPtr filter = parse_uri(filter_uri);
  UriPtr listed = parse_uri(key.uri);
  if (!filter || !listed) return false;
  // The key's own URI carries its token's fields; p11-kit compares them.
  if (!p11_kit_uri_match_token_info(filter.get(), p11_kit_uri_get_token_info(listed.get()))) return false;
  std::vector<CK_ATTRIBUTE> attributes;
  std::string label = key.label;
  pkcs11::Bytes id = key.id.cka_id;
  attributes.push_back({CKA_LABEL, label.data(), static_cast<CK_ULONG>(label.size())});
  attributes.push_back({CKA_ID, id.data(), static_cast<CK_ULONG>(id.size())});
  return p11_kit_uri_match_attributes(filter.get(), attributes.data(), static_cast<CK_ULONG>(attributes.size())) != 0;
}

UriTokenFields uri_token_fields(const std::string& uri) {
  UriTokenFields fields;
  UriPtr parsed = is_uri(uri) ? parse_uri(uri) : nullptr;
  if (!parsed) return fields;
  const CK_TOKEN_INFO* info = p11_kit_uri_get_token_info(parsed.get());
  if (info == nullptr) return fields;
  // PKCS#11 pads with spaces; p11-kit leaves what the URI does not name zeroed.
  auto field = [](const unsigned char* text, size_t size) {
    std::string_view padded(reinterpret_cast<const char*>(text), size);
    size_t end = padded.find_last_not_of(std::string_view(" \0", 2));
    return std::string(end == std::string_view::npos ? std::string_view() : padded.substr(0, end + 1));
  };
  fields.label = field(info->label, sizeof info->label);
  fields.manufacturer = field(info->manufacturerID, sizeof info->manufacturerID);
  fields.model = field(info->model, sizeof info->model);
  fields.serial = field(info->serialNumber, sizeof info->serialNumber);
  return fields;
}

key::Result<UriPin> uri_pin(const std::string& uri) {
  UriPtr parsed = is_uri(uri) ? parse_uri(uri) : nullptr;
  if (!parsed) return key::Error(key::Errc::kInvalidArgument, "not a valid PKCS#11 URI");
  UriPin pin;
  if (const char* value = p11_kit_uri_get_pin_value(parsed.get())) pin.value = key::SecretBytes::copy_of(value);
  if (const char* source = p11_kit_uri_get_pin_source(parsed.get())) pin.source = source;
  return pin;
}

std::string without_pin_value(std::string_view uri) {
  if (!uri.starts_with("pkcs11:")) return std::string(uri);
  // Wherever it stands (the query, where RFC 7512 puts it, or by mistake the
  // path), up to the next separator.
  constexpr std::string_view kPinValue = "pin-value=";
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t found = uri.find(kPinValue, at);
    if (found == std::string_view::npos) break;
    const char before = uri[found - 1];  // found > 0: the text starts with "pkcs11:"
    const bool starts_attribute = before == '?' || before == '&' || before == ';' || before == ':';
    const size_t value = found + kPinValue.size();
    out.append(uri.substr(at, value - at));
    if (!starts_attribute) {  // "xpin-value=" is some other attribute's text
      at = value;
      continue;
    }
    out += "REDACTED";
    const size_t end = uri.find_first_of("&;?", value);
    at = end == std::string_view::npos ? uri.size() : end;
  }
  out.append(uri.substr(at));
  return out;
}

}  // namespace tessera::tokens
