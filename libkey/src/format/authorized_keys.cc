// authorized_keys lines, per sshd(8) AUTHORIZED_KEYS FILE FORMAT:
//   [options] keytype base64-key [comment]
// The options grammar and the set of option names follow OpenSSH's
// auth-options.c (sshauthopt_parse): names are case-insensitive, flags may be
// negated with "no-", values are double-quoted with \" as the only escape.
// What a value means (host patterns, ports, times) is checked by the server
// that applies the options, not here.
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "format/option_text.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

// Longest authorized_keys line tessera reads (options, key and comment).
constexpr size_t kMaxAuthorizedKeysLineBytes = 64 * 1024;
// Most options on one line (sshd allows 4096 permitopen/permitlisten entries).
constexpr size_t kMaxAuthorizedKeyOptions = 4096;

// Flag options; the negatable ones also take a "no-" prefix.
constexpr std::array<std::string_view, 7> kNegatableFlags = {
    "agent-forwarding", "port-forwarding", "pty", "touch-required", "user-rc", "verify-required",
    "x11-forwarding"};
constexpr std::array<std::string_view, 2> kPlainFlags = {"cert-authority", "restrict"};
// Options written name="value".
constexpr std::array<std::string_view, 8> kValueOptions = {
    "command", "environment", "expiry-time", "from", "permitlisten", "permitopen", "principals", "tunnel"};
// Options that may appear at most once (sshd rejects a second clause).
constexpr std::array<std::string_view, 3> kSingleOptions = {"command", "from", "principals"};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

template <size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

enum class OptionKind { kUnknown, kFlag, kValue };

OptionKind classify(std::string_view lower_name) {
  if (contains(kPlainFlags, lower_name) || contains(kNegatableFlags, lower_name)) return OptionKind::kFlag;
  if (lower_name.starts_with("no-") && contains(kNegatableFlags, lower_name.substr(3))) return OptionKind::kFlag;
  if (contains(kValueOptions, lower_name)) return OptionKind::kValue;
  return OptionKind::kUnknown;
}

