// Fuzzes agent request parsing (what tessera-agent reads from clients).
// Whatever parses must serialize to bytes that parse again and serialize to
// the very same bytes: the codec has one canonical form per message.
#include <cstdint>
#include <cstring>
#include <span>

#include "tessera/agent/protocol.h"

using namespace tessera::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto request = parse_request(std::span(data, size));
  if (!request.ok()) return 0;
  const Bytes once = serialize_request(*request);
  auto again = parse_request(once);
  if (!again.ok()) __builtin_trap();
  const Bytes twice = serialize_request(*again);
  if (twice.size() != once.size() || std::memcmp(twice.data(), once.data(), once.size()) != 0) __builtin_trap();
  return 0;
}
