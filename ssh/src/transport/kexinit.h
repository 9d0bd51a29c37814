// SSH_MSG_KEXINIT (RFC 4253 section 7.1) and algorithm negotiation.
#ifndef TESSERA_SSH_TRANSPORT_KEXINIT_H_
#define TESSERA_SSH_TRANSPORT_KEXINIT_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::transport {

// Pseudo-algorithms in the kex list (not key exchange methods).
inline constexpr std::string_view kStrictKexClient = "kex-strict-c-v00@openssh.com";
inline constexpr std::string_view kStrictKexServer = "kex-strict-s-v00@openssh.com";
inline constexpr std::string_view kExtInfoClient = "ext-info-c";
inline constexpr std::string_view kExtInfoServer = "ext-info-s";

struct KexInit {
  std::array<uint8_t, 16> cookie{};
  std::vector<std::string> kex;
  std::vector<std::string> host_key;
  std::vector<std::string> cipher_c2s, cipher_s2c;
  std::vector<std::string> mac_c2s, mac_s2c;
  std::vector<std::string> compression_c2s, compression_s2c;
  std::vector<std::string> language_c2s, language_s2c;
  bool first_kex_follows = false;

  // Parses a whole KEXINIT payload (message number included). Names must
  // be printable ASCII without commas; empty lists are allowed only for
  // languages (RFC 4253); trailing data after the reserved word is refused.
  static key::Result<KexInit> parse(std::span<const uint8_t> payload);
  // The whole payload, message number first.
  key::Bytes serialize() const;

  bool offers_kex(std::string_view name) const;
};

// What both sides agreed on.
struct Negotiated {
  std::string kex;
  std::string host_key;
  std::string cipher_c2s, cipher_s2c;
  std::string mac_c2s, mac_s2c;  // empty for AEAD ciphers
  std::string compression_c2s, compression_s2c;
  // The peer guessed the kex and host key algorithms and guessed wrong: its
  // next key exchange packet is to be ignored (RFC 4253 section 7).
  bool ignore_guessed_packet = false;
};

// Negotiates per RFC 4253 section 7.1: for each list, the first of the
// client's algorithms that the server also offers. Pseudo-algorithms
// (ext-info, kex-strict) never win. Fails with kUnsupported and a message
// naming the category and both lists as OpenSSH words it ("no matching
// cipher found. Their offer: aes256-gcm@openssh.com; ours: aes128-ctr")
// when nothing matches. is_aead tells which ciphers need no MAC.
key::Result<Negotiated> negotiate(const KexInit& client, const KexInit& server,
                                  bool (*is_aead)(std::string_view cipher), bool we_are_client);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_KEXINIT_H_
