// Keys for libkey's unit tests. Generating keys is slow (RSA), so each test
// binary makes one per type and index, and shares it.
#ifndef TESSERA_TESTS_LIBKEY_TEST_KEYS_H_
#define TESSERA_TESTS_LIBKEY_TEST_KEYS_H_

#include <cstdlib>
#include <map>
#include <utility>

#include "tessera/key/key.h"

namespace tessera::key {

// RSA keys are 2048 bits; `which` tells apart several keys of one type.
inline const PrivateKey& test_key(KeyType type, int which = 0) {
  static std::map<std::pair<KeyType, int>, PrivateKey> keys;
  auto it = keys.find({type, which});
  if (it == keys.end()) {
    auto key = PrivateKey::generate(type, type == KeyType::kRsa ? 2048 : 0);
    if (!key.ok()) std::abort();
    it = keys.emplace(std::make_pair(type, which), std::move(key).value()).first;
  }
  return it->second;
}

}  // namespace tessera::key

#endif  // TESSERA_TESTS_LIBKEY_TEST_KEYS_H_
