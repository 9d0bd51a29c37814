// Fuzzes SSH signature parsing (PROTOCOL.sshsig): the armored text when the
// input starts like it, else the binary object. Whatever parses must
// serialize back to the very same bytes (armored: to what dearmoring gave),
// and verifying it must fail cleanly or succeed, never crash.
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "tessera/key/sshsig.h"

using namespace tessera::key;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  Bytes blob;
  if (as_text(input).starts_with("-----BEGIN")) {
    auto dearmored = sshsig_dearmor(as_text(input));
    if (!dearmored) return 0;
    blob = std::move(*dearmored);
    // Armor is canonical: dearmoring what sshsig_armor wrote gives the blob back.
    if (*sshsig_dearmor(sshsig_armor(blob)) != blob) __builtin_trap();
  } else {
    blob.assign(input.begin(), input.end());
  }
  auto sig = Sshsig::parse(blob);
  if (!sig) return 0;
  if (sig->blob() != blob) __builtin_trap();
  (void)sig->signer.display_type();
  (void)sig->signer.public_line();
  Bytes digest(sig->hash_algorithm == "sha256" ? 32 : 64, 0x5a);
  (void)sshsig_verify(*sig, sig->name_space, digest);
  (void)sshsig_verify(*sig, "file", digest);
  return 0;
}
