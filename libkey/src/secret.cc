#include "tessera/key/secret.h"

#include <openssl/crypto.h>

namespace tessera::key {

void secure_wipe(void* data, size_t len) {
  if (data != nullptr && len != 0) OPENSSL_cleanse(data, len);
}

bool SecretBytes::equals(const SecretBytes& other) const {
  if (bytes_.size() != other.bytes_.size()) return false;
  if (bytes_.empty()) return true;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

}  // namespace tessera::key
