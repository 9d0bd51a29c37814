// Fuzzes public key blob parsing. Whatever parses must serialize back to the
// very same bytes (SSH public key encodings are canonical), and its
// fingerprint must be computable.
#include <cstdint>
#include <cstring>
#include <span>

#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"

using namespace tessera::key;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key = PublicKey::from_blob(std::span(data, size));
  if (!key) return 0;
  Bytes again = key->blob();
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
  (void)fingerprint(*key, FingerprintHash::kSha256);
  (void)key->bits();
  return 0;
}
