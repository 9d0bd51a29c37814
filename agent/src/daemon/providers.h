// The PKCS#11 provider allowlist (-P): OpenSSH's pattern-list matching
// (tessera/key/match.h), applied to a provider's real path as ssh-agent does.
#ifndef TESSERA_AGENT_DAEMON_PROVIDERS_H_
#define TESSERA_AGENT_DAEMON_PROVIDERS_H_

#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::agent::daemon {

// Resolves the provider's path (realpath) and checks it against the list.
// Returns the canonical path. kIo if it cannot be resolved, kInvalidArgument
// if the list does not allow it.
key::Result<std::string> allowed_provider_path(const std::string& provider, std::string_view allowed);

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PROVIDERS_H_
