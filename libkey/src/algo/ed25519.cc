// ssh-ed25519 (RFC 8709).
#include <openssl/core_names.h>

#include <cstring>

#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

constexpr size_t kPublicBytes = 32;
constexpr size_t kSeedBytes = 32;
constexpr size_t kSignatureBytes = 64;
constexpr std::string_view kSigName = "ssh-ed25519";

class Ed25519 final : public Algorithm {
 public:
  Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo&, Reader& in, std::string*) const override {
    TESSERA_ASSIGN_OR_RETURN(auto pk, in.string());
    return ed25519_public_from_raw(pk);
  }

  void write_public(const KeyData& key, Writer& out) const override {
    out.string(ed25519_raw_public(key.pkey.get()));
  }

  // PROTOCOL.key: string pk(32), string sk(64) where sk = seed || pk.
  Result<ossl::PkeyPtr> parse_private(const KeyTypeInfo&, Reader& in) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(auto pk, probe.string());
    TESSERA_ASSIGN_OR_RETURN(auto sk, probe.string());
    if (pk.size() != kPublicBytes) return Error(Errc::kInvalidKey, "ed25519 public key is not 32 bytes");
    if (sk.size() != kSeedBytes + kPublicBytes) {
      return Error(Errc::kInvalidKey, "ed25519 private key is not 64 bytes");
    }
    if (std::memcmp(sk.data() + kSeedBytes, pk.data(), kPublicBytes) != 0) {
      return Error(Errc::kInvalidKey, "ed25519 private key holds a different public key");
    }
    ossl::PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, sk.data(), kSeedBytes));
    if (!pkey) return ossl::crypto_error("ed25519 private key");
    // The seed determines the public key: check it is the one stated.
    if (ed25519_raw_public(pkey.get()) != Bytes(pk.begin(), pk.end())) {
      return Error(Errc::kInvalidKey, "ed25519 private key does not match its public key");
    }
    in = probe;
    return pkey;
  }

  Result<ossl::PkeyPtr> parse_private_trusted(const KeyTypeInfo&, Reader& in) const override {
    TESSERA_ASSIGN_OR_RETURN(auto pk, in.string());
    TESSERA_ASSIGN_OR_RETURN(auto sk, in.string());
    if (pk.size() != kPublicBytes || sk.size() != kSeedBytes + kPublicBytes) {
      return Error(Errc::kInvalidKey, "ed25519 private key has the wrong size");
    }
    // Giving OpenSSL both halves spares it deriving the public key (a scalar
    // multiplication as costly as a signature).
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(sk.data()), kSeedBytes),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(pk.data()), kPublicBytes),
        OSSL_PARAM_construct_end()};
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "ED25519", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params) != 1) {
      return ossl::crypto_error("ed25519 private key");
    }
    return ossl::PkeyPtr(raw);
  }

  void write_private(const KeyData& key, Writer& out) const override {
    Bytes pk = ed25519_raw_public(key.pkey.get());
    SecretBytes sk(kSeedBytes + kPublicBytes);
    size_t len = kSeedBytes;
    if (EVP_PKEY_get_raw_private_key(key.pkey.get(), sk.reveal_mutable().data(), &len) != 1 ||
        len != kSeedBytes) {
      std::abort();  // a PrivateKey always has its seed
    }
    std::memcpy(sk.reveal_mutable().data() + kSeedBytes, pk.data(), kPublicBytes);
    out.string(pk);
    out.string(sk.reveal());
  }

  Result<ossl::PkeyPtr> generate(const KeyTypeInfo&, unsigned bits) const override {
    if (bits != 0 && bits != 256) return Error(Errc::kInvalidArgument, "ed25519 keys are always 256 bits");
    ossl::PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!pkey) return ossl::crypto_error("ed25519 key generation");
    return pkey;
  }

  Result<Bytes> sign(const KeyData& key, SignatureAlgorithm, std::span<const uint8_t> data) const override {
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    uint8_t sig[kSignatureBytes];
    size_t sig_len = sizeof sig;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &sig_len, data.data(), data.size()) != 1 || sig_len != kSignatureBytes) {
      return ossl::crypto_error("ed25519 signature");
    }
    return signature_blob(kSigName, sig);
  }

  Status verify(const KeyData& key, std::string_view alg, Reader& sig,
                std::span<const uint8_t> data) const override {
    if (alg != kSigName) return Error(Errc::kBadSignature, "signature algorithm " + std::string(alg) + " does not match an ed25519 key");
    TESSERA_ASSIGN_OR_RETURN(auto raw, sig.string());
    return ed25519_verify_raw(key.pkey.get(), raw, data);
  }

  unsigned bits(const KeyData&) const override { return 256; }
};

}  // namespace

const Algorithm& ed25519() {
  static const Ed25519 instance;
  return instance;
}

Result<ossl::PkeyPtr> ed25519_public_from_raw(std::span<const uint8_t> raw) {
  if (raw.size() != kPublicBytes) {
    return Error(Errc::kInvalidKey, "ed25519 public key is " + std::to_string(raw.size()) + " bytes, not 32");
  }
  ossl::PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!pkey) return ossl::crypto_error("ed25519 public key");
  return pkey;
}

Bytes ed25519_raw_public(EVP_PKEY* pkey) {
  Bytes out(kPublicBytes);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &len) != 1 || len != kPublicBytes) std::abort();
  return out;
}

Status ed25519_verify_raw(EVP_PKEY* pkey, std::span<const uint8_t> sig, std::span<const uint8_t> msg) {
  if (sig.size() != kSignatureBytes) return Error(Errc::kBadSignature, "ed25519 signature is not 64 bytes");
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey) != 1) {
    return ossl::crypto_error("ed25519 verification");
  }
  if (EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kBadSignature, "ed25519 signature does not verify");
  }
  return {};
}

}  // namespace tessera::key::algo
