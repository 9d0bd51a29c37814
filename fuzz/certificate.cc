// Fuzzes certificate blob parsing (PROTOCOL.certkeys). Whatever parses must
// serialize back to the very same bytes (the signed data depends on it), and
// checking its signature must fail cleanly or succeed, never crash.
#include <cstdint>
#include <cstring>
#include <span>

#include "tessera/key/cert.h"

using namespace tessera::key;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cert = Certificate::from_blob(std::span(data, size));
  if (!cert) return 0;
  Bytes again = cert->blob();
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) __builtin_trap();
  Bytes signed_data = certificate_signed_data(*cert);
  if (signed_data.size() > size || std::memcmp(signed_data.data(), data, signed_data.size()) != 0) __builtin_trap();
  (void)cert->verify_signature();
  return 0;
}
