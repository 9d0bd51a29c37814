#include "daemon/providers.h"

#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>

#include "tessera/key/match.h"

namespace tessera::agent::daemon {

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

}  // namespace tessera::agent::daemon
