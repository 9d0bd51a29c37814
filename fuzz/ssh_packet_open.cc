// Fuzzes packet opening (ssh/src/transport/cipher.h). The first byte picks
// the protection (none, or one of the cipher and MAC pairs, with fixed keys),
// the second the first sequence number; the rest is what arrived on the
// connection. Packets are read from it as the packet layer reads them (the
// length from the head, then the whole packet and its tag) until one fails
// or the bytes run out. Nothing may crash or read out of bounds, and a packet
// that opens must seal back to the very bytes received under a sealer with
// the same keys kept in step.
//
// The keys here and in the seed corpus's packets are the same fixed
// patterns: key byte i of the IV, encryption key and MAC key is
// i*3+1, i*5+2 and i*7+3 (mod 256).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "transport/cipher.h"

using namespace tessera::ssh::transport;

namespace {

// How many packets one input may hold; enough to run streams on.
constexpr size_t kMaxPackets = 64;

tessera::key::SecretBytes fixed_bytes(size_t n, unsigned step, unsigned start) {
  tessera::key::SecretBytes out(n);
  for (size_t i = 0; i < n; ++i) out.reveal_mutable()[i] = static_cast<uint8_t>(i * step + start);
  return out;
}

DirectionKeys fixed_keys(const CipherInfo& cipher, const MacInfo* mac) {
  return DirectionKeys{fixed_bytes(cipher.iv_bytes, 3, 1), fixed_bytes(cipher.key_bytes, 5, 2),
                       fixed_bytes(mac != nullptr ? mac->key_bytes : 0, 7, 3)};
}

struct Protection {
  std::unique_ptr<PacketOpener> opener;
  std::unique_ptr<PacketSealer> sealer;
};

// 0: none; then every cipher with every MAC it takes, in table order (16 in
// all, so the selector byte is taken modulo 16).
Protection protection(uint8_t selector) {
  size_t index = selector % 16;
  if (index == 0) return {make_clear_opener(), make_clear_sealer()};
  --index;
  for (const CipherInfo& cipher : supported_ciphers()) {
    const size_t macs = cipher.aead ? 1 : supported_macs().size();
    if (index >= macs) {
      index -= macs;
      continue;
    }
    const MacInfo* mac = cipher.aead ? nullptr : &supported_macs()[index];
    auto opener = make_opener(cipher, mac, fixed_keys(cipher, mac));
    auto sealer = make_sealer(cipher, mac, fixed_keys(cipher, mac));
    if (!opener.ok() || !sealer.ok()) __builtin_trap();  // fixed keys of the right lengths
    return {std::move(opener).value(), std::move(sealer).value()};
  }
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Protection p = protection(data[0]);
  uint32_t seq = data[1];
  std::vector<uint8_t> wire(data + 2, data + size);
  std::span<uint8_t> rest(wire);

  for (size_t n = 0; n < kMaxPackets && rest.size() >= p.opener->head_bytes(); ++n, ++seq) {
    auto length = p.opener->packet_length(seq, rest.first(p.opener->head_bytes()));
    if (!length.ok()) break;
    const size_t packet_bytes = size_t{4} + *length;
    const size_t tag_bytes = p.opener->tag_bytes();
    if (packet_bytes > rest.size() || tag_bytes > rest.size() - packet_bytes) break;
    std::span<uint8_t> packet = rest.first(packet_bytes);
    const std::vector<uint8_t> received(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(packet_bytes + tag_bytes));
    if (!p.opener->open(seq, packet, rest.subspan(packet_bytes, tag_bytes)).ok()) break;

    // Sealing the plaintext again gives back what arrived.
    std::vector<uint8_t> resealed(packet.begin(), packet.end());
    resealed.resize(packet_bytes + tag_bytes);
    const std::span<uint8_t> all(resealed);
    p.sealer->seal(seq, all.first(packet_bytes), all.subspan(packet_bytes));
    if (resealed != received) __builtin_trap();
    rest = rest.subspan(packet_bytes + tag_bytes);
  }
  return 0;
}
