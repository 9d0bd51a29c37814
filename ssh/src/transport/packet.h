// The binary packet protocol (RFC 4253 section 6): framing, padding,
// sequence numbers and the byte counts that drive re-keying, over a sealer
// and an opener (cipher.h) that change at each NEWKEYS.
#ifndef TESSERA_SSH_TRANSPORT_PACKET_H_
#define TESSERA_SSH_TRANSPORT_PACKET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "tessera/key/error.h"
#include "transport/byte_queue.h"
#include "transport/cipher.h"

namespace tessera::ssh::transport {

// Largest packet_length accepted or sent (OpenSSH's PACKET_MAX_SIZE).
inline constexpr size_t kMaxPacketLength = 256 * 1024;
// Largest payload sent: what fits in kMaxPacketLength with padding and room
// to spare (RFC 4253 requires 32768 at least; OpenSSH's channels send up to
// 32 KiB of data per packet by default and up to 256 KiB).
inline constexpr size_t kMaxPayloadLength = kMaxPacketLength - 1024;
inline constexpr size_t kMinPadding = 4;

// What one direction has moved since its keys were set.
struct TrafficCount {
  uint64_t packets = 0;
  uint64_t bytes = 0;   // packet bytes on the wire, tags included
  uint64_t blocks = 0;  // cipher blocks (bytes / block size), as OpenSSH counts for re-keying
};

// Outgoing packets.
class PacketWriter {
 public:
  PacketWriter();

  // Frames and seals payload onto the end of out. Returns the sequence
  // number used. payload must not be empty nor larger than kMaxPayloadLength
  // (our own code controls both: an invariant).
  uint32_t write(std::span<const uint8_t> payload, ByteQueue& out) { return write(payload, {}, out); }
  // The same for the payload head || body, gathered straight into out (a
  // channel data header and the data, without first joining them).
  uint32_t write(std::span<const uint8_t> head, std::span<const uint8_t> body, ByteQueue& out);

  // New keys from now on; the count starts again.
  void set_sealer(std::unique_ptr<PacketSealer> sealer);
  // Strict key exchange: the sequence number restarts at 0 after NEWKEYS.
  void reset_sequence() { seq_ = 0; }
  uint32_t next_sequence() const { return seq_; }
  // True once the sequence number has wrapped around since the last reset
  // (fatal during a strict initial key exchange).
  bool wrapped() const { return wrapped_; }
  const TrafficCount& count() const { return count_; }
  size_t block_bytes() const { return block_; }
  // Continues another process's writer: after set_sealer() with keys at
  // their position (advance_keys), its sequence number and count.
  void restore(uint32_t seq, bool wrapped, const TrafficCount& count) {
    seq_ = seq;
    wrapped_ = wrapped;
    count_ = count;
  }

 private:
  void refill_padding();

  std::unique_ptr<PacketSealer> sealer_;
  size_t block_ = 8;
  uint32_t seq_ = 0;
  bool wrapped_ = false;
  TrafficCount count_;
  uint8_t padding_pool_[256];
  size_t padding_used_ = sizeof(padding_pool_);
};

// One decrypted incoming packet. payload points into the reader's buffer
// and stays valid until the next call to PacketReader::read() or feed.
struct Packet {
  uint32_t seq;
  std::span<const uint8_t> payload;  // message number first; never empty
};

// Incoming packets.
class PacketReader {
 public:
  PacketReader();

  // The connection's bytes as they arrive.
  void feed(std::span<const uint8_t> bytes) { in_.append(bytes); }
  ByteQueue& input() { return in_; }

  // The next complete packet, std::nullopt when more bytes are needed.
  // Fails on a bad length or padding (kMalformed, kTooLarge) or a MAC that
  // does not verify (kBadSignature); after a failure the connection is
  // unusable.
  key::Result<std::optional<Packet>> read();

  void set_opener(std::unique_ptr<PacketOpener> opener);
  void reset_sequence() { seq_ = 0; }
  uint32_t next_sequence() const { return seq_; }
  bool wrapped() const { return wrapped_; }
  const TrafficCount& count() const { return count_; }
  size_t block_bytes() const { return block_; }
  // True while a packet's length has been read but the packet has not
  // (the opener may then have moved on).
  bool mid_packet() const { return length_.has_value(); }
  // Received bytes not yet read as packets.
  std::span<const uint8_t> unread() const { return in_.front().subspan(consumed_); }
  void restore(uint32_t seq, bool wrapped, const TrafficCount& count) {
    seq_ = seq;
    wrapped_ = wrapped;
    count_ = count;
  }

 private:
  std::unique_ptr<PacketOpener> opener_;
  size_t block_ = 8;
  ByteQueue in_;
  size_t consumed_ = 0;  // bytes of the last packet still at the front of in_
  std::optional<uint32_t> length_;  // packet_length of the packet being read
  uint32_t seq_ = 0;
  bool wrapped_ = false;
  TrafficCount count_;
};

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_PACKET_H_
