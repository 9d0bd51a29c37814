// ecdh-sha2-nistp256/384/521 (RFC 5656 section 4): ephemeral ECDH, public
// values as uncompressed points in strings, K the x coordinate as an mpint.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <string>

#include "tessera/key/ossl.h"
#include "transport/kex_method.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

struct Curve {
  const char* openssl_name;  // "P-256"
  size_t field_bytes;
};

constexpr Curve kP256{"P-256", 32};
constexpr Curve kP384{"P-384", 48};
constexpr Curve kP521{"P-521", 66};

key::Result<ossl::PkeyPtr> generate(const Curve& curve) {
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), curve.openssl_name) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return ossl::crypto_error("ECDH key generation");
  }
  return ossl::PkeyPtr(raw);
}

key::Bytes encode_public(EVP_PKEY* pkey, const Curve& curve) {
  std::vector<uint8_t> point(1 + 2 * curve.field_bytes);
  size_t len = 0;
  // Our own freshly made key always has its uncompressed point.
  if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &len) !=
          1 ||
      len != point.size()) {
    std::abort();
  }
  key::Writer out;
  out.string(point);
  return out.take();
}

// The peer's point as an EVP_PKEY: uncompressed, exactly the curve's size,
// on the curve (OpenSSL checks when it decodes the point), not infinity.
key::Result<ossl::PkeyPtr> peer_key(const Curve& curve, std::span<const uint8_t> point) {
  if (point.size() != 1 + 2 * curve.field_bytes || point[0] != 0x04) {
    return Error(Errc::kMalformed, std::string("ECDH public value is not an uncompressed ") + curve.openssl_name +
                                       " point");
  }
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.openssl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return ossl::crypto_error("ECDH public value");
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, std::string("ECDH public value is not a point on ") + curve.openssl_name);
  }
  ossl::PkeyPtr peer(raw);
  ossl::PkeyCtxPtr check(EVP_PKEY_CTX_new(peer.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, std::string("ECDH public value is not a valid ") + curve.openssl_name + " point");
  }
  return peer;
}

key::Result<key::SecretBytes> derive(EVP_PKEY* ours, const Curve& curve, std::span<const uint8_t> point) {
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr peer, peer_key(curve, point));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(ours, nullptr));
  key::SecretBytes x(curve.field_bytes);
  size_t len = x.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), x.reveal_mutable().data(), &len) != 1 || len != curve.field_bytes) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "ECDH with the peer's public value failed");
  }
  key::Writer out;
  out.mpint(x.reveal());
  return out.take_secret();
}

class EcdhClientShare final : public KexClientShare {
 public:
  EcdhClientShare(const Curve& curve, ossl::PkeyPtr key)
      : curve_(curve), key_(std::move(key)), public_(encode_public(key_.get(), curve)) {}
  const key::Bytes& public_field() const override { return public_; }
  key::Result<key::SecretBytes> finish(key::Reader& server) override {
    TESSERA_ASSIGN_OR_RETURN(auto point, server.string());
    return derive(key_.get(), curve_, point);
  }

 private:
  const Curve& curve_;
  ossl::PkeyPtr key_;
  key::Bytes public_;
};

key::Result<std::unique_ptr<KexClientShare>> client_start(const Curve& curve) {
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr key, generate(curve));
  return std::unique_ptr<KexClientShare>(std::make_unique<EcdhClientShare>(curve, std::move(key)));
}

key::Result<KexServerShare> server_respond(const Curve& curve, key::Reader& client) {
  TESSERA_ASSIGN_OR_RETURN(auto point, client.string());
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr key, generate(curve));
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes k, derive(key.get(), curve, point));
  return KexServerShare{encode_public(key.get(), curve), std::move(k)};
}

}  // namespace

key::Result<std::unique_ptr<KexClientShare>> ecdh_p256_client_start(size_t) { return client_start(kP256); }
key::Result<std::unique_ptr<KexClientShare>> ecdh_p384_client_start(size_t) { return client_start(kP384); }
key::Result<std::unique_ptr<KexClientShare>> ecdh_p521_client_start(size_t) { return client_start(kP521); }
key::Result<KexServerShare> ecdh_p256_server_respond(key::Reader& c) { return server_respond(kP256, c); }
key::Result<KexServerShare> ecdh_p384_server_respond(key::Reader& c) { return server_respond(kP384, c); }
key::Result<KexServerShare> ecdh_p521_server_respond(key::Reader& c) { return server_respond(kP521, c); }

}  // namespace tessera::ssh::transport