// An environment value is NAME=value with NAME made of [A-Za-z0-9_] (as sshd's valid_env_name).
bool valid_environment(std::string_view value) {
  size_t eq = value.find('=');
  if (eq == 0 || eq == std::string_view::npos) return false;
  for (char c : value.substr(0, eq)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Key type names (ssh-dss, ssh-rsa-cert-v01@openssh.com, x509v3-sign-rsa, ...)
// never look like option names.
bool looks_like_key_type(std::string_view word) {
  if (word.find_first_of(",=\"") != std::string_view::npos) return false;
  return word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-") ||
         word.starts_with("x509v3-") || word.find('@') != std::string_view::npos;
}

// The options grammar lives in option_text.h; its errors get this file's prefix.
constexpr std::string_view kOptionsContext = "authorized_keys options";

Result<size_t> options_field_length(std::string_view s) {
  auto len = option_text::field_length(s);
  if (!len.ok()) return len.error().with_context(kOptionsContext);
  return len;
}

Result<std::string> dequote(std::string_view s, size_t& pos) {
  auto value = option_text::dequote(s, pos);
  if (!value.ok()) return value.error().with_context(kOptionsContext);
  return value;
}

Result<std::vector<AuthorizedKeyOption>> parse_options(std::string_view field) {
  std::vector<AuthorizedKeyOption> options;
  size_t pos = 0;
  while (pos < field.size()) {
    // sshd skips empty options between commas ("a,,b"); a trailing comma is an error below.
    if (field[pos] == ',') {
      ++pos;
      continue;
    }
    size_t name_end = pos;
    while (name_end < field.size() && field[name_end] != ',' && field[name_end] != '=') ++name_end;
    std::string_view name = field.substr(pos, name_end - pos);
    std::string lname = lower(name);
    OptionKind kind = classify(lname);
    if (kind == OptionKind::kUnknown) {
      return Error(Errc::kMalformed, "authorized_keys options: unsupported option \"" +
                                         std::string(name.substr(0, 64)) + "\"");
    }
    AuthorizedKeyOption option{std::string(name), std::nullopt};
    pos = name_end;
    bool has_value = pos < field.size() && field[pos] == '=';
    if (kind == OptionKind::kFlag && has_value) {
      return Error(Errc::kMalformed, "authorized_keys options: \"" + option.name + "\" takes no value");
    }
    if (kind == OptionKind::kValue) {
      if (!has_value) {
        return Error(Errc::kMalformed, "authorized_keys options: \"" + option.name + "\" needs =\"value\"");
      }
      ++pos;
      if (pos >= field.size() || field[pos] != '"') {
        return Error(Errc::kMalformed, "authorized_keys options: value of \"" + option.name +
                                           "\" must be in double quotes");
      }
      TESSERA_ASSIGN_OR_RETURN(std::string value, dequote(field, pos));
      if (lname == "environment" && !valid_environment(value)) {
        return Error(Errc::kMalformed, "authorized_keys options: invalid environment string (want NAME=value)");
      }
      if (contains(kSingleOptions, lname)) {
        for (const auto& seen : options) {
          if (lower(seen.name) == lname) {
            return Error(Errc::kMalformed, "authorized_keys options: multiple \"" + lname + "\" clauses");
          }
        }
      }
      option.value = std::move(value);
    }
    if (options.size() >= kMaxAuthorizedKeyOptions) {
      return Error(Errc::kTooLarge, "authorized_keys options: more than " +
                                        std::to_string(kMaxAuthorizedKeyOptions) + " options");
    }
    options.push_back(std::move(option));
    if (pos == field.size()) break;
    if (field[pos] != ',') {
      return Error(Errc::kMalformed, "authorized_keys options: expected ',' after \"" +
                                         options.back().name + "\"");
    }
    ++pos;
    if (pos == field.size()) return Error(Errc::kMalformed, "authorized_keys options: trailing ','");
  }
  return options;
}

}  // namespace

Result<std::optional<AuthorizedKeysEntry>> parse_authorized_keys_line(std::string_view line) {
  if (line.size() > kMaxAuthorizedKeysLineBytes) {
    return Error(Errc::kTooLarge, "authorized_keys line longer than " +
                                      std::to_string(kMaxAuthorizedKeysLineBytes) + " bytes");
  }
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t start = 0;
  while (start < line.size() && is_blank(line[start])) ++start;
  line.remove_prefix(start);
  if (line.empty() || line.front() == '#') return std::optional<AuthorizedKeysEntry>();
  if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return Error(Errc::kMalformed, "authorized_keys line contains a line break or NUL byte");
  }

  size_t token_end = 0;
  while (token_end < line.size() && !is_blank(line[token_end])) ++token_end;
  std::string_view first = line.substr(0, token_end);

  std::vector<AuthorizedKeyOption> options;
  std::string_view key_part = line;
  // A line starts either with a key type or with options (sshd tries the key first).
  if (find_key_type(first) == nullptr) {
    auto field_len = options_field_length(line);
    auto parsed = field_len.ok() ? parse_options(line.substr(0, *field_len))
                                 : Result<std::vector<AuthorizedKeyOption>>(field_len.error());
    if (!parsed.ok()) {
      // A first word shaped like a key type name is a key type tessera does not
      // know ("ssh-dss"): say that rather than "unsupported option".
      if (looks_like_key_type(first)) {
        auto key_line = parse_public_key_line(line);
        if (!key_line.ok()) return key_line.error().with_context("authorized_keys");
      }
      return parsed.error();
    }
    options = std::move(*parsed);
    key_part = line.substr(*field_len);
    while (!key_part.empty() && is_blank(key_part.front())) key_part.remove_prefix(1);
    if (key_part.empty()) return Error(Errc::kMalformed, "authorized_keys line has options but no key");
  }
  auto key_line = parse_public_key_line(key_part);
  if (!key_line.ok()) return key_line.error().with_context("authorized_keys");
  return std::optional<AuthorizedKeysEntry>(
      AuthorizedKeysEntry{std::move(options), std::move(key_line->key), std::move(key_line->comment)});
}

}  // namespace tessera::key
