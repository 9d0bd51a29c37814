// RFC 4716 "SSH2 public key" files, as ssh-keygen -e writes and -i reads them.
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

constexpr std::string_view kBeginLine = "---- BEGIN SSH2 PUBLIC KEY ----";
constexpr std::string_view kEndLine = "---- END SSH2 PUBLIC KEY ----";
constexpr std::string_view kPrivateBeginLine = "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----";

// RFC 4716 section 3.3: header tags are at most 64 bytes, values at most 1024
// bytes, and every line (header or body) at most 72 bytes. Readers here
// enforce the tag and value limits; long lines are tolerated on input.
constexpr size_t kMaxHeaderTagBytes = 64;
constexpr size_t kMaxHeaderValueBytes = 1024;
constexpr size_t kMaxLineBytes = 72;
// Most headers in one file.
constexpr size_t kMaxHeaders = 64;
// ssh-keygen -e wraps the base64 body at 70 columns.
constexpr size_t kBodyColumns = 70;
// Largest key blob (OpenSSH's SSH_MAX_PUBKEY_BYTES).
constexpr size_t kMaxBlobBytes = 16 * 1024;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits text into lines at CR, LF or CRLF (RFC 4716 allows all three).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      lines.push_back(text.substr(start, i - start));
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxHeaderTagBytes) return false;
  for (char c : tag) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == ':') return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return std::string(value);
}

}  // namespace

Result<Rfc4716Key> parse_rfc4716(std::string_view text) {
  if (text.size() > kMaxKeyFileBytes) {
    return Error(Errc::kTooLarge, "RFC 4716 file larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  std::vector<std::string_view> lines = split_lines(text);
  size_t i = 0;
  while (i < lines.size() && trim(lines[i]).empty()) ++i;
  if (i == lines.size()) return Error(Errc::kMalformed, "RFC 4716: empty input");
  std::string_view begin = trim(lines[i]);
  if (begin == kPrivateBeginLine) {
    return Error(Errc::kUnsupported, "RFC 4716: SSH.com private keys are not supported");
  }
  if (begin != kBeginLine) {
    return Error(Errc::kMalformed, "RFC 4716: expected \"" + std::string(kBeginLine) + "\"");
  }
  ++i;

  std::vector<std::pair<std::string, std::string>> headers;
  std::string comment;
  bool have_comment = false;
  // Headers come first; a line with ':' before the body starts is a header.
  for (; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) break;
    std::string_view tag = line.substr(0, colon);
    if (!valid_tag(tag)) return Error(Errc::kMalformed, "RFC 4716: invalid header tag");
    std::string value(line.substr(colon + 1));
    // A trailing backslash continues the value on the next line.
    while (!value.empty() && value.back() == '\\') {
      value.pop_back();
      if (++i >= lines.size()) return Error(Errc::kTruncated, "RFC 4716: header continues past the end");
      value += lines[i];
      if (value.size() > kMaxHeaderValueBytes + 4) break;
    }
    std::string_view v = value;
    if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    std::string unquoted = unquote(v);
    if (unquoted.size() > kMaxHeaderValueBytes) {
      return Error(Errc::kTooLarge, "RFC 4716: header value longer than " + std::to_string(kMaxHeaderValueBytes) +
                                        " bytes");
    }
    if (headers.size() >= kMaxHeaders) {
      return Error(Errc::kTooLarge, "RFC 4716: more than " + std::to_string(kMaxHeaders) + " headers");
    }
    if (iequals(tag, "Comment") && !have_comment) {
      comment = unquoted;
      have_comment = true;
    }
    headers.emplace_back(std::string(tag), std::move(unquoted));
  }

  std::string body;
  bool ended = false;
  for (; i < lines.size(); ++i) {
    std::string_view line = trim(lines[i]);
    if (line == kEndLine) {
      ended = true;
      ++i;
      break;
    }
    if (line.find(':') != std::string_view::npos) return Error(Errc::kMalformed, "RFC 4716: header after key data");
    if (line.starts_with("----")) return Error(Errc::kMalformed, "RFC 4716: unexpected armor line");
    body += line;
    if (body.size() > (kMaxBlobBytes + 2) / 3 * 4) {
      return Error(Errc::kTooLarge, "RFC 4716: key larger than " + std::to_string(kMaxBlobBytes) + " bytes");
    }
  }
  if (!ended) return Error(Errc::kTruncated, "RFC 4716: missing \"" + std::string(kEndLine) + "\"");
  for (; i < lines.size(); ++i) {
    if (!trim(lines[i]).empty()) return Error(Errc::kTrailingData, "RFC 4716: data after the END line");
  }
  if (body.empty()) return Error(Errc::kMalformed, "RFC 4716: no key data");
  auto blob = base64_decode(body);
  if (!blob.ok()) return blob.error().with_context("RFC 4716");
  auto key = PublicKey::from_blob(*blob);
  if (!key.ok()) return key.error().with_context("RFC 4716");
  return Rfc4716Key{std::move(*key), std::move(headers), std::move(comment)};
}

std::string format_rfc4716(const PublicKey& key, std::string_view comment) {
  std::string out(kBeginLine);
  out += '\n';
  if (!comment.empty()) {
    std::string header = "Comment: \"";
    for (char c : comment) header += (c == '\n' || c == '\r') ? ' ' : c;
    header += '"';
    // Lines longer than 72 bytes continue with a trailing backslash; never
    // split inside a UTF-8 sequence.
    std::string_view rest = header;
    while (rest.size() > kMaxLineBytes) {
      size_t cut = kMaxLineBytes - 1;
      for (int back = 0; back < 3 && (static_cast<unsigned char>(rest[cut]) & 0xc0) == 0x80; ++back) --cut;
      out.append(rest.substr(0, cut));
      out += "\\\n";
      rest.remove_prefix(cut);
    }
    out.append(rest);
    out += '\n';
  }
  std::string encoded = base64_encode(key.blob());
  for (size_t pos = 0; pos < encoded.size(); pos += kBodyColumns) {
    out.append(encoded, pos, kBodyColumns);
    out += '\n';
  }
  out += kEndLine;
  out += '\n';
  return out;
}

}  // namespace tessera::key
