// sntrup761x25519-sha512@openssh.com: the post-quantum hybrid that is
// OpenSSH 9.2's default. The client sends string(sntrup761 public key ||
// X25519 public value); the server encapsulates to the first and answers
// string(ciphertext || its X25519 public value). K is SHA-512(sntrup761
// shared key || raw X25519 output), encoded as a string (not an mpint).
#include <openssl/evp.h>

#include <array>
#include <string>

#include "tessera/key/ossl.h"
#include "transport/kex_method.h"
#include "transport/sntrup761.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

constexpr size_t kX25519Bytes = 32;
constexpr size_t kClientPublicBytes = kSntrup761PublicKeyBytes + kX25519Bytes;
constexpr size_t kServerPublicBytes = kSntrup761CiphertextBytes + kX25519Bytes;

key::Result<key::SecretBytes> combine(std::span<const uint8_t> kem_shared, const key::SecretBytes& ecdh_shared) {
  key::SecretBytes both;
  both.append(kem_shared);
  both.append(ecdh_shared.reveal());
  key::SecretBytes hash(64);
  unsigned len = 0;
  if (EVP_Digest(both.reveal().data(), both.size(), hash.reveal_mutable().data(), &len, EVP_sha512(), nullptr) != 1) {
    return ossl::crypto_error("sntrup761x25519 shared secret");
  }
  key::Writer out;
  out.string(hash.reveal());
  return out.take_secret();
}

key::Bytes string_field(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  key::Bytes both(a.begin(), a.end());
  both.insert(both.end(), b.begin(), b.end());
  key::Writer out;
  out.string(both);
  return out.take();
}

class HybridClientShare final : public KexClientShare {
 public:
  key::Status init() {
    sntrup761_keypair(std::span<uint8_t, kSntrup761PublicKeyBytes>(kem_public_), kem_secret_);
    TESSERA_ASSIGN_OR_RETURN(x25519_, x25519_generate());
    public_ = string_field(kem_public_, x25519_public(x25519_.get()));
    return key::ok_status();
  }
  const key::Bytes& public_field() const override { return public_; }
  key::Result<key::SecretBytes> finish(key::Reader& server) override {
    TESSERA_ASSIGN_OR_RETURN(auto reply, server.string());
    if (reply.size() != kServerPublicBytes) {
      return Error(Errc::kMalformed, "sntrup761x25519 reply of " + std::to_string(reply.size()) + " bytes, not " +
                                         std::to_string(kServerPublicBytes));
    }
    std::array<uint8_t, kSntrup761SharedSecretBytes> kem_shared{};
    sntrup761_decapsulate(kem_shared, reply.first<kSntrup761CiphertextBytes>(),
                          std::span<const uint8_t, kSntrup761SecretKeyBytes>(kem_secret_.reveal()));
    auto ecdh = x25519_derive(x25519_.get(), reply.subspan(kSntrup761CiphertextBytes));
    auto k = ecdh.ok() ? combine(kem_shared, *ecdh) : key::Result<key::SecretBytes>(ecdh.error());
    key::secure_wipe(kem_shared.data(), kem_shared.size());
    return k;
  }

 private:
  std::array<uint8_t, kSntrup761PublicKeyBytes> kem_public_{};
  key::SecretBytes kem_secret_;
  ossl::PkeyPtr x25519_;
  key::Bytes public_;
};

}  // namespace

key::Result<std::unique_ptr<KexClientShare>> sntrup761x25519_client_start(size_t) {
  auto share = std::make_unique<HybridClientShare>();
  TESSERA_TRY(share->init());
  return std::unique_ptr<KexClientShare>(std::move(share));
}

key::Result<KexServerShare> sntrup761x25519_server_respond(key::Reader& client) {
  TESSERA_ASSIGN_OR_RETURN(auto value, client.string());
  if (value.size() != kClientPublicBytes) {
    return Error(Errc::kMalformed, "sntrup761x25519 public value of " + std::to_string(value.size()) +
                                       " bytes, not " + std::to_string(kClientPublicBytes));
  }
  std::array<uint8_t, kSntrup761CiphertextBytes> ciphertext{};
  std::array<uint8_t, kSntrup761SharedSecretBytes> kem_shared{};
  sntrup761_encapsulate(ciphertext, kem_shared, value.first<kSntrup761PublicKeyBytes>());
  TESSERA_ASSIGN_OR_RETURN(ossl::PkeyPtr ours, x25519_generate());
  auto ecdh = x25519_derive(ours.get(), value.subspan(kSntrup761PublicKeyBytes));
  auto k = ecdh.ok() ? combine(kem_shared, *ecdh) : key::Result<key::SecretBytes>(ecdh.error());
  key::secure_wipe(kem_shared.data(), kem_shared.size());
  if (!k.ok()) return k.error();
  return KexServerShare{string_field(ciphertext, x25519_public(ours.get())), std::move(*k)};
}

}  // namespace tessera::ssh::transport
