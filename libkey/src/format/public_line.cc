// OpenSSH public key lines ("ssh-ed25519 AAAA... comment"), as sshkey_read()
// reads them and ssh-keygen writes them.
#include <string>
#include <string_view>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

// Longest public key line tessera reads (type, base64 and comment together).
constexpr size_t kMaxPublicKeyLineBytes = 64 * 1024;
// Largest public key blob (OpenSSH's SSH_MAX_PUBKEY_BYTES); its base64 text is
// at most 4/3 of that.
constexpr size_t kMaxPublicKeyBlobBytes = 16 * 1024;
constexpr size_t kMaxPublicKeyBase64Bytes = (kMaxPublicKeyBlobBytes + 2) / 3 * 4;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim_blanks_right(std::string_view s) {
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the token up to the first space or tab.
std::string_view take_token(std::string_view& s) {
  size_t end = 0;
  while (end < s.size() && !is_blank(s[end])) ++end;
  std::string_view token = s.substr(0, end);
  s.remove_prefix(end);
  return token;
}

}  // namespace

Result<PublicKeyLine> parse_public_key_line(std::string_view line) {
  if (line.size() > kMaxPublicKeyLineBytes) {
    return Error(Errc::kTooLarge, "public key line longer than " + std::to_string(kMaxPublicKeyLineBytes) +
                                      " bytes");
  }
  // One trailing line break ("\n" or "\r\n") ends the line; any other line
  // break or NUL inside means this is not one line.
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return Error(Errc::kMalformed, "public key line contains a line break or NUL byte");
  }
  std::string_view rest = trim_blanks_right(skip_blanks(line));
  if (rest.empty()) return Error(Errc::kMalformed, "empty public key line");

  std::string_view type_name = take_token(rest);
  const KeyTypeInfo* info = find_key_type(type_name);
  if (info == nullptr) {
    return Error(Errc::kUnsupported, "unknown or unsupported key type \"" +
                                         std::string(type_name.substr(0, 64)) + "\"");
  }
  rest = skip_blanks(rest);
  if (rest.empty()) {
    return Error(Errc::kMalformed, "public key line has no key data after \"" + std::string(type_name) + "\"");
  }
  std::string_view encoded = take_token(rest);
  if (encoded.size() > kMaxPublicKeyBase64Bytes) {
    return Error(Errc::kTooLarge, "public key blob larger than " + std::to_string(kMaxPublicKeyBlobBytes) +
                                      " bytes");
  }
  auto blob = base64_decode(encoded);
  if (!blob.ok()) return blob.error().with_context("public key line");
  auto key = PublicKey::from_blob(*blob);
  if (!key.ok()) return key.error().with_context("public key line");
  if (key->type() != info->type) {
    return Error(Errc::kMalformed, "public key line names type \"" + std::string(type_name) +
                                       "\" but holds a " + std::string(key->ssh_name()) + " key");
  }
  return PublicKeyLine{std::move(*key), std::string(skip_blanks(rest))};
}

std::string format_public_key_line(const PublicKey& key, std::string_view comment) {
  std::string out(key.ssh_name());
  out += ' ';
  out += base64_encode(key.blob());
  if (!comment.empty()) {
    out += ' ';
    // A comment cannot span lines: line breaks become spaces.
    for (char c : comment) out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

}  // namespace tessera::key
