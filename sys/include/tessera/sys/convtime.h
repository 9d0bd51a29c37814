// OpenSSH's time intervals (misc.c convtime()): "90", "90s", "10m",
// "1h30m", "2w" — numbers (each read as strtol() reads it: blanks and a
// sign may lead) with an optional unit s, m, h, d or w in either case,
// summed. The one parser for ssh-agent's and ssh-add's -t, ssh-keygen's
// validity intervals and ssh_config's times.
#ifndef TESSERA_SYS_CONVTIME_H_
#define TESSERA_SYS_CONVTIME_H_

#include <optional>
#include <string_view>

namespace tessera::sys {

// The seconds, or nullopt when the text is empty, malformed, negative or
// larger than INT_MAX seconds in all.
std::optional<int> parse_convtime(std::string_view text);

}  // namespace tessera::sys

#endif  // TESSERA_SYS_CONVTIME_H_
