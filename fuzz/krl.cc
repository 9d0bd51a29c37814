// Fuzzes KRL parsing (PROTOCOL.krl). Whatever parses must answer queries,
// print, and survive a round trip: the canonical content written by tessera
// reads back as the same content.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tessera/key/krl.h"

using namespace tessera::key;

namespace {

struct Probes {
  PublicKey key;
  Certificate cert;
};

// A key and a certificate to ask every KRL about (made once: key generation is slow).
const Probes& probes() {
  static const Probes p = [] {
    auto subject = PrivateKey::generate(KeyType::kEd25519);
    auto ca = PrivateKey::generate(KeyType::kEd25519);
    if (!subject.ok() || !ca.ok()) std::abort();
    Certificate cert{.key = subject->public_key(), .nonce = Bytes(32, 1), .serial = 5, .key_id = "a",
                     .principals = {}, .critical_options = {}, .extensions = {}, .reserved = {},
                     .signature_key = ca->public_key(), .signature = {}};
    auto sig = ca->sign(certificate_signed_data(cert));
    if (!sig.ok()) std::abort();
    cert.signature = *sig;
    return Probes{subject->public_key(), std::move(cert)};
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto krl = Krl::parse(std::span(data, size));
  if (!krl) return 0;
  (void)krl->is_revoked(probes().key);
  (void)krl->is_revoked(probes().cert);
  (void)krl->verify_signed_by(probes().key);
  (void)krl_dump(*krl);

  KrlContents contents = krl->contents();
  contents.generated_date = 1;
  Bytes again = serialize_krl(contents);
  auto reread = Krl::parse(std::span<const uint8_t>(again));
  if (!reread || !(reread->contents() == contents)) __builtin_trap();
  return 0;
}
