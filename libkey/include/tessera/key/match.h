// OpenSSH's pattern matching (match.c), used for host patterns in
// known_hosts and destination constraints, user patterns, and the PKCS#11
// provider allowlist.
#ifndef TESSERA_KEY_MATCH_H_
#define TESSERA_KEY_MATCH_H_

#include <string_view>

namespace tessera::key {

// '*' matches any run of characters ('/' included), '?' any one character;
// there are no escapes. Case-sensitive.
bool match_pattern(std::string_view text, std::string_view pattern);

// A comma-separated list of patterns, each optionally negated with '!':
// 1 if a pattern matches and no negated one does, -1 if a negated pattern
// matches, 0 if nothing matches (match_pattern_list). With fold_case, text
// and patterns are compared in lower case (as OpenSSH does for host names).
int match_pattern_list(std::string_view text, std::string_view pattern_list, bool fold_case = false);

}  // namespace tessera::key

#endif  // TESSERA_KEY_MATCH_H_
