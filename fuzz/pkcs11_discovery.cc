// Fuzzes the helper's decoding of token attributes (pkcs11-helper/src/
// discovery.cc): the first byte picks RSA modulus and exponent, EC or EdDSA
// CKA_EC_PARAMS and CKA_EC_POINT (DER OCTET STRING or bare), or an X.509
// certificate (CKA_VALUE); a two-byte length splits the two attributes.
#include <cstdint>
#include <span>

#include "discovery.h"

using namespace tessera::pkcs11::helper;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0];
  std::span<const uint8_t> rest(data + 1, size - 1);
  if (kind % 4 == 3) {
    (void)certificate_public_key(rest);
    return 0;
  }
  if (rest.size() < 2) return 0;
  size_t split = (size_t{rest[0]} << 8) | rest[1];
  rest = rest.subspan(2);
  if (split > rest.size()) split = rest.size();
  auto first = rest.first(split);
  auto second = rest.subspan(split);
  switch (kind % 4) {
    case 0: (void)rsa_public_key(first, second); break;
    case 1: (void)ec_public_key(first, second); break;
    case 2: (void)eddsa_public_key(first, second); break;
  }
  return 0;
}
