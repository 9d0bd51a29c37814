#include "server/direct_tcpip.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tessera::ssh::server {

using key::Errc;
using key::Error;

namespace {

// Bytes read from a socket at once.
constexpr size_t kRelayChunk = 64 * 1024;

void log_line(const ServiceHooks& hooks, const std::string& line) {
  if (hooks.log) hooks.log(line);
}

socklen_t address_length(const sockaddr_storage& address) {
  return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool matches(const PermitOpen& allowed, std::string_view host, uint32_t port) {
  if (allowed.port != PermitOpen::kAnyPort && static_cast<uint32_t>(allowed.port) != port) return false;
  return allowed.host == "*" || allowed.host == host;
}

bool any_matches(const std::vector<PermitOpen>& list, std::string_view host, uint32_t port) {
  return std::any_of(list.begin(), list.end(), [&](const PermitOpen& p) { return matches(p, host, port); });
}

}  // namespace

void FdWatch::attach(int fd, std::function<void(uint32_t)> handler) {
  detach();
  fd_ = fd;
  handler_ = std::move(handler);
}

void FdWatch::want(uint32_t events) {
  if (fd_ < 0 || events == events_) return;
  if (events == 0) {
    loop_.remove_fd(fd_);
    added_ = false;
    events_ = 0;
    return;
  }
  if (added_) {
    if (loop_.modify_fd(fd_, events).ok()) events_ = events;
    return;
  }
  // The handler may outlive this watch inside the loop's dispatch for one
  // round; it reaches the owner only through the function held here.
  if (loop_.add_fd(fd_, events, [this](uint32_t ev) { handler_(ev); }).ok()) {
    added_ = true;
    events_ = events;
  }
}

void FdWatch::move_to(int fd) {
  if (added_) loop_.remove_fd(fd_);
  added_ = false;
  events_ = 0;
  fd_ = fd;
}

void FdWatch::detach() {
  if (added_) loop_.remove_fd(fd_);
  added_ = false;
  events_ = 0;
  fd_ = -1;
}

StreamRelay::StreamRelay(Context context, sys::Fd socket, std::string label, std::function<void(StreamRelay*)> on_done)
    : ctx_(context),
      socket_(std::move(socket)),
      label_(std::move(label)),
      on_done_(std::move(on_done)),
      watch_(context.loop) {
  watch_.attach(socket_.get(), [this](uint32_t events) { on_events(events); });
}

StreamRelay::~StreamRelay() { watch_.detach(); }

void StreamRelay::connecting(std::vector<sockaddr_storage> fallbacks, bool answer_open) {
  fallbacks_ = std::move(fallbacks);
  connect_pending_ = true;
  answer_open_ = answer_open;
  update_watch();
}

void StreamRelay::resume() {
  paused_for_peer_ = false;
  update_watch();
}

void StreamRelay::on_open_confirmed() {
  open_ = true;
  update_watch();
}

void StreamRelay::on_open_failed(uint32_t, std::string_view description) {
  log_line(ctx_.hooks, label_ + ": open failed: " + std::string(description));
  done();
}

void StreamRelay::on_data(std::span<const uint8_t> data) {
  if (write_done_) {
    ctx_.conn.consumed(channel_id(), data.size());  // nobody reads it any more
    return;
  }
  pending_out_.insert(pending_out_.end(), data.begin(), data.end());
  if (!connect_pending_) write_pending();
  update_watch();
}

void StreamRelay::on_eof() {
  eof_received_ = true;
  if (!connect_pending_ && pending_out_.empty()) shut_write();
  maybe_close();
}

void StreamRelay::on_closed() {
  open_ = false;
  done();
}

void StreamRelay::on_send_room() { update_watch(); }

void StreamRelay::on_events(uint32_t events) {
  if (done_) return;
  if (connect_pending_) {
    finish_connect();
    return;
  }
  if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0 && !pending_out_.empty()) write_pending();
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 && (watch_.wanted() & EPOLLIN) != 0) read_socket();
  update_watch();
}

void StreamRelay::finish_connect() {
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error == EINPROGRESS) return;
  if (error == 0) {
    connect_pending_ = false;
    fallbacks_.clear();
    if (answer_open_) {
      answer_open_ = false;
      ctx_.conn.confirm_open(channel_id());  // on_open_confirmed: open_
      ctx_.hooks.flush();
    }
    write_pending();
    if (eof_received_ && pending_out_.empty()) shut_write();
    update_watch();
    maybe_close();
    return;
  }
  while (!fallbacks_.empty()) {
    if (try_next_address()) return;
    error = errno;
  }
  give_up(error);
}

bool StreamRelay::try_next_address() {
  const sockaddr_storage address = fallbacks_.front();
  fallbacks_.erase(fallbacks_.begin());
  sys::Fd s(socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s) return false;
  if (connect(s.get(), reinterpret_cast<const sockaddr*>(&address), address_length(address)) != 0 &&
      errno != EINPROGRESS) {
    return false;
  }
  watch_.move_to(s.get());
  socket_ = std::move(s);
  update_watch();  // still connect_pending_: the next writable says how it went
  return true;
}

