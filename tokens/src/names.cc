#include "daemon/providers.h"

#include <limits.h>
#include <p11-kit/uri.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "tessera/key/match.h"

namespace tessera::agent::daemon {

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

std::string trim(std::string_view s) {
  size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(" \t\r");
  return std::string(s.substr(begin, end - begin + 1));
}

bool is_uri(const std::string& provider) { return provider.rfind("pkcs11:", 0) == 0; }

// A name p11-kit would take from a .module file name: no slash, no dot path.
bool is_module_name(const std::string& provider) {
  return !provider.empty() && provider.find('/') == std::string::npos && provider != "." && provider != "..";
}

}  // namespace

P11KitLayout P11KitLayout::system() {
  P11KitLayout layout;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    layout.config_dirs.push_back(std::string(home) + "/.config/pkcs11/modules");
  }
  layout.config_dirs.push_back(TESSERA_P11KIT_SYSTEM_CONFIG_DIR);
  layout.config_dirs.push_back(TESSERA_P11KIT_PACKAGE_CONFIG_DIR);
  layout.module_dir = TESSERA_P11KIT_MODULE_DIR;
  layout.proxy_module = TESSERA_P11KIT_PROXY_MODULE;
  return layout;
}

key::Result<std::string> p11kit_module_path(const std::string& name, const P11KitLayout& layout) {
  for (const auto& dir : layout.config_dirs) {
    std::ifstream in(dir + "/" + name + ".module");
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      size_t colon = line.find(':');
      if (colon == std::string::npos || trim(std::string_view(line).substr(0, colon)) != "module") continue;
      std::string module = trim(std::string_view(line).substr(colon + 1));
      if (module.empty()) break;
      if (module[0] != '/') module = layout.module_dir + "/" + module;
      return module;
    }
    return key::Error(key::Errc::kIo, dir + "/" + name + ".module names no module");
  }
  return key::Error(key::Errc::kIo, "no PKCS#11 module \"" + name + "\": not a file, and p11-kit has no " + name +
                                        ".module");
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
                                           const P11KitLayout& layout) {
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
      TESSERA_ASSIGN_OR_RETURN(module, p11kit_module_path(name, layout));
    } else {
      module = layout.proxy_module;
    }
  } else if (is_module_name(provider) && ::access(provider.c_str(), F_OK) != 0) {
    TESSERA_ASSIGN_OR_RETURN(module, p11kit_module_path(provider, layout));
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

}  // namespace tessera::agent::daemon
