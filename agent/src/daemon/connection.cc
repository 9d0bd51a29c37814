#include "daemon/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tessera::agent::daemon {

namespace {
uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
}  // namespace

Connection::~Connection() {
  // fd_ closes the socket.
  // input_ wipes its storage when freed (ZeroizingAllocator), but bytes past
  // size() would not be: wipe the whole capacity explicitly.
  input_.resize(input_.capacity());
  key::secure_wipe(input_.data(), input_.size());
}

Connection::ReadStatus Connection::read_available() {
  // Compact first: move unconsumed bytes to the front and wipe what was consumed.
  if (input_offset_ > 0) {
    size_t rest = input_.size() - input_offset_;
    std::memmove(input_.data(), input_.data() + input_offset_, rest);
    key::secure_wipe(input_.data() + rest, input_offset_);
    input_.resize(rest);
    input_offset_ = 0;
  }
  // One chunk per call: the loop comes back while data remains (level-triggered).
  size_t old_size = input_.size();
  input_.resize(old_size + kReadChunkBytes);
  ssize_t n;
  do {
    n = ::recv(fd_.get(), input_.data() + old_size, kReadChunkBytes, 0);
  } while (n < 0 && errno == EINTR);
  input_.resize(old_size + (n > 0 ? static_cast<size_t>(n) : 0));
  if (n > 0) return ReadStatus::kOpen;
  if (n == 0) return ReadStatus::kEndOfInput;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadStatus::kOpen;
  return ReadStatus::kError;
}

Connection::FrameStatus Connection::peek_frame(std::span<const uint8_t>* payload) const {
  size_t available = input_.size() - input_offset_;
  if (available < 4) return FrameStatus::kIncomplete;
  const uint8_t* start = input_.data() + input_offset_;
  uint32_t length = load_be32(start);
  if (length == 0 || length > kMaxMessageBytes) return FrameStatus::kBadLength;
  if (available - 4 < length) return FrameStatus::kIncomplete;
  *payload = std::span<const uint8_t>(start + 4, length);
  return FrameStatus::kReady;
}

void Connection::consume_frame() {
  const uint8_t* start = input_.data() + input_offset_;
  size_t length = 4 + load_be32(start);
  key::secure_wipe(input_.data() + input_offset_, length);
  input_offset_ += length;
  if (input_offset_ == input_.size()) {
    input_.clear();
    input_offset_ = 0;
  }
}

uint64_t Connection::open_slot() {
  uint64_t sequence = next_sequence_++;
  slots_.push_back(Slot{sequence, std::nullopt});
  return sequence;
}

void Connection::complete_slot(uint64_t sequence, Bytes payload) {
  if (slots_.empty() || sequence < slots_.front().sequence) return;
  size_t index = static_cast<size_t>(sequence - slots_.front().sequence);
  if (index >= slots_.size() || slots_[index].answer) return;
  slots_[index].answer = std::move(payload);
  while (!slots_.empty() && slots_.front().answer) {
    Bytes framed = frame(*slots_.front().answer);
    if (output_offset_ == output_.size()) {
      output_.clear();
      output_offset_ = 0;
    }
    output_.insert(output_.end(), framed.begin(), framed.end());
    slots_.pop_front();
  }
}

Connection::WriteStatus Connection::write_pending() {
  while (output_offset_ < output_.size()) {
    ssize_t n = ::send(fd_.get(), output_.data() + output_offset_, output_.size() - output_offset_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteStatus::kBlocked;
      return WriteStatus::kError;
    }
    output_offset_ += static_cast<size_t>(n);
  }
  output_.clear();
  output_offset_ = 0;
  return WriteStatus::kDone;
}

}  // namespace tessera::agent::daemon
