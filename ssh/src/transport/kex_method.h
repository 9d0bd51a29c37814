// Key exchange methods: the math of each one, apart from the messages that
// carry it and the state machine that runs it (transport.cc), so that the
// same code serves the client, the server and the server's monitor.
//
// Every method here but group exchange has the same shape (RFC 5656 section
// 4, RFC 8731, RFC 4253 section 8, the sntrup761 hybrid): the client sends
// its public value, the server answers with its own, and both get a shared
// secret K. Public values and K are kept exactly as they are encoded in the
// messages and in the exchange hash (a string for ECDH and X25519 values, an
// mpint for DH values; K an mpint, or a string for the hybrid).
#ifndef TESSERA_SSH_TRANSPORT_KEX_METHOD_H_
#define TESSERA_SSH_TRANSPORT_KEX_METHOD_H_

#include <openssl/bn.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/ossl.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::transport {

// The client's ephemeral half of one exchange.
class KexClientShare {
 public:
  virtual ~KexClientShare() = default;
  // The client's public value as its field is encoded on the wire (Q_C, e).
  virtual const key::Bytes& public_field() const = 0;
  // Reads the server's public value field (Q_S, f) from server (exactly one
  // field) and returns K encoded for the exchange hash. Fails (kMalformed,
  // kInvalidKey) on a value that is out of range or not on the curve.
  virtual key::Result<key::SecretBytes> finish(key::Reader& server) = 0;
};

// The server's answer to a client's public value.
struct KexServerShare {
  key::Bytes public_field;        // Q_S or f, encoded as on the wire
  key::SecretBytes shared_secret; // K, encoded for the exchange hash
};

enum class KexFamily : uint8_t {
  kSinglePass,     // KEX_ECDH_INIT / KEX_ECDH_REPLY (and KEXDH_INIT / KEXDH_REPLY)
  kGroupExchange,  // RFC 4419: the server first picks the group
};

struct KexMethod {
  std::string_view name;
  std::string_view digest;  // OpenSSL digest name for the exchange hash and key derivation
  KexFamily family;
  // need_bytes: the longest key, IV, block or MAC key the negotiated
  // ciphers need (DH sizes its private exponent by it).
  key::Result<std::unique_ptr<KexClientShare>> (*client_start)(size_t need_bytes);
  key::Result<KexServerShare> (*server_respond)(key::Reader& client);
};

// Every method, in tessera's default preference order (OpenSSH 9.2's).
std::span<const KexMethod> supported_kex_methods();
const KexMethod* find_kex_method(std::string_view name);

// One algorithm per file: the functions the table points at.
key::Result<std::unique_ptr<KexClientShare>> sntrup761x25519_client_start(size_t need_bytes);
key::Result<KexServerShare> sntrup761x25519_server_respond(key::Reader& client);
key::Result<std::unique_ptr<KexClientShare>> x25519_client_start(size_t need_bytes);
key::Result<KexServerShare> x25519_server_respond(key::Reader& client);
key::Result<std::unique_ptr<KexClientShare>> ecdh_p256_client_start(size_t need_bytes);
key::Result<std::unique_ptr<KexClientShare>> ecdh_p384_client_start(size_t need_bytes);
key::Result<std::unique_ptr<KexClientShare>> ecdh_p521_client_start(size_t need_bytes);
key::Result<KexServerShare> ecdh_p256_server_respond(key::Reader& client);
key::Result<KexServerShare> ecdh_p384_server_respond(key::Reader& client);
key::Result<KexServerShare> ecdh_p521_server_respond(key::Reader& client);
key::Result<std::unique_ptr<KexClientShare>> dh_group14_client_start(size_t need_bytes);
key::Result<std::unique_ptr<KexClientShare>> dh_group16_client_start(size_t need_bytes);
key::Result<std::unique_ptr<KexClientShare>> dh_group18_client_start(size_t need_bytes);
key::Result<KexServerShare> dh_group14_server_respond(key::Reader& client);
key::Result<KexServerShare> dh_group16_server_respond(key::Reader& client);
key::Result<KexServerShare> dh_group18_server_respond(key::Reader& client);

// X25519 pieces that the sntrup761 hybrid shares (kex_curve25519.cc).
key::Result<key::ossl::PkeyPtr> x25519_generate();
std::array<uint8_t, 32> x25519_public(EVP_PKEY* pkey);
// The raw 32-byte X25519 output; fails on a value of the wrong size and on
// an all-zero result (RFC 8731 section 3).
key::Result<key::SecretBytes> x25519_derive(EVP_PKEY* ours, std::span<const uint8_t> peer_public);

// Diffie-Hellman over a group the server chose (group exchange). p and g
// are checked: p a safe-looking odd modulus of min_bits..max_bits, 1 < g < p-1.
inline constexpr unsigned kDhGexMinBits = 2048;  // what OpenSSH 9.2 asks for at least
inline constexpr unsigned kDhGexMaxBits = 8192;
key::Result<std::unique_ptr<KexClientShare>> dh_client_start(const BIGNUM* p, const BIGNUM* g, size_t need_bytes);
key::Status dh_check_group(const BIGNUM* p, const BIGNUM* g, unsigned min_bits, unsigned max_bits);
// The group size a client asks for given what its ciphers need (OpenSSH's dh_estimate).
unsigned dh_preferred_bits(size_t need_bytes);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_KEX_METHOD_H_
