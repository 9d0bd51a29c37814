// Fuzzes the text parsers of public keys: OpenSSH public key lines,
// authorized_keys lines (options included) and RFC 4716 files. Whatever
// parses is written back and parsed again; any difference is a bug.
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/key/format.h"

using namespace tessera::key;

namespace {

void check_public_line(std::string_view text) {
  auto line = parse_public_key_line(text);
  if (!line.ok()) return;
  auto again = parse_public_key_line(format_public_key_line(line->key, line->comment));
  if (!again.ok() || !(again->key == line->key) || again->comment != line->comment) __builtin_trap();
}

// Writes options back in sshd syntax: name or name="value" with \" escapes.
std::string format_options(const std::vector<AuthorizedKeyOption>& options) {
  std::string out;
  for (const auto& option : options) {
    if (!out.empty()) out += ',';
    out += option.name;
    if (!option.value) continue;
    out += "=\"";
    for (char c : *option.value) {
      if (c == '"') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

void check_authorized_keys(std::string_view text) {
  auto entry = parse_authorized_keys_line(text);
  if (!entry.ok() || !entry->has_value()) return;
  const AuthorizedKeysEntry& e = **entry;
  std::string line = format_options(e.options);
  if (!line.empty()) line += ' ';
  line += format_public_key_line(e.key, e.comment);
  auto again = parse_authorized_keys_line(line);
  if (!again.ok() || !again->has_value()) __builtin_trap();
  const AuthorizedKeysEntry& a = **again;
  if (!(a.key == e.key) || a.comment != e.comment || a.options.size() != e.options.size()) __builtin_trap();
  for (size_t i = 0; i < a.options.size(); ++i) {
    if (a.options[i].name != e.options[i].name || a.options[i].value != e.options[i].value) __builtin_trap();
  }
}

void check_rfc4716(std::string_view text) {
  auto parsed = parse_rfc4716(text);
  if (!parsed.ok()) return;
  auto again = parse_rfc4716(format_rfc4716(parsed->key, parsed->comment));
  if (!again.ok() || !(again->key == parsed->key) || again->comment != parsed->comment) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_public_line(text);
  check_authorized_keys(text);
  check_rfc4716(text);
  return 0;
}
