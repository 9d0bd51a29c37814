// The SSH wire codec (RFC 4251 section 5): a bounded Reader over untrusted
// bytes and a Writer that builds messages.
//
// Reader owns nothing; the span it was given must outlive it and every span
// it returns. Every read is all-or-nothing: a failed read consumes nothing and
// returns kTruncated / kTooLarge / kMalformed. A nested field is read as a
// child Reader so the inner parser cannot run past it; expect_end() rejects
// trailing bytes.
#ifndef TESSERA_KEY_WIRE_H_
#define TESSERA_KEY_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::key {

using Bytes = std::vector<uint8_t>;

inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_text(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Largest mpint tessera accepts, in bytes of magnitude: 16384 bits, as OpenSSH.
inline constexpr size_t kMaxMpintBytes = 16384 / 8 + 1;
// Largest name-list, in bytes.
inline constexpr size_t kMaxNameListBytes = 64 * 1024;
// Most entries in a name-list.
inline constexpr size_t kMaxNameListEntries = 1024;

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  size_t remaining() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  std::span<const uint8_t> rest() const { return data_; }

  [[nodiscard]] Result<uint8_t> u8();
  [[nodiscard]] Result<bool> boolean();  // any non-zero byte is true (RFC 4251)
  [[nodiscard]] Result<uint32_t> u32();
  [[nodiscard]] Result<uint64_t> u64();
  // Exactly n raw bytes.
  [[nodiscard]] Result<std::span<const uint8_t>> bytes(size_t n);
  // A uint32-length-prefixed string.
  [[nodiscard]] Result<std::span<const uint8_t>> string();
  // A string holding text: rejects embedded NUL bytes (as OpenSSH's cstring reads do).
  [[nodiscard]] Result<std::string_view> text();
  // A string read as a nested Reader.
  [[nodiscard]] Result<Reader> child();
  // A non-negative mpint in canonical form (no needless leading zero, no
  // negative values). Returns the big-endian magnitude without padding; an
  // empty span means zero.
  [[nodiscard]] Result<std::span<const uint8_t>> mpint();
  // A comma-separated name-list (RFC 4251); empty string means an empty list.
  [[nodiscard]] Result<std::vector<std::string>> name_list();

  // kTrailingData unless everything was consumed.
  [[nodiscard]] Status expect_end() const;

 private:
  std::span<const uint8_t> data_;
};

class Writer {
 public:
  Writer() = default;

  void u8(uint8_t v) { buf_.push_back(v); }
  void boolean(bool v) { buf_.push_back(v ? 1 : 0); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void bytes(std::span<const uint8_t> data) { buf_.insert(buf_.end(), data.begin(), data.end()); }
  void string(std::span<const uint8_t> data);
  void string(std::string_view text) { string(as_bytes(text)); }
  void string(const Writer& nested) { string(nested.data()); }
  // Writes a non-negative big-endian magnitude (leading zeros allowed in the
  // input) as a canonical mpint.
  void mpint(std::span<const uint8_t> magnitude);
  void name_list(const std::vector<std::string>& names);

  std::span<const uint8_t> data() const { return buf_; }
  size_t size() const { return buf_.size(); }
  // Copies the contents out; use for public data.
  Bytes take() const { return Bytes(buf_.begin(), buf_.end()); }
  // Moves the contents out as a secret; the Writer is empty afterwards.
  SecretBytes take_secret() { return SecretBytes(std::move(buf_)); }

 private:
  // The buffer wipes itself, so a Writer may hold private key material.
  ZeroizingVector buf_;
};

}  // namespace tessera::key

#endif  // TESSERA_KEY_WIRE_H_
