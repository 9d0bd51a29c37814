// Reaching the server: a TCP connection (AddressFamily, BindAddress,
// ConnectTimeout, ConnectionAttempts, TCPKeepAlive) or a ProxyCommand's
// standard input and output, as OpenSSH's sshconnect.c does.
#ifndef TESSERA_SSH_IO_CONNECT_H_
#define TESSERA_SSH_IO_CONNECT_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "tessera/key/error.h"
#include "tessera/ssh/config.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::io {

struct Endpoint {
  sys::Fd in;   // read the server's bytes here
  sys::Fd out;  // write ours here
  pid_t proxy_pid = -1;      // the ProxyCommand, to reap at the end
  std::string peer_address;  // numeric address connected to ("" for a proxy)
};

struct TcpSettings {
  std::string host;
  uint16_t port = 22;
  config::AddressFamily family = config::AddressFamily::kAny;
  std::optional<std::string> bind_address;
  std::optional<int> timeout_seconds;
  int attempts = 1;
  bool keepalive = true;
};

// Errors read as ssh's: "connect to host H port P: Connection refused",
// "Could not resolve hostname H: Name or service not known".
key::Result<Endpoint> connect_tcp(const TcpSettings& settings, const std::function<void(const std::string&)>& debug);

// Runs `command` with /bin/sh -c "exec command" on a socket pair (as
// OpenSSH does for ProxyCommand), its stderr left as ours.
key::Result<Endpoint> connect_proxy_command(const std::string& command);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_CONNECT_H_
