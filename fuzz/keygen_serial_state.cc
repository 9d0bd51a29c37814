// Fuzzes the parser of tessera-keygen's serial state file
// (keygen/src/serial_state.cc): whatever it accepts is a serial of at least
// 1, and the file the writer makes for that serial parses back to it.
#include <cstdint>
#include <string>
#include <string_view>

#include "serial_state.h"

using namespace tessera::keygen;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto next = parse_serial_state(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!next.ok()) return 0;
  if (*next < kFirstSerial) __builtin_trap();
  auto again = parse_serial_state("# tessera-keygen serial state: the next serial to issue\nnext " +
                                  std::to_string(*next) + "\n");
  if (!again.ok() || *again != *next) __builtin_trap();
  return 0;
}
