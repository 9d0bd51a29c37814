#include "server/agent_forward.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace tessera::ssh::server {

using key::Errc;
using key::Error;

namespace {

// sshd's SSH_LISTEN_BACKLOG.
constexpr int kListenBacklog = 128;
// After accept fails for want of descriptors, wait this long before
// listening again (the listener would wake the loop at once otherwise).
constexpr auto kAcceptRetry = std::chrono::seconds(1);

}  // namespace

key::Result<std::unique_ptr<AgentForwarder>> AgentForwarder::start(StreamRelay::Context context, RelaySet& relays,
                                                                   std::string_view dir) {
  std::unique_ptr<AgentForwarder> f(new AgentForwarder(context, relays));
  std::string templ = std::string(dir) + "/ssh-XXXXXXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return Error(Errc::kIo, "Agent forwarding disabled: mkdtemp() failed: " + std::string(std::strerror(errno)));
  }
  f->directory_ = templ;
  f->socket_path_ = templ + "/agent." + std::to_string(getpid());
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (f->socket_path_.size() >= sizeof(address.sun_path)) {
    return Error(Errc::kIo, "agent socket path too long: " + f->socket_path_);  // ~ removes the directory
  }
  std::memcpy(address.sun_path, f->socket_path_.c_str(), f->socket_path_.size() + 1);
  f->listener_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!f->listener_ || bind(f->listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(f->listener_.get(), kListenBacklog) != 0) {
    return Error(Errc::kIo, "agent socket " + f->socket_path_ + ": " + std::strerror(errno));
  }
  AgentForwarder* raw = f.get();
  f->watch_.attach(f->listener_.get(), [raw](uint32_t) { raw->accept_connections(); });
  f->watch_.want(EPOLLIN);
  return f;
}

AgentForwarder::~AgentForwarder() {
  if (retry_timer_) ctx_.loop.cancel_timer(*retry_timer_);
  watch_.detach();
  listener_.reset();
  if (!socket_path_.empty()) (void)unlink(socket_path_.c_str());
  if (!directory_.empty()) (void)rmdir(directory_.c_str());
}

void AgentForwarder::accept_connections() {
  for (;;) {
    sys::Fd connection(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!connection) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
      // Out of descriptors (or worse): stop listening for a while.
      if (ctx_.hooks.log) ctx_.hooks.log(std::string("agent socket: accept: ") + std::strerror(errno));
      watch_.want(0);
      std::weak_ptr<char> alive = alive_;
      retry_timer_ = ctx_.loop.add_timer(ctx_.loop.now() + kAcceptRetry, [this, alive] {
        if (alive.expired()) return;
        retry_timer_.reset();
        watch_.want(EPOLLIN);
      });
      return;
    }
    StreamRelay& relay = relays_.make(ctx_, std::move(connection), "agent connection");
    ctx_.conn.open("auth-agent@openssh.com", {}, relay, kAgentWindow, kAgentMaxPacket);
    ctx_.hooks.flush();
  }
}

}  // namespace tessera::ssh::server
