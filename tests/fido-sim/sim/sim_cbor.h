// CBOR for the simulated authenticator: a tiny canonical encoder for its
// replies (so that a test can also build deliberately broken ones), and thin
// helpers over libcbor for reading requests. Test-only code.
#ifndef TESSERA_TESTS_FIDO_SIM_SIM_CBOR_H_
#define TESSERA_TESTS_FIDO_SIM_SIM_CBOR_H_

#include <cbor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::fidosim {

using Bytes = std::vector<uint8_t>;

class CborWriter {
 public:
  CborWriter& uint(uint64_t v) { return head(0, v); }
  CborWriter& negative(int64_t v) { return head(1, static_cast<uint64_t>(-1 - v)); }  // v < 0
  CborWriter& integer(int64_t v) { return v < 0 ? negative(v) : uint(static_cast<uint64_t>(v)); }
  CborWriter& bytes(std::span<const uint8_t> b) {
    head(2, b.size());
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  CborWriter& text(std::string_view s) {
    head(3, s.size());
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  CborWriter& array(size_t n) { return head(4, n); }
  CborWriter& map(size_t n) { return head(5, n); }
  CborWriter& boolean(bool b) {
    out_.push_back(b ? 0xf5 : 0xf4);
    return *this;
  }
  // Appends an already encoded item.
  CborWriter& raw(std::span<const uint8_t> encoded) {
    out_.insert(out_.end(), encoded.begin(), encoded.end());
    return *this;
  }
  const Bytes& data() const { return out_; }
  Bytes take() { return std::move(out_); }

 private:
  CborWriter& head(uint8_t major, uint64_t v) {
    const uint8_t m = static_cast<uint8_t>(major << 5);
    if (v < 24) {
      out_.push_back(static_cast<uint8_t>(m | v));
    } else if (v <= 0xff) {
      out_.push_back(m | 24);
      out_.push_back(static_cast<uint8_t>(v));
    } else if (v <= 0xffff) {
      out_.push_back(m | 25);
      push_be(v, 2);
    } else if (v <= 0xffffffffu) {
      out_.push_back(m | 26);
      push_be(v, 4);
    } else {
      out_.push_back(m | 27);
      push_be(v, 8);
    }
    return *this;
  }
  void push_be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes out_;
};

struct CborItemDeleter {
  void operator()(cbor_item_t* item) const noexcept { cbor_decref(&item); }
};
using CborItem = std::unique_ptr<cbor_item_t, CborItemDeleter>;

// Parses exactly one item filling `data`; nullptr if it is not valid CBOR.
CborItem cbor_parse(std::span<const uint8_t> data);

// Map lookups; nullptr if absent or if `map` is not a map.
const cbor_item_t* map_get(const cbor_item_t* map, int64_t key);
const cbor_item_t* map_get(const cbor_item_t* map, std::string_view key);

std::optional<Bytes> get_bytes(const cbor_item_t* item);
std::optional<std::string> get_text(const cbor_item_t* item);
std::optional<int64_t> get_int(const cbor_item_t* item);
std::optional<bool> get_bool(const cbor_item_t* item);
// The item's encoding (for MACs over a request's parameters).
Bytes serialize(const cbor_item_t* item);

}  // namespace tessera::fidosim

#endif  // TESSERA_TESTS_FIDO_SIM_SIM_CBOR_H_
