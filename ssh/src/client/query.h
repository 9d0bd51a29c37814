// ssh -Q: the algorithms tessera-ssh supports, one per line.
#ifndef TESSERA_SSH_CLIENT_QUERY_H_
#define TESSERA_SSH_CLIENT_QUERY_H_

#include <string>

namespace tessera::ssh::client {

// Prints the list for `what` (cipher, cipher-auth, mac, kex, key, key-cert,
// key-plain, sig, protocol-version, HostKeyAlgorithms, ...) and returns the
// exit code: 0, or 255 for an unknown query.
int print_query(const std::string& what);

}  // namespace tessera::ssh::client

#endif  // TESSERA_SSH_CLIENT_QUERY_H_
