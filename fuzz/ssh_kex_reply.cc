// Fuzzes the client side of every key exchange (ssh/src/transport/
// transport.h and the kex_*.cc methods): what a client Transport does with
// the server's reply.
//
// Input: byte 0 picks the key exchange method (0: tessera's defaults, whose
// first choice wins; then one of kMethods below, skipped when this build
// does not support it), byte 1 the host key algorithm the server offers
// (0: the defaults; then one of supported_host_key_algorithms()). The rest
// is a list of messages (ssh_fuzz::MessageList: u16 length, payload),
// each sent to the client as the payload of one clear binary packet, after
// the harness has fed it a valid server identification and a KEXINIT that
// offers the chosen method and host key algorithm. For the single-pass
// methods the first message is meant to be KEX_ECDH_REPLY (31); for
// diffie-hellman-group-exchange-sha256 KEX_DH_GEX_GROUP (31) and then
// KEX_DH_GEX_REPLY (33). The host key check accepts every key.
//
// The client's ephemeral key is fresh for each input, so a reply's
// signature never verifies: what is fuzzed is everything up to and
// including that check (lengths, points, DH values and groups, host key
// and certificate blobs, signature blobs), and the transport's handling of
// any other message in its place. The seeds are replies a real server
// Transport made (GEX: a real group and value), so that fixed-size fields
// (X25519's 32 bytes, sntrup761's 1039+32, EC points) start out right.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ssh_fuzz_common.h"
#include "transport/kexinit.h"

using namespace tessera::ssh::transport;

namespace {

// By name, so that a seed keeps its meaning when the method table changes.
constexpr std::array<std::string_view, 10> kMethods = {
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "sntrup761x25519-sha512@openssh.com",
};

constexpr std::string_view kServerVersion = "SSH-2.0-OpenSSH_9.6\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // What the server's KEXINIT offers.
  KexInit server;
  server.cookie.fill(0x5a);
  if (data[0] == 0) {
    for (const KexMethod& m : supported_kex_methods()) {
      if (m.family != KexFamily::kGroupExchange) server.kex.emplace_back(m.name);
    }
  } else {
    const std::string_view name = kMethods[(data[0] - 1) % kMethods.size()];
    if (find_kex_method(name) == nullptr) return 0;
    server.kex.emplace_back(name);
  }
  server.kex.emplace_back(kExtInfoServer);
  server.kex.emplace_back(kStrictKexServer);
  const auto host_keys = supported_host_key_algorithms();
  if (data[1] == 0) {
    server.host_key = ssh_fuzz::FixedSigner::instance().algorithms();
  } else {
    server.host_key.emplace_back(host_keys[(data[1] - 1) % host_keys.size()].name);
  }
  server.cipher_c2s = server.cipher_s2c = default_cipher_names();
  server.mac_c2s = server.mac_s2c = default_mac_names();
  server.compression_c2s = server.compression_s2c = {"none"};

  ssh_fuzz::RecordingListener listener;
  TransportConfig config;
  config.is_client = true;
  Transport client(config, listener);
  client.start(ssh_fuzz::fixed_now());
  client.output().clear();

  ByteQueue wire;
  wire.append(tessera::key::as_bytes(kServerVersion));
  ssh_fuzz::ClearFramer framer;
  framer.frame(server.serialize(), wire);
  if (!client.receive(wire.front(), ssh_fuzz::fixed_now()).ok()) __builtin_trap();
  if (client.output().empty() || !client.kex_in_progress()) __builtin_trap();  // our KEX_ECDH_INIT or GEX_REQUEST

  ssh_fuzz::MessageList messages(std::span<const uint8_t>(data + 2, size - 2));
  std::span<const uint8_t> payload;
  while (!client.closed() && messages.next(payload)) {
    wire.clear();
    framer.frame(payload, wire);
    if (!client.receive(wire.front(), ssh_fuzz::fixed_now()).ok()) break;
  }
  // A reply whose signature cannot verify never gets the host key asked about.
  if (listener.host_keys_seen != 0 && !client.server_host_key().has_value()) __builtin_trap();
  return 0;
}
