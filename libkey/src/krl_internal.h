// Internal: pieces shared by the KRL writer, reader, dump and spec parser.
#ifndef TESSERA_KEY_SRC_KRL_INTERNAL_H_
#define TESSERA_KEY_SRC_KRL_INTERNAL_H_

#include <cstdint>
#include <span>

#include "tessera/key/krl.h"

namespace tessera::key::krl_internal {

// The serial subsection being written; kNone before the first.
enum class SerialState : uint8_t {
  kNone = 0,
  kList = static_cast<uint8_t>(KrlCertSectionType::kSerialList),
  kRange = static_cast<uint8_t>(KrlCertSectionType::kSerialRange),
  kBitmap = static_cast<uint8_t>(KrlCertSectionType::kSerialBitmap),
};

Sha1Digest sha1_of(std::span<const uint8_t> data);
Sha256Digest sha256_of(std::span<const uint8_t> data);

}  // namespace tessera::key::krl_internal

#endif  // TESSERA_KEY_SRC_KRL_INTERNAL_H_
