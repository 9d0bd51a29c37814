// Shielded private keys: see shield.h for the scheme and its costs.
#include "tessera/key/shield.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <mutex>
#include <vector>

#include "algo/algorithm.h"
#include "algo/rsa_blinded.h"
#include "tessera/key/ossl.h"

namespace tessera::key {
namespace {

constexpr size_t kShieldKeyBytes = 32;  // AES-256
constexpr size_t kShieldIvBytes = 16;
// RSA blinding pairs kept per key: one per signature that may run at once.
constexpr size_t kMaxKeptBlindings = 4;

// The AES key, SHA-256(prekey), for the length of one operation.
class ShieldKey {
 public:
  ShieldKey() = default;
  ShieldKey(const ShieldKey&) = delete;
  ShieldKey& operator=(const ShieldKey&) = delete;
  ~ShieldKey() { secure_wipe(bytes_.data(), bytes_.size()); }

  Status derive(const SecretBytes& prekey) {
    unsigned len = 0;
    if (EVP_Digest(prekey.reveal().data(), prekey.size(), bytes_.data(), &len, EVP_sha256(), nullptr) != 1) {
      return ossl::crypto_error("key shielding");
    }
    return {};
  }

  // AES-256-CTR: the same function encrypts and decrypts.
  Status crypt(std::span<const uint8_t> iv, std::span<const uint8_t> in, std::span<uint8_t> out) const {
    ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    int out_len = 0;
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, bytes_.data(), iv.data()) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out.data(), &out_len, in.data(), static_cast<int>(in.size())) != 1 ||
        static_cast<size_t>(out_len) != in.size()) {
      return ossl::crypto_error("key shielding");
    }
    return {};
  }

 private:
  std::array<uint8_t, kShieldKeyBytes> bytes_{};
};

}  // namespace

struct ShieldedKey::Sealed {
  KeyType type;
  SecretBytes prekey;
  std::array<uint8_t, kShieldIvBytes> iv;
  Bytes ciphertext;  // the PROTOCOL.key private form, encrypted

  // RSA: blinding pairs between signatures (see algo/rsa_blinded.h), each
  // encrypted under the same key with a fresh IV in front.
  size_t modulus_bytes = 0;
  mutable std::mutex blindings_mu;
  mutable std::vector<Bytes> blindings;

  Status open(const ShieldKey& key, SecretBytes& plain) const {
    plain = SecretBytes(ciphertext.size());
    return key.crypt(iv, ciphertext, plain.reveal_mutable());
  }

  // A kept blinding pair, or an empty one (the signature then makes one).
  algo::RsaBlinding take_blinding(const ShieldKey& key) const {
    Bytes sealed;
    {
      std::lock_guard lock(blindings_mu);
      if (blindings.empty()) return {};
      sealed = std::move(blindings.back());
      blindings.pop_back();
    }
    if (sealed.size() < kShieldIvBytes) return {};
    auto iv_part = std::span<const uint8_t>(sealed).first(kShieldIvBytes);
    auto body = std::span<const uint8_t>(sealed).subspan(kShieldIvBytes);
    SecretBytes plain(body.size());
    if (!key.crypt(iv_part, body, plain.reveal_mutable()).ok()) return {};
    return algo::RsaBlinding::parse(plain.reveal(), modulus_bytes);
  }

  void keep_blinding(const ShieldKey& key, const algo::RsaBlinding& blinding) const {
    SecretBytes plain = blinding.serialize(modulus_bytes);
    if (plain.empty()) return;
    Bytes sealed(kShieldIvBytes + plain.size());
    if (RAND_bytes(sealed.data(), static_cast<int>(kShieldIvBytes)) != 1) {
      ossl::clear_errors();
      return;
    }
    auto iv_part = std::span<const uint8_t>(sealed).first(kShieldIvBytes);
    if (!key.crypt(iv_part, plain.reveal(), std::span(sealed).subspan(kShieldIvBytes)).ok()) return;
    std::lock_guard lock(blindings_mu);
    if (blindings.size() < kMaxKeptBlindings) blindings.push_back(std::move(sealed));
  }
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
  if (key.type() == KeyType::kRsa) sealed->modulus_bytes = (key.public_key().bits() + 7) / 8;
  sealed->ciphertext.resize(plain.size());
  ShieldKey shield_key;
  TESSERA_TRY(shield_key.derive(sealed->prekey));
  TESSERA_TRY(shield_key.crypt(sealed->iv, plain.data(), sealed->ciphertext));
  return ShieldedKey(key.public_key(), std::move(sealed));
}

Result<Bytes> ShieldedKey::sign(std::span<const uint8_t> data, SignatureAlgorithm alg) const {
  if (alg != SignatureAlgorithm::kDefault && type() != KeyType::kRsa) {
    return Error(Errc::kInvalidArgument, "only RSA keys take a signature algorithm");
  }
  ShieldKey shield_key;
  TESSERA_TRY(shield_key.derive(sealed_->prekey));
  SecretBytes plain;
  TESSERA_TRY(sealed_->open(shield_key, plain));
  Reader r(plain.reveal());
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, r.text());
  (void)name;  // written by shield(); the type is recorded beside it
  if (sealed_->type == KeyType::kRsa) {
    algo::RsaBlinding blinding = sealed_->take_blinding(shield_key);
    auto sig = algo::rsa_sign_blinded(r, alg, data, blinding);
    sealed_->keep_blinding(shield_key, blinding);
    return sig;
  }
  const auto& algorithm = algo::for_type(sealed_->type);
  TESSERA_ASSIGN_OR_RETURN(auto pkey, algorithm.parse_private_trusted(key_type_info(sealed_->type), r));
  // The OpenSSL key is freed (and its private parts cleared by OpenSSL) on return.
  detail::KeyData transient{sealed_->type, std::move(pkey), {}, {}};
  return algorithm.sign(transient, alg, data);
}

Result<PrivateKey> ShieldedKey::unshield() const {
  ShieldKey shield_key;
  TESSERA_TRY(shield_key.derive(sealed_->prekey));
  SecretBytes plain;
  TESSERA_TRY(sealed_->open(shield_key, plain));
  Reader r(plain.reveal());
  return PrivateKey::parse(r);
}

}  // namespace tessera::key
