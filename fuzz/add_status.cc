// Fuzzes what tessera-add --status does with an agent's status answer: the
// parser, then the text and JSON reports and their advice, whose every
// string and number comes from the agent.
#include <cstdint>
#include <span>

#include "status.h"
#include "tessera/agent/status.h"

using namespace tessera;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  agent::ExtensionResponse answer{agent::Bytes(data, data + size)};
  auto report = agent::parse_status_response(answer);
  if (!report.ok()) return 0;
  const std::string text = add::status_text(*report);
  const std::string json = add::status_json(*report);
  // Nothing the agent sent reaches the terminal as a control character.
  for (char c : text) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) __builtin_trap();
  }
  // The JSON is one line: every newline in a value was escaped.
  if (json.empty() || json.find('\n') != json.size() - 1) __builtin_trap();
  (void)add::status_problems(*report);
  return 0;
}
