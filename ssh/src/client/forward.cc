#include "client/forward.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tessera/agent/client.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::client {

using key::Errc;
using key::Error;

namespace {

constexpr size_t kBridgeChunk = 64 * 1024;
// Stop reading a local socket while this much waits for the server.
constexpr size_t kMaxQueuedForServer = 4 * 1024 * 1024;

std::string quote_for_shell(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

// Joins a channel to a pair of descriptors (a socket twice, or stdin and
// stdout): bytes flow both ways with the channel's window as the brake;
// EOF travels both ways; the channel closes when both sides are done.
class FdBridge final : public connection::ChannelHandler {
 public:
  FdBridge(sys::EventLoop& loop, io::ClientConnection& conn, int in, int out, bool owns_fds,
           std::function<void(FdBridge*)> on_gone)
      : loop_(loop), conn_(conn), in_(in), out_(out), owns_(owns_fds), on_gone_(std::move(on_gone)) {
    sys::set_nonblocking(in_);
    sys::set_nonblocking(out_);
  }
  ~FdBridge() override {
    watch_in(false);
    if (out_watched_) loop_.remove_fd(out_);
    if (owns_) {
      close(in_);
      if (out_ != in_) close(out_);
    }
  }

  void on_open_confirmed() override {
    open_ = true;
    watch_in(true);
  }
  void on_open_failed(uint32_t, std::string_view description) override {
    failed_reason_ = std::string(description);
    gone();
  }
  void on_data(std::span<const uint8_t> data) override {
    size_t written = 0;
    if (pending_out_.empty()) {
      while (written < data.size()) {
        const ssize_t n = write(out_, data.data() + written, data.size() - written);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) written = data.size();
          break;
        }
        written += static_cast<size_t>(n);
      }
    }
    if (written > 0) conn_.connection().consumed(channel_id(), written);
    if (written < data.size()) {
      pending_out_.insert(pending_out_.end(), data.begin() + static_cast<std::ptrdiff_t>(written), data.end());
      if (!out_watched_ && loop_.add_fd(out_, EPOLLOUT, [this](uint32_t) { flush_out(); }).ok()) out_watched_ = true;
    }
  }
  void on_eof() override {
    eof_from_channel_ = true;
    if (pending_out_.empty()) shut_out();
    maybe_close();
  }
  void on_closed() override {
    closed_ = true;
    gone();
  }
  void on_send_room() override {
    if (open_ && !in_eof_) watch_in(true);
  }
  void resume() {
    if (open_ && !in_eof_ && !closed_) watch_in(true);
  }
  const std::optional<std::string>& failure() const { return failed_reason_; }

 private:
  void watch_in(bool on) {
    if (on == in_watched_ || (on && in_eof_)) return;
    if (on) {
      if (loop_.add_fd(in_, EPOLLIN, [this](uint32_t) { read_in(); }).ok()) in_watched_ = true;
    } else {
      loop_.remove_fd(in_);
      in_watched_ = false;
    }
  }
  void read_in() {
    const size_t room = conn_.connection().send_room(channel_id());
    if (room == 0) {
      watch_in(false);  // resumes in on_send_room()
      return;
    }
    uint8_t buf[kBridgeChunk];
    const ssize_t n = read(in_, buf, std::min(room, sizeof(buf)));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      in_eof_ = true;
      watch_in(false);
      conn_.connection().send_eof(channel_id());
      conn_.flush();
      maybe_close();
      return;
    }
    conn_.connection().send_data(channel_id(), std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    conn_.flush();
    if (conn_.pending_bytes() > kMaxQueuedForServer) watch_in(false);
  }
  void flush_out() {
    size_t written = 0;
    while (written < pending_out_.size()) {
      const ssize_t n = write(out_, pending_out_.data() + written, pending_out_.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) written = pending_out_.size();
        break;
      }
      written += static_cast<size_t>(n);
    }
    pending_out_.erase(pending_out_.begin(), pending_out_.begin() + static_cast<std::ptrdiff_t>(written));
    conn_.connection().consumed(channel_id(), written);
    conn_.flush();
    if (pending_out_.empty()) {
      if (out_watched_) {
        loop_.remove_fd(out_);
        out_watched_ = false;
      }
      if (eof_from_channel_) {
        shut_out();
        maybe_close();
      }
    }
  }
  void shut_out() {
    if (out_shut_) return;
    out_shut_ = true;
    if (shutdown(out_, SHUT_WR) != 0 && out_ != in_ && owns_) {
      close(out_);
      out_ = -1;
    }
  }
  void maybe_close() {
    if (in_eof_ && eof_from_channel_ && pending_out_.empty() && !closed_) {
      conn_.connection().close(channel_id());
      conn_.flush();
    }
  }
  void gone() {
    if (gone_called_) return;
    gone_called_ = true;
    // Deleted outside the connection's callback.
    loop_.post([cb = on_gone_, self = this] { cb(self); });
  }

  sys::EventLoop& loop_;
  io::ClientConnection& conn_;
  int in_, out_;
  bool owns_;
  std::function<void(FdBridge*)> on_gone_;
  bool open_ = false, closed_ = false, in_eof_ = false, eof_from_channel_ = false, out_shut_ = false;
  bool in_watched_ = false, out_watched_ = false, gone_called_ = false;
  std::vector<uint8_t> pending_out_;
  std::optional<std::string> failed_reason_;
};

