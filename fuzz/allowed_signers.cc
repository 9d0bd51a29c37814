// Fuzzes allowed_signers parsing (ssh-keygen(1) ALLOWED SIGNERS): the input
// as one line and as a whole file, through the strict parser and through the
// line-by-line logic of -Y find-principals and match-principals, and its
// first line as an absolute time. Bad input must fail cleanly.
#include <cstdint>
#include <span>
#include <string_view>

#include "tessera/key/sshsig.h"

using namespace tessera::key;

namespace {

// A fixed signer, so that lines holding its key reach the option and validity checks.
const KeyOrCertificate& signer() {
  static const KeyOrCertificate key = *KeyOrCertificate::from_line(
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOBswhOjlnfTMd6QfgtPGQj7nErq8uax95G0UZ6elZNP");
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = as_text(std::span(data, size));
  auto line = parse_allowed_signers_line(text);
  if (line && *line) {
    // Whatever parses as an entry keeps its key and principals.
    if ((*line)->principals.size() > text.size()) __builtin_trap();
  }
  (void)parse_allowed_signers(text);
  AllowedSignersFile file{"fuzz", text};
  Diagnostics diagnostics;
  (void)sshsig_find_principals(signer(), file, 1780000000, &diagnostics);
  (void)sshsig_match_principals(file, "alice@example.com");
  (void)parse_absolute_time(text.substr(0, text.find('\n')));
  return 0;
}
