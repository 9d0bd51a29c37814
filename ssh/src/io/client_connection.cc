#include "io/client_connection.h"

#include <sys/epoll.h>
#include <fcntl.h>
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

// Bytes read from the server per read(2).
constexpr size_t kReadChunk = 256 * 1024;

}  // namespace

ClientConnection::ClientConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out,
                                   transport::TransportConfig transport_config, auth::ClientAuthConfig auth_config,
                                   auth::ClientAuthDelegate& auth_delegate, ClientCallbacks callbacks)
    : loop_(loop),
      in_(std::move(in)),
      out_(std::move(out)),
      transport_(std::move(transport_config), *this),
      auth_(std::move(auth_config), transport_, auth_delegate),
      connection_(transport_),
      callbacks_(std::move(callbacks)) {
  connection_.on_global_reply = [this](bool) { keepalive_unanswered_ = 0; };
}

ClientConnection::~ClientConnection() {
  if (in_watched_) loop_.remove_fd(in_.get());
  if (out_watched_) loop_.remove_fd(out_.get());
  if (keepalive_timer_) loop_.cancel_timer(*keepalive_timer_);
  if (rekey_timer_) loop_.cancel_timer(*rekey_timer_);
}

key::Status ClientConnection::start() {
  sys::set_nonblocking(in_.get());
  sys::set_nonblocking(out_.get());
  TESSERA_TRY(loop_.add_fd(in_.get(), EPOLLIN, [this](uint32_t) { on_readable(); }));
  in_watched_ = true;
  TESSERA_TRY(loop_.add_fd(out_.get(), 0, [this](uint32_t) { on_writable(); }));
  out_watched_ = true;
  last_heard_ = loop_.now();
  transport_.start(loop_.now());
  flush();
  return key::ok_status();
}

void ClientConnection::set_keepalive(std::chrono::seconds interval, int count_max) {
  keepalive_interval_ = interval;
  keepalive_count_max_ = count_max;
  schedule_timers();
}

void ClientConnection::schedule_timers() {
  if (closed_) return;
  if (keepalive_interval_.count() > 0 && !keepalive_timer_) {
    keepalive_timer_ = loop_.add_timer(loop_.now() + keepalive_interval_, [this] {
      keepalive_timer_.reset();
      on_keepalive_timer();
    });
  }
  if (!rekey_timer_) {
    if (auto when = transport_.next_deadline()) {
      rekey_timer_ = loop_.add_timer(*when, [this] {
        rekey_timer_.reset();
        auto s = transport_.tick(loop_.now());
        if (!s.ok()) return finish(s.error());
        flush();
        schedule_timers();
      });
    }
  }
}

void ClientConnection::on_keepalive_timer() {
  if (closed_) return;
  if (loop_.now() - last_heard_ >= keepalive_interval_) {
    if (++keepalive_unanswered_ > keepalive_count_max_) {
      finish(Error(Errc::kIo, "Timeout, server not responding."));
      return;
    }
    connection_.send_global_request("keepalive@openssh.com", true);
    flush();
  }
  schedule_timers();
}

