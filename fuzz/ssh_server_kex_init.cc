// Fuzzes the server side of the single-pass key exchanges (ssh/src/
// transport/transport.h and the kex_*.cc methods): what a server Transport
// does with the client's public value.
//
// Input: byte 0 picks the key exchange method the client offers (0: the
// client's defaults; then one of kMethods, skipped when this build does not
// support it), byte 1 the host key algorithm (0: the client's defaults; then
// one of the plain ones the server has keys for), byte 2 flags (bit 0: the
// client's KEXINIT says first_kex_packet_follows; bit 1: the client does not
// offer strict key exchange). The rest is a list of messages
// (ssh_fuzz::MessageList), each sent to the server as the payload of one
// clear binary packet after a valid client identification and a client
// KEXINIT built here. The first is meant to be KEX_ECDH_INIT (30).
//
// The server signs with fixed host keys made once per process
// (ssh_fuzz::FixedSigner). Seeds are real clients' KEX_ECDH_INITs, so that
// X25519's 32 bytes, sntrup761's 1158+32 and EC points start out right.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ssh_fuzz_common.h"
#include "transport/kexinit.h"
#include "transport/version.h"

using namespace tessera::ssh::transport;

namespace {

constexpr std::array<std::string_view, 9> kMethods = {
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "sntrup761x25519-sha512@openssh.com",
};

constexpr std::string_view kClientVersion = "SSH-2.0-OpenSSH_9.6\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  KexInit client;
  client.cookie.fill(0xa5);
  if (data[0] == 0) {
    client.kex = default_kex_names();
  } else {
    const std::string_view name = kMethods[(data[0] - 1) % kMethods.size()];
    if (find_kex_method(name) == nullptr) return 0;
    client.kex.emplace_back(name);
  }
  client.kex.emplace_back(kExtInfoClient);
  if ((data[2] & 2) == 0) client.kex.emplace_back(kStrictKexClient);
  const std::vector<std::string> plain = ssh_fuzz::FixedSigner::instance().algorithms();
  if (data[1] == 0) {
    client.host_key = default_host_key_names();
  } else {
    client.host_key.push_back(plain[(data[1] - 1) % plain.size()]);
  }
  client.cipher_c2s = client.cipher_s2c = default_cipher_names();
  client.mac_c2s = client.mac_s2c = default_mac_names();
  client.compression_c2s = client.compression_s2c = {"none"};
  client.first_kex_follows = (data[2] & 1) != 0;

  ssh_fuzz::RecordingListener listener;
  TransportConfig config;
  config.is_client = false;
  Transport server(config, listener, &ssh_fuzz::FixedSigner::instance());
  server.start(ssh_fuzz::fixed_now());
  server.output().clear();

  ByteQueue wire;
  wire.append(tessera::key::as_bytes(kClientVersion));
  ssh_fuzz::ClearFramer framer;
  framer.frame(client.serialize(), wire);
  if (!server.receive(wire.front(), ssh_fuzz::fixed_now()).ok() || !server.kex_in_progress()) __builtin_trap();

  ssh_fuzz::MessageList messages(std::span<const uint8_t>(data + 3, size - 3));
  std::span<const uint8_t> payload;
  while (!server.closed() && messages.next(payload)) {
    wire.clear();
    framer.frame(payload, wire);
    if (!server.receive(wire.front(), ssh_fuzz::fixed_now()).ok()) break;
  }
  // The layers above hear nothing: before NEWKEYS their messages are
  // refused, and after it only packets under the new keys would open.
  if (!listener.messages.empty()) __builtin_trap();
  return 0;
}
