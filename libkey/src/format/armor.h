// Internal: the "-----BEGIN ...-----" armor OpenSSH writes around base64 for
// openssh-key-v1 private keys and SSH signatures.
#ifndef TESSERA_KEY_SRC_FORMAT_ARMOR_H_
#define TESSERA_KEY_SRC_FORMAT_ARMOR_H_

#include <span>
#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::key::armor {

// The BEGIN line, the blob's base64 in 70-column lines, the END line, each
// ending in '\n': byte for byte what OpenSSH writes. The intermediate base64
// is wiped, so the blob may be secret (the result then is too).
std::string wrap(std::span<const uint8_t> blob, std::string_view begin_line, std::string_view end_line);

// The base64 text between the lines. `text` starts with begin_line, then LF
// or CRLF; end_line starts a line; only whitespace may follow it. Errors carry
// no context (callers add theirs): kMalformed "missing \"BEGIN...\"" and "text
// after the BEGIN line", kTruncated "missing \"END...\"", kTrailingData "text
// after the END line".
Result<std::string_view> body(std::string_view text, std::string_view begin_line, std::string_view end_line);

}  // namespace tessera::key::armor

#endif  // TESSERA_KEY_SRC_FORMAT_ARMOR_H_
