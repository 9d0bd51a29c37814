// Fuzzes the binary packet protocol's reader (ssh/src/transport/packet.h)
// with the clear opener of the unencrypted first key exchange. The first
// byte is the size of the pieces the rest arrives in (0: all at once); the
// rest is what arrived on the connection. Packets are read after each piece
// until read() wants more bytes or fails, as Transport::receive does. The
// same bytes fed all at once must give the same packets (payloads and
// sequence numbers) and the same verdict, and every payload must lie inside
// the packet the header announced.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "transport/packet.h"

using namespace tessera::ssh::transport;

namespace {

struct Outcome {
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<uint32_t> sequence;
  bool failed = false;
};

Outcome read_all(std::span<const uint8_t> wire, size_t piece) {
  Outcome out;
  PacketReader reader;
  if (piece == 0) piece = wire.size() + 1;
  for (size_t at = 0; at < wire.size() && !out.failed;) {
    const size_t n = std::min(piece, wire.size() - at);
    reader.feed(wire.subspan(at, n));
    at += n;
    for (;;) {
      auto packet = reader.read();
      if (!packet.ok()) {
        out.failed = true;
        break;
      }
      if (!packet->has_value()) break;
      const Packet& p = **packet;
      if (p.payload.empty() || p.payload.size() > kMaxPacketLength) __builtin_trap();
      out.payloads.emplace_back(p.payload.begin(), p.payload.end());
      out.sequence.push_back(p.seq);
    }
  }
  if (!out.failed && reader.count().packets != out.payloads.size()) __builtin_trap();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::span<const uint8_t> wire(data + 1, size - 1);
  const Outcome pieces = read_all(wire, data[0]);
  const Outcome whole = read_all(wire, 0);
  if (pieces.failed != whole.failed || pieces.payloads != whole.payloads || pieces.sequence != whole.sequence) {
    __builtin_trap();
  }
  for (size_t i = 0; i < whole.sequence.size(); ++i) {
    if (whole.sequence[i] != i) __builtin_trap();
  }
  return 0;
}
