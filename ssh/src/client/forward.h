// tessera-ssh's forwarding: the agent (-A, ForwardAgent yes|path: the
// server opens auth-agent@openssh.com channels, each joined to a new
// connection to the local agent), local TCP and Unix-socket forwards (-L,
// LocalForward: direct-tcpip / direct-streamlocal@openssh.com channels), and
// -W host:port (standard input and output joined to one direct-tcpip
// channel).
#ifndef TESSERA_SSH_CLIENT_FORWARD_H_
#define TESSERA_SSH_CLIENT_FORWARD_H_

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "connection/connection.h"
#include "tessera/agent/protocol.h"
#include "io/client_connection.h"
#include "tessera/ssh/config.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::client {

class FdBridge;

class Forwarding {
 public:
  Forwarding(sys::EventLoop& loop, io::ClientConnection& conn, bool quiet);
  ~Forwarding();

  // From now on the server may open agent channels to this socket. Each
  // new agent connection is first bound to this session with `bind`
  // (session-bind@openssh.com, forwarding flag set), so that the agent
  // knows the hop and destination constraints hold, as OpenSSH's ssh does.
  void enable_agent_forwarding(std::string socket_path, std::optional<agent::SessionBind> bind);
  bool agent_forwarding() const { return agent_socket_.has_value(); }

  key::Status add_local_forward(const config::Forward& forward);
  // -W: done(exit code) when the channel closes.
  key::Status start_stdio_forward(const std::string& target, std::function<void(int)> done);

  void on_drained();

 private:
  struct Listener {
    sys::Fd fd;
    config::Forward forward;
  };
  void accept_on(Listener& listener);
  void forget(FdBridge* bridge);

  sys::EventLoop& loop_;
  io::ClientConnection& conn_;
  bool quiet_;
  std::optional<std::string> agent_socket_;
  std::optional<agent::SessionBind> agent_bind_;
  std::list<Listener> listeners_;
  std::list<std::unique_ptr<FdBridge>> bridges_;
};

// The ProxyCommand that -J / ProxyJump stands for: this program run with -W
// to the last hop, through the hops before it; the -F file goes along.
std::string jump_proxy_command(const config::Config& cfg, const std::string& self, int verbose,
                               const std::string& config_file);

}  // namespace tessera::ssh::client

#endif  // TESSERA_SSH_CLIENT_FORWARD_H_
