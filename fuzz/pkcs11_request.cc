// Fuzzes what tessera-pkcs11-helper parses from the agent: one request
// payload. Whatever parses must serialize back to the same bytes and must
// fit in a frame (the protocol's cap has room for every request its limits
// allow, so the agent can never be asked to build an unsendable frame).
#include <cstdint>
#include <span>

#include "tessera/pkcs11/protocol.h"

using namespace tessera::pkcs11;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> payload(data, size);
  auto request = parse_request(payload);
  if (!request.ok()) {
    (void)peek_request_id(payload);  // the helper answers a bad request by its id
    return 0;
  }
  const SecretBytes once = serialize_request(*request);
  if (!once.equals(SecretBytes::copy_of(payload))) __builtin_trap();
  auto framed = frame_request(*request);
  if (!framed.ok()) __builtin_trap();
  std::span<const uint8_t> inner;
  if (peek_frame(framed->reveal(), &inner) != FrameStatus::kComplete) __builtin_trap();
  if (inner.size() != size) __builtin_trap();
  return 0;
}
