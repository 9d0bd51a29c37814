// Fuzzes the status@tessera.dev answer (tessera/agent/status.h), which
// tessera-add --status reads from whatever agent SSH_AUTH_SOCK names. What
// parses must serialize and parse back to the same report.
#include <cstdint>
#include <span>

#include "tessera/agent/status.h"

using namespace tessera::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExtensionResponse answer{Bytes(data, data + size)};
  auto report = parse_status_response(answer);
  if (!report.ok()) return 0;
  const ExtensionResponse once = make_status_response(*report);
  auto again = parse_status_response(once);
  if (!again.ok() || !(*again == *report)) __builtin_trap();
  if (make_status_response(*again).contents != once.contents) __builtin_trap();
  return 0;
}
