#include "io/server_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tessera/sys/fd.h"
#include "transport/messages.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

// Bytes read from the client per read(2).
constexpr size_t kReadChunk = 256 * 1024;

}  // namespace

ServerConnection::ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config,
                                   ServerCallbacks callbacks)
    : loop_(loop), in_(std::move(in)), out_(std::move(out)), config_(std::move(config)),
      callbacks_(std::move(callbacks)) {
  config_.transport.is_client = false;
}

ServerConnection::ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config,
                                   transport::KexAuthority& authority, auth::ServerAuthDecider& decider,
                                   ServerCallbacks callbacks)
    : ServerConnection(loop, std::move(in), std::move(out), std::move(config), std::move(callbacks)) {
  transport::TransportListener& listener = *this;
  transport_ = std::make_unique<transport::Transport>(config_.transport, listener, authority);
  auth_ = std::make_unique<auth::ServerAuth>(*transport_, config_.auth, decider);
  auth_->on_success = [this] {
    authenticated_ = true;
    user_ = auth_->user();
    if (config_.stop_after_auth) transport_->pause_input();
    if (callbacks_.on_authenticated) callbacks_.on_authenticated();
  };
  connection_ = std::make_unique<connection::Connection>(*transport_);
}

key::Result<std::unique_ptr<ServerConnection>> ServerConnection::resume(sys::EventLoop& loop, sys::Fd in, sys::Fd out,
                                                                        ServerIoConfig config,
                                                                        transport::KexAuthority& authority,
                                                                        std::span<const uint8_t> state,
                                                                        ServerCallbacks callbacks) {
  std::unique_ptr<ServerConnection> c(
      new ServerConnection(loop, std::move(in), std::move(out), std::move(config), std::move(callbacks)));
  transport::TransportListener& listener = *c;
  TESSERA_ASSIGN_OR_RETURN(c->transport_, transport::Transport::import(c->config_.transport, listener, authority,
                                                                       state, loop.now()));
  c->connection_ = std::make_unique<connection::Connection>(*c->transport_);
  c->authenticated_ = true;
  return c;
}

ServerConnection::~ServerConnection() { unwatch(); }

void ServerConnection::unwatch() {
  if (in_watched_) {
    loop_.remove_fd(in_.get());
    in_watched_ = false;
  }
  if (out_watched_) {
    loop_.remove_fd(out_.get());
    out_watched_ = false;
  }
  if (alive_timer_) {
    loop_.cancel_timer(*alive_timer_);
    alive_timer_.reset();
  }
  if (rekey_timer_) {
    loop_.cancel_timer(*rekey_timer_);
    rekey_timer_.reset();
  }
}

