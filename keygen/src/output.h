// Exit statuses and messages of tessera-keygen, as ssh-keygen's: fatal()
// exits 255, usage errors and refusals exit 1. Every failure is one line on
// stderr that names the file and the problem.
#ifndef TESSERA_KEYGEN_OUTPUT_H_
#define TESSERA_KEYGEN_OUTPUT_H_

#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::keygen {

inline constexpr std::string_view kProgramName = "tessera-keygen";

inline constexpr int kExitOk = 0;
// ssh-keygen's exit(1): bad usage, a declined overwrite, mismatched
// passphrases, a key that could not be saved.
inline constexpr int kExitFailure = 1;
// ssh-keygen's fatal(): cleanup_exit(255).
inline constexpr int kExitFatal = 255;

// Writes message and a newline to stderr (after flushing stdout, so that the
// two streams interleave as written).
void print_error(std::string_view message);
// print_error, then returns kExitFatal.
int fatal(std::string_view message);

// How a step of a mode fails: a key::Error whose detail is what fatal()
// would print (nothing when the step said all itself) and whose subcode is
// the exit status. Steps return key::Result<T>; the mode ends with
// report_failure(), which prints the message and gives the status.
key::Error fatal_failure(std::string message, int status = kExitFatal);
int report_failure(const key::Error& error);
// print_error, then returns kExitFailure.
int failure(std::string_view message);

// Writes text to stdout as is.
void print_out(std::string_view text);

// Text from a file (a comment, a name) made safe for a terminal, as
// OpenSSH's mprintf(): control characters other than TAB, CR and LF, and
// bytes that are not printable characters of the locale's UTF-8, become
// "\ooo" octal escapes. Outside a UTF-8 locale every non-ASCII byte is escaped.
std::string printable(std::string_view text);

// Call once at start: selects the user's LC_CTYPE for printable(), as
// OpenSSH's msetlocale() (only UTF-8 locales; anything else is "C").
void init_locale();

// The text of an error as tessera-keygen reports it: OpenSSH's words for the
// common cases ("incorrect passphrase supplied to decrypt private key"),
// libkey's detail otherwise.
std::string describe(const key::Error& error);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_OUTPUT_H_
