// PKCS#11 providers as users name them, resolved to the module a helper
// loads, and the -P allowlist (OpenSSH's pattern-list matching,
// tessera/key/match.h, applied to the module's real path as ssh-agent does).
//
// A provider is named three ways:
//  - a path: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
//  - a p11-kit module name: "softhsm2", "opensc-pkcs11", found by reading
//    p11-kit's .module files (no module is loaded to find another);
//  - an RFC 7512 PKCS#11 URI, parsed with p11-kit: "pkcs11:module-name=
//    softhsm2;token=main", "pkcs11:module-path=/x.so;id=%01". Its token and
//    object attributes select keys; a URI that names no module means
//    p11-kit-proxy, which reaches every module p11-kit knows.
#ifndef TESSERA_AGENT_DAEMON_PROVIDERS_H_
#define TESSERA_AGENT_DAEMON_PROVIDERS_H_

#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::agent::daemon {

// Where p11-kit looks for .module files, in order of precedence, and where
// relative module paths and the proxy module live (from p11-kit's pkg-config).
struct P11KitLayout {
  std::vector<std::string> config_dirs;  // ~/.config/pkcs11/modules, /etc/pkcs11/modules, /usr/share/p11-kit/modules
  std::string module_dir;                // /usr/lib/x86_64-linux-gnu/pkcs11
  std::string proxy_module;              // /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so

  static P11KitLayout system();
};

struct ProviderSpec {
  std::string module_path;  // canonical (realpath), allowed by -P
  std::string filter_uri;   // the PKCS#11 URI given, if any: keys must match it
};

// Resolves what the user gave to a module and checks the allowlist.
// kIo: the module cannot be found; kInvalidArgument: -P does not allow it,
// or the URI is not a PKCS#11 URI p11-kit accepts.
key::Result<ProviderSpec> resolve_provider(const std::string& provider, std::string_view allowed,
                                           const P11KitLayout& layout = P11KitLayout::system());

// The module a p11-kit module name stands for, from the first .module file
// with that name in layout.config_dirs. kIo if there is none.
key::Result<std::string> p11kit_module_path(const std::string& name, const P11KitLayout& layout);

// Resolves the provider's path (realpath) and checks it against the list.
// Returns the canonical path. kIo if it cannot be resolved, kInvalidArgument
// if the list does not allow it.
key::Result<std::string> allowed_provider_path(const std::string& provider, std::string_view allowed);

// Whether a listed key matches the token and object attributes of a
// PKCS#11 URI (token, manufacturer, model, serial, object, id). An empty
// filter matches every key.
bool key_matches_uri(const pkcs11::KeyInfo& key, const std::string& filter_uri);

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PROVIDERS_H_