void StreamRelay::give_up(int error) {
  log_line(ctx_.hooks, label_ + ": connect failed: " + std::strerror(error));
  connect_pending_ = false;
  if (answer_open_) {
    // The channel never opened: refused with sshd's reason and text.
    answer_open_ = false;
    watch_.detach();
    ctx_.conn.refuse_open(channel_id(), connection::kOpenConnectFailed, std::strerror(error));
    ctx_.hooks.flush();
    done();
    return;
  }
  read_eof_ = true;
  write_done_ = true;
  if (!pending_out_.empty()) ctx_.conn.consumed(channel_id(), pending_out_.size());
  pending_out_.clear();
  watch_.detach();
  if (open_ && !closing_) {
    closing_ = true;
    ctx_.conn.close(channel_id());
    ctx_.hooks.flush();
  }
}

void StreamRelay::write_pending() {
  size_t written = 0;
  while (written < pending_out_.size()) {
    const ssize_t n = send(socket_.get(), pending_out_.data() + written, pending_out_.size() - written, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      pending_out_.erase(pending_out_.begin(), pending_out_.begin() + static_cast<std::ptrdiff_t>(written));
      if (written > 0) ctx_.conn.consumed(channel_id(), written);
      write_failed();
      return;
    }
    written += static_cast<size_t>(n);
  }
  pending_out_.erase(pending_out_.begin(), pending_out_.begin() + static_cast<std::ptrdiff_t>(written));
  if (written > 0) {
    ctx_.conn.consumed(channel_id(), written);
    ctx_.hooks.flush();
  }
  if (pending_out_.empty() && eof_received_) shut_write();
  maybe_close();
}

void StreamRelay::write_failed() {
  // The socket takes no more: what the peer sends from now on is thrown
  // away (and its window opened again), as sshd's chan_write_failed.
  ctx_.conn.consumed(channel_id(), pending_out_.size());
  pending_out_.clear();
  shut_write();
  ctx_.hooks.flush();
  maybe_close();
}

void StreamRelay::shut_write() {
  if (write_done_) return;
  write_done_ = true;
  (void)shutdown(socket_.get(), SHUT_WR);
}

void StreamRelay::read_socket() {
  const size_t room = ctx_.conn.send_room(channel_id());
  if (room == 0 || read_eof_) return;
  uint8_t buf[kRelayChunk];
  const ssize_t n = read(socket_.get(), buf, std::min(room, sizeof(buf)));
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    // EOF, or a failed read (a reset): either way nothing more comes.
    read_eof_ = true;
    ctx_.conn.send_eof(channel_id());
    ctx_.hooks.flush();
    maybe_close();
    return;
  }
  ctx_.conn.send_data(channel_id(), std::span<const uint8_t>(buf, static_cast<size_t>(n)));
  ctx_.hooks.flush();
  if (ctx_.hooks.pending_bytes && ctx_.hooks.pending_bytes() > kMaxQueuedForPeer) paused_for_peer_ = true;
}

void StreamRelay::update_watch() {
  if (done_ || closing_) {
    watch_.want(0);
    return;
  }
  uint32_t events = 0;
  if (connect_pending_) {
    events = EPOLLOUT;
  } else {
    if (open_ && !read_eof_ && !paused_for_peer_ && ctx_.conn.send_room(channel_id()) > 0) events |= EPOLLIN;
    if (!pending_out_.empty() && !write_done_) events |= EPOLLOUT;
  }
  watch_.want(events);
}

void StreamRelay::maybe_close() {
  if (!read_eof_ || !write_done_ || closing_ || !open_) return;
  closing_ = true;
  watch_.want(0);
  ctx_.conn.close(channel_id());
  ctx_.hooks.flush();
}

void StreamRelay::done() {
  if (done_) return;
  done_ = true;
  watch_.detach();
  if (on_done_) on_done_(this);
}

StreamRelay& RelaySet::make(StreamRelay::Context context, sys::Fd socket, std::string label) {
  std::weak_ptr<char> alive = alive_;
  relays_.push_back(std::make_unique<StreamRelay>(
      context, std::move(socket), std::move(label), [this, alive](StreamRelay* relay) {
        // Deleted from the loop: the Connection is still inside the
        // relay's callback now.
        loop_.post([this, alive, relay] {
          if (alive.expired()) return;
          relays_.remove_if([relay](const std::unique_ptr<StreamRelay>& r) { return r.get() == relay; });
        });
      }));
  return *relays_.back();
}

void RelaySet::resume_all() {
  for (auto& relay : relays_) relay->resume();
}

