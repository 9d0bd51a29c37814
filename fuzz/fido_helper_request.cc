// Fuzzes what tessera-sk-helper parses from its caller: one request frame
// body (and the frame header in front of it). Whatever parses must
// serialize back to the same bytes and fit in a frame: the frame cap has
// room for every request the field limits allow.
#include <cstdint>
#include <span>

#include "tessera/fido/protocol.h"

using namespace tessera::fido;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  // The helper first looks at the input as a frame.
  std::span<const uint8_t> body;
  if (peek_frame(input, &body) == FrameStatus::kComplete && body.size() + 4 > size) __builtin_trap();

  auto request = parse_request(input);
  if (!request.ok()) return 0;
  const SecretBytes again = serialize_request(*request);
  if (!again.equals(SecretBytes::copy_of(input))) __builtin_trap();
  auto framed = frame(again);
  if (!framed.ok()) __builtin_trap();
  if (peek_frame(framed->reveal(), &body) != FrameStatus::kComplete || body.size() != size) __builtin_trap();
  return 0;
}
