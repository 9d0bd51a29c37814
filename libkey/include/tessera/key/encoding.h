// Text encodings used by SSH key files: base64 (RFC 4648) and hex; and JSON
// string literals, for the programs' machine-readable output.
#ifndef TESSERA_KEY_ENCODING_H_
#define TESSERA_KEY_ENCODING_H_

#include <span>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"

namespace tessera::key {

// Standard alphabet; pad=false drops the trailing '=' (as SHA256 fingerprints do).
std::string base64_encode(std::span<const uint8_t> data, bool pad = true);
// Strict decoding: standard alphabet, '=' padding only at the end and only
// where it belongs. ASCII whitespace (line breaks of armored files) is skipped.
Result<Bytes> base64_decode(std::string_view text);
// Like base64_decode, for secret contents (private key files).
Result<SecretBytes> base64_decode_secret(std::string_view text);

std::string hex_encode(std::span<const uint8_t> data);

// A JSON string literal (with the quotes) for arbitrary bytes: invalid UTF-8
// becomes U+FFFD, control characters are escaped.
std::string json_string(std::string_view bytes);

}  // namespace tessera::key

#endif  // TESSERA_KEY_ENCODING_H_
