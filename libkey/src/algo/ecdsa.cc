// ecdsa-sha2-nistp256/384/521 (RFC 5656).
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>

#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

const EVP_MD* digest_for(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP384: return EVP_sha384();
    case KeyType::kEcdsaP521: return EVP_sha512();
    default: return EVP_sha256();
  }
}

// Bytes of a field element (and of the order) for the curve.
size_t field_bytes(std::string_view ssh_curve) {
  if (ssh_curve == "nistp384") return 48;
  if (ssh_curve == "nistp521") return 66;
  return 32;
}

Result<ossl::PkeyPtr> build_ec(std::string_view ssh_curve, std::span<const uint8_t> point, const BIGNUM* priv,
                               bool validate = true) {
  std::string_view group = ec_group_name(ssh_curve);
  if (group.empty()) return Error(Errc::kUnsupported, "unsupported ECDSA curve " + std::string(ssh_curve));
  // SSH carries uncompressed points only (RFC 5656 section 3.1 allows
  // compression, but OpenSSH neither writes nor reads it).
  if (point.size() != 1 + 2 * field_bytes(ssh_curve) || point[0] != 0x04) {
    return Error(Errc::kInvalidKey, "ECDSA public key is not an uncompressed " + std::string(ssh_curve) + " point");
  }
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1 ||
      (priv != nullptr && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)) {
    return ossl::crypto_error("ECDSA key parameters");
  }
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  int selection = priv != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "ECDSA public key is not a point on " + std::string(ssh_curve));
  }
  ossl::PkeyPtr pkey(raw);
  if (!validate) return pkey;
  // Full public check: on the curve, not infinity, of the group's order.
  ossl::PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "ECDSA public key fails validation");
  }
  if (priv != nullptr && EVP_PKEY_pairwise_check(check.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "ECDSA private key does not match its public key");
  }
  return pkey;
}

class Ecdsa final : public Algorithm {
 public:
  Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo& info, Reader& in, std::string*) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(std::string_view curve, probe.text());
    if (curve != info.curve) {
      return Error(Errc::kInvalidKey, "curve " + std::string(curve) + " does not match key type " + std::string(info.ssh_name));
    }
    TESSERA_ASSIGN_OR_RETURN(auto point, probe.string());
    TESSERA_ASSIGN_OR_RETURN(auto pkey, ec_public_from_point(curve, point));
    in = probe;
    return pkey;
  }

  void write_public(const KeyData& key, Writer& out) const override {
    out.string(key_type_info(key.type).curve);
    out.string(ec_public_point(key.pkey.get()));
  }

  // PROTOCOL.key: string curve, string Q, mpint d.
  Result<ossl::PkeyPtr> parse_private(const KeyTypeInfo& info, Reader& in) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(std::string_view curve, probe.text());
    if (curve != info.curve) return Error(Errc::kInvalidKey, "curve does not match key type");
    TESSERA_ASSIGN_OR_RETURN(auto point, probe.string());
    TESSERA_ASSIGN_OR_RETURN(auto d, probe.mpint());
    if (d.empty() || d.size() > field_bytes(curve)) {
      return Error(Errc::kInvalidKey, "ECDSA private scalar out of range");
    }
    ossl::BnPtr priv(BN_bin2bn(d.data(), static_cast<int>(d.size()), nullptr));
    if (!priv) return ossl::crypto_error("ECDSA private key");
    TESSERA_ASSIGN_OR_RETURN(auto pkey, build_ec(curve, point, priv.get()));
    in = probe;
    return pkey;
  }

  Result<ossl::PkeyPtr> parse_private_trusted(const KeyTypeInfo&, Reader& in) const override {
    TESSERA_ASSIGN_OR_RETURN(std::string_view curve, in.text());
    TESSERA_ASSIGN_OR_RETURN(auto point, in.string());
    TESSERA_ASSIGN_OR_RETURN(auto d, in.mpint());
    ossl::BnPtr priv(BN_bin2bn(d.data(), static_cast<int>(d.size()), nullptr));
    if (!priv) return ossl::crypto_error("ECDSA private key");
    return build_ec(curve, point, priv.get(), /*validate=*/false);
  }

  void write_private(const KeyData& key, Writer& out) const override {
    write_public(key, out);
    BIGNUM* d = nullptr;
    if (EVP_PKEY_get_bn_param(key.pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) std::abort();
    ossl::BnPtr owned(d);
    SecretBytes mag(static_cast<size_t>(BN_num_bytes(d)));
    BN_bn2bin(d, mag.reveal_mutable().data());
    out.mpint(mag.reveal());
  }

  Result<ossl::PkeyPtr> generate(const KeyTypeInfo& info, unsigned) const override {
    std::string group(ec_group_name(info.curve));
    ossl::PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group.c_str()));
    if (!pkey) return ossl::crypto_error("ECDSA key generation");
    return pkey;
  }

  Result<Bytes> sign(const KeyData& key, SignatureAlgorithm, std::span<const uint8_t> data) const override {
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    uint8_t der[160];
    size_t der_len = sizeof der;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest_for(key.type), nullptr, key.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), der, &der_len, data.data(), data.size()) != 1) {
      return ossl::crypto_error("ECDSA signature");
    }
    const uint8_t* p = der;
    EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    if (!sig) return ossl::crypto_error("ECDSA signature encoding");
    Writer body;
    for (const BIGNUM* v : {ECDSA_SIG_get0_r(sig.get()), ECDSA_SIG_get0_s(sig.get())}) {
      Bytes mag(static_cast<size_t>(BN_num_bytes(v)));
      BN_bn2bin(v, mag.data());
      body.mpint(mag);
    }
    return signature_blob(key_type_info(key.type).ssh_name, body.data());
  }

  Status verify(const KeyData& key, std::string_view alg, Reader& sig,
                std::span<const uint8_t> data) const override {
    if (alg != key_type_info(key.type).ssh_name) {
      return Error(Errc::kBadSignature, "signature algorithm " + std::string(alg) + " does not match the key");
    }
    TESSERA_ASSIGN_OR_RETURN(Reader body, sig.child());
    TESSERA_TRY(ecdsa_verify_rs(key.pkey.get(), digest_for(key.type), body, data));
    return body.expect_end();
  }

  unsigned bits(const KeyData& key) const override {
    switch (key.type) {
      case KeyType::kEcdsaP384: return 384;
      case KeyType::kEcdsaP521: return 521;
      default: return 256;
    }
  }
};

}  // namespace

