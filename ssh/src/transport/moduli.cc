#include "transport/moduli.h"

#include <openssl/bn.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>

#include "tessera/key/ossl.h"
#include "tessera/sys/file.h"
#include "transport/messages.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

// moduli(5)'s type and test flags.
constexpr uint64_t kTypeSafe = 2;
constexpr uint64_t kTestsComposite = 0x01;
constexpr uint64_t kMaxTests = 0x1f;
constexpr uint64_t kMaxTries = uint64_t{1} << 30;
// A moduli file larger than this is not one.
constexpr size_t kMaxModuliFileBytes = 16 * 1024 * 1024;

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// A decimal number of at most `max` (as strtonum: no sign, no junk).
std::optional<uint64_t> decimal(std::string_view text, uint64_t max) {
  uint64_t value = 0;
  if (text.empty() || text.size() > 20) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

bool is_hex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

ossl::BnPtr bn_from_hex(std::string_view text) {
  const std::string copy(text);
  BIGNUM* bn = nullptr;
  if (BN_hex2bn(&bn, copy.c_str()) != static_cast<int>(copy.size())) {
    BN_free(bn);
    return nullptr;
  }
  return ossl::BnPtr(bn);
}

key::Bytes magnitude(const BIGNUM* n) {
  key::Bytes out(static_cast<size_t>(BN_num_bytes(n)));
  BN_bn2bin(n, out.data());
  return out;
}

// One line: a group, or why it is not one (an empty reason: a comment or
// a blank line).
struct LineResult {
  std::optional<DhGroup> group;
  std::string reason;
};

LineResult parse_line(std::string_view line) {
  const std::vector<std::string_view> f = fields_of(line);
  if (f.empty() || f[0][0] == '#') return {};
  if (f.size() != 7) {
    return {std::nullopt, "expected 7 fields (time type tests tries size generator modulus), found " +
                              std::to_string(f.size())};
  }
  const auto type = decimal(f[1], 5);
  if (!type || *type != kTypeSafe) return {std::nullopt, "type is not 2 (a safe prime)"};
  const auto tests = decimal(f[2], kMaxTests);
  if (!tests || (*tests & kTestsComposite) != 0 || (*tests & ~kTestsComposite) == 0) {
    return {std::nullopt, "invalid tests flags (composite, untested or not a number)"};
  }
  const auto tries = decimal(f[3], kMaxTries);
  if (!tries || *tries == 0) return {std::nullopt, "invalid primality trial count"};
  const auto size = decimal(f[4], kModuliMaxBits);
  if (!size || *size == 0) return {std::nullopt, "invalid prime length"};
  const unsigned bits = static_cast<unsigned>(*size) + 1;  // the size field is one bit short
  // Leading zeros aside, the modulus has bits/4 hex digits: refuse far
  // longer fields before converting them.
  if (!is_hex(f[5]) || f[5].size() > f[6].size()) return {std::nullopt, "could not parse generator value"};
  if (!is_hex(f[6]) || f[6].size() > kModuliMaxBits / 4 + 64) return {std::nullopt, "could not parse prime value"};
  ossl::BnPtr g = bn_from_hex(f[5]);
  ossl::BnPtr p = bn_from_hex(f[6]);
  if (!g) return {std::nullopt, "could not parse generator value"};
  if (!p) return {std::nullopt, "could not parse prime value"};
  const int actual = BN_num_bits(p.get());
  if (actual != static_cast<int>(bits)) {
    return {std::nullopt, "prime has wrong size: actual " + std::to_string(actual) + " listed " +
                              std::to_string(*size)};
  }
  if (!BN_is_odd(p.get())) return {std::nullopt, "prime is even"};
  ossl::BnPtr p_minus_1(BN_dup(p.get()));
  if (!p_minus_1 || BN_sub_word(p_minus_1.get(), 1) != 1) return {std::nullopt, "out of memory"};
  if (BN_cmp(g.get(), BN_value_one()) <= 0 || BN_cmp(g.get(), p_minus_1.get()) >= 0) {
    return {std::nullopt, "generator is invalid"};
  }
  return {DhGroup{bits, magnitude(p.get()), magnitude(g.get())}, {}};
}

uint32_t random_below(uint32_t n) {
  if (n <= 1) return 0;
  const uint32_t limit = UINT32_MAX - UINT32_MAX % n;  // no modulo bias
  for (;;) {
    uint32_t r = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r) != 1) return 0;
    if (r < limit) return r % n;
  }
}

}  // namespace

