#include "format/armor.h"

#include "tessera/key/encoding.h"
#include "tessera/key/secret.h"

namespace tessera::key::armor {
namespace {

// Base64 line length OpenSSH writes (sshbuf_dtob64 with wrapping).
constexpr size_t kColumns = 70;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

}  // namespace

std::string wrap(std::span<const uint8_t> blob, std::string_view begin_line, std::string_view end_line) {
  std::string b64 = base64_encode(blob);
  std::string out;
  out.reserve(begin_line.size() + end_line.size() + b64.size() + b64.size() / kColumns + 4);
  out.append(begin_line).push_back('\n');
  for (size_t i = 0; i < b64.size(); i += kColumns) out.append(b64, i, kColumns).push_back('\n');
  out.append(end_line).push_back('\n');
  // The blob may be an unencrypted private key: leave no copy behind.
  secure_wipe(b64.data(), b64.size());
  return out;
}

Result<std::string_view> body(std::string_view text, std::string_view begin_line, std::string_view end_line) {
  if (!text.starts_with(begin_line)) return Error(Errc::kMalformed, "missing \"" + std::string(begin_line) + "\"");
  text.remove_prefix(begin_line.size());
  if (text.starts_with("\r\n")) {
    text.remove_prefix(2);
  } else if (text.starts_with("\n")) {
    text.remove_prefix(1);
  } else {
    return Error(Errc::kMalformed, "text after the BEGIN line");
  }
  // The END line starts a line of its own.
  size_t end = text.starts_with(end_line) ? 0 : text.find("\n" + std::string(end_line));
  if (end == std::string_view::npos) return Error(Errc::kTruncated, "missing \"" + std::string(end_line) + "\"");
  for (char c : text.substr(text.find(end_line, end) + end_line.size())) {
    if (!is_space(c)) return Error(Errc::kTrailingData, "text after the END line");
  }
  return text.substr(0, end);
}

}  // namespace tessera::key::armor
