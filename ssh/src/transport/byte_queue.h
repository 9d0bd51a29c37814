// A FIFO of bytes for connection input and output: append at the back,
// consume from the front, contiguous so that a packet can be decrypted in
// place. Space at the front is reclaimed when it outgrows what is queued.
#ifndef TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_
#define TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <utility>
#include <vector>

#include "tessera/key/secret.h"

namespace tessera::ssh::transport {

// key::ZeroizingAllocator whose vectors leave the bytes a resize adds
// uninitialised: extend() hands them to a caller that writes every one, so
// zero-filling them first would be a wasted pass over each packet.
template <typename T>
struct ZeroizingUninitAllocator : key::ZeroizingAllocator<T> {
  template <typename U>
  struct rebind {
    using other = ZeroizingUninitAllocator<U>;
  };
  ZeroizingUninitAllocator() noexcept = default;
  template <typename U>
  ZeroizingUninitAllocator(const ZeroizingUninitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

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
  std::vector<uint8_t, ZeroizingUninitAllocator<uint8_t>> data_;
  size_t start_ = 0;
};

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_BYTE_QUEUE_H_
