// The groups a server offers in Diffie-Hellman group exchange (RFC 4419):
// the moduli(5) file (/etc/ssh/moduli, sshd_config's ModuliFile), the choice
// of one group for a client's request, and the fixed groups a server falls
// back on, all as OpenSSH 9.2's sshd does them (dh.c, kexgexs.c).
//
// A moduli line is
//   time type tests tries size generator modulus
// (decimal fields but the last two, which are hex). sshd uses only safe
// primes (type 2) whose tests do not say "composite" and name at least one
// other test, tried at least once; size is the modulus's bit length minus
// one. Other lines are skipped with a reason, blank lines and comments
// silently.
#ifndef TESSERA_SSH_TRANSPORT_MODULI_H_
#define TESSERA_SSH_TRANSPORT_MODULI_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::transport {

// One group: p and g as big-endian magnitudes (as mpints carry them).
struct DhGroup {
  unsigned bits = 0;  // of p
  key::Bytes p, g;
};

struct ModuliFile {
  std::vector<DhGroup> groups;
  // "line N: why", for each line that was not a usable group.
  std::vector<std::string> skipped;
};

// The largest modulus a moduli line may describe (OpenSSH: 64 Ki bits).
inline constexpr unsigned kModuliMaxBits = 64 * 1024;
// The group sizes sshd serves (DH_GRP_MIN, DH_GRP_MAX).
inline constexpr unsigned kDhGexServerMinBits = 2048;
inline constexpr unsigned kDhGexServerMaxBits = 8192;

// Parses the text of a moduli file. Never fails: bad lines are skipped.
ModuliFile parse_moduli(std::string_view text);
// Reads and parses a file (kIo when it cannot be read).
key::Result<ModuliFile> read_moduli_file(const std::string& path);

// OpenSSH's choice among groups of min..max bits: the smallest of at least
// `wanted` bits, else the largest below it; a random one among the groups
// of that size. nullopt: no group is in range. (sshd's loop depends on the
// file being sorted by size, as moduli files are; this does not.)
std::optional<size_t> choose_dh_group(std::span<const DhGroup> groups, unsigned min, unsigned wanted, unsigned max);

// The fixed group sshd falls back on when it has no suitable modulus:
// RFC 3526's 2048-bit group (group 14) when max < 3072, the 4096-bit one
// (group 16) when max < 6144, else the 8192-bit one (group 18); generator 2.
DhGroup fallback_dh_group(unsigned max);

// A client's KEX_DH_GEX_REQUEST (min, n, max as sent: they go into the
// exchange hash) and the range sshd serves it from: min and max clamped to
// 2048..8192 and n into that too.
struct GexRequest {
  uint32_t min = 0, n = 0, max = 0;
  unsigned serve_min = 0, serve_wanted = 0, serve_max = 0;
};
// Parses the payload (message number first). Fails with kMalformed on a
// bad message and kUnsupported on a range sshd refuses (max < min,
// n outside min..max, or max below 2048).
key::Result<GexRequest> parse_gex_request(std::span<const uint8_t> payload);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_MODULI_H_
