// Fuzzes the protocol version exchange (ssh/src/transport/version.h). The
// first byte picks the role (bit 0: the peer is a server, so banner lines
// may come first) and, with the second, where the rest is split in two. The
// rest is fed to one VersionReader whole and to another in two pieces; both
// must agree on the bytes consumed, on success and on what they read, and
// a reader never consumes past the identification line.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "transport/version.h"

using namespace tessera::ssh::transport;

namespace {

struct Outcome {
  bool ok = true;
  size_t used = 0;
  bool done = false;
};

Outcome feed_all(VersionReader& reader, std::span<const uint8_t> bytes, size_t split) {
  Outcome out;
  for (std::span<const uint8_t> piece : {bytes.first(split), bytes.subspan(split)}) {
    if (reader.done()) break;
    auto used = reader.feed(piece);
    if (!used.ok()) {
      out.ok = false;
      return out;
    }
    if (*used > piece.size()) __builtin_trap();
    out.used += *used;
    if (*used != piece.size() && !reader.done()) __builtin_trap();  // stops early only at the end of the line
  }
  out.done = reader.done();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool peer_is_server = (data[0] & 1) != 0;
  const std::span<const uint8_t> bytes(data + 2, size - 2);
  const size_t split = bytes.empty() ? 0 : ((size_t{data[0]} << 7 | data[1]) % (bytes.size() + 1));

  VersionReader whole(peer_is_server);
  const Outcome a = feed_all(whole, bytes, bytes.size());
  VersionReader pieces(peer_is_server);
  const Outcome b = feed_all(pieces, bytes, split);

  if (a.ok != b.ok || a.done != b.done) __builtin_trap();
  if (!a.ok) return 0;
  if (a.used != b.used) __builtin_trap();
  if (whole.peer_version() != pieces.peer_version() || whole.banner_lines() != pieces.banner_lines()) __builtin_trap();
  if (a.done) {
    // The identification line ends in LF right where reading stopped.
    if (a.used == 0 || bytes[a.used - 1] != '\n') __builtin_trap();
    if (!whole.peer_version().starts_with("SSH-")) __builtin_trap();
    if (!peer_is_server && !whole.banner_lines().empty()) __builtin_trap();
    const std::string_view software = whole.peer_software();
    if (software.find(' ') != std::string_view::npos) __builtin_trap();
  }
  return 0;
}
