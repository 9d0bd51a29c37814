#include "io/transport_io.h"

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

// Bytes read from the peer per read(2).
constexpr size_t kReadChunk = 256 * 1024;

}  // namespace

TransportIo::TransportIo(sys::EventLoop& loop, sys::Fd in, sys::Fd out, std::string_view peer, Hooks hooks)
    : loop_(loop),
      in_(std::move(in)),
      out_(std::move(out)),
      peer_(peer),
      hooks_(std::move(hooks)),
      last_heard_(loop.now()) {}

TransportIo::~TransportIo() { unwatch(); }

key::Status TransportIo::watch() {
  sys::set_nonblocking(in_.get());
  sys::set_nonblocking(out_.get());
  TESSERA_TRY(loop_.add_fd(in_.get(), EPOLLIN, [this](uint32_t) { on_readable(); }));
  in_watched_ = true;
  TESSERA_TRY(loop_.add_fd(out_.get(), 0, [this](uint32_t) { flush(); }));
  out_watched_ = true;
  last_heard_ = loop_.now();
  return key::ok_status();
}

void TransportIo::unwatch() {
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
}

void TransportIo::set_keepalive(std::chrono::seconds interval, int count_max, std::function<void()> probe,
                                std::function<void()> timed_out) {
  keepalive_interval_ = interval;
  keepalive_count_max_ = count_max;
  probe_ = std::move(probe);
  timed_out_ = std::move(timed_out);
  schedule_timers();
}

void TransportIo::schedule_timers() {
  if (closed_) return;
  if (keepalive_interval_.count() > 0 && !keepalive_timer_) {
    // An interval after the peer was last heard from (or last probed).
    keepalive_timer_ = loop_.add_timer(last_heard_ + keepalive_interval_, [this] {
      keepalive_timer_.reset();
      on_keepalive_timer();
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

void TransportIo::on_keepalive_timer() {
  if (closed_) return;
  if (loop_.now() - last_heard_ >= keepalive_interval_) {
    if (++unanswered_ > keepalive_count_max_) {
      timed_out_();
      return;
    }
    probe_();
    flush();
    // The next probe an interval from now, unless the peer speaks first (as
    // sshd's last_client_time): one probe per interval while it answers.
    last_heard_ = loop_.now();
  }
  schedule_timers();
}

void TransportIo::on_readable() {
  if (closed_ || transport_->input_paused()) return;
  uint8_t buf[kReadChunk];
  const ssize_t n = read(in_.get(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    finish(Error(Errc::kIo, "read from " + peer_ + ": " + std::strerror(errno)));
    return;
  }
  if (n == 0) {
    finish(Error(Errc::kIo, "Connection closed by remote host"));
    return;
  }
  last_heard_ = loop_.now();
  unanswered_ = 0;
  after_receive(transport_->receive(std::span<const uint8_t>(buf, static_cast<size_t>(n)), loop_.now()));
}

void TransportIo::receive_held() { after_receive(transport_->receive({}, loop_.now())); }

void TransportIo::after_receive(const key::Status& status) {
  if (pending_error_ || !status.ok()) {
    flush();
    finish(pending_error_ ? std::move(pending_error_) : std::optional<Error>(status.error()));
    return;
  }
  if (transport_->input_paused() && in_watched_) {
    // What arrives from now on stays in the socket (for the process the
    // connection is handed over to).
    loop_.remove_fd(in_.get());
    in_watched_ = false;
  }
  flush();
  schedule_timers();
}

void TransportIo::flush() {
  if (!out_.valid()) return;
  transport::ByteQueue& out = transport_->output();
  while (!out.empty()) {
    const ssize_t n = write(out_.get(), out.front().data(), out.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      out.clear();
      if (!closed_) finish(Error(Errc::kIo, "write to " + peer_ + ": " + std::strerror(errno)));
      return;
    }
    out.consume(static_cast<size_t>(n));
  }
  update_write_watch();
  if (out.empty() && hooks_.on_drained && !closed_ && !in_drained_) {
    in_drained_ = true;  // what on_drained sends comes back through flush()
    hooks_.on_drained();
    in_drained_ = false;
  }
}

key::Status TransportIo::flush_blocking(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  transport::ByteQueue& out = transport_->output();
  while (!out.empty()) {
    const ssize_t n = write(out_.get(), out.front().data(), out.size());
    if (n > 0) {
      out.consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Error(Errc::kIo, "write to " + peer_ + ": " + std::strerror(errno));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error(Errc::kIo, "write to " + peer_ + ": timed out");
    pollfd p{out_.get(), POLLOUT, 0};
    (void)poll(&p, 1, static_cast<int>(left.count()));
  }
  return key::ok_status();
}

void TransportIo::update_write_watch() {
  if (!out_watched_) return;
  const bool want = !transport_->output().empty();
  if (want == write_watched_) return;
  if (loop_.modify_fd(out_.get(), want ? uint32_t{EPOLLOUT} : 0u).ok()) write_watched_ = want;
}

void TransportIo::detach() {
  unwatch();
  closed_ = true;
}

void TransportIo::finish(std::optional<key::Error> error) {
  if (closed_) return;
  closed_ = true;
  unwatch();
  if (hooks_.on_finished) hooks_.on_finished(std::move(error));
}

}  // namespace tessera::ssh::io
