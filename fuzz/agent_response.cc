// Fuzzes agent response parsing (what the client library and tessera-add
// read from an agent), including the query extension's answer. Whatever
// parses must re-serialize to a stable canonical form.
#include <cstdint>
#include <cstring>
#include <span>
#include <variant>

#include "tessera/agent/protocol.h"

using namespace tessera::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto response = parse_response(std::span(data, size));
  if (!response.ok()) return 0;
  const Bytes once = serialize_response(*response);
  auto again = parse_response(once);
  if (!again.ok()) __builtin_trap();
  const Bytes twice = serialize_response(*again);
  if (twice.size() != once.size() || std::memcmp(twice.data(), once.data(), once.size()) != 0) __builtin_trap();
  if (const auto* ext = std::get_if<ExtensionResponse>(&*response)) {
    auto names = parse_query_response(*ext);
    if (names.ok()) {
      auto rebuilt = make_query_response(*names);
      if (rebuilt.contents != ext->contents) __builtin_trap();
    }
  }
  return 0;
}