Forwarding::Forwarding(sys::EventLoop& loop, io::ClientConnection& conn, bool quiet)
    : loop_(loop), conn_(conn), quiet_(quiet) {
  conn_.connection().on_open_request = [this](std::string_view type, key::Reader&) {
    connection::IncomingChannel decision;
    if (type != "auth-agent@openssh.com" || !agent_socket_) {
      decision.reason = connection::kOpenAdministrativelyProhibited;
      decision.description = "open failed";
      return decision;
    }
    auto agent = agent::AgentClient::connect(*agent_socket_);
    if (!agent.ok()) {
      decision.reason = connection::kOpenConnectFailed;
      decision.description = "connect to agent failed";
      return decision;
    }
    // An agent without session-bind still serves; OpenSSH goes on as well.
    if (agent_bind_) (void)agent->session_bind(*agent_bind_);
    const int raw = agent->release_socket();
    auto bridge = std::make_unique<FdBridge>(loop_, conn_, raw, raw, true, [this](FdBridge* b) { forget(b); });
    decision.handler = bridge.get();
    bridges_.push_back(std::move(bridge));
    return decision;
  };
}

Forwarding::~Forwarding() {
  for (Listener& l : listeners_) loop_.remove_fd(l.fd.get());
  conn_.connection().on_open_request = nullptr;
}

void Forwarding::forget(FdBridge* bridge) {
  bridges_.remove_if([bridge](const std::unique_ptr<FdBridge>& b) { return b.get() == bridge; });
}

void Forwarding::on_drained() {
  for (auto& b : bridges_) b->resume();
}

void Forwarding::enable_agent_forwarding(std::string socket_path, std::optional<agent::SessionBind> bind) {
  agent_socket_ = std::move(socket_path);
  agent_bind_ = std::move(bind);
  if (agent_bind_) agent_bind_->forwarding = true;
}

key::Status Forwarding::add_local_forward(const config::Forward& f) {
  if (f.dynamic) return Error(Errc::kUnsupported, "tessera-ssh does not do dynamic (SOCKS) forwarding yet");
  sys::Fd fd;
  if (f.listen.is_path()) {
    fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (f.listen.path.size() >= sizeof(addr.sun_path)) return Error(Errc::kInvalidArgument, "socket path too long");
    std::memcpy(addr.sun_path, f.listen.path.c_str(), f.listen.path.size() + 1);
    if (!fd || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd.get(), 128) != 0) {
      return Error(Errc::kIo, "unix_listener: cannot bind to path " + f.listen.path + ": " + std::strerror(errno));
    }
  } else {
    // Without GatewayPorts, local forwards listen on loopback only.
    const std::string host = f.listen.host.value_or("localhost");
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* list = nullptr;
    const std::string port = std::to_string(f.listen.port);
    const bool any = host.empty() || host == "*";
    if (getaddrinfo(any ? nullptr : host.c_str(), port.c_str(), &hints, &list) != 0 || list == nullptr) {
      return Error(Errc::kIo, "Could not request local forwarding.");
    }
    for (addrinfo* ai = list; ai != nullptr && !fd; ai = ai->ai_next) {
      sys::Fd s(socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
      const int one = 1;
      if (!s) continue;
      setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(s.get(), ai->ai_addr, ai->ai_addrlen) == 0 && listen(s.get(), 128) == 0) fd = std::move(s);
    }
    freeaddrinfo(list);
    if (!fd) {
      return Error(Errc::kIo, "bind [" + host + "]:" + port + ": " + std::strerror(errno) +
                                  "\nCould not request local forwarding.");
    }
  }
  sys::set_nonblocking(fd.get());
  listeners_.push_back(Listener{std::move(fd), f});
  Listener& l = listeners_.back();
  return loop_.add_fd(l.fd.get(), EPOLLIN, [this, &l](uint32_t) { accept_on(l); });
}

