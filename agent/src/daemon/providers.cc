#include "daemon/providers.h"

#include <limits.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>

namespace tessera::agent::daemon {

bool match_pattern(std::string_view text, std::string_view pattern) {
  // Iterative glob matching with one backtrack point (the latest '*').
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

int match_pattern_list(std::string_view text, std::string_view pattern_list) {
  bool matched = false;
  size_t start = 0;
  while (start <= pattern_list.size()) {
    size_t end = pattern_list.find(',', start);
    if (end == std::string_view::npos) end = pattern_list.size();
    std::string_view sub = pattern_list.substr(start, end - start);
    bool negated = !sub.empty() && sub[0] == '!';
    if (negated) sub.remove_prefix(1);
    if (match_pattern(text, sub)) {
      if (negated) return -1;
      matched = true;
    }
    start = end + 1;
  }
  return matched ? 1 : 0;
}

key::Result<std::string> allowed_provider_path(const std::string& provider, std::string_view allowed) {
  char resolved[PATH_MAX];
  if (::realpath(provider.c_str(), resolved) == nullptr) {
    return key::Error(key::Errc::kIo, "realpath " + provider + ": " + std::strerror(errno));
  }
  std::string canonical = resolved;
  if (match_pattern_list(canonical, allowed) != 1) {
    return key::Error(key::Errc::kInvalidArgument, "provider " + canonical + " is not allowed by -P");
  }
  return canonical;
}

}  // namespace tessera::agent::daemon
