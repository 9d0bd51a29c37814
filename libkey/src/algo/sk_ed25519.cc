// sk-ssh-ed25519@openssh.com (PROTOCOL.u2f): public keys and signature
// verification. Signing needs an authenticator.
#include "algo/algorithm.h"

namespace tessera::key::algo {
namespace {

constexpr std::string_view kSigName = "sk-ssh-ed25519@openssh.com";

class SkEd25519 final : public Algorithm {
 public:
  // string pk, string application
  Result<ossl::PkeyPtr> parse_public(const KeyTypeInfo&, Reader& in, std::string* application) const override {
    Reader probe = in;
    TESSERA_ASSIGN_OR_RETURN(auto pk, probe.string());
    TESSERA_ASSIGN_OR_RETURN(std::string_view app, probe.text());
    TESSERA_ASSIGN_OR_RETURN(auto pkey, ed25519_public_from_raw(pk));
    *application = app;
    in = probe;
    return pkey;
  }

  void write_public(const KeyData& key, Writer& out) const override {
    out.string(ed25519_raw_public(key.pkey.get()));
    out.string(key.application);
  }

  // string alg, string signature, byte flags, uint32 counter
  Status verify(const KeyData& key, std::string_view alg, Reader& sig,
                std::span<const uint8_t> data) const override {
    if (alg != kSigName) return Error(Errc::kBadSignature, "signature algorithm " + std::string(alg) + " does not match the key");
    TESSERA_ASSIGN_OR_RETURN(auto raw, sig.string());
    TESSERA_ASSIGN_OR_RETURN(uint8_t flags, sig.u8());
    TESSERA_ASSIGN_OR_RETURN(uint32_t counter, sig.u32());
    return ed25519_verify_raw(key.pkey.get(), raw, sk_signed_message(key.application, flags, counter, data));
  }

  unsigned bits(const KeyData&) const override { return 256; }

  // The 64-byte signature itself.
  Result<Bytes> security_key_signature_body(std::span<const uint8_t> sig_r,
                                            std::span<const uint8_t> sig_s) const override {
    if (sig_r.size() != 64 || !sig_s.empty()) {
      return Error(Errc::kMalformed, "an Ed25519 authenticator signature is 64 bytes, not " +
                                         std::to_string(sig_r.size()) + "+" + std::to_string(sig_s.size()));
    }
    return Bytes(sig_r.begin(), sig_r.end());
  }
};

}  // namespace

const Algorithm& sk_ed25519() {
  static const SkEd25519 instance;
  return instance;
}

}  // namespace tessera::key::algo
