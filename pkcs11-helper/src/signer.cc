#include "signer.h"

#include <openssl/evp.h>

#include "tessera/key/wire.h"

namespace tessera::pkcs11::helper {

namespace {

using key::KeyType;

key::Result<Bytes> digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != out.size()) {
    return helper_error(ErrorCode::kInternal, "hashing the data failed");
  }
  return out;
}

key::Error wrong_algorithm(std::string_view algorithm, const key::PublicKey& key) {
  return helper_error(ErrorCode::kUnsupported, "signature algorithm '" + std::string(algorithm) +
                                                  "' does not fit a " + std::string(key.ssh_name()) + " key");
}

}  // namespace

key::Result<SignPlan> plan_signature(const key::PublicKey& key, std::string_view algorithm,
                                 std::span<const uint8_t> data, const std::set<CK_MECHANISM_TYPE>& mechanisms) {
  SignPlan plan;
  plan.algorithm = std::string(algorithm);
  switch (key.type()) {
    case KeyType::kRsa: {
      plan.kind = SignPlan::Kind::kRsa;
      const EVP_MD* md = nullptr;
      std::span<const uint8_t> prefix;
      CK_MECHANISM_TYPE combined = 0;
      if (algorithm == "rsa-sha2-256") {
        md = EVP_sha256(), prefix = key::rsa_digest_info_prefix(key::SignatureAlgorithm::kRsaSha256), combined = CKM_SHA256_RSA_PKCS;
      } else if (algorithm == "rsa-sha2-512") {
        md = EVP_sha512(), prefix = key::rsa_digest_info_prefix(key::SignatureAlgorithm::kRsaSha512), combined = CKM_SHA512_RSA_PKCS;
      } else if (algorithm == "ssh-rsa") {
        md = EVP_sha1(), prefix = key::rsa_digest_info_prefix(key::SignatureAlgorithm::kRsaSha1), combined = CKM_SHA1_RSA_PKCS;
      } else {
        return wrong_algorithm(algorithm, key);
      }
      if (mechanisms.count(combined) != 0) {
        plan.mechanism = combined;
        plan.input.assign(data.begin(), data.end());
        return plan;
      }
      auto hash = digest(md, data);
      if (!hash.ok()) return hash.error();
      plan.mechanism = CKM_RSA_PKCS;
      plan.input.assign(prefix.begin(), prefix.end());
      plan.input.insert(plan.input.end(), (*hash).begin(), (*hash).end());
      return plan;
    }
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521: {
      if (algorithm != key.ssh_name()) return wrong_algorithm(algorithm, key);
      plan.kind = SignPlan::Kind::kEcdsa;
      plan.mechanism = CKM_ECDSA;
      const EVP_MD* md = key.type() == KeyType::kEcdsaP256   ? EVP_sha256()
                         : key.type() == KeyType::kEcdsaP384 ? EVP_sha384()
                                                             : EVP_sha512();
      plan.ec_scalar_bytes = key.type() == KeyType::kEcdsaP256 ? 32 : key.type() == KeyType::kEcdsaP384 ? 48 : 66;
      auto hash = digest(md, data);
      if (!hash.ok()) return hash.error();
      plan.input = std::move((*hash));
      return plan;
    }
    case KeyType::kEd25519:
      if (algorithm != "ssh-ed25519") return wrong_algorithm(algorithm, key);
      plan.kind = SignPlan::Kind::kEd25519;
      plan.mechanism = CKM_EDDSA;
      plan.input.assign(data.begin(), data.end());
      return plan;
    default:
      return helper_error(ErrorCode::kUnsupported, "the helper cannot sign with " + std::string(key.ssh_name()) + " keys");
  }
}

key::Result<Bytes> ssh_signature(const SignPlan& plan, std::span<const uint8_t> raw) {
  key::Writer blob;
  blob.string(plan.algorithm);
  switch (plan.kind) {
    case SignPlan::Kind::kRsa:
      if (raw.empty()) return helper_error(ErrorCode::kModuleError, "the token returned an empty RSA signature");
      blob.string(raw);
      break;
    case SignPlan::Kind::kEd25519:
      if (raw.size() != 64) return helper_error(ErrorCode::kModuleError, "the token's Ed25519 signature is not 64 bytes");
      blob.string(raw);
      break;
    case SignPlan::Kind::kEcdsa: {
      if (raw.size() != 2 * plan.ec_scalar_bytes) {
        return helper_error(ErrorCode::kModuleError, "the token's ECDSA signature has the wrong length");
      }
      key::Writer rs;
      rs.mpint(raw.first(plan.ec_scalar_bytes));
      rs.mpint(raw.subspan(plan.ec_scalar_bytes));
      blob.string(rs);
      break;
    }
  }
  return blob.take();
}

key::Result<Bytes> token_sign(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session, const PrivateKeyObject& key,
                          const SignPlan& plan, const key::SecretBytes* context_pin) {
  if (key.always_authenticate && context_pin == nullptr) {
    return helper_error(ErrorCode::kNotLoggedIn, "this key needs its PIN for every signature (CKA_ALWAYS_AUTHENTICATE): send the context PIN");
  }
  CK_MECHANISM mechanism{plan.mechanism, nullptr, 0};
  CK_RV rv = api->C_SignInit(session, &mechanism, key.handle);
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_SignInit");
  if (key.always_authenticate) {
    auto pin = context_pin->reveal();
    rv = api->C_Login(session, CKU_CONTEXT_SPECIFIC, const_cast<CK_UTF8CHAR_PTR>(pin.data()),
                      static_cast<CK_ULONG>(pin.size()));
    // On failure the signing operation stays active: the caller closes the session.
    if (rv != CKR_OK) {
      return failure_from_ckr(rv, "C_Login(CKU_CONTEXT_SPECIFIC)");
    }
  }
  Bytes raw(kMaxRawSignatureBytes);
  CK_ULONG raw_len = static_cast<CK_ULONG>(raw.size());
  rv = api->C_Sign(session, const_cast<uint8_t*>(plan.input.data()), static_cast<CK_ULONG>(plan.input.size()),
                   raw.data(), &raw_len);
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_Sign");
  if (raw_len > raw.size()) return helper_error(ErrorCode::kModuleError, "the token's signature length is impossible");
  raw.resize(raw_len);
  return raw;
}

}  // namespace tessera::pkcs11::helper
