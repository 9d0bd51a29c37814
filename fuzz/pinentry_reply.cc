// A pinentry's answer to GETPIN, line by line (GetpinReply), and the Assuan
// unescaping of its "D" lines. The PIN only ever comes out of a complete,
// well-formed answer, and is never longer than what was sent.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tessera/prompts/pinentry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tessera::prompts::GetpinReply;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  GetpinReply reply;
  std::string_view rest = text;
  while (!rest.empty() && reply.state() == GetpinReply::State::kMore) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    reply.feed(line);
  }
  if (reply.state() == GetpinReply::State::kPin) {
    if (reply.take_pin().size() > text.size()) __builtin_trap();
  } else if (reply.take_pin().size() != 0) {
    __builtin_trap();  // a PIN from an answer that is not one
  }

  auto unescaped = tessera::prompts::assuan_unescape(text);
  if (unescaped && unescaped->size() > text.size()) __builtin_trap();
  return 0;
}