key::Result<PermitOpen> parse_permit_open(std::string_view spec) {
  std::string_view host;
  std::string_view port;
  if (!spec.empty() && spec.front() == '[') {
    const size_t close = spec.find(']');
    if (close == std::string_view::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      return Error(Errc::kInvalidArgument, "bad permitted open \"" + std::string(spec) + "\": expected [address]:port");
    }
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else {
    const size_t colon = spec.find(':');
    if (colon == std::string_view::npos) {
      return Error(Errc::kInvalidArgument, "bad permitted open \"" + std::string(spec) + "\": missing port");
    }
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  if (host.empty()) return Error(Errc::kInvalidArgument, "bad permitted open \"" + std::string(spec) + "\": no host");
  PermitOpen result{.host = std::string(host), .port = PermitOpen::kAnyPort};
  if (port == "*") return result;
  int number = 0;
  bool digits = !port.empty() && port.size() <= 5;
  for (const char c : port) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    number = number * 10 + (c - '0');
  }
  if (digits) {
    if (number < 1 || number > 65535) {
      return Error(Errc::kInvalidArgument, "bad permitted open \"" + std::string(spec) + "\": port out of range");
    }
    result.port = number;
    return result;
  }
  // A service name, as sshd's a2port takes one.
  const std::string name(port);
  const servent* service = name.empty() ? nullptr : getservbyname(name.c_str(), "tcp");
  if (service == nullptr) {
    return Error(Errc::kInvalidArgument, "bad permitted open \"" + std::string(spec) + "\": unknown port");
  }
  result.port = ntohs(static_cast<uint16_t>(service->s_port));
  return result;
}

bool open_permitted(const SessionPolicy& policy, std::string_view host, uint32_t port) {
  if (!policy.key_permit_open.empty() && !any_matches(policy.key_permit_open, host, port)) return false;
  if (policy.permit_open && !any_matches(*policy.permit_open, host, port)) return false;
  return true;
}

connection::IncomingChannel open_direct_tcpip(RelaySet& relays, StreamRelay::Context context,
                                              const SessionPolicy& policy, key::Reader& extra) {
  connection::IncomingChannel refused;
  refused.reason = connection::kOpenAdministrativelyProhibited;
  refused.description = "open failed";
  auto host = extra.text();
  auto port = extra.u32();
  auto originator = extra.text();
  auto originator_port = extra.u32();
  if (!host.ok() || !port.ok() || !originator.ok() || !originator_port.ok()) {
    log_line(context.hooks, "malformed direct-tcpip open");
    return refused;
  }
  if (*port > 0xffff || *originator_port > 0xffff) {
    log_line(context.hooks, "direct-tcpip: invalid port");
    return refused;
  }
  const std::string target = std::string(*host) + " port " + std::to_string(*port);
  const std::string from = std::string(*originator) + " port " + std::to_string(*originator_port);
  if (!policy.permit_tcp_forwarding) {
    log_notice(context.hooks, "refused local port forward: originator " + from + ", target " + target);
    return refused;
  }
  if (!open_permitted(policy, *host, *port)) {
    log_notice(context.hooks, "Received request from " + from + " to connect to host " + target +
                                  ", but the request was denied.");
    return refused;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string host_text(*host);
  const std::string port_text = std::to_string(*port);
  const int rc = getaddrinfo(host_text.c_str(), port_text.c_str(), &hints, &list);
  if (rc != 0 || list == nullptr) {
    refused.reason = connection::kOpenConnectFailed;
    refused.description = rc != 0 ? gai_strerror(rc) : "no address";
    log_line(context.hooks, "connect_to " + host_text + " port " + port_text + ": unknown host (" +
                                refused.description + ")");
    return refused;
  }
  std::vector<sockaddr_storage> addresses;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage a{};
    std::memcpy(&a, ai->ai_addr, ai->ai_addrlen);
    addresses.push_back(a);
  }
  freeaddrinfo(list);
  int last_error = EHOSTUNREACH;
  for (size_t i = 0; i < addresses.size(); ++i) {
    sys::Fd s(socket(addresses[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s) {
      last_error = errno;
      continue;
    }
    const bool connected =
        connect(s.get(), reinterpret_cast<const sockaddr*>(&addresses[i]), address_length(addresses[i])) == 0;
    if (!connected && errno != EINPROGRESS) {
      last_error = errno;
      continue;
    }
    StreamRelay& relay = relays.make(context, std::move(s), "direct-tcpip to " + target);
    connection::IncomingChannel accepted;
    accepted.handler = &relay;
    accepted.window = connection::kTcpWindow;
    accepted.max_packet = connection::kTcpMaxPacket;
    if (!connected) {
      // Answered once the connect is done, as sshd: a target that cannot be
      // reached on any address is refused with the reason.
      relay.connecting(std::vector<sockaddr_storage>(addresses.begin() + static_cast<std::ptrdiff_t>(i + 1),
                                                     addresses.end()),
                       /*answer_open=*/true);
      accepted.defer = true;
    }
    return accepted;
  }
  refused.reason = connection::kOpenConnectFailed;
  refused.description = std::strerror(last_error);
  log_line(context.hooks, "connect_to " + host_text + " port " + port_text + ": failed: " + refused.description);
  return refused;
}

}  // namespace tessera::ssh::server
