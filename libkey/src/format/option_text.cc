#include "format/option_text.h"

namespace tessera::key::option_text {

Result<size_t> field_length(std::string_view s) {
  bool quoted = false;
  size_t i = 0;
  for (; i < s.size() && (quoted || (s[i] != ' ' && s[i] != '\t')); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '"') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    }
  }
  if (quoted) return Error(Errc::kMalformed, "missing end quote");
  return i;
}

Result<std::string> dequote(std::string_view s, size_t& pos) {
  if (pos >= s.size() || s[pos] != '"') return Error(Errc::kMalformed, "missing start quote");
  std::string out;
  size_t i = pos + 1;
  while (i < s.size() && s[i] != '"') {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '"') ++i;
    out += s[i++];
  }
  if (i >= s.size()) return Error(Errc::kMalformed, "missing end quote");
  pos = i + 1;
  return out;
}

}  // namespace tessera::key::option_text
