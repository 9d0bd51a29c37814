#include "sim_cbor.h"

#include <cstdlib>

namespace tessera::fidosim {

CborItem cbor_parse(std::span<const uint8_t> data) {
  if (data.empty()) return nullptr;
  cbor_load_result result{};
  CborItem item(cbor_load(data.data(), data.size(), &result));
  if (item == nullptr || result.error.code != CBOR_ERR_NONE || result.read != data.size()) return nullptr;
  return item;
}

const cbor_item_t* map_get(const cbor_item_t* map, int64_t key) {
  if (map == nullptr || !cbor_isa_map(map)) return nullptr;
  const cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    if (auto k = get_int(pairs[i].key); k && *k == key) return pairs[i].value;
  }
  return nullptr;
}

const cbor_item_t* map_get(const cbor_item_t* map, std::string_view key) {
  if (map == nullptr || !cbor_isa_map(map)) return nullptr;
  const cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    if (auto k = get_text(pairs[i].key); k && *k == key) return pairs[i].value;
  }
  return nullptr;
}

std::optional<Bytes> get_bytes(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) return std::nullopt;
  const uint8_t* p = cbor_bytestring_handle(item);
  const size_t n = cbor_bytestring_length(item);
  return Bytes(p, p + n);
}

std::optional<std::string> get_text(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_string(item) || !cbor_string_is_definite(item)) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item));
}

std::optional<int64_t> get_int(const cbor_item_t* item) {
  if (item == nullptr) return std::nullopt;
  if (cbor_isa_uint(item)) {
    const uint64_t v = cbor_get_int(item);
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (cbor_isa_negint(item)) {
    const uint64_t v = cbor_get_int(item);
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return -1 - static_cast<int64_t>(v);
  }
  return std::nullopt;
}

std::optional<bool> get_bool(const cbor_item_t* item) {
  if (item == nullptr || !cbor_isa_float_ctrl(item) || !cbor_is_bool(item)) return std::nullopt;
  return cbor_get_bool(item);
}

Bytes serialize(const cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t size = 0;
  const size_t n = cbor_serialize_alloc(item, &buf, &size);
  Bytes out(buf, buf + n);
  std::free(buf);
  return out;
}

}  // namespace tessera::fidosim
