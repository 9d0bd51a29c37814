#include "tessera/key/wire.h"

#include <cstring>

namespace tessera::key {

Result<uint8_t> Reader::u8() {
  if (data_.empty()) return Error(Errc::kTruncated, "expected a byte, input ended");
  uint8_t v = data_[0];
  data_ = data_.subspan(1);
  return v;
}

Result<bool> Reader::boolean() {
  TESSERA_ASSIGN_OR_RETURN(uint8_t v, u8());
  return v != 0;
}

Result<uint32_t> Reader::u32() {
  if (data_.size() < 4) return Error(Errc::kTruncated, "expected a uint32, input ended");
  uint32_t v = (uint32_t{data_[0]} << 24) | (uint32_t{data_[1]} << 16) |
               (uint32_t{data_[2]} << 8) | uint32_t{data_[3]};
  data_ = data_.subspan(4);
  return v;
}

Result<uint64_t> Reader::u64() {
  if (data_.size() < 8) return Error(Errc::kTruncated, "expected a uint64, input ended");
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | data_[i];
  data_ = data_.subspan(8);
  return v;
}

Result<std::span<const uint8_t>> Reader::bytes(size_t n) {
  if (data_.size() < n) return Error(Errc::kTruncated, "field runs past the end of its input");
  auto out = data_.first(n);
  data_ = data_.subspan(n);
  return out;
}

Result<std::span<const uint8_t>> Reader::string() {
  Reader probe = *this;
  TESSERA_ASSIGN_OR_RETURN(uint32_t len, probe.u32());
  if (probe.remaining() < len) {
    return Error(Errc::kTruncated, "string length " + std::to_string(len) + " exceeds the " +
                                       std::to_string(probe.remaining()) + " bytes left");
  }
  auto out = probe.data_.first(len);
  probe.data_ = probe.data_.subspan(len);
  *this = probe;
  return out;
}

Result<std::string_view> Reader::text() {
  Reader probe = *this;
  TESSERA_ASSIGN_OR_RETURN(auto s, probe.string());
  if (std::memchr(s.data(), 0, s.size()) != nullptr) {
    return Error(Errc::kMalformed, "text field contains a NUL byte");
  }
  *this = probe;
  return as_text(s);
}

Result<Reader> Reader::child() {
  TESSERA_ASSIGN_OR_RETURN(auto s, string());
  return Reader(s);
}

Result<std::span<const uint8_t>> Reader::mpint() {
  Reader probe = *this;
  TESSERA_ASSIGN_OR_RETURN(auto s, probe.string());
  if (s.size() > kMaxMpintBytes) return Error(Errc::kTooLarge, "mpint larger than 16384 bits");
  if (!s.empty() && (s[0] & 0x80) != 0) return Error(Errc::kMalformed, "negative mpint");
  if (s.size() >= 2 && s[0] == 0 && (s[1] & 0x80) == 0) {
    return Error(Errc::kMalformed, "mpint has a needless leading zero byte");
  }
  if (s.size() == 1 && s[0] == 0) return Error(Errc::kMalformed, "zero mpint must be empty");
  if (!s.empty() && s[0] == 0) s = s.subspan(1);
  *this = probe;
  return s;
}

Result<std::vector<std::string>> Reader::name_list() {
  Reader probe = *this;
  TESSERA_ASSIGN_OR_RETURN(auto s, probe.text());
  if (s.size() > kMaxNameListBytes) return Error(Errc::kTooLarge, "name-list too long");
  std::vector<std::string> names;
  if (!s.empty()) {
    size_t start = 0;
    while (true) {
      size_t comma = s.find(',', start);
      std::string_view name = s.substr(start, comma == std::string_view::npos ? s.npos : comma - start);
      if (name.empty()) return Error(Errc::kMalformed, "empty name in name-list");
      if (names.size() == kMaxNameListEntries) return Error(Errc::kTooLarge, "too many names in name-list");
      names.emplace_back(name);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  *this = probe;
  return names;
}

Status Reader::expect_end() const {
  if (!data_.empty()) {
    return Error(Errc::kTrailingData, std::to_string(data_.size()) + " unexpected trailing bytes");
  }
  return {};
}

void Writer::u32(uint32_t v) {
  uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  bytes(b);
}

void Writer::u64(uint64_t v) {
  u32(uint32_t(v >> 32));
  u32(uint32_t(v));
}

void Writer::string(std::span<const uint8_t> data) {
  u32(static_cast<uint32_t>(data.size()));
  bytes(data);
}

void Writer::mpint(std::span<const uint8_t> magnitude) {
  while (!magnitude.empty() && magnitude[0] == 0) magnitude = magnitude.subspan(1);
  bool pad = !magnitude.empty() && (magnitude[0] & 0x80) != 0;
  u32(static_cast<uint32_t>(magnitude.size() + (pad ? 1 : 0)));
  if (pad) u8(0);
  bytes(magnitude);
}

void Writer::name_list(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& n : names) {
    if (!joined.empty()) joined += ',';
    joined += n;
  }
  string(joined);
}

}  // namespace tessera::key