void ClientConnection::on_readable() {
  if (closed_) return;
  uint8_t buf[kReadChunk];
  const ssize_t n = read(in_.get(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    finish(Error(Errc::kIo, std::string("read from server: ") + std::strerror(errno)));
    return;
  }
  if (n == 0) {
    finish(Error(Errc::kIo, "Connection closed by remote host"));
    return;
  }
  last_heard_ = loop_.now();
  keepalive_unanswered_ = 0;
  auto status = transport_.receive(std::span<const uint8_t>(buf, static_cast<size_t>(n)), loop_.now());
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
  flush();
  schedule_timers();
}

void ClientConnection::on_writable() { flush(); }

void ClientConnection::flush() {
  if (!out_.valid()) return;
  transport::ByteQueue& out = transport_.output();
  while (!out.empty()) {
    const ssize_t n = write(out_.get(), out.front().data(), out.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      out.clear();
      if (!closed_) finish(Error(Errc::kIo, std::string("write to server: ") + std::strerror(errno)));
      return;
    }
    out.consume(static_cast<size_t>(n));
  }
  update_write_watch();
  if (out.empty() && callbacks_.on_drained && !closed_) callbacks_.on_drained();
}

void ClientConnection::update_write_watch() {
  const bool want = !transport_.output().empty();
  if (want != write_watched_ && out_watched_) {
    const uint32_t events = want ? uint32_t{EPOLLOUT} : 0u;
    if (loop_.modify_fd(out_.get(), events).ok()) write_watched_ = want;
  }
}

void ClientConnection::disconnect(std::string_view description) {
  if (closed_) return;
  transport_.disconnect(DisconnectReason::kByApplication, description);
  flush();
  finish(std::nullopt);
}

void ClientConnection::finish(std::optional<key::Error> error) {
  if (closed_) return;
  closed_ = true;
  if (in_watched_) {
    loop_.remove_fd(in_.get());
    in_watched_ = false;
  }
  if (out_watched_) {
    loop_.remove_fd(out_.get());
    out_watched_ = false;
  }
  if (keepalive_timer_) {
    loop_.cancel_timer(*keepalive_timer_);
    keepalive_timer_.reset();
  }
  if (rekey_timer_) {
    loop_.cancel_timer(*rekey_timer_);
    rekey_timer_.reset();
  }
  if (callbacks_.on_closed) callbacks_.on_closed(std::move(error));
}

key::Status ClientConnection::check_host_key(const transport::ServerHostKey& host_key) {
  if (!callbacks_.check_host_key) return Error(Errc::kInvalidArgument, "no host key check configured");
  return callbacks_.check_host_key(host_key);
}

void ClientConnection::on_ready() {
  if (callbacks_.on_transport_ready) callbacks_.on_transport_ready();
  auth_.start();
}

void ClientConnection::on_kex_done(const transport::Negotiated& n) {
  if (!callbacks_.debug) return;
  const bool rekey = transport_.key_exchanges() > 1;
  callbacks_.debug(std::string(rekey ? "rekeyed: " : "kex: ") + n.kex + ", host key " + n.host_key + ", cipher " +
                   n.cipher_c2s + (n.mac_c2s.empty() ? "" : " " + n.mac_c2s));
}

void ClientConnection::on_debug(std::string_view message, bool always_display) {
  if (always_display && callbacks_.debug) callbacks_.debug(message);
}

void ClientConnection::on_message(uint32_t seq, std::span<const uint8_t> payload) {
  if (pending_error_ || closed_) return;
  const uint8_t type = payload[0];
  if (!auth_.succeeded()) {
    if (type == msg::kServiceAccept || (type >= 50 && type <= 79)) {
      auto s = auth_.on_message(payload);
      if (!s.ok()) {
        const bool denied = s.error().code() == Errc::kInvalidArgument;
        transport_.disconnect(denied ? DisconnectReason::kNoMoreAuthMethodsAvailable
                                     : DisconnectReason::kProtocolError,
                              denied ? "No more authentication methods available" : s.error().message());
        pending_error_ = s.error();
        return;
      }
      if (auth_.succeeded() && callbacks_.on_authenticated) callbacks_.on_authenticated();
      return;
    }
    transport_.send_unimplemented(seq);
    return;
  }
  if (type >= 80 && type <= 127) {
    auto s = connection_.on_message(payload);
    if (!s.ok()) {
      transport_.disconnect(DisconnectReason::kProtocolError, s.error().message());
      pending_error_ = s.error();
    }
    return;
  }
  if (type >= 50 && type <= 79) return;  // late authentication messages (a banner) mean nothing now
  transport_.send_unimplemented(seq);
}

}  // namespace tessera::ssh::io
