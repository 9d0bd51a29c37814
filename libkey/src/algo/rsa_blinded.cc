// RSA signatures for shielded keys with a kept blinding pair: see rsa_blinded.h.
//
// OpenSSL 3's providers offer no way to sign with a blinding pair of the
// caller's, nor to turn blinding off for one operation, so this file uses the
// RSA object API (deprecated in 3.0, still in every 3.x): RSA_FLAG_NO_BLINDING
// and a raw RSA_private_encrypt, with the blinding done here around it.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "algo/rsa_blinded.h"

#include <openssl/rsa.h>

#include <array>
#include <cstring>

#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

using RsaPtr = std::unique_ptr<RSA, ossl::Deleter<RSA_free>>;
using MontPtr = std::unique_ptr<BN_MONT_CTX, ossl::Deleter<BN_MONT_CTX_free>>;

// EMSA-PKCS1-v1_5 (RFC 8017 section 9.2): 00 01 FF..FF 00 DigestInfo, k bytes.
Result<Bytes> encode_message(const RsaScheme& scheme, std::span<const uint8_t> data, size_t k) {
  std::span<const uint8_t> prefix = scheme.digest_info;
  std::array<uint8_t, EVP_MAX_MD_SIZE> hash;
  unsigned hash_len = 0;
  if (EVP_Digest(data.data(), data.size(), hash.data(), &hash_len, scheme.md(), nullptr) != 1) {
    return ossl::crypto_error("RSA signature digest");
  }
  size_t t_len = prefix.size() + hash_len;
  if (k < t_len + 11) return Error(Errc::kInvalidKey, "RSA key too small for this signature algorithm");
  Bytes em(k, 0xff);
  em[0] = 0x00;
  em[1] = 0x01;
  em[k - t_len - 1] = 0x00;
  std::memcpy(em.data() + k - t_len, prefix.data(), prefix.size());
  std::memcpy(em.data() + k - hash_len, hash.data(), hash_len);
  return em;
}

ossl::BnPtr read_bn(Reader& in, Status& status) {
  auto mag = in.mpint();
  if (!mag.ok()) {
    status = mag.error();
    return nullptr;
  }
  ossl::BnPtr bn(BN_bin2bn(mag->data(), static_cast<int>(mag->size()), nullptr));
  if (!bn) status = ossl::crypto_error("RSA private key");
  return bn;
}

// A fresh pair: r random in [1, n), Ai = r^-1, A = r^e, in Montgomery form.
Status fresh_blinding(RsaBlinding& b, const BIGNUM* n, const BIGNUM* e, BN_MONT_CTX* mont, BN_CTX* ctx) {
  ossl::BnPtr r(BN_new()), a(BN_new());
  if (!r || !a) return ossl::crypto_error("RSA blinding");
  BN_set_flags(r.get(), BN_FLG_CONSTTIME);
  for (int attempt = 0;; ++attempt) {
    if (attempt == 32 || BN_priv_rand_range(r.get(), n) != 1) return ossl::crypto_error("RSA blinding");
    if (BN_is_zero(r.get())) continue;
    ossl::BnPtr ai(BN_mod_inverse(nullptr, r.get(), n, ctx));
    if (!ai) {  // r shares a factor with n: astronomically unlikely; draw again
      ossl::clear_errors();
      continue;
    }
    if (BN_mod_exp_mont_consttime(a.get(), r.get(), e, n, ctx, mont) != 1 ||
        BN_to_montgomery(a.get(), a.get(), mont, ctx) != 1 || BN_to_montgomery(ai.get(), ai.get(), mont, ctx) != 1) {
      return ossl::crypto_error("RSA blinding");
    }
    b.a = std::move(a);
    b.ai = std::move(ai);
    b.uses = 0;
    return {};
  }
}

}  // namespace

SecretBytes RsaBlinding::serialize(size_t modulus_bytes) const {
  if (!a || !ai) return {};
  SecretBytes out(2 * modulus_bytes + 4);
  uint8_t* p = out.reveal_mutable().data();
  if (BN_bn2binpad(a.get(), p, static_cast<int>(modulus_bytes)) < 0 ||
      BN_bn2binpad(ai.get(), p + modulus_bytes, static_cast<int>(modulus_bytes)) < 0) {
    return {};
  }
  p += 2 * modulus_bytes;
  p[0] = static_cast<uint8_t>(uses >> 24);
  p[1] = static_cast<uint8_t>(uses >> 16);
  p[2] = static_cast<uint8_t>(uses >> 8);
  p[3] = static_cast<uint8_t>(uses);
  return out;
}

RsaBlinding RsaBlinding::parse(std::span<const uint8_t> data, size_t modulus_bytes) {
  RsaBlinding b;
  if (data.size() != 2 * modulus_bytes + 4) return b;
  int len = static_cast<int>(modulus_bytes);
  b.a.reset(BN_bin2bn(data.data(), len, nullptr));
  b.ai.reset(BN_bin2bn(data.data() + modulus_bytes, len, nullptr));
  const uint8_t* u = data.data() + 2 * modulus_bytes;
  b.uses = (unsigned{u[0]} << 24) | (unsigned{u[1]} << 16) | (unsigned{u[2]} << 8) | unsigned{u[3]};
  if (!b.a || !b.ai) return {};
  BN_set_flags(b.ai.get(), BN_FLG_CONSTTIME);
  return b;
}

