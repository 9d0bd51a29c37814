// Fuzzes SSH_MSG_KEXINIT (ssh/src/transport/kexinit.h). The input is a
// whole KEXINIT payload, message number first.
//   - A payload that parses serializes back to the very same bytes, apart
//     from the two fields parse() normalizes: the first_kex_packet_follows
//     boolean (any non-zero byte is true) and the reserved word (ignored).
//   - It is then negotiated against the KEXINITs tessera's own client and
//     server send (taken from real Transports once), in both roles. Whatever
//     is agreed must be offered by both sides, never a pseudo-algorithm
//     (ext-info, kex-strict), with a MAC exactly when the cipher needs one.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ssh_fuzz_common.h"
#include "transport/cipher.h"
#include "transport/kexinit.h"
#include "transport/version.h"

using namespace tessera::ssh::transport;

namespace {

bool is_aead(std::string_view name) {
  const CipherInfo* c = find_cipher(name);
  return c != nullptr && c->aead;
}

bool is_pseudo(std::string_view n) {
  return n == kStrictKexClient || n == kStrictKexServer || n == kExtInfoClient || n == kExtInfoServer;
}

// The first KEXINIT a fresh Transport of that role sends.
KexInit first_kexinit(bool client) {
  ssh_fuzz::RecordingListener listener;
  TransportConfig config;
  config.is_client = client;
  Transport t(config, listener, client ? nullptr : &ssh_fuzz::FixedSigner::instance());
  t.start(ssh_fuzz::fixed_now());
  const std::span<const uint8_t> out = t.output().front();
  VersionReader version(/*peer_is_server=*/true);
  auto used = version.feed(out);
  if (!used.ok() || !version.done()) __builtin_trap();
  PacketReader reader;
  reader.feed(out.subspan(*used));
  auto packet = reader.read();
  if (!packet.ok() || !packet->has_value()) __builtin_trap();
  auto parsed = KexInit::parse((*packet)->payload);
  if (!parsed.ok()) __builtin_trap();
  return *parsed;
}

const KexInit& default_client() {
  static const KexInit k = first_kexinit(true);
  return k;
}
const KexInit& default_server() {
  static const KexInit k = first_kexinit(false);
  return k;
}

bool offers(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

void check_agreed(const std::string& name, const std::vector<std::string>& c, const std::vector<std::string>& s) {
  if (is_pseudo(name) || !offers(c, name) || !offers(s, name)) __builtin_trap();
  // The client's first choice among what the server offers.
  for (const std::string& n : c) {
    if (n == name) break;
    if (!is_pseudo(n) && offers(s, n)) __builtin_trap();
  }
}

void check_negotiation(const KexInit& c, const KexInit& s, bool we_are_client) {
  auto n = negotiate(c, s, is_aead, we_are_client);
  if (!n.ok()) {
    if (n.error().message().empty()) __builtin_trap();
    return;
  }
  check_agreed(n->kex, c.kex, s.kex);
  check_agreed(n->host_key, c.host_key, s.host_key);
  check_agreed(n->cipher_c2s, c.cipher_c2s, s.cipher_c2s);
  check_agreed(n->cipher_s2c, c.cipher_s2c, s.cipher_s2c);
  check_agreed(n->compression_c2s, c.compression_c2s, s.compression_c2s);
  check_agreed(n->compression_s2c, c.compression_s2c, s.compression_s2c);
  if (is_aead(n->cipher_c2s) != n->mac_c2s.empty()) __builtin_trap();
  if (is_aead(n->cipher_s2c) != n->mac_s2c.empty()) __builtin_trap();
  if (!n->mac_c2s.empty()) check_agreed(n->mac_c2s, c.mac_c2s, s.mac_c2s);
  if (!n->mac_s2c.empty()) check_agreed(n->mac_s2c, c.mac_s2c, s.mac_s2c);
  if (n->ignore_guessed_packet && !c.first_kex_follows && !s.first_kex_follows) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> payload(data, size);
  auto parsed = KexInit::parse(payload);
  if (!parsed.ok()) {
    if (parsed.error().message().empty()) __builtin_trap();
    return 0;
  }
  const KexInit& k = *parsed;

  // Round trip: everything but the last five bytes (boolean, reserved) is
  // kept exactly.
  const tessera::key::Bytes again = k.serialize();
  if (again.size() != size || size < 5) __builtin_trap();
  if (!std::equal(again.begin(), again.end() - 5, payload.begin())) __builtin_trap();
  if (again[size - 5] != (payload[size - 5] != 0 ? 1 : 0)) __builtin_trap();
  auto reparsed = KexInit::parse(again);
  if (!reparsed.ok() || reparsed->serialize() != again) __builtin_trap();

  // The peer's KEXINIT against ours, from either side.
  check_negotiation(default_client(), k, /*we_are_client=*/true);
  check_negotiation(k, default_server(), /*we_are_client=*/false);
  return 0;
}
