// A FIFO of bytes for connection input and output: append at the back,
// consume from the front, contiguous so that a packet can be decrypted in
// place. Space at the front is reclaimed when it outgrows what is queued.
#ifndef TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_
#define TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/key/secret.h"

namespace tessera::ssh::transport {

class ByteQueue {
 public:
  size_t size() const { return data_.size() - start_; }
  bool empty() const { return size() == 0; }
  std::span<const uint8_t> front() const { return {data_.data() + start_, size()}; }
  std::span<uint8_t> front_mutable() { return {data_.data() + start_, size()}; }

  void append(std::span<const uint8_t> bytes) {
    make_room(bytes.size());
    data_.insert(data_.end(), bytes.begin(), bytes.end());
  }
  // Grows the queue by n bytes and returns them for the caller to fill.
  std::span<uint8_t> extend(size_t n) {
    make_room(n);
    const size_t at = data_.size();
    data_.resize(at + n);
    return {data_.data() + at, n};
  }
  // Drops the last n bytes appended (n <= size()).
  void truncate_back(size_t n) { data_.resize(data_.size() - n); }
  void consume(size_t n) {
    start_ += n;
    if (start_ == data_.size()) {
      data_.clear();
      start_ = 0;
    }
  }
  void clear() {
    data_.clear();
    start_ = 0;
  }

 private:
  void make_room(size_t n) {
    // Move the live bytes down instead of growing when the dead front is
    // at least as large as what is queued and the new bytes would not fit.
    if (start_ > 0 && start_ >= size() && data_.size() + n > data_.capacity()) {
      data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(start_));
      start_ = 0;
    }
  }

  // Decrypted packets (passwords among them) pass through: wiped when freed.
  key::ZeroizingVector data_;
  size_t start_ = 0;
};

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_
