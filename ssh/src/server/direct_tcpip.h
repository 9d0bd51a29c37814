// direct-tcpip (ssh -L, ssh -W) on the server, and the socket relay that
// joins a channel to a stream socket, which forwarded agent connections
// use as well.
//
// As sshd, a direct-tcpip open is answered once its connect has finished:
// confirmed when it succeeded on one of the target's addresses, refused
// with the connect's reason ("Connection refused") when it failed on all.
#ifndef TESSERA_SSH_SERVER_DIRECT_TCPIP_H_
#define TESSERA_SSH_SERVER_DIRECT_TCPIP_H_

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connection/connection.h"
#include "server/session_policy.h"
#include "tessera/key/error.h"
#include "tessera/key/wire.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

// Stop reading children and sockets while this much waits for the peer.
inline constexpr size_t kMaxQueuedForPeer = 4 * 1024 * 1024;

// One descriptor's watch on the loop that follows what its owner wants
// (read, write, both, nothing). Wanting nothing takes it off the loop
// altogether: epoll reports hang-ups even for an empty event set, and a
// paused reader must not spin on them.
class FdWatch {
 public:
  explicit FdWatch(sys::EventLoop& loop) : loop_(loop) {}
  ~FdWatch() { detach(); }
  FdWatch(const FdWatch&) = delete;
  FdWatch& operator=(const FdWatch&) = delete;

  // The descriptor and its handler; nothing is watched until want().
  void attach(int fd, std::function<void(uint32_t events)> handler);
  // EPOLLIN / EPOLLOUT / both / 0.
  void want(uint32_t events);
  // Off the loop and forgotten (before the descriptor closes).
  void detach();
  // Another descriptor with the same handler (which may be running now),
  // not watched until want().
  void move_to(int fd);
  uint32_t wanted() const { return events_; }

 private:
  sys::EventLoop& loop_;
  int fd_ = -1;
  uint32_t events_ = 0;
  bool added_ = false;
  std::function<void(uint32_t)> handler_;
};

// Joins a channel to a stream socket: bytes both ways with the peer's
// window and the transport's queue as the brakes, received data consumed
// only once written to the socket, EOF both ways (shutdown(SHUT_WR) for
// the peer's), the channel closed when both directions are done.
class StreamRelay final : public connection::ChannelHandler {
 public:
  struct Context {
    sys::EventLoop& loop;
    connection::Connection& conn;
    const ServiceHooks& hooks;
  };
  // socket is non-blocking. Nothing is read from it before the channel is
  // open (and the connect done).
  StreamRelay(Context context, sys::Fd socket, std::string label, std::function<void(StreamRelay*)> on_done);
  ~StreamRelay() override;

  // The socket's connect is under way; when it fails, the next of
  // `fallbacks` (the target's other addresses) is tried. answer_open: the
  // channel's open was deferred (IncomingChannel::defer) and the relay
  // confirms or refuses it when the connect is done.
  void connecting(std::vector<sockaddr_storage> fallbacks, bool answer_open);
  // The transport's queue drained: read again.
  void resume();

  void on_open_confirmed() override;
  void on_open_failed(uint32_t reason, std::string_view description) override;
  void on_data(std::span<const uint8_t> data) override;
  void on_eof() override;
  void on_closed() override;
  void on_send_room() override;

 private:
  void on_events(uint32_t events);
  void finish_connect();
  bool try_next_address();
  void read_socket();
  void write_pending();
  void update_watch();
  void maybe_close();
  void give_up(int error);
  void write_failed();
  void shut_write();
  void done();

  Context ctx_;
  sys::Fd socket_;
  std::string label_;
  std::function<void(StreamRelay*)> on_done_;
  FdWatch watch_;
  std::vector<sockaddr_storage> fallbacks_;
  bool connect_pending_ = false;
  bool answer_open_ = false;      // a deferred open waits for the connect
  bool open_ = false;             // the channel is open
  bool paused_for_peer_ = false;  // the transport's queue is full
  bool read_eof_ = false;         // the socket said EOF (or failed): EOF sent
  bool eof_received_ = false;     // the peer's EOF
  bool write_done_ = false;       // shut down for writing, or writing failed
  bool closing_ = false;
  bool done_ = false;
  std::vector<uint8_t> pending_out_;  // for the socket, not yet written
};

// The relays of one connection (direct-tcpip and agent connections): owns
// them and deletes each once its channel is gone, from the loop, outside
// the Connection's callbacks.
class RelaySet {
 public:
  explicit RelaySet(sys::EventLoop& loop) : loop_(loop), alive_(std::make_shared<char>(0)) {}
  RelaySet(const RelaySet&) = delete;
  RelaySet& operator=(const RelaySet&) = delete;

  StreamRelay& make(StreamRelay::Context context, sys::Fd socket, std::string label);
  void resume_all();
  size_t size() const { return relays_.size(); }

 private:
  sys::EventLoop& loop_;
  std::shared_ptr<char> alive_;
  std::list<std::unique_ptr<StreamRelay>> relays_;
};

// "host:port", "[address]:port", with "*" for any host or any port, as
// PermitOpen and permitopen= take them ("any" and "none" are the caller's:
// SessionPolicy::permit_open nullopt and empty). kInvalidArgument with the
// reason otherwise.
key::Result<PermitOpen> parse_permit_open(std::string_view spec);

// Whether both PermitOpen and the key's permitopen= let host:port through
// (sshd's open_match: "*" or the exact host, kAnyPort or the exact port).
bool open_permitted(const SessionPolicy& policy, std::string_view host, uint32_t port);

// The decision on a direct-tcpip CHANNEL_OPEN (extra: host, port,
// originator address, originator port): refused with
// kOpenAdministrativelyProhibited when forwarding is off or the target is
// not permitted, kOpenConnectFailed with the resolver's or connect's reason
// when the target cannot be resolved or reached; otherwise a relay made in
// `relays`, the open confirmed at once when the connect finished at once,
// else deferred until it finishes. Name resolution blocks the loop (as
// sshd's does); the connect does not.
connection::IncomingChannel open_direct_tcpip(RelaySet& relays, StreamRelay::Context context,
                                              const SessionPolicy& policy, key::Reader& extra);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_DIRECT_TCPIP_H_
