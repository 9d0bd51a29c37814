#include "tessera/sys/convtime.h"

#include <climits>
#include <cstdint>

namespace tessera::sys {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<int> parse_convtime(std::string_view text) {
  constexpr int64_t kIntMax = INT_MAX;
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    // strtol(): blanks and a sign may come before each number; only "-0"
    // survives the sign check, as in OpenSSH.
    while (i < text.size() && is_space(text[i])) ++i;
    bool negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
    const size_t start = i;
    int64_t secs = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (secs <= kIntMax) secs = secs * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    if (negative && secs != 0) return std::nullopt;
    int64_t multiplier = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': case 'S': multiplier = 1; break;
        case 'm': case 'M': multiplier = 60; break;
        case 'h': case 'H': multiplier = 60 * 60; break;
        case 'd': case 'D': multiplier = 24 * 60 * 60; break;
        case 'w': case 'W': multiplier = 7 * 24 * 60 * 60; break;
        default: return std::nullopt;
      }
      ++i;
    }
    if (secs > kIntMax / multiplier) return std::nullopt;
    secs *= multiplier;
    if (total > kIntMax - secs) return std::nullopt;
    total += secs;
  }
  return static_cast<int>(total);
}

}  // namespace tessera::sys
