#include "transport/packet.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;

namespace {

void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

PacketWriter::PacketWriter() : sealer_(make_clear_sealer()) {}

void PacketWriter::set_sealer(std::unique_ptr<PacketSealer> sealer) {
  sealer_ = std::move(sealer);
  block_ = std::max<size_t>(8, sealer_->block_bytes());
  count_ = {};
}

void PacketWriter::refill_padding() {
  // Padding is encrypted along with the payload; random bytes keep it from
  // being a known plaintext. One RAND_bytes call serves many packets.
  if (RAND_bytes(padding_pool_, sizeof(padding_pool_)) != 1) std::abort();
  padding_used_ = 0;
}

uint32_t PacketWriter::write(std::span<const uint8_t> head, std::span<const uint8_t> body, ByteQueue& out) {
  const size_t payload_size = head.size() + body.size();
  if (head.empty() || payload_size > kMaxPayloadLength) std::abort();  // our own caller's bug
  const bool clear_length = sealer_->length_in_clear();
  const size_t aligned = (clear_length ? 0 : 4) + 1 + payload_size;
  size_t padding = block_ - aligned % block_;
  if (padding < kMinPadding) padding += block_;
  const size_t packet_length = 1 + payload_size + padding;
  const size_t tag_bytes = sealer_->tag_bytes();

  std::span<uint8_t> wire = out.extend(4 + packet_length + tag_bytes);
  uint8_t* p = wire.data();
  put_u32(p, static_cast<uint32_t>(packet_length));
  p[4] = static_cast<uint8_t>(padding);
  std::memcpy(p + 5, head.data(), head.size());
  if (!body.empty()) std::memcpy(p + 5 + head.size(), body.data(), body.size());
  if (padding_used_ + padding > sizeof(padding_pool_)) refill_padding();
  std::memcpy(p + 5 + payload_size, padding_pool_ + padding_used_, padding);
  padding_used_ += padding;

  const uint32_t seq = seq_;
  sealer_->seal(seq, wire.first(4 + packet_length), wire.subspan(4 + packet_length, tag_bytes));
  if (++seq_ == 0) wrapped_ = true;
  count_.packets++;
  count_.bytes += wire.size();
  count_.blocks += (4 + packet_length) / block_;
  return seq;
}

PacketReader::PacketReader() : opener_(make_clear_opener()) {}

void PacketReader::set_opener(std::unique_ptr<PacketOpener> opener) {
  opener_ = std::move(opener);
  block_ = std::max<size_t>(8, opener_->block_bytes());
  count_ = {};
}

key::Result<std::optional<Packet>> PacketReader::read() {
  in_.consume(consumed_);
  consumed_ = 0;
  std::span<uint8_t> buf = in_.front_mutable();
  if (!length_) {
    const size_t head = opener_->head_bytes();
    if (buf.size() < head) return std::optional<Packet>();
    TESSERA_ASSIGN_OR_RETURN(const uint32_t length, opener_->packet_length(seq_, buf.first(head)));
    const bool clear_length = opener_->length_in_clear();
    if (length > kMaxPacketLength) {
      return Error(Errc::kTooLarge, "packet length " + std::to_string(length) + " is larger than " +
                                        std::to_string(kMaxPacketLength));
    }
    if (length < 1 + kMinPadding + 1 || ((clear_length ? 0 : 4) + length) % block_ != 0) {
      return Error(Errc::kMalformed, "packet length " + std::to_string(length) + " is not a whole number of " +
                                         std::to_string(block_) + "-byte blocks");
    }
    length_ = length;
  }
  const size_t length = *length_;
  const size_t tag_bytes = opener_->tag_bytes();
  if (buf.size() < 4 + length + tag_bytes) return std::optional<Packet>();

  std::span<uint8_t> packet = buf.first(4 + length);
  TESSERA_TRY(opener_->open(seq_, packet, buf.subspan(4 + length, tag_bytes)));
  length_.reset();
  const size_t padding = packet[4];
  if (get_u32(packet.data()) != length || padding < kMinPadding || padding + 1 >= length) {
    return Error(Errc::kMalformed, "packet has " + std::to_string(padding) + " bytes of padding in " +
                                       std::to_string(length));
  }
  consumed_ = 4 + length + tag_bytes;
  count_.packets++;
  count_.bytes += consumed_;
  count_.blocks += (4 + length) / block_;
  const Packet out{seq_, packet.subspan(5, length - 1 - padding)};
  if (++seq_ == 0) wrapped_ = true;
  return std::optional<Packet>(out);
}

}  // namespace tessera::ssh::transport
