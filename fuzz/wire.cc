// Fuzzes the wire Reader: a sequence of typed reads chosen by the input.
#include <cstdint>
#include <span>

#include "tessera/key/wire.h"

using tessera::key::Reader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(std::span(data, size));
  while (!r.empty()) {
    auto op = r.u8();
    if (!op) break;
    size_t before = r.remaining();
    bool ok = true;
    switch (*op % 6) {
      case 0: ok = r.u32().ok(); break;
      case 1: ok = r.u64().ok(); break;
      case 2: ok = r.string().ok(); break;
      case 3: ok = r.mpint().ok(); break;
      case 4: ok = r.name_list().ok(); break;
      case 5: ok = r.text().ok(); break;
    }
    if (!ok && r.remaining() != before) __builtin_trap();  // reads are all-or-nothing
    if (!ok) break;
  }
  return 0;
}
