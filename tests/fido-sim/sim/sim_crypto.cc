#include "sim_crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>

namespace tessera::fidosim {
namespace {

using key::ossl::PkeyPtr;

void check(bool ok) {
  if (!ok) std::abort();  // the simulator's own set-up failed; never input-driven
}

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept { Free(p); }
};
using KdfPtr = std::unique_ptr<EVP_KDF, Deleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX_free>>;

Bytes ec_point(EVP_PKEY* pkey) {
  Bytes point(65);
  size_t len = 0;
  check(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(), &len) == 1 &&
        len == 65 && point[0] == 0x04);
  return point;
}

Bytes cose_ec2(EVP_PKEY* pkey, int alg) {
  const Bytes point = ec_point(pkey);
  CborWriter w;
  w.map(5).uint(1).uint(2).uint(3).integer(alg).integer(-1).uint(1);
  w.integer(-2).bytes(std::span(point).subspan(1, 32));
  w.integer(-3).bytes(std::span(point).subspan(33, 32));
  return w.take();
}

PkeyPtr p256_public(std::span<const uint8_t> x, std::span<const uint8_t> y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  Bytes point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("P-256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  key::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  PkeyPtr out(pkey);
  // fromdata does not check that the point is on the curve.
  key::ossl::PkeyCtxPtr check_ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (check_ctx == nullptr || EVP_PKEY_public_check(check_ctx.get()) != 1) return nullptr;
  return out;
}

Bytes hkdf(std::span<const uint8_t> ikm, std::string_view info) {
  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  check(kdf != nullptr);
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  check(ctx != nullptr);
  uint8_t salt[32] = {};
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt)),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  Bytes out(32);
  check(EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) == 1);
  return out;
}

Bytes aes256_cbc(bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv,
                 std::span<const uint8_t> data) {
  key::ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  check(ctx != nullptr && key.size() == 32 && iv.size() == 16 && data.size() % 16 == 0);
  check(EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data(), encrypt ? 1 : 0) == 1);
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes out(data.size() + 16);
  int n = 0;
  int m = 0;
  check(EVP_CipherUpdate(ctx.get(), out.data(), &n, data.data(), static_cast<int>(data.size())) == 1);
  check(EVP_CipherFinal_ex(ctx.get(), out.data() + n, &m) == 1);
  out.resize(static_cast<size_t>(n + m));
  return out;
}

}  // namespace

Bytes sha256(std::span<const uint8_t> data) {
  Bytes out(32);
  unsigned len = 0;
  check(EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1);
  return out;
}

Bytes sha256(std::string_view text) {
  return sha256(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

Bytes random_bytes(size_t n) {
  Bytes out(n);
  check(RAND_bytes(out.data(), static_cast<int>(n)) == 1);
  return out;
}

Bytes hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes out(32);
  size_t len = 0;
  check(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(), data.size(),
                  out.data(), out.size(), &len) != nullptr &&
        len == 32);
  return out;
}

CredentialKey CredentialKey::generate(int cose_alg) {
  CredentialKey k;
  k.alg_ = cose_alg;
  k.key_.reset(cose_alg == kCoseEdDsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(k.key_ != nullptr);
  return k;
}

Bytes CredentialKey::cose_public_key() const {
  if (alg_ == kCoseEs256) return cose_ec2(key_.get(), kCoseEs256);
  uint8_t raw[32];
  size_t len = sizeof(raw);
  check(EVP_PKEY_get_raw_public_key(key_.get(), raw, &len) == 1 && len == 32);
  CborWriter w;
  w.map(4).uint(1).uint(1).uint(3).integer(kCoseEdDsa).integer(-1).uint(6).integer(-2).bytes(raw);
  return w.take();
}

Bytes CredentialKey::sign(std::span<const uint8_t> msg) const {
  key::ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  check(ctx != nullptr);
  check(EVP_DigestSignInit(ctx.get(), nullptr, alg_ == kCoseEdDsa ? nullptr : EVP_sha256(), nullptr, key_.get()) == 1);
  size_t len = 0;
  check(EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()) == 1);
  Bytes sig(len);
  check(EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) == 1);
  sig.resize(len);
  return sig;
}

KeyAgreementKey KeyAgreementKey::generate() {
  KeyAgreementKey k;
  k.key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(k.key_ != nullptr);
  return k;
}

Bytes KeyAgreementKey::cose_public_key() const { return cose_ec2(key_.get(), kCoseEcdhEsHkdf256); }

std::optional<Bytes> KeyAgreementKey::shared_point_x(std::span<const uint8_t> x, std::span<const uint8_t> y) const {
  PkeyPtr peer = p256_public(x, y);
  if (peer == nullptr) return std::nullopt;
  key::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t len = 0;
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len != 32) {
    return std::nullopt;
  }
  Bytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) return std::nullopt;
  return z;
}

Bytes PinProtocol::kdf(std::span<const uint8_t> shared_x) const {
  if (version_ == 1) return sha256(shared_x);
  Bytes out = hkdf(shared_x, "CTAP2 HMAC key");
  const Bytes aes = hkdf(shared_x, "CTAP2 AES key");
  out.insert(out.end(), aes.begin(), aes.end());
  return out;
}

Bytes PinProtocol::encrypt(std::span<const uint8_t> key, std::span<const uint8_t> plaintext) const {
  if (version_ == 1) {
    const uint8_t iv[16] = {};
    return aes256_cbc(true, key, iv, plaintext);
  }
  Bytes out = random_bytes(16);
  const Bytes ct = aes256_cbc(true, key.subspan(32), out, plaintext);
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

std::optional<Bytes> PinProtocol::decrypt(std::span<const uint8_t> key, std::span<const uint8_t> ciphertext) const {
  if (version_ == 1) {
    if (ciphertext.empty() || ciphertext.size() % 16 != 0) return std::nullopt;
    const uint8_t iv[16] = {};
    return aes256_cbc(false, key, iv, ciphertext);
  }
  if (ciphertext.size() < 32 || ciphertext.size() % 16 != 0) return std::nullopt;
  return aes256_cbc(false, key.subspan(32), ciphertext.first(16), ciphertext.subspan(16));
}

Bytes PinProtocol::authenticate(std::span<const uint8_t> key, std::span<const uint8_t> message) const {
  // Protocol 2 MACs with the HMAC half of a shared secret (64 bytes), or with
  // a whole PIN token (32 bytes).
  const auto mac_key = version_ == 2 && key.size() == 64 ? key.first(32) : key;
  Bytes mac = hmac_sha256(mac_key, message);
  if (version_ == 1) mac.resize(16);
  return mac;
}

bool PinProtocol::verify(std::span<const uint8_t> key, std::span<const uint8_t> message,
                         std::span<const uint8_t> signature) const {
  const Bytes expected = authenticate(key, message);
  return signature.size() == expected.size() &&
         CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

}  // namespace tessera::fidosim
