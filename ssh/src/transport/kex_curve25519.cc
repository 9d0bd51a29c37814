// curve25519-sha256 and curve25519-sha256@libssh.org (RFC 8731): X25519,
// 32-byte public values as strings, K the 32-byte X25519 output read as a
// big-endian unsigned number and encoded as an mpint.
#include <openssl/evp.h>

#include <array>
#include <cstdlib>
#include <string>

#include "tessera/key/ossl.h"
#include "transport/kex_method.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

constexpr size_t kX25519Bytes = 32;

}  // namespace

key::Result<ossl::PkeyPtr> x25519_generate() {
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return ossl::crypto_error("X25519 key generation");
  }
  return ossl::PkeyPtr(raw);
}

std::array<uint8_t, 32> x25519_public(EVP_PKEY* pkey) {
  std::array<uint8_t, 32> pub{};
  size_t len = pub.size();
  // Our own freshly made X25519 key always has its 32-byte public value.
  if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len) != 1 || len != pub.size()) std::abort();
  return pub;
}

namespace {

key::Bytes encode_public(EVP_PKEY* pkey) {
  key::Writer out;
  out.string(x25519_public(pkey));
  return out.take();
}

}  // namespace

key::Result<key::SecretBytes> x25519_derive(EVP_PKEY* ours, std::span<const uint8_t> peer_public) {
  if (peer_public.size() != kX25519Bytes) {
    return Error(Errc::kMalformed, "X25519 public value of " + std::to_string(peer_public.size()) +
                                       " bytes, not 32");
  }
  ossl::PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), kX25519Bytes));
  if (!peer) return ossl::crypto_error("X25519 public value");
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(ours, nullptr));
  key::SecretBytes secret(kX25519Bytes);
  size_t len = kX25519Bytes;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), secret.reveal_mutable().data(), &len) != 1 || len != kX25519Bytes) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "X25519 with the peer's public value failed (a low-order point?)");
  }
  uint8_t any = 0;
  for (const uint8_t b : secret.reveal()) any |= b;
  if (any == 0) return Error(Errc::kInvalidKey, "X25519 shared secret is all zero (a low-order point)");
  return secret;
}

namespace {

key::SecretBytes encode_k(const key::SecretBytes& raw) {
  key::Writer out;
  out.mpint(raw.reveal());
  return out.take_secret();
}

class X25519ClientShare final : public KexClientShare {
 public:
  explicit X25519ClientShare(ossl::PkeyPtr key) : key_(std::move(key)), public_(encode_public(key_.get())) {}
  const key::Bytes& public_field() const override { return public_; }
  key::Result<key::SecretBytes> finish(key::Reader& server) override {
    TESSERA_ASSIGN_OR_RETURN(auto peer, server.string());
    TESSERA_ASSIGN_OR_RETURN(key::SecretBytes raw, x25519_derive(key_.get(), peer));
    return encode_k(raw);
  }

 private:
  ossl::PkeyPtr key_;
  key::Bytes public_;
};

}  // namespace

key::Result<std::unique_ptr<KexClientShare>> x25519_client_start(size_t) {
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr key, x25519_generate());
  return std::unique_ptr<KexClientShare>(std::make_unique<X25519ClientShare>(std::move(key)));
}

key::Result<KexServerShare> x25519_server_respond(key::Reader& client) {
  TESSERA_ASSIGN_OR_RETURN(auto peer, client.string());
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr key, x25519_generate());
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes raw, x25519_derive(key.get(), peer));
  return KexServerShare{encode_public(key.get()), encode_k(raw)};
}

}  // namespace tessera::ssh::transport