Result<Bytes> rsa_sign_blinded(Reader& private_fields, SignatureAlgorithm alg, std::span<const uint8_t> data,
                               RsaBlinding& blinding) {
  TESSERA_ASSIGN_OR_RETURN(const RsaScheme* scheme, rsa_scheme(alg));
  Status status;
  ossl::BnPtr v[6];  // n e d iqmp p q
  for (auto& bn : v) {
    bn = read_bn(private_fields, status);
    if (!bn) return status.error();
  }
  auto& [n, e, d, iqmp, p, q] = v;
  ossl::BnCtxPtr ctx(BN_CTX_new());
  MontPtr mont(BN_MONT_CTX_new());
  ossl::BnPtr p1(BN_new()), q1(BN_new()), dmp1(BN_new()), dmq1(BN_new());
  if (!ctx || !mont || !p1 || !q1 || !dmp1 || !dmq1 || BN_MONT_CTX_set(mont.get(), n.get(), ctx.get()) != 1) {
    return ossl::crypto_error("RSA signature");
  }
  for (BIGNUM* secret : {d.get(), p.get(), q.get(), iqmp.get(), p1.get(), q1.get(), dmp1.get(), dmq1.get()}) {
    BN_set_flags(secret, BN_FLG_CONSTTIME);
  }
  if (BN_sub(p1.get(), p.get(), BN_value_one()) != 1 || BN_sub(q1.get(), q.get(), BN_value_one()) != 1 ||
      BN_mod(dmp1.get(), d.get(), p1.get(), ctx.get()) != 1 || BN_mod(dmq1.get(), d.get(), q1.get(), ctx.get()) != 1) {
    return ossl::crypto_error("RSA signature");
  }
  size_t k = static_cast<size_t>(BN_num_bytes(n.get()));
  TESSERA_ASSIGN_OR_RETURN(Bytes em, encode_message(*scheme, data, k));
  ossl::BnPtr m(BN_bin2bn(em.data(), static_cast<int>(em.size()), nullptr)), x(BN_new()), check(BN_new());
  if (!m || !x || !check) return ossl::crypto_error("RSA signature");

  // The pair goes back to `blinding` only once advanced: whatever fails on
  // the way, no pair is used twice.
  RsaBlinding pair = std::move(blinding);
  blinding = {};
  if (!pair.a || !pair.ai || pair.uses >= kRsaBlindingUses) {
    TESSERA_TRY(fresh_blinding(pair, n.get(), e.get(), mont.get(), ctx.get()));
  }
  // x = m * A mod n: the private key only ever sees m * r^e.
  if (BN_mod_mul_montgomery(x.get(), m.get(), pair.a.get(), mont.get(), ctx.get()) != 1) {
    return ossl::crypto_error("RSA signature");
  }

  RsaPtr rsa(RSA_new());
  if (!rsa) return ossl::crypto_error("RSA signature");
  // The RSA object owns the numbers from here on (and clears them when freed).
  BIGNUM* n_raw = n.release();
  BIGNUM* e_raw = e.release();
  if (RSA_set0_key(rsa.get(), n_raw, e_raw, d.release()) != 1 ||
      RSA_set0_factors(rsa.get(), p.release(), q.release()) != 1 ||
      RSA_set0_crt_params(rsa.get(), dmp1.release(), dmq1.release(), iqmp.release()) != 1) {
    return ossl::crypto_error("RSA signature");
  }
  RSA_set_flags(rsa.get(), RSA_FLAG_NO_BLINDING);
  Bytes block(k);
  if (BN_bn2binpad(x.get(), block.data(), static_cast<int>(k)) < 0 ||
      RSA_private_encrypt(static_cast<int>(k), block.data(), block.data(), rsa.get(), RSA_NO_PADDING) !=
          static_cast<int>(k) ||
      !BN_bin2bn(block.data(), static_cast<int>(k), x.get()) ||
      // s = (m * r^e)^d * r^-1 = m^d
      BN_mod_mul_montgomery(x.get(), x.get(), pair.ai.get(), mont.get(), ctx.get()) != 1 ||
      BN_mod_exp_mont(check.get(), x.get(), e_raw, n_raw, ctx.get(), mont.get()) != 1) {
    return ossl::crypto_error("RSA signature");
  }
  // A wrong result (a fault, or a broken blinding pair) is never given out.
  if (BN_cmp(check.get(), m.get()) != 0) return Error(Errc::kCrypto, "RSA signature failed its own check");
  // The next signature uses r^2.
  if (BN_mod_mul_montgomery(pair.a.get(), pair.a.get(), pair.a.get(), mont.get(), ctx.get()) == 1 &&
      BN_mod_mul_montgomery(pair.ai.get(), pair.ai.get(), pair.ai.get(), mont.get(), ctx.get()) == 1) {
    ++pair.uses;
    blinding = std::move(pair);
  }
  Bytes sig(k);
  if (BN_bn2binpad(x.get(), sig.data(), static_cast<int>(k)) < 0) return ossl::crypto_error("RSA signature");
  return signature_blob(scheme->name, sig);
}

}  // namespace tessera::key::algo
