// SecretBytes: the only container for private key material, passphrases and
// PINs. Move-only, zeroized when destroyed or when its storage grows, compared
// in constant time, and never printed. Reading the bytes goes through
// reveal(), so every use of a secret can be found with grep.
#ifndef TESSERA_KEY_SECRET_H_
#define TESSERA_KEY_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace tessera::key {

// Overwrites memory in a way the optimiser may not remove.
void secure_wipe(void* data, size_t len);

// An allocator that wipes memory before returning it, so that a vector's old
// buffer is cleared when the vector grows.
template <typename T>
struct ZeroizingAllocator {
  using value_type = T;
  ZeroizingAllocator() noexcept = default;
  template <typename U>
  ZeroizingAllocator(const ZeroizingAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const ZeroizingAllocator<U>&) const noexcept { return true; }
};

using ZeroizingVector = std::vector<uint8_t, ZeroizingAllocator<uint8_t>>;

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : bytes_(size) {}
  static SecretBytes copy_of(std::span<const uint8_t> data) {
    SecretBytes s;
    s.bytes_.assign(data.begin(), data.end());
    return s;
  }
  static SecretBytes copy_of(std::string_view text) {
    return copy_of(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  explicit SecretBytes(ZeroizingVector&& bytes) : bytes_(std::move(bytes)) {}

  SecretBytes(SecretBytes&&) noexcept = default;
  SecretBytes& operator=(SecretBytes&&) noexcept = default;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // Explicit copy, for the rare place that must hold a secret twice.
  SecretBytes clone() const { return copy_of(reveal()); }

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  void clear() { bytes_.clear(); }
  void resize(size_t n) { bytes_.resize(n); }
  void append(std::span<const uint8_t> more) { bytes_.insert(bytes_.end(), more.begin(), more.end()); }

  // The only way to read the secret. Keep the span's use short.
  std::span<const uint8_t> reveal() const { return bytes_; }
  std::span<uint8_t> reveal_mutable() { return bytes_; }
  std::string_view reveal_text() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

  // Constant-time in the contents (the length is not secret).
  bool equals(const SecretBytes& other) const;

 private:
  ZeroizingVector bytes_;
};

}  // namespace tessera::key

#endif  // TESSERA_KEY_SECRET_H_
