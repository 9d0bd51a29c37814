// ssh-rsa keys with ssh-rsa (SHA-1), rsa-sha2-256 and rsa-sha2-512 signatures (RFC 8332).
#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <vector>

#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

// RFC 8017 section 9.2, note 1.
constexpr uint8_t kSha1DigestInfo[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                       0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
constexpr uint8_t kSha256DigestInfo[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                         0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
constexpr uint8_t kSha512DigestInfo[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                         0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

constexpr RsaScheme kRsaSigs[] = {
    {SignatureAlgorithm::kRsaSha1, "ssh-rsa", EVP_sha1, kSha1DigestInfo},
    {SignatureAlgorithm::kRsaSha256, "rsa-sha2-256", EVP_sha256, kSha256DigestInfo},
    {SignatureAlgorithm::kRsaSha512, "rsa-sha2-512", EVP_sha512, kSha512DigestInfo},
};

ossl::BnPtr to_bn(std::span<const uint8_t> mag) {
  return ossl::BnPtr(BN_bin2bn(mag.data(), static_cast<int>(mag.size()), nullptr));
}

void write_bn(Writer& out, const BIGNUM* bn) {
  SecretBytes mag(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, mag.reveal_mutable().data());
  out.mpint(mag.reveal());
}

ossl::BnPtr get_bn(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) std::abort();  // a valid RSA key has all parameters
  return ossl::BnPtr(bn);
}

Status check_modulus(const BIGNUM* n, const BIGNUM* e) {
  int bits = BN_num_bits(n);
  if (bits < static_cast<int>(kMinRsaReadBits)) {
    return Error(Errc::kInvalidKey, "RSA key of " + std::to_string(bits) + " bits is too small (minimum " +
                                        std::to_string(kMinRsaReadBits) + ")");
  }
  if (bits > static_cast<int>(kMaxRsaBits)) return Error(Errc::kInvalidKey, "RSA key too large");
  if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 64) {
    return Error(Errc::kInvalidKey, "RSA public exponent is invalid");
  }
  return {};
}

Result<ossl::PkeyPtr> build(const std::vector<std::pair<const char*, const BIGNUM*>>& params, int selection) {
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) return ossl::crypto_error("RSA key parameters");
  for (const auto& [name, bn] : params) {
    if (OSSL_PARAM_BLD_push_BN(bld.get(), name, bn) != 1) return ossl::crypto_error("RSA key parameters");
  }
  ossl::ParamPtr p(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!p || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, p.get()) != 1) {
    ossl::clear_errors();
    return Error(Errc::kInvalidKey, "RSA key parameters are invalid");
  }
  return ossl::PkeyPtr(raw);
}

