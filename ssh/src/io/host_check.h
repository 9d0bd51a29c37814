// Judging a server's host key as OpenSSH's ssh does (sshconnect.c's
// check_host_key): known_hosts files (hashed and plain, [host]:port,
// @cert-authority, @revoked), HostKeyAlias, RevokedHostKeys,
// StrictHostKeyChecking yes / accept-new / no / ask (the fingerprint typed
// at the prompt counts as yes), HashKnownHosts, and the messages OpenSSH
// prints, word for word where a person or a script may look for them.
#ifndef TESSERA_SSH_IO_HOST_CHECK_H_
#define TESSERA_SSH_IO_HOST_CHECK_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/ssh/config.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh::io {

struct HostCheckSettings {
  std::string host;        // the host name connected to (lower case)
  uint16_t port = 22;
  std::optional<std::string> host_key_alias;
  std::vector<std::string> user_files;    // UserKnownHostsFile, expanded
  std::vector<std::string> global_files;  // GlobalKnownHostsFile
  config::StrictHostKeyChecking strict = config::StrictHostKeyChecking::kAsk;
  bool hash_known_hosts = false;
  bool batch_mode = false;
  std::optional<std::string> revoked_host_keys;  // a KRL or key list file
};

struct HostCheckResult {
  // The key was accepted because StrictHostKeyChecking=no let a changed key
  // through: OpenSSH then turns off password authentication, agent and
  // port forwarding for the connection.
  bool changed_key_accepted = false;
};

// Output of messages (stderr, unless -q) and the yes/no question (the
// terminal).
struct HostCheckIo {
  std::function<void(const std::string&)> message;
  // Asks the question; nullopt when nobody can answer (no terminal).
  std::function<std::optional<std::string>(const std::string& prompt)> ask;
  // Messages OpenSSH logs at INFO (known_hosts additions), which LogLevel
  // ERROR hides. Unset: through `message`.
  std::function<void(const std::string&)> info;
};

// Judges the host key; the error is "Host key verification failed." (with
// the reasons already printed through io.message) or an I/O problem.
key::Result<HostCheckResult> check_server_host_key(const HostCheckSettings& settings,
                                                   const transport::ServerHostKey& host_key, const HostCheckIo& io);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_HOST_CHECK_H_
