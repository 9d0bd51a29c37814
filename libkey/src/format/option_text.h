// Internal: the options grammar that authorized_keys and allowed_signers lines
// share (OpenSSH's sshkey_advance_past_options and auth-options.c's
// opt_dequote): comma-separated options, values in double quotes with \" as
// the only escape, no blanks outside quotes.
#ifndef TESSERA_KEY_SRC_FORMAT_OPTION_TEXT_H_
#define TESSERA_KEY_SRC_FORMAT_OPTION_TEXT_H_

#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::key::option_text {

// Length of the options field: up to the first space or tab outside quotes.
// kMalformed "missing end quote" on an unterminated quote.
Result<size_t> field_length(std::string_view s);

// The double-quoted value starting at s[pos], unescaped; leaves pos after the
// closing quote. kMalformed "missing start quote" / "missing end quote".
Result<std::string> dequote(std::string_view s, size_t& pos);

}  // namespace tessera::key::option_text

#endif  // TESSERA_KEY_SRC_FORMAT_OPTION_TEXT_H_
