// Checks and conversions of what an authenticator returns, and the error
// mapping. Everything here treats its input as hostile: libfido2 has parsed
// the CBOR, but lengths, points and encodings are the authenticator's word.
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>

#include <memory>
#include <string>

#include "middleware.h"

namespace tessera::fido2 {
namespace {

constexpr size_t kP256FieldLen = 32;
constexpr size_t kEcdsaSigMaxDerLen = 72;  // SEQUENCE { INTEGER r, INTEGER s } for P-256

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept { Free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

Failure malformed(std::string what) {
  return Failure{SSH_SK_ERR_GENERAL, "the authenticator returned " + std::move(what)};
}

}  // namespace

void WipingAllocatorBase::wipe(void* p, size_t n) noexcept {
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

int sk_error_for(int fido_error) {
  switch (fido_error) {
    case FIDO_ERR_UNSUPPORTED_OPTION:
    case FIDO_ERR_UNSUPPORTED_ALGORITHM:
      return SSH_SK_ERR_UNSUPPORTED;
    case FIDO_ERR_PIN_REQUIRED:
    case FIDO_ERR_PIN_INVALID:
    case FIDO_ERR_OPERATION_DENIED:
      return SSH_SK_ERR_PIN_REQUIRED;
    default:
      return SSH_SK_ERR_GENERAL;
  }
}

Failure failure_for(int fido_error, std::string_view what) {
  std::string text(what);
  text += ": ";
  switch (fido_error) {
    case FIDO_ERR_PIN_REQUIRED:
      text += "the authenticator needs its PIN: give it and try again";
      break;
    case FIDO_ERR_PIN_INVALID:
      text += "wrong PIN for the authenticator: try again with the right one (a few more wrong tries lock it)";
      break;
    case FIDO_ERR_PIN_AUTH_BLOCKED:
      text += "too many wrong PINs: remove the authenticator and insert it again before the next try";
      break;
    case FIDO_ERR_PIN_BLOCKED:
      text += "the authenticator's PIN is blocked after too many wrong tries: it must be reset";
      break;
    case FIDO_ERR_PIN_NOT_SET:
      text += "the operation needs a PIN but the authenticator has none: set one first";
      break;
    case FIDO_ERR_OPERATION_DENIED:
      text += "the authenticator refused (user verification failed): try again";
      break;
    case FIDO_ERR_UNSUPPORTED_OPTION:
    case FIDO_ERR_UNSUPPORTED_ALGORITHM:
      text += "the authenticator does not support this kind of key or option";
      break;
    case FIDO_ERR_NO_CREDENTIALS:
      text += "the authenticator does not hold this key (or it needs user verification: give the PIN)";
      break;
    case FIDO_ERR_USER_ACTION_TIMEOUT:
    case FIDO_ERR_ACTION_TIMEOUT:
      text += "nobody touched the authenticator in time: try again and touch it when it blinks";
      break;
    case FIDO_ERR_KEEPALIVE_CANCEL:
      text += "the operation was cancelled";
      break;
    case FIDO_ERR_RX:
    case FIDO_ERR_TX:
      text += "no valid answer from the authenticator (it stayed silent, answered too late or sent a broken "
              "reply): check that it is inserted and not in use by another program, then try again";
      break;
    case FIDO_ERR_RX_NOT_CBOR:
    case FIDO_ERR_RX_INVALID_CBOR:
    case FIDO_ERR_INVALID_CBOR:
    case FIDO_ERR_CBOR_UNEXPECTED_TYPE:
      text += "the authenticator sent a malformed reply";
      break;
    case FIDO_ERR_INTERNAL:
      text += "the exchange with the authenticator failed (its reply could not be used): try again";
      break;
    default:
      text += "the authenticator failed (";
      text += fido_strerr(fido_error);
      text += ")";
      break;
  }
  return Failure{sk_error_for(fido_error), std::move(text)};
}

Outcome<Bytes> ecdsa_public_key(std::span<const uint8_t> x_and_y) {
  if (x_and_y.size() != 2 * kP256FieldLen) {
    return malformed("a P-256 public key of " + std::to_string(x_and_y.size()) + " bytes (expected 64)");
  }
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (group == nullptr) return Failure{SSH_SK_ERR_GENERAL, "libcrypto cannot make the P-256 group"};
  EcPointPtr point(EC_POINT_new(group.get()));
  BnPtr x(BN_bin2bn(x_and_y.data(), static_cast<int>(kP256FieldLen), nullptr));
  BnPtr y(BN_bin2bn(x_and_y.data() + kP256FieldLen, static_cast<int>(kP256FieldLen), nullptr));
  if (point == nullptr || x == nullptr || y == nullptr) return Failure{SSH_SK_ERR_GENERAL, "out of memory"};
  // Also rejects coordinates outside the field and points off the curve.
  if (EC_POINT_set_affine_coordinates(group.get(), point.get(), x.get(), y.get(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(group.get(), point.get()) == 1) {
    return malformed("a public key that is not a point on P-256");
  }
  Bytes out(1 + 2 * kP256FieldLen);
  out[0] = POINT_CONVERSION_UNCOMPRESSED;
  std::copy(x_and_y.begin(), x_and_y.end(), out.begin() + 1);
  return out;
}

Outcome<std::pair<Bytes, Bytes>> split_ecdsa_signature(std::span<const uint8_t> der) {
  if (der.empty() || der.size() > kEcdsaSigMaxDerLen) {
    return malformed("an ECDSA signature of " + std::to_string(der.size()) + " bytes");
  }
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr || p != der.data() + der.size()) {
    return malformed("an ECDSA signature that is not one DER ECDSA-Sig-Value");
  }
  // Re-encoding must give the same bytes: no BER leniency (long lengths,
  // padded integers) that would let one signature take several forms.
  unsigned char* reencoded = nullptr;
  const int reencoded_len = i2d_ECDSA_SIG(sig.get(), &reencoded);
  const bool canonical = reencoded_len == static_cast<int>(der.size()) &&
                         std::equal(der.begin(), der.end(), reencoded);
  OPENSSL_free(reencoded);
  if (!canonical) return malformed("an ECDSA signature in a non-canonical DER encoding");

  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (group == nullptr) return Failure{SSH_SK_ERR_GENERAL, "libcrypto cannot make the P-256 group"};
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  for (const BIGNUM* v : {r, s}) {
    if (BN_is_zero(v) || BN_is_negative(v) || BN_cmp(v, order) >= 0) {
      return malformed("an ECDSA signature whose r or s is outside 1..n-1");
    }
  }
  Bytes r_bytes(static_cast<size_t>(BN_num_bytes(r)));
  Bytes s_bytes(static_cast<size_t>(BN_num_bytes(s)));
  BN_bn2bin(r, r_bytes.data());
  BN_bn2bin(s, s_bytes.data());
  return std::pair{std::move(r_bytes), std::move(s_bytes)};
}

Outcome<std::span<const uint8_t>> cbor_byte_string(std::span<const uint8_t> cbor) {
  if (cbor.empty()) return malformed("empty authenticator data");
  const uint8_t initial = cbor[0];
  if ((initial >> 5) != 2) return malformed("authenticator data that is not a CBOR byte string");
  const uint8_t info = initial & 0x1f;
  size_t header = 1;
  uint64_t length = 0;
  if (info < 24) {
    length = info;
  } else if (info >= 24 && info <= 27) {
    const size_t width = size_t{1} << (info - 24);
    if (cbor.size() < 1 + width) return malformed("truncated authenticator data");
    for (size_t i = 0; i < width; ++i) length = (length << 8) | cbor[1 + i];
    header += width;
  } else {
    return malformed("authenticator data with an indefinite or reserved CBOR length");
  }
  if (length != cbor.size() - header) return malformed("authenticator data whose length does not match");
  return cbor.subspan(header);
}

Outcome<AuthDataHead> parse_authdata_head(std::span<const uint8_t> authdata) {
  constexpr size_t kHeadLen = 32 + 1 + 4;
  if (authdata.size() < kHeadLen) {
    return malformed("authenticator data of " + std::to_string(authdata.size()) + " bytes (at least 37 needed)");
  }
  AuthDataHead head;
  head.rp_id_hash = authdata.first(32);
  head.flags = authdata[32];
  head.counter = (uint32_t{authdata[33]} << 24) | (uint32_t{authdata[34]} << 16) | (uint32_t{authdata[35]} << 8) |
                 uint32_t{authdata[36]};
  return head;
}

}  // namespace tessera::fido2
