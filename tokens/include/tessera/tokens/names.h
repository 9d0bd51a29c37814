// PKCS#11 providers as users name them, resolved to the module a helper
// loads, and the -P allowlist (OpenSSH's pattern-list matching,
// tessera/key/match.h, applied to the module's real path as ssh-agent does).
// Used by the agent, tessera-add and tessera-keygen; no module is ever loaded
// here.
//
// A provider is named three ways:
//  - a path: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
//  - a p11-kit module name: "softhsm2", "opensc-pkcs11", resolved as p11-kit
//    resolves it (pkcs11.conf(5)): the name's .module files in the user's
//    directory (~/.config/pkcs11/modules) and the system's (/etc/pkcs11/modules,
//    then p11-kit's package directory) merged key by key, the user's keys
//    first; pkcs11.conf's user-config (none, merge, only, override) says
//    whether the user's files count (never for root or a set-id program); enable-in and disable-in are honoured for
//    the running program's name;
//  - an RFC 7512 PKCS#11 URI, parsed with p11-kit: "pkcs11:token=main?
//    module-name=softhsm2", "pkcs11:id=%01?module-path=/x.so". Its token and
//    object attributes select keys; a URI that names no module means
//    p11-kit-proxy, which reaches every module p11-kit knows.
#ifndef TESSERA_TOKENS_NAMES_H_
#define TESSERA_TOKENS_NAMES_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::tokens {

// Largest .module or pkcs11.conf file read.
inline constexpr size_t kMaxP11KitConfigBytes = 64 * 1024;

// Where p11-kit looks for its configuration, and where relative module paths
// and the proxy module live (from p11-kit's pkg-config).
struct P11KitLayout {
  std::string user_config_file;                 // ~/.config/pkcs11/pkcs11.conf ("": none)
  std::string system_config_file;               // /etc/pkcs11/pkcs11.conf ("": none)
  std::string user_module_dir;                  // ~/.config/pkcs11/modules ("": none)
  std::vector<std::string> system_module_dirs;  // /etc/pkcs11/modules, /usr/share/p11-kit/modules
  std::string module_dir;                       // /usr/lib/x86_64-linux-gnu/pkcs11
  std::string proxy_module;                     // /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
  // Whether the user's configuration may count at all: p11-kit ignores it
  // in a program running as root or set-id (system() decides so too).
  bool user_config_allowed = true;

  static P11KitLayout system();
};

// A module's configuration, merged as p11-kit merges it.
struct ModuleConfig {
  std::map<std::string, std::string> fields;  // "module", "enable-in", ...
  std::vector<std::string> files;             // the files it came from, the user's first
};

// The running program's name as p11-kit sees it (enable-in, disable-in).
std::string program_name();

// The configuration of p11-kit module `name`. kIo when there is none, or a
// file cannot be read; kMalformed for a file p11-kit would not parse (its
// path and line say where).
key::Result<ModuleConfig> p11kit_module_config(const std::string& name, const P11KitLayout& layout);

// Whether p11-kit enables a module with this configuration in `program`.
bool p11kit_module_enabled(const ModuleConfig& config, std::string_view program);

// The module path p11-kit module `name` stands for (relative paths resolved
// against layout.module_dir). Errors as p11kit_module_config; kIo when the
// configuration names no module; kInvalidArgument when it is disabled for
// `program`.
key::Result<std::string> p11kit_module_path(const std::string& name, const P11KitLayout& layout,
                                            std::string_view program = program_name());

struct ProviderSpec {
  std::string module_path;  // canonical (realpath), allowed by -P
  std::string filter_uri;   // the PKCS#11 URI given, if any: keys must match it
};

// Resolves what the user gave to a module and checks the allowlist.
// kIo: the module cannot be found; kInvalidArgument: -P does not allow it,
// p11-kit disables it for `program`, or the URI is not a PKCS#11 URI p11-kit
// accepts.
key::Result<ProviderSpec> resolve_provider(const std::string& provider, std::string_view allowed,
                                           const P11KitLayout& layout = P11KitLayout::system(),
                                           std::string_view program = program_name());

// Resolves the provider's path (realpath) and checks it against the list.
// Returns the canonical path. kIo if it cannot be resolved, kInvalidArgument
// if the list does not allow it.
key::Result<std::string> allowed_provider_path(const std::string& provider, std::string_view allowed);

// Whether a listed key matches the token and object attributes of a
// PKCS#11 URI (token, manufacturer, model, serial, object, id). An empty
// filter matches every key.
bool key_matches_uri(const pkcs11::KeyInfo& key, const std::string& filter_uri);

// The token fields of a PKCS#11 URI (token, manufacturer, model, serial),
// as a listed key's URI carries them, with the padding removed. Fields the
// URI lacks are empty, and so is everything for a text p11-kit does not
// accept as a URI.
struct UriTokenFields {
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial;
};
UriTokenFields uri_token_fields(const std::string& uri);

// The PIN a PKCS#11 URI carries in its query (RFC 7512 section 2.3), for
// programs with nobody to ask (tessera-sshd's host keys): pin-value, the PIN
// itself (percent-decoded), or pin-source, where to read it (as written: a
// path or a "file:" URI; reading it is the caller's). Neither: value is
// nullopt and source empty. kInvalidArgument when `uri` is not a PKCS#11 URI
// p11-kit accepts.
struct UriPin {
  std::optional<key::SecretBytes> value;
  std::string source;
};
key::Result<UriPin> uri_pin(const std::string& uri);

// The URI with its pin-value attribute's value replaced by "REDACTED", for
// logs and messages (a URI that is not one is returned as it is).
std::string without_pin_value(std::string_view uri);

}  // namespace tessera::tokens

#endif  // TESSERA_TOKENS_NAMES_H_
