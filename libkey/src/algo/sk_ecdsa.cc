// sk-ecdsa-sha2-nistp256@openssh.com (PROTOCOL.u2f): public keys and
// signature verification. Signing needs an authenticator.
#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

constexpr std::string_view kSigName = "sk-ecdsa-sha2-nistp256@openssh.com";

class SkEcdsa final : public Algorithm {
 public:
  // string curve, string Q, string application
  Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo& info, Reader& in, std::string* application) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(std::string_view curve, probe.text());
    if (curve != info.curve) return Error(Errc::kInvalidKey, "curve does not match key type");
    TESSERA_ASSIGN_OR_RETURN(auto point, probe.string());
    TESSERA_ASSIGN_OR_RETURN(std::string_view app, probe.text());
    TESSERA_ASSIGN_OR_RETURN(auto pkey, ec_public_from_point(curve, point));
    *application = app;
    in = probe;
    return pkey;
  }

  void write_public(const KeyData& key, Writer& out) const override {
    out.string(key_type_info(key.type).curve);
    out.string(ec_public_point(key.pkey.get()));
    out.string(key.application);
  }

  // string alg, string (mpint r, mpint s), byte flags, uint32 counter
  Status verify(const KeyData& key, std::string_view alg, Reader& sig,
                std::span<const uint8_t> data) const override {
    if (alg != kSigName) return Error(Errc::kBadSignature, "signature algorithm " + std::string(alg) + " does not match the key");
    TESSERA_ASSIGN_OR_RETURN(Reader body, sig.child());
    TESSERA_ASSIGN_OR_RETURN(uint8_t flags, sig.u8());
    TESSERA_ASSIGN_OR_RETURN(uint32_t counter, sig.u32());
    TESSERA_TRY(ecdsa_verify_rs(key.pkey.get(), EVP_sha256(), body,
                                sk_signed_message(key.application, flags, counter, data)));
    return body.expect_end();
  }

  unsigned bits(const KeyData&) const override { return 256; }

  // mpint r, mpint s (the authenticator's DER signature already split).
  Result<Bytes> security_key_signature_body(std::span<const uint8_t> sig_r,
                                            std::span<const uint8_t> sig_s) const override {
    constexpr size_t kMaxScalarBytes = 33;  // a P-256 scalar, perhaps with a leading zero
    if (sig_r.empty() || sig_s.empty() || sig_r.size() > kMaxScalarBytes || sig_s.size() > kMaxScalarBytes) {
      return Error(Errc::kMalformed, "an ECDSA authenticator signature has r and s of 1 to 33 bytes, not " +
                                         std::to_string(sig_r.size()) + " and " + std::to_string(sig_s.size()));
    }
    Writer w;
    w.mpint(sig_r);
    w.mpint(sig_s);
    return w.take();
  }
};

}  // namespace

const Algorithm& sk_ecdsa() {
  static const SkEcdsa instance;
  return instance;
}

}  // namespace tessera::key::algo