key::Status ServerConnection::start() {
  sys::set_nonblocking(in_.get());
  sys::set_nonblocking(out_.get());
  // Our writes are whole packets, never a byte at a time, so Nagle's
  // algorithm only ever holds back the second of two replies written in
  // turn (CHANNEL_EOF then EXIT_STATUS and CLOSE, a global request then an
  // open confirmation) until the client's delayed ACK, 40 ms later on
  // Linux: a stall OpenSSH's ssh waits out in every `ssh host command`.
  // Pipes (inetd mode) are not sockets: the call fails, harmlessly.
  const int one = 1;
  (void)::setsockopt(out_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  TESSERA_TRY(loop_.add_fd(in_.get(), EPOLLIN, [this](uint32_t) { on_readable(); }));
  in_watched_ = true;
  TESSERA_TRY(loop_.add_fd(out_.get(), 0, [this](uint32_t) { flush(); }));
  out_watched_ = true;
  last_heard_ = loop_.now();
  if (auth_) {
    transport_->start(loop_.now());
  } else {
    // A resumed connection may hold whole packets that arrived before the
    // hand-over.
    auto s = transport_->receive({}, loop_.now());
    if (!s.ok() || pending_error_) {
      flush();
      finish(pending_error_ ? std::move(pending_error_) : std::optional<Error>(s.error()));
      return key::ok_status();
    }
  }
  flush();
  schedule_timers();
  return key::ok_status();
}

void ServerConnection::schedule_timers() {
  if (closed_) return;
  if (config_.client_alive_interval.count() > 0 && authenticated_ && !alive_timer_) {
    alive_timer_ = loop_.add_timer(loop_.now() + config_.client_alive_interval, [this] {
      alive_timer_.reset();
      on_alive_timer();
    });
  }
  if (!rekey_timer_) {
    if (auto when = transport_->next_deadline()) {
      rekey_timer_ = loop_.add_timer(*when, [this] {
        rekey_timer_.reset();
        auto s = transport_->tick(loop_.now());
        if (!s.ok()) return finish(s.error());
        flush();
        schedule_timers();
      });
    }
  }
}

void ServerConnection::on_alive_timer() {
  if (closed_) return;
  if (loop_.now() - last_heard_ >= config_.client_alive_interval) {
    if (++alive_unanswered_ > config_.client_alive_count_max) {
      transport_->disconnect(DisconnectReason::kByApplication, std::string(kClientAliveTimeout));
      flush();
      finish(Error(Errc::kIo, std::string(kClientAliveTimeout)));
      return;
    }
    connection_->send_global_request("keepalive@openssh.com", true);
    flush();
  }
  schedule_timers();
}

void ServerConnection::on_readable() {
  if (closed_ || transport_->input_paused()) return;
  uint8_t buf[kReadChunk];
  const ssize_t n = read(in_.get(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    finish(Error(Errc::kIo, std::string("read from client: ") + std::strerror(errno)));
    return;
  }
  if (n == 0) {
    finish(Error(Errc::kIo, "Connection closed by remote host"));
    return;
  }
  last_heard_ = loop_.now();
  alive_unanswered_ = 0;
  auto status = transport_->receive(std::span<const uint8_t>(buf, static_cast<size_t>(n)), loop_.now());
  if (pending_error_) {
    flush();
    finish(std::move(pending_error_));
    return;
  }
  if (!status.ok()) {
    flush();
    finish(status.error());
    return;
  }
  if (transport_->input_paused() && in_watched_) {
    // Handed over soon: what arrives now stays in the socket for the next
    // process.
    loop_.remove_fd(in_.get());
    in_watched_ = false;
  }
  flush();
  schedule_timers();
}

void ServerConnection::flush() {
  if (!out_.valid()) return;
  transport::ByteQueue& out = transport_->output();
  while (!out.empty()) {
    const ssize_t n = write(out_.get(), out.front().data(), out.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      out.clear();
      if (!closed_) finish(Error(Errc::kIo, std::string("write to client: ") + std::strerror(errno)));
      return;
    }
    out.consume(static_cast<size_t>(n));
  }
  update_write_watch();
  if (out.empty() && callbacks_.on_drained && !closed_ && !in_drained_) {
    in_drained_ = true;  // what on_drained sends comes back through flush()
    callbacks_.on_drained();
    in_drained_ = false;
  }
}

key::Status ServerConnection::flush_blocking(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  transport::ByteQueue& out = transport_->output();
  while (!out.empty()) {
    const ssize_t n = write(out_.get(), out.front().data(), out.size());
    if (n > 0) {
      out.consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Error(Errc::kIo, std::string("write to client: ") + std::strerror(errno));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error(Errc::kIo, "write to client: timed out");
    pollfd p{out_.get(), POLLOUT, 0};
    (void)poll(&p, 1, static_cast<int>(left.count()));
  }
  return key::ok_status();
}

void ServerConnection::update_write_watch() {
  if (!out_watched_) return;
  const bool want = !transport_->output().empty();
  if (want == write_watched_) return;
  if (loop_.modify_fd(out_.get(), want ? uint32_t{EPOLLOUT} : 0u).ok()) write_watched_ = want;
}

void ServerConnection::disconnect(std::string_view description) {
  if (closed_) return;
  transport_->disconnect(DisconnectReason::kByApplication, description);
  flush();
  finish(std::nullopt);
}

void ServerConnection::detach() {
  unwatch();
  closed_ = true;
}

void ServerConnection::finish(std::optional<key::Error> error) {
  if (closed_) return;
  closed_ = true;
  unwatch();
  if (callbacks_.on_closed) callbacks_.on_closed(std::move(error));
}

void ServerConnection::on_kex_done(const transport::Negotiated& n) {
  if (callbacks_.on_kex_done) callbacks_.on_kex_done(n);
}

void ServerConnection::on_message(uint32_t seq, std::span<const uint8_t> payload) {
  if (pending_error_ || closed_) return;
  const uint8_t type = payload[0];
  if (!authenticated_) {
    if (type == msg::kServiceRequest || (type >= 50 && type <= 79)) {
      auto s = auth_->on_message(payload);
      if (!s.ok()) pending_error_ = s.error();
      return;
    }
    // Nothing else before authentication: answered as OpenSSH's sshd does.
    transport_->send_unimplemented(seq);
    return;
  }
  if (type >= 80 && type <= 127) {
    if (type == msg::kRequestSuccess || type == msg::kRequestFailure) alive_unanswered_ = 0;
    auto s = connection_->on_message(payload);
    if (!s.ok()) {
      transport_->disconnect(DisconnectReason::kProtocolError, s.error().message());
      pending_error_ = s.error();
    }
    return;
  }
  if (type >= 50 && type <= 79) {
    if (auth_) (void)auth_->on_message(payload);  // a late request: ignored
    return;
  }
  transport_->send_unimplemented(seq);
}

}  // namespace tessera::ssh::io
