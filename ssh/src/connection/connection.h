// The SSH connection protocol (RFC 4254): channels with flow control,
// channel requests and global requests, as a state machine over a
// Transport. Each channel has a ChannelHandler that hears what the peer
// says on it; the handler tells the Connection when it has disposed of
// received data so that the window can be opened again (flow control that
// reaches all the way to the terminal or socket the data goes to).
#ifndef TESSERA_SSH_CONNECTION_CONNECTION_H_
#define TESSERA_SSH_CONNECTION_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"
#include "transport/transport.h"

namespace tessera::ssh::connection {

// A session channel's window and largest data packet, as OpenSSH's
// CHAN_SES_WINDOW_DEFAULT and CHAN_SES_PACKET_DEFAULT.
inline constexpr uint32_t kSessionWindow = 2 * 1024 * 1024;
inline constexpr uint32_t kSessionMaxPacket = 32 * 1024;
// Forwarded TCP and agent channels (OpenSSH's CHAN_TCP_* defaults).
inline constexpr uint32_t kTcpWindow = 2 * 1024 * 1024;
inline constexpr uint32_t kTcpMaxPacket = 32 * 1024;
// Largest max-packet we honour from a peer, and most channels at once.
inline constexpr uint32_t kMaxPeerPacket = 256 * 1024;
inline constexpr size_t kMaxChannels = 10000;

inline constexpr uint32_t kExtendedDataStderr = 1;

// Reasons of CHANNEL_OPEN_FAILURE (RFC 4254 section 5.1).
inline constexpr uint32_t kOpenAdministrativelyProhibited = 1;
inline constexpr uint32_t kOpenConnectFailed = 2;
inline constexpr uint32_t kOpenUnknownChannelType = 3;
inline constexpr uint32_t kOpenResourceShortage = 4;

class ChannelHandler {
 public:
  virtual ~ChannelHandler() = default;
  virtual void on_open_confirmed() {}
  virtual void on_open_failed(uint32_t /*reason*/, std::string_view /*description*/) {}
  // Data from the peer. Call Connection::consumed() once it has gone where
  // it goes, or the peer stops when the window is spent.
  virtual void on_data(std::span<const uint8_t> data) = 0;
  virtual void on_extended_data(uint32_t /*type*/, std::span<const uint8_t> /*data*/) {}
  virtual void on_eof() {}
  // The channel is closed both ways and forgotten; the handler may go.
  virtual void on_closed() {}
  // A channel request from the peer; the return value is the reply (when
  // one is wanted).
  virtual bool on_request(std::string_view /*type*/, key::Reader& /*data*/) { return false; }
  // The reply to our request that wanted one, in the order sent.
  virtual void on_request_reply(bool /*success*/) {}
  // The peer's window opened: more can be sent.
  virtual void on_send_room() {}

  // Our number for the channel (set before any callback).
  uint32_t channel_id() const { return channel_id_; }

 private:
  friend class Connection;
  uint32_t channel_id_ = 0;
};

// What to do with a channel the peer opens.
struct IncomingChannel {
  ChannelHandler* handler = nullptr;  // nullptr: refuse
  uint32_t reason = kOpenAdministrativelyProhibited;
  std::string description = "open failed";
  uint32_t window = kTcpWindow;
  uint32_t max_packet = kTcpMaxPacket;
  // With a handler: nothing is answered yet; the handler's owner answers
  // later with confirm_open() or refuse_open() (a connect that has to finish
  // first). Until then the channel cannot carry anything.
  bool defer = false;
};

class Connection {
 public:
  explicit Connection(transport::Transport& transport) : transport_(transport) {}

  // Opens a channel of `type` with type-specific data `extra`. Returns our
  // channel number; the handler hears on_open_confirmed or on_open_failed.
  uint32_t open(std::string_view type, std::span<const uint8_t> extra, ChannelHandler& handler,
                uint32_t window = kSessionWindow, uint32_t max_packet = kSessionMaxPacket);

  // Sends as much of data as the peer's window allows, in packets of its
  // max-packet size. Returns the bytes taken (0 when the window is shut or
  // the channel is not open yet).
  size_t send_data(uint32_t id, std::span<const uint8_t> data);
  size_t send_extended_data(uint32_t id, uint32_t type, std::span<const uint8_t> data);
  // Bytes the peer's window allows now.
  size_t send_room(uint32_t id) const;
  void send_eof(uint32_t id);
  // Sends CLOSE; the channel is forgotten when the peer's CLOSE arrives.
  // On a deferred open not answered yet: refuses it (kOpenConnectFailed).
  void close(uint32_t id);
  // Answers a deferred open: the confirmation (the handler hears
  // on_open_confirmed), or the failure (the channel is forgotten at once,
  // and the handler hears nothing more). No-ops for any other channel.
  void confirm_open(uint32_t id);
  void refuse_open(uint32_t id, uint32_t reason, std::string_view description);
  void send_request(uint32_t id, std::string_view type, bool want_reply, std::span<const uint8_t> extra = {});
  // The handler has disposed of n bytes of received data.
  void consumed(uint32_t id, size_t n);
  void send_global_request(std::string_view name, bool want_reply, std::span<const uint8_t> extra = {});

  // Channels the peer opens (forwarded agent, ...): the decision, by type.
  std::function<IncomingChannel(std::string_view type, key::Reader& extra)> on_open_request;
  // Global requests from the peer: nullopt refuses; a value succeeds, with
  // those bytes after REQUEST_SUCCESS (hostkeys-prove-00@openssh.com's
  // signatures). Unset: every request is refused (hostkeys-00@openssh.com,
  // keepalives).
  std::function<std::optional<key::Bytes>(std::string_view name, key::Reader& data)> on_global_request;
  // Replies to our global requests that wanted one, in order.
  std::function<void(bool success)> on_global_reply;

  // A message from the transport (numbers 80-127). Fails when the peer
  // breaks the protocol (unknown channel, data beyond the window, ...).
  key::Status on_message(std::span<const uint8_t> payload);

  size_t channel_count() const { return channels_.size(); }
  bool is_open(uint32_t id) const;

 private:
  struct Channel {
    ChannelHandler* handler;
    uint32_t remote_id = 0;
    bool confirmed = false;
    bool awaiting_our_answer = false;  // the peer's open, deferred
    uint32_t local_window;       // what the peer may still send us
    uint32_t local_window_max;
    uint32_t local_max_packet;
    uint64_t local_consumed = 0;  // disposed of since our last WINDOW_ADJUST
    uint64_t remote_window = 0;   // what we may still send
    uint32_t remote_max_packet = 0;
    bool eof_sent = false, eof_received = false;
    bool close_sent = false, close_received = false;
    size_t replies_pending = 0;
  };

  Channel* find(uint32_t id);
  const Channel* find(uint32_t id) const;
  key::Result<Channel*> recipient(key::Reader& in, std::string_view what);
  size_t send_chunks(uint32_t id, std::optional<uint32_t> extended_type, std::span<const uint8_t> data);
  void maybe_forget(uint32_t id);
  void send_open_failure(uint32_t sender, uint32_t reason, std::string_view description);
  key::Status on_channel_open(key::Reader& in);

  transport::Transport& transport_;
  std::map<uint32_t, Channel> channels_;
  uint32_t next_id_ = 0;
};

}  // namespace tessera::ssh::connection

#endif  // TESSERA_SSH_CONNECTION_CONNECTION_H_
