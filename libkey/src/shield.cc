// Shielded private keys: see shield.h for the scheme and its costs.
#include "tessera/key/shield.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "algo/algorithm.h"
#include "tessera/key/ossl.h"

namespace tessera::key {
namespace {

constexpr size_t kShieldKeyBytes = 32;  // AES-256
constexpr size_t kShieldIvBytes = 16;

// AES-256-CTR under SHA-256(prekey): the same function encrypts and decrypts.
Status crypt(const SecretBytes& prekey, std::span<const uint8_t> iv, std::span<const uint8_t> in,
             std::span<uint8_t> out) {
  std::array<uint8_t, kShieldKeyBytes> key;
  unsigned key_len = 0;
  bool ok = EVP_Digest(prekey.reveal().data(), prekey.size(), key.data(), &key_len, EVP_sha256(), nullptr) == 1;
  ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int out_len = 0;
  ok = ok && ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(), iv.data()) == 1 &&
       EVP_EncryptUpdate(ctx.get(), out.data(), &out_len, in.data(), static_cast<int>(in.size())) == 1 &&
       static_cast<size_t>(out_len) == in.size();
  secure_wipe(key.data(), key.size());
  if (!ok) return ossl::crypto_error("key shielding");
  return {};
}

}  // namespace

struct ShieldedKey::Sealed {
  KeyType type;
  SecretBytes prekey;
  std::array<uint8_t, kShieldIvBytes> iv;
  Bytes ciphertext;  // the PROTOCOL.key private form, encrypted
};

Result<ShieldedKey> ShieldedKey::shield(const PrivateKey& key) {
  Writer plain;
  key.serialize(plain);
  auto sealed = std::make_shared<Sealed>();
  sealed->type = key.type();
  sealed->prekey = SecretBytes(kShieldPrekeyBytes);
  if (RAND_bytes(sealed->prekey.reveal_mutable().data(), static_cast<int>(kShieldPrekeyBytes)) != 1 ||
      RAND_bytes(sealed->iv.data(), static_cast<int>(sealed->iv.size())) != 1) {
    return ossl::crypto_error("random prekey");
  }
  sealed->ciphertext.resize(plain.size());
  TESSERA_TRY(crypt(sealed->prekey, sealed->iv, plain.data(), sealed->ciphertext));
  return ShieldedKey(key.public_key(), std::move(sealed));
}

Result<Bytes> ShieldedKey::sign(std::span<const uint8_t> data, SignatureAlgorithm alg) const {
  if (alg != SignatureAlgorithm::kDefault && type() != KeyType::kRsa) {
    return Error(Errc::kInvalidArgument, "only RSA keys take a signature algorithm");
  }
  SecretBytes plain(sealed_->ciphertext.size());
  TESSERA_TRY(crypt(sealed_->prekey, sealed_->iv, sealed_->ciphertext, plain.reveal_mutable()));
  Reader r(plain.reveal());
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, r.text());
  (void)name;  // written by shield(); the type is recorded beside it
  const auto& algorithm = algo::for_type(sealed_->type);
  TESSERA_ASSIGN_OR_RETURN(auto pkey, algorithm.parse_private_trusted(key_type_info(sealed_->type), r));
  // The OpenSSL key is freed (and its private parts cleared by OpenSSL) on return.
  detail::KeyData transient{sealed_->type, std::move(pkey), {}, {}};
  return algorithm.sign(transient, alg, data);
}

Result<PrivateKey> ShieldedKey::unshield() const {
  SecretBytes plain(sealed_->ciphertext.size());
  TESSERA_TRY(crypt(sealed_->prekey, sealed_->iv, sealed_->ciphertext, plain.reveal_mutable()));
  Reader r(plain.reveal());
  return PrivateKey::parse(r);
}

}  // namespace tessera::key
