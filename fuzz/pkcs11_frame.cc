// Fuzzes the agent <-> tessera-pkcs11-helper protocol in both directions:
// the input is a stream of frames, and each payload is parsed as a request
// (what the helper reads) and as a reply (what the agent reads). Whatever
// parses must serialize to bytes that parse again to the very same bytes.
#include <cstdint>
#include <cstring>
#include <span>

#include "tessera/pkcs11/protocol.h"

using namespace tessera::pkcs11;

namespace {

void check_request(std::span<const uint8_t> payload) {
  auto request = parse_request(payload);
  if (!request.ok()) {
    (void)peek_request_id(payload);
    return;
  }
  const SecretBytes once = serialize_request(*request);
  auto again = parse_request(once.reveal());
  if (!again.ok()) __builtin_trap();
  if (!serialize_request(*again).equals(once)) __builtin_trap();
}

void check_reply(std::span<const uint8_t> payload) {
  auto reply = parse_reply(payload);
  if (!reply.ok()) return;
  const Bytes once = serialize_reply(*reply);
  auto again = parse_reply(once);
  if (!again.ok()) __builtin_trap();
  const Bytes twice = serialize_reply(*again);
  if (twice.size() != once.size() || std::memcmp(twice.data(), once.data(), once.size()) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> stream(data, size);
  for (;;) {
    std::span<const uint8_t> payload;
    if (peek_frame(stream, &payload) != FrameStatus::kComplete) break;
    if (payload.size() > kMaxFrameBytes) __builtin_trap();
    check_request(payload);
    check_reply(payload);
    stream = stream.subspan(4 + payload.size());
  }
  return 0;
}
