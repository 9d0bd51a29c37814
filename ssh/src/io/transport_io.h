// The socket side of one SSH connection on the event loop, shared by the
// client's and the server's I/O layers: it reads into the transport, writes
// what the transport queues (watching for writability only while something
// waits), runs the re-key timer and the keepalive probes
// (ServerAliveInterval / ClientAliveInterval), and ends the connection once.
#ifndef TESSERA_SSH_IO_TRANSPORT_IO_H_
#define TESSERA_SSH_IO_TRANSPORT_IO_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"
#include "transport/transport.h"

namespace tessera::ssh::io {

class TransportIo {
 public:
  struct Hooks {
    // The connection is over (nothing is watched any more); nullopt: ended
    // by us. Called once.
    std::function<void(std::optional<key::Error>)> on_finished;
    // Everything queued for the peer has been written.
    std::function<void()> on_drained;
  };

  // in and out may be two descriptors of one socket or a pair of pipes.
  // peer ("server" or "client") names the other end in error messages.
  TransportIo(sys::EventLoop& loop, sys::Fd in, sys::Fd out, std::string_view peer, Hooks hooks);
  ~TransportIo();
  TransportIo(const TransportIo&) = delete;
  TransportIo& operator=(const TransportIo&) = delete;

  // The transport this carries; it must outlive this object. Set before
  // anything else is called.
  void attach(transport::Transport& transport) { transport_ = &transport; }
  // Makes both descriptors non-blocking and watches them.
  key::Status watch();

  // Writes what the transport has queued, as far as the peer takes it.
  void flush();
  // Writes everything queued, waiting for the peer if need be (at most
  // `limit`).
  key::Status flush_blocking(std::chrono::milliseconds limit);
  // Feeds the transport what it may hold from before (a connection handed
  // over between processes), as if it had just been read.
  void receive_held();

  // Keepalive probes: every `interval` without a byte from the peer,
  // probe() (which sends a request wanting a reply); after more than
  // count_max unanswered, timed_out(). 0 turns them off.
  void set_keepalive(std::chrono::seconds interval, int count_max, std::function<void()> probe,
                     std::function<void()> timed_out);
  // A reply to a probe arrived.
  void heard_reply() { unanswered_ = 0; }
  // Arms the re-key and keepalive timers that are due and not armed.
  void schedule_timers();

  // A failure found inside a transport listener callback: the connection
  // ends with it once the transport returns.
  void fail_later(key::Error error) {
    if (!pending_error_) pending_error_ = std::move(error);
  }
  bool failing() const { return pending_error_.has_value(); }

  // Ends the connection (stops watching, cancels timers, on_finished).
  void finish(std::optional<key::Error> error);
  // Stops watching without closing or telling anyone (the connection goes
  // on in another process).
  void detach();
  bool closed() const { return closed_; }

 private:
  void on_readable();
  void after_receive(const key::Status& status);
  void update_write_watch();
  void on_keepalive_timer();
  void unwatch();

  sys::EventLoop& loop_;
  sys::Fd in_, out_;
  std::string peer_;
  Hooks hooks_;
  transport::Transport* transport_ = nullptr;

  bool closed_ = false;
  bool in_watched_ = false;
  bool out_watched_ = false;
  bool write_watched_ = false;
  bool in_drained_ = false;
  std::optional<key::Error> pending_error_;

  std::chrono::seconds keepalive_interval_{0};
  int keepalive_count_max_ = 3;
  std::function<void()> probe_, timed_out_;
  int unanswered_ = 0;
  sys::Clock::time_point last_heard_{};
  std::optional<sys::EventLoop::TimerId> keepalive_timer_;
  std::optional<sys::EventLoop::TimerId> rekey_timer_;
};

// Hooks that pass the end and the drain on to an I/O layer's callbacks
// (their on_closed and on_drained, when set). callbacks must outlive the
// TransportIo.
template <typename Callbacks>
TransportIo::Hooks forward_to(const Callbacks& callbacks) {
  return TransportIo::Hooks{.on_finished =
                                [&callbacks](std::optional<key::Error> error) {
                                  if (callbacks.on_closed) callbacks.on_closed(std::move(error));
                                },
                            .on_drained =
                                [&callbacks] {
                                  if (callbacks.on_drained) callbacks.on_drained();
                                }};
}

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_TRANSPORT_IO_H_