class Rsa final : public Algorithm {
 public:
  Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo&, Reader& in, std::string*) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(auto e, probe.mpint());
    TESSERA_ASSIGN_OR_RETURN(auto n, probe.mpint());
    ossl::BnPtr bn_e = to_bn(e), bn_n = to_bn(n);
    if (!bn_e || !bn_n) return ossl::crypto_error("RSA public key");
    TESSERA_TRY(check_modulus(bn_n.get(), bn_e.get()));
    TESSERA_ASSIGN_OR_RETURN(auto pkey, build({{OSSL_PKEY_PARAM_RSA_N, bn_n.get()},
                                               {OSSL_PKEY_PARAM_RSA_E, bn_e.get()}},
                                              EVP_PKEY_PUBLIC_KEY));
    in = probe;
    return pkey;
  }

  void write_public(const KeyData& key, Writer& out) const override {
    write_bn(out, get_bn(key.pkey.get(), OSSL_PKEY_PARAM_RSA_E).get());
    write_bn(out, get_bn(key.pkey.get(), OSSL_PKEY_PARAM_RSA_N).get());
  }

  // PROTOCOL.key: mpint n, e, d, iqmp, p, q.
  Result<ossl::PkeyPtr> parse_private(const KeyTypeInfo&, Reader& in) const override {
    Reader probe = in;
    ossl::BnPtr v[6];  // n e d iqmp p q
    for (auto& bn : v) {
      TESSERA_ASSIGN_OR_RETURN(auto mag, probe.mpint());
      bn = to_bn(mag);
      if (!bn) return ossl::crypto_error("RSA private key");
    }
    const BIGNUM *n = v[0].get(), *e = v[1].get(), *d = v[2].get(), *iqmp = v[3].get(), *p = v[4].get(),
                 *q = v[5].get();
    TESSERA_TRY(check_modulus(n, e));
    // Consistency, cheaply: n = p*q, e*d = 1 mod p-1 and mod q-1, iqmp*q = 1 mod p.
    ossl::BnCtxPtr ctx(BN_CTX_new());
    ossl::BnPtr t(BN_new()), p1(BN_new()), q1(BN_new()), dmp1(BN_new()), dmq1(BN_new()), u(BN_new());
    if (!ctx || !t || !p1 || !q1 || !dmp1 || !dmq1 || !u) return ossl::crypto_error("RSA private key");
    auto fail = [] { return Error(Errc::kInvalidKey, "RSA private key is inconsistent"); };
    if (BN_is_zero(p) || BN_is_zero(q) || BN_is_zero(d) || BN_is_one(p) || BN_is_one(q)) return fail();
    if (BN_mul(t.get(), p, q, ctx.get()) != 1 || BN_cmp(t.get(), n) != 0) return fail();
    if (BN_sub(p1.get(), p, BN_value_one()) != 1 || BN_sub(q1.get(), q, BN_value_one()) != 1 ||
        BN_mod(dmp1.get(), d, p1.get(), ctx.get()) != 1 || BN_mod(dmq1.get(), d, q1.get(), ctx.get()) != 1) {
      return fail();
    }
    for (BIGNUM* m : {p1.get(), q1.get()}) {
      if (BN_mod_mul(u.get(), e, d, m, ctx.get()) != 1 || !BN_is_one(u.get())) return fail();
    }
    if (BN_mod_mul(u.get(), iqmp, q, p, ctx.get()) != 1 || !BN_is_one(u.get())) return fail();
    TESSERA_ASSIGN_OR_RETURN(auto pkey, build({{OSSL_PKEY_PARAM_RSA_N, n},
                                               {OSSL_PKEY_PARAM_RSA_E, e},
                                               {OSSL_PKEY_PARAM_RSA_D, d},
                                               {OSSL_PKEY_PARAM_RSA_FACTOR1, p},
                                               {OSSL_PKEY_PARAM_RSA_FACTOR2, q},
                                               {OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1.get()},
                                               {OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1.get()},
                                               {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp}},
                                              EVP_PKEY_KEYPAIR));
    in = probe;
    return pkey;
  }

  void write_private(const KeyData& key, Writer& out) const override {
    EVP_PKEY* k = key.pkey.get();
    for (const char* name : {OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
                             OSSL_PKEY_PARAM_RSA_COEFFICIENT1, OSSL_PKEY_PARAM_RSA_FACTOR1,
                             OSSL_PKEY_PARAM_RSA_FACTOR2}) {
      write_bn(out, get_bn(k, name).get());
    }
  }

  Result<ossl::PkeyPtr> generate(const KeyTypeInfo&, unsigned bits) const override {
    if (bits == 0) bits = kDefaultRsaBits;
    if (bits < kMinRsaGenerateBits) {
      return Error(Errc::kInvalidArgument, "RSA keys shorter than " + std::to_string(kMinRsaGenerateBits) +
                                               " bits are not generated: use -b 2048 or more (default " +
                                               std::to_string(kDefaultRsaBits) + ")");
    }
    if (bits > kMaxRsaBits) {
      return Error(Errc::kInvalidArgument, "Invalid RSA key length: maximum is " + std::to_string(kMaxRsaBits) + " bits");
    }
    ossl::PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
    if (!pkey) return ossl::crypto_error("RSA key generation");
    return pkey;
  }

  Result<Bytes> sign(const KeyData& key, SignatureAlgorithm alg, std::span<const uint8_t> data) const override {
    TESSERA_ASSIGN_OR_RETURN(const RsaScheme* info, rsa_scheme(alg));
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    size_t sig_len = static_cast<size_t>(EVP_PKEY_get_size(key.pkey.get()));
    Bytes sig(sig_len);
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, info->md(), nullptr, key.pkey.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_DigestSign(ctx.get(), sig.data(), &sig_len, data.data(), data.size()) != 1) {
      return ossl::crypto_error("RSA signature");
    }
    sig.resize(sig_len);
    return signature_blob(info->name, sig);
  }

  Status verify(const KeyData& key, std::string_view alg, Reader& sig,
                std::span<const uint8_t> data) const override {
    const RsaScheme* info = nullptr;
    for (const auto& s : kRsaSigs) {
      if (s.name == alg) info = &s;
    }
    if (info == nullptr) return Error(Errc::kBadSignature, "signature algorithm " + std::string(alg) + " does not match an RSA key");
    TESSERA_ASSIGN_OR_RETURN(auto raw, sig.string());
    size_t mod_len = static_cast<size_t>(EVP_PKEY_get_size(key.pkey.get()));
    if (raw.size() > mod_len) return Error(Errc::kBadSignature, "RSA signature longer than the modulus");
    // Some signers drop leading zero bytes; OpenSSH accepts that, so do we.
    Bytes padded(mod_len - raw.size(), 0);
    padded.insert(padded.end(), raw.begin(), raw.end());
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, info->md(), nullptr, key.pkey.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
      return ossl::crypto_error("RSA verification");
    }
    if (EVP_DigestVerify(ctx.get(), padded.data(), padded.size(), data.data(), data.size()) != 1) {
      ossl::clear_errors();
      return Error(Errc::kBadSignature, "RSA signature does not verify");
    }
    return {};
  }

  unsigned bits(const KeyData& key) const override {
    return static_cast<unsigned>(EVP_PKEY_get_bits(key.pkey.get()));
  }
};

}  // namespace

const Algorithm& rsa() {
  static const Rsa instance;
  return instance;
}

Result<const RsaScheme*> rsa_scheme(SignatureAlgorithm alg) {
  if (alg == SignatureAlgorithm::kDefault) alg = SignatureAlgorithm::kRsaSha1;
  for (const auto& s : kRsaSigs) {
    if (s.alg == alg) return &s;
  }
  return Error(Errc::kInvalidArgument, "not an RSA signature algorithm");
}

}  // namespace tessera::key::algo

namespace tessera::key {

std::span<const uint8_t> rsa_digest_info_prefix(SignatureAlgorithm alg) {
  auto scheme = algo::rsa_scheme(alg);
  return scheme.ok() ? (*scheme)->digest_info : std::span<const uint8_t>();
}

}  // namespace tessera::key