ModuliFile parse_moduli(std::string_view text) {
  ModuliFile out;
  size_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    LineResult r = parse_line(line);
    if (r.group) {
      out.groups.push_back(std::move(*r.group));
    } else if (!r.reason.empty()) {
      out.skipped.push_back("line " + std::to_string(number) + ": " + r.reason);
    }
  }
  return out;
}

key::Result<ModuliFile> read_moduli_file(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::string text, sys::read_file(path, kMaxModuliFileBytes));
  return parse_moduli(text);
}

std::optional<size_t> choose_dh_group(std::span<const DhGroup> groups, unsigned min, unsigned wanted, unsigned max) {
  // The smallest size of at least `wanted` bits, else the largest below.
  // (OpenSSH's loop gives this for a file sorted by size, as moduli files
  // are; this does not depend on the order.)
  std::optional<unsigned> above, below;
  for (const DhGroup& g : groups) {
    if (g.bits < min || g.bits > max) continue;
    if (g.bits >= wanted) {
      above = std::min(above.value_or(g.bits), g.bits);
    } else {
      below = std::max(below.value_or(g.bits), g.bits);
    }
  }
  if (!above && !below) return std::nullopt;
  const unsigned best = above ? *above : *below;
  uint32_t count = 0;
  for (const DhGroup& g : groups) count += g.bits == best ? 1 : 0;
  uint32_t which = random_below(count);
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].bits != best) continue;
    if (which-- == 0) return i;
  }
  return std::nullopt;  // unreachable
}

DhGroup fallback_dh_group(unsigned max) {
  BIGNUM* (*prime)(BIGNUM*) = max < 3072   ? BN_get_rfc3526_prime_2048
                              : max < 6144 ? BN_get_rfc3526_prime_4096
                                           : BN_get_rfc3526_prime_8192;
  ossl::BnPtr p(prime(nullptr));
  DhGroup out;
  if (!p) return out;  // out of memory: an empty group, refused by the caller
  out.bits = static_cast<unsigned>(BN_num_bits(p.get()));
  out.p = magnitude(p.get());
  out.g = {2};
  return out;
}

key::Result<GexRequest> parse_gex_request(std::span<const uint8_t> payload) {
  key::Reader in(payload);
  GexRequest r;
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  if (type != msg::kKexDhGexRequest) {
    return Error(Errc::kMalformed, "expected a DH GEX request, got message " + std::to_string(type));
  }
  TESSERA_ASSIGN_OR_RETURN(r.min, in.u32());
  TESSERA_ASSIGN_OR_RETURN(r.n, in.u32());
  TESSERA_ASSIGN_OR_RETURN(r.max, in.u32());
  if (!in.expect_end().ok()) return Error(Errc::kMalformed, "trailing data in DH GEX request");
  if (r.max < r.min || r.n < r.min || r.max < r.n || r.max < kDhGexServerMinBits) {
    return Error(Errc::kUnsupported, "DH GEX group out of range: min " + std::to_string(r.min) + " n " +
                                         std::to_string(r.n) + " max " + std::to_string(r.max));
  }
  r.serve_min = std::max<unsigned>(kDhGexServerMinBits, r.min);
  r.serve_max = std::min<unsigned>(kDhGexServerMaxBits, r.max);
  r.serve_wanted = std::clamp<unsigned>(r.n, kDhGexServerMinBits, kDhGexServerMaxBits);
  return r;
}

}  // namespace tessera::ssh::transport
