// Host key algorithms (RFC 4253 section 6.6, RFC 5656, RFC 8332, RFC 8709,
// PROTOCOL.certkeys): the one table of their names, and the check of a
// server's host key and its signature over the exchange hash.
#ifndef TESSERA_SSH_TRANSPORT_HOST_KEY_ALGORITHMS_H_
#define TESSERA_SSH_TRANSPORT_HOST_KEY_ALGORITHMS_H_

#include <optional>
#include <span>
#include <string_view>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"

namespace tessera::ssh::transport {

struct HostKeyAlgorithm {
  std::string_view name;            // as negotiated: "rsa-sha2-512-cert-v01@openssh.com"
  key::KeyType key_type;            // the (certified) key's type
  std::string_view signature_name;  // the signature it makes: "rsa-sha2-512"
  bool certificate;                 // K_S is a certificate of that key
};

// In tessera's default preference order (OpenSSH 9.2's, without sk host keys).
std::span<const HostKeyAlgorithm> supported_host_key_algorithms();
const HostKeyAlgorithm* find_host_key_algorithm(std::string_view name);

// A server's host key as the key exchange received it.
struct ServerHostKey {
  key::PublicKey key;                      // the key that signed (the certified key for a certificate)
  std::optional<key::Certificate> certificate;
  key::Bytes blob;                         // K_S as sent
};

// Parses K_S for the negotiated algorithm: a plain key or a certificate of
// the algorithm's key type. Does not judge the certificate (validity,
// principals, CA): the caller checks it against known_hosts.
key::Result<ServerHostKey> parse_server_host_key(const HostKeyAlgorithm& alg, std::span<const uint8_t> blob);

// Checks that signature_blob is a signature of exactly alg.signature_name by
// key over exchange_hash.
key::Status verify_exchange_signature(const HostKeyAlgorithm& alg, const key::PublicKey& key,
                                      std::span<const uint8_t> signature_blob,
                                      std::span<const uint8_t> exchange_hash);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_HOST_KEY_ALGORITHMS_H_
