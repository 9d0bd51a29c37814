// Agent forwarding served (auth-agent-req@openssh.com): a private 0700
// directory under /tmp with a listening socket agent.<pid> in it, as sshd
// makes them; each connection on the socket opens an
// "auth-agent@openssh.com" channel back to the client and relays bytes
// both ways untouched (so session-bind@openssh.com from a nested hop
// reaches the client's agent as it was sent).
#ifndef TESSERA_SSH_SERVER_AGENT_FORWARD_H_
#define TESSERA_SSH_SERVER_AGENT_FORWARD_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/direct_tcpip.h"
#include "tessera/key/error.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

// The window and packet size of an agent channel we open (sshd's
// CHAN_X11_WINDOW_DEFAULT and CHAN_X11_PACKET_DEFAULT, which its auth
// socket uses).
inline constexpr uint32_t kAgentWindow = 4 * 16 * 1024;
inline constexpr uint32_t kAgentMaxPacket = 16 * 1024;

class AgentForwarder {
 public:
  // Makes DIR/ssh-XXXXXXXXXX (mkdtemp: mode 0700) and listens on
  // agent.<our pid> in it. kIo with the reason when that fails (nothing is
  // left behind).
  static key::Result<std::unique_ptr<AgentForwarder>> start(StreamRelay::Context context, RelaySet& relays,
                                                            std::string_view dir = "/tmp");
  // Stops listening and removes the socket and the directory. Connections
  // already relayed stay with the RelaySet.
  ~AgentForwarder();
  AgentForwarder(const AgentForwarder&) = delete;
  AgentForwarder& operator=(const AgentForwarder&) = delete;

  // For SSH_AUTH_SOCK.
  const std::string& socket_path() const { return socket_path_; }
  const std::string& directory() const { return directory_; }

 private:
  AgentForwarder(StreamRelay::Context context, RelaySet& relays)
      : ctx_(context), relays_(relays), watch_(context.loop), alive_(std::make_shared<char>(0)) {}
  void accept_connections();

  StreamRelay::Context ctx_;
  RelaySet& relays_;
  FdWatch watch_;
  std::shared_ptr<char> alive_;
  std::optional<sys::EventLoop::TimerId> retry_timer_;
  sys::Fd listener_;
  std::string directory_;
  std::string socket_path_;
};

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_AGENT_FORWARD_H_
