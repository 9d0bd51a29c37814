#include "tessera/key/match.h"

#include <cctype>
#include <string>

namespace tessera::key {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool match_pattern(std::string_view text, std::string_view pattern) {
  // Iterative glob matching with one backtrack point: the latest '*'.
  size_t t = 0, p = 0;
  size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

int match_pattern_list(std::string_view text, std::string_view pattern_list, bool fold_case) {
  std::string folded_text = fold_case ? lower(text) : std::string(text);
  bool matched = false;
  while (true) {
    size_t comma = pattern_list.find(',');
    std::string_view sub = pattern_list.substr(0, comma);
    bool negated = !sub.empty() && sub[0] == '!';
    if (negated) sub.remove_prefix(1);
    bool hit = fold_case ? match_pattern(folded_text, lower(sub)) : match_pattern(folded_text, sub);
    if (hit) {
      if (negated) return -1;
      matched = true;
    }
    if (comma == std::string_view::npos) break;
    pattern_list.remove_prefix(comma + 1);
  }
  return matched ? 1 : 0;
}

}  // namespace tessera::key
