// PIN prompts through a pinentry program (GnuPG's: pinentry-curses,
// pinentry-gnome3, pinentry-tty, ...), spoken to in its Assuan protocol over
// its standard input and output: SETTITLE, SETDESC, SETPROMPT, GETPIN, BYE.
//
// A PIN that reaches C_Login costs a try when it is wrong, so anything but a
// well-formed answer is an error, never an empty PIN: a broken %-escape in a
// "D" line, a line outside the protocol, an answer that does not end in OK.
#ifndef TESSERA_PROMPTS_PINENTRY_H_
#define TESSERA_PROMPTS_PINENTRY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/prompts/askpass.h"

namespace tessera::prompts {

// Most bytes of one line the program may send (Assuan's limit is 1000).
inline constexpr size_t kMaxPinentryLineBytes = 4096;
// Most bytes of a PIN, all "D" lines together.
inline constexpr size_t kMaxPinentryPinBytes = 4096;

// The answer to GETPIN, one line (without its newline) at a time: "D" lines
// (%-escaped data, joined), "S" status and "#" comment lines (skipped), then
// OK (the PIN; empty if there was no "D" line: the user entered nothing) or
// ERR (cancelled, or failed).
class GetpinReply {
 public:
  enum class State { kMore, kPin, kCancelled, kError };

  // Takes the next line. Once the state is not kMore, further lines are
  // refused (kError).
  State feed(std::string_view line);

  State state() const { return state_; }
  // The PIN, once state() is kPin; nothing before (the D lines of an answer
  // that has not ended with OK are no PIN).
  key::SecretBytes take_pin() { return state_ == State::kPin ? std::move(pin_) : key::SecretBytes(); }
  // What went wrong, once state() is kCancelled or kError.
  const std::string& problem() const { return problem_; }

 private:
  State fail(std::string problem);

  State state_ = State::kMore;
  key::SecretBytes pin_;
  std::string problem_;
};

// Runs the program, shows `description` (may hold newlines) and asks for a
// PIN. Blocking: never call on the event loop. kIo "cannot run PROGRAM: ...",
// "PIN entry cancelled", or "pinentry PROGRAM ...: what it did wrong".
key::Result<key::SecretBytes> ask_pinentry(const std::string& program, const std::string& description,
                                           const ChildTracker& on_spawn = nullptr);

// Assuan's escaping of a command argument: %, CR and LF as %XX.
std::string assuan_escape(std::string_view text);
// The data of a "D " line, %XX unescaped; nothing if an escape is broken.
std::optional<key::SecretBytes> assuan_unescape(std::string_view data);

}  // namespace tessera::prompts

#endif  // TESSERA_PROMPTS_PINENTRY_H_
