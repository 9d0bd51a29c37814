// Host key lookup in known_hosts files for destination constraints (-h),
// as ssh-add's load_hostkeys(): the parsing and matching (patterns,
// negation, hashed names, @cert-authority and @revoked lines) are libkey's
// (tessera/key/known_hosts.h).
#ifndef TESSERA_AGENT_ADD_KNOWN_HOSTS_H_
#define TESSERA_AGENT_ADD_KNOWN_HOSTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/key.h"
#include "tessera/key/known_hosts.h"

namespace tessera::add {

using HostKeyMarker = key::KnownHostsMarker;

struct HostKeyEntry {
  key::PublicKey key;
  HostKeyMarker marker = HostKeyMarker::kNone;
  std::string file;
  size_t line = 0;
};

// Appends the entries of `path` whose host patterns match `host`. A missing
// or unreadable file adds nothing; lines that are not valid known_hosts
// entries, and certificates (a known_hosts line holds a key), are skipped.
void load_host_keys(std::string_view host, const std::string& path, std::vector<HostKeyEntry>& out);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_KNOWN_HOSTS_H_