void Forwarding::accept_on(Listener& l) {
  sockaddr_storage from{};
  socklen_t len = sizeof(from);
  const int fd = accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
  if (fd < 0) return;
  char host[NI_MAXHOST] = "127.0.0.1";
  char serv[NI_MAXSERV] = "0";
  getnameinfo(reinterpret_cast<sockaddr*>(&from), len, host, sizeof(host), serv, sizeof(serv),
              NI_NUMERICHOST | NI_NUMERICSERV);
  auto bridge = std::make_unique<FdBridge>(loop_, conn_, fd, fd, true, [this](FdBridge* b) { forget(b); });
  key::Writer extra;
  std::string type;
  if (l.forward.connect.is_path()) {
    type = "direct-streamlocal@openssh.com";
    extra.string(l.forward.connect.path);
    extra.string("");  // reserved
    extra.u32(0);
  } else {
    type = "direct-tcpip";
    extra.string(l.forward.connect.host.value_or("localhost"));
    extra.u32(l.forward.connect.port);
    extra.string(std::string(host));
    extra.u32(static_cast<uint32_t>(std::atoi(serv)));
  }
  conn_.connection().open(type, extra.data(), *bridge, connection::kTcpWindow, connection::kTcpMaxPacket);
  bridges_.push_back(std::move(bridge));
  conn_.flush();
}

key::Status Forwarding::start_stdio_forward(const std::string& target, std::function<void(int)> done) {
  // host:port, [host]:port
  std::string host;
  std::string port;
  if (!target.empty() && target.front() == '[') {
    const size_t close = target.find(']');
    if (close == std::string::npos || close + 1 >= target.size() || target[close + 1] != ':') {
      return Error(Errc::kInvalidArgument, "Bad stdio forwarding specification '" + target + "'");
    }
    host = target.substr(1, close - 1);
    port = target.substr(close + 2);
  } else {
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos) {
      return Error(Errc::kInvalidArgument, "Bad stdio forwarding specification '" + target + "'");
    }
    host = target.substr(0, colon);
    port = target.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || *end != '\0' || p <= 0 || p > 65535) {
    return Error(Errc::kInvalidArgument, "Bad stdio forwarding specification '" + target + "'");
  }
  auto bridge = std::make_unique<FdBridge>(loop_, conn_, 0, 1, false, [this, done](FdBridge* b) {
    const bool failed = b->failure().has_value();
    if (failed && !quiet_) {
      const std::string m = "channel 0: open failed: connect failed: " + *b->failure() + "\nstdio forwarding failed\n";
      (void)!write(2, m.data(), m.size());
    }
    forget(b);
    done(failed ? 255 : 0);
  });
  key::Writer extra;
  extra.string(host);
  extra.u32(static_cast<uint32_t>(p));
  extra.string("stdio");
  extra.u32(0);
  conn_.connection().open("direct-tcpip", extra.data(), *bridge, connection::kTcpWindow, connection::kTcpMaxPacket);
  bridges_.push_back(std::move(bridge));
  conn_.flush();
  return key::ok_status();
}

std::string jump_proxy_command(const config::Config& cfg, const std::string& self, int verbose,
                               const std::string& config_file) {
  // -J a,b,c to the destination: "tessera-ssh -J a,b -W [%h]:%p c".
  const config::JumpHost& last = cfg.proxy_jump.back();
  std::string cmd = quote_for_shell(self);
  if (!config_file.empty()) cmd += " -F " + quote_for_shell(config_file);
  for (int i = 0; i < verbose; ++i) cmd += " -v";
  if (!last.user.empty()) cmd += " -l " + quote_for_shell(last.user);
  if (last.port) cmd += " -p " + std::to_string(*last.port);
  if (cfg.proxy_jump.size() > 1) {
    std::string rest;
    for (size_t i = 0; i + 1 < cfg.proxy_jump.size(); ++i) {
      const config::JumpHost& h = cfg.proxy_jump[i];
      if (!rest.empty()) rest += ',';
      if (!h.user.empty()) rest += h.user + "@";
      rest += h.host;
      if (h.port) rest += ":" + std::to_string(*h.port);
    }
    cmd += " -J " + quote_for_shell(rest);
  }
  cmd += " -W '[%h]:%p' " + quote_for_shell(last.host);
  return cmd;
}

}  // namespace tessera::ssh::client
