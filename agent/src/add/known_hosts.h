// Host key lookup in known_hosts files (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT)
// for destination constraints, as OpenSSH's hostfile.c load_hostkeys():
// hostname patterns with wildcards and negation, hashed names
// (|1|salt|HMAC-SHA1), @cert-authority lines (CA keys) and @revoked lines.
#ifndef TESSERA_AGENT_ADD_KNOWN_HOSTS_H_
#define TESSERA_AGENT_ADD_KNOWN_HOSTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/key.h"

namespace tessera::add {

enum class HostKeyMarker : uint8_t { kNone, kCertAuthority, kRevoked };

struct HostKeyEntry {
  key::PublicKey key;
  HostKeyMarker marker = HostKeyMarker::kNone;
  std::string file;
  size_t line = 0;
};

// Appends the entries of `path` whose host patterns match `host`. A missing
// or unreadable file adds nothing; lines tessera cannot parse are skipped.
void load_host_keys(std::string_view host, const std::string& path, std::vector<HostKeyEntry>& out);

// OpenSSH's match_hostname(): 1 if a pattern of the comma-separated list
// matches (case-insensitively), -1 if a negated one does, 0 otherwise.
int match_host_pattern_list(std::string_view host, std::string_view patterns);

// Whether a hashed known_hosts name ("|1|base64 salt|base64 hash") is `host`.
bool hashed_host_matches(std::string_view host, std::string_view hashed);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_KNOWN_HOSTS_H_