const Algorithm& ecdsa() {
  static const Ecdsa instance;
  return instance;
}

std::string_view ec_group_name(std::string_view ssh_curve) {
  if (ssh_curve == "nistp256") return "prime256v1";
  if (ssh_curve == "nistp384") return "secp384r1";
  if (ssh_curve == "nistp521") return "secp521r1";
  return {};
}

Result<ossl::PkeyPtr> ec_public_from_point(std::string_view ssh_curve, std::span<const uint8_t> point) {
  return build_ec(ssh_curve, point, nullptr);
}

Bytes ec_public_point(EVP_PKEY* pkey) {
  uint8_t buf[1 + 2 * 66];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1) std::abort();
  if (len > 0 && buf[0] != 0x04) {
    // A key decoded from a file may use compressed form; SSH wants uncompressed.
    uint8_t unc[1 + 2 * 66];
    size_t ulen = 0;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, unc, sizeof unc, &ulen) == 1 &&
        ulen > 0 && unc[0] == 0x04) {
      return Bytes(unc, unc + ulen);
    }
    ossl::clear_errors();
  }
  return Bytes(buf, buf + len);
}

Status ecdsa_verify_rs(EVP_PKEY* pkey, const EVP_MD* md, Reader& sig, std::span<const uint8_t> msg) {
  TESSERA_ASSIGN_OR_RETURN(auto r, sig.mpint());
  TESSERA_ASSIGN_OR_RETURN(auto s, sig.mpint());
  ossl::BnPtr rb(BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr));
  ossl::BnPtr sb(BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
  EcdsaSigPtr esig(ECDSA_SIG_new());
  if (!rb || !sb || !esig || ECDSA_SIG_set0(esig.get(), rb.get(), sb.get()) != 1) {
    return ossl::crypto_error("ECDSA signature");
  }
  rb.release();  // owned by esig now
  sb.release();
  uint8_t* der = nullptr;
  int der_len = i2d_ECDSA_SIG(esig.get(), &der);
  if (der_len <= 0) return ossl::crypto_error("ECDSA signature encoding");
  ossl::OpensslBytesPtr der_owner(der);
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) {
    return ossl::crypto_error("ECDSA verification");
  }
  if (EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(der_len), msg.data(), msg.size()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kBadSignature, "ECDSA signature does not verify");
  }
  return {};
}

}  // namespace tessera::key::algo
