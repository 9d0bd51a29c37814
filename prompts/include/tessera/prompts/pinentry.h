// PIN prompts through a pinentry program (GnuPG's: pinentry-curses,
// pinentry-gnome3, pinentry-tty, ...), spoken to in its Assuan protocol over
// its standard input and output: SETTITLE, SETDESC, SETPROMPT, GETPIN, BYE.
#ifndef TESSERA_AGENT_DAEMON_PINENTRY_H_
#define TESSERA_AGENT_DAEMON_PINENTRY_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/key/secret.h"

namespace tessera::agent::daemon {

// Most bytes of one line the program may send (Assuan's limit is 1000).
inline constexpr size_t kMaxPinentryLineBytes = 4096;

// Runs the program, shows `description` (may hold newlines) and asks for a
// PIN. Blocking: never call on the event loop. Nothing if the program cannot
// run, the user cancels, or it answers out of protocol. `on_spawn` as for
// ask_permission.
std::optional<key::SecretBytes> ask_pinentry(const std::string& program, const std::string& description,
                                             const std::function<void(pid_t)>& on_spawn = nullptr);

// Assuan's escaping of a command argument: %, CR and LF as %XX.
std::string assuan_escape(std::string_view text);
// The data of a "D " line, %XX unescaped; nothing if an escape is broken.
std::optional<key::SecretBytes> assuan_unescape(std::string_view data);

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PINENTRY_H_
