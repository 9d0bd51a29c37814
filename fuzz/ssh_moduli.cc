// Fuzzes the moduli(5) parser and the group choice (ssh/src/transport/
// moduli.h): what tessera-sshd's monitor reads from ModuliFile at each group
// exchange. Bad lines must be skipped with a reason, never crash; every group
// kept must be what the line said (p of the listed size plus one, 1 < g < p-1);
// the chosen group must be in the asked range; and a GEX request parsed from
// the input's first 13 bytes must be clamped to 2048..8192.
#include <openssl/bn.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "tessera/key/ossl.h"
#include "transport/moduli.h"

using namespace tessera::ssh::transport;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  if (auto request = parse_gex_request(input.first(std::min<size_t>(size, 13))); request.ok()) {
    if (request->serve_min < kDhGexServerMinBits || request->serve_max > kDhGexServerMaxBits ||
        request->serve_wanted < kDhGexServerMinBits || request->serve_wanted > kDhGexServerMaxBits ||
        request->min > request->n || request->n > request->max) {
      __builtin_trap();
    }
  }
  const ModuliFile m = parse_moduli(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const DhGroup& g : m.groups) {
    tessera::key::ossl::BnPtr p(BN_bin2bn(g.p.data(), static_cast<int>(g.p.size()), nullptr));
    tessera::key::ossl::BnPtr gen(BN_bin2bn(g.g.data(), static_cast<int>(g.g.size()), nullptr));
    if (!p || !gen) return 0;
    if (BN_num_bits(p.get()) != static_cast<int>(g.bits) || g.bits < 2 || g.bits > kModuliMaxBits + 1) __builtin_trap();
    if (!BN_is_odd(p.get()) || BN_cmp(gen.get(), BN_value_one()) <= 0 || BN_cmp(gen.get(), p.get()) >= 0) {
      __builtin_trap();
    }
  }
  for (const std::string& reason : m.skipped) {
    if (reason.rfind("line ", 0) != 0) __builtin_trap();
  }
  const unsigned wanted = size > 0 ? 1024u + 32u * data[0] : 2048;
  for (const auto& [min, max] : {std::pair{0u, 1u << 20}, std::pair{2048u, 8192u}, std::pair{wanted, wanted}}) {
    if (auto i = choose_dh_group(m.groups, min, wanted, max)) {
      if (*i >= m.groups.size() || m.groups[*i].bits < min || m.groups[*i].bits > max) __builtin_trap();
    }
  }
  return 0;
}
