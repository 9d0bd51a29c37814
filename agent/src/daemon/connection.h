// One client connection: its socket, peer credentials, session bindings,
// input framing and the queue that keeps answers in request order.
//
// Requests on a connection may be pipelined. Each request takes a slot when
// it is read; a slot is filled when its answer is ready (at once, or later
// for signatures), and answers leave strictly in slot order.
#ifndef TESSERA_AGENT_DAEMON_CONNECTION_H_
#define TESSERA_AGENT_DAEMON_CONNECTION_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <span>

#include "daemon/destination.h"
#include "daemon/peer.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/secret.h"
#include "tessera/sys/fd.h"

namespace tessera::agent::daemon {

// Most requests one connection may have waiting for answers before the agent
// stops reading from it (a client that never reads cannot make it buffer
// without bound).
inline constexpr size_t kMaxPendingRequests = 64;
// Most answer bytes buffered for a client that does not read them, before the
// agent stops reading its requests.
inline constexpr size_t kMaxBufferedOutputBytes = 4 * kMaxMessageBytes;
// Bytes read from a socket at a time.
inline constexpr size_t kReadChunkBytes = 16 * 1024;

class Connection {
 public:
  Connection(uint64_t id, int fd, PeerInfo peer) : id_(id), fd_(fd), peer_(std::move(peer)) {}
  ~Connection();  // closes the socket and wipes buffered input
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  int fd() const { return fd_.get(); }
  const PeerInfo& peer() const { return peer_; }
  ConnectionBindings& bindings() { return bindings_; }
  const ConnectionBindings& bindings() const { return bindings_; }

  enum class ReadStatus { kOpen, kEndOfInput, kError };
  // Reads what the socket has (non-blocking).
  ReadStatus read_available();

  enum class FrameStatus { kIncomplete, kReady, kBadLength };
  // Looks at the next buffered frame. kBadLength: zero or more than
  // kMaxMessageBytes, and the connection must be closed.
  FrameStatus peek_frame(std::span<const uint8_t>* payload) const;
  // Drops the frame peek_frame() returned. Consumed bytes are wiped (they may
  // hold a private key being added).
  void consume_frame();

  // Takes the next slot for a request; returns its sequence number.
  uint64_t open_slot();
  // Fills a slot with an answer payload (unframed). Answers whose turn has
  // come move to the output buffer.
  void complete_slot(uint64_t sequence, Bytes payload);
  size_t pending_slots() const { return slots_.size(); }
  // Whether another request may be read: few enough unanswered, and the
  // client is reading its answers.
  bool can_take_requests() const {
    return slots_.size() < kMaxPendingRequests && output_.size() - output_offset_ < kMaxBufferedOutputBytes;
  }

  enum class WriteStatus { kDone, kBlocked, kError };
  // Writes buffered answers (non-blocking).
  WriteStatus write_pending();
  bool has_output() const { return output_offset_ < output_.size(); }

  // Input flow control and half-close, tracked for the agent's event mask.
  bool reading_paused = false;
  bool input_closed = false;
  uint32_t watched_events = 0;

 private:
  struct Slot {
    uint64_t sequence;
    std::optional<Bytes> answer;
  };

  uint64_t id_;
  sys::Fd fd_;
  PeerInfo peer_;
  ConnectionBindings bindings_;

  key::ZeroizingVector input_;
  size_t input_offset_ = 0;  // start of the first unconsumed byte
  Bytes output_;
  size_t output_offset_ = 0;
  std::deque<Slot> slots_;
  uint64_t next_sequence_ = 0;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_CONNECTION_H_
