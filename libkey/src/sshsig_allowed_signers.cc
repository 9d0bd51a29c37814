// allowed_signers files (ssh-keygen(1) ALLOWED SIGNERS) and the logic of
// ssh-keygen -Y verify / check-novalidate / find-principals / match-principals,
// following OpenSSH 9.2's sshsig.c line by line where the outcome depends on
// it (which lines are parsed, which errors skip a line and which stop).
//
// Line grammar: principals [options] keytype base64 [comment]
//  - principals: a pattern-list up to the first blank; a double-quoted part
//    may hold blanks (strdelimw);
//  - options: comma-separated, case-insensitive names, values in double
//    quotes with \" as the only escape (auth-options.c's opt_dequote).
#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>
#include <string_view>

#include "format/option_text.h"
#include "tessera/key/format.h"
#include "tessera/key/match.h"
#include "tessera/key/sshsig.h"

namespace tessera::key {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
// strdelimw's WHITESPACE.
bool is_white(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

bool starts_with_ignore_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// Leading text for messages about a bad value: bounded, printable.
std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return out;
}

struct PrincipalsField {
  std::string principals;
  std::string_view rest;  // options, key and comment
};

// Splits off the principals field. std::nullopt for blank and comment lines.
Result<std::optional<PrincipalsField>> split_principals(std::string_view line) {
  if (line.size() > kMaxAllowedSignersLineBytes) {
    return Error(Errc::kTooLarge, "line longer than " + std::to_string(kMaxAllowedSignersLineBytes) + " bytes");
  }
  if (line.find('\0') != std::string_view::npos) return Error(Errc::kMalformed, "line contains a NUL byte");
  size_t start = 0;
  while (start < line.size() && is_white(line[start])) ++start;
  line.remove_prefix(start);
  if (line.empty() || line.front() == '#') return std::optional<PrincipalsField>();

  PrincipalsField field;
  size_t i = 0;
  while (i < line.size() && !is_white(line[i]) && line[i] != '"') ++i;
  field.principals.assign(line.substr(0, i));
  if (i < line.size() && line[i] == '"') {
    size_t close = line.find('"', i + 1);
    if (close == std::string_view::npos) return Error(Errc::kMalformed, "invalid line: principals miss an end quote");
    field.principals.append(line.substr(i + 1, close - i - 1));
    i = close + 1;
    if (i < line.size() && !is_white(line[i])) {
      return Error(Errc::kMalformed, "invalid line: text right after the principals' end quote");
    }
  }
  if (i >= line.size()) return Error(Errc::kMalformed, "invalid line: no key after the principals");
  field.rest = line.substr(i);
  while (!field.rest.empty() && is_white(field.rest.front())) field.rest.remove_prefix(1);
  return std::optional<PrincipalsField>(std::move(field));
}

Result<uint64_t> option_time(std::string_view opts, size_t& pos, std::string_view name) {
  auto value = option_text::dequote(opts, pos);
  if (!value.ok()) return value.error();
  auto t = parse_absolute_time(*value);
  if (!t.ok() || *t == 0) {
    return Error(Errc::kMalformed, "invalid \"" + std::string(name) + "\" time \"" + excerpt(*value) + "\"");
  }
  return t;
}

// sshsigopt_parse. Empty options between commas are skipped, as OpenSSH does.
Result<AllowedSignerOptions> parse_options(std::string_view opts) {
  AllowedSignerOptions out;
  size_t pos = 0;
  while (pos < opts.size()) {
    std::string_view rest = opts.substr(pos);
    if (starts_with_ignore_case(rest, "cert-authority")) {
      out.cert_authority = true;
      pos += std::string_view("cert-authority").size();
    } else if (starts_with_ignore_case(rest, "namespaces=")) {
      if (out.namespaces) return Error(Errc::kMalformed, "multiple \"namespaces\" clauses");
      pos += std::string_view("namespaces=").size();
      TESSERA_ASSIGN_OR_RETURN(out.namespaces, option_text::dequote(opts, pos));
    } else if (starts_with_ignore_case(rest, "valid-after=")) {
      if (out.valid_after) return Error(Errc::kMalformed, "multiple \"valid-after\" clauses");
      pos += std::string_view("valid-after=").size();
      TESSERA_ASSIGN_OR_RETURN(out.valid_after, option_time(opts, pos, "valid-after"));
    } else if (starts_with_ignore_case(rest, "valid-before=")) {
      if (out.valid_before) return Error(Errc::kMalformed, "multiple \"valid-before\" clauses");
      pos += std::string_view("valid-before=").size();
      TESSERA_ASSIGN_OR_RETURN(out.valid_before, option_time(opts, pos, "valid-before"));
    }
    if (pos == opts.size()) break;
    if (opts[pos] != ',') {
      std::string_view name = opts.substr(pos);
      return Error(Errc::kMalformed, "unknown key option \"" + excerpt(name.substr(0, name.find_first_of(",="))) +
                                         "\"");
    }
    if (++pos == opts.size()) return Error(Errc::kMalformed, "unexpected end-of-options");
  }
  if (out.valid_after && out.valid_before && *out.valid_before <= *out.valid_after) {
    return Error(Errc::kMalformed, "\"valid-before\" time is before \"valid-after\"");
  }
  return out;
}

bool is_key_type_name(std::string_view word) {
  return find_key_type(word) != nullptr || find_certificate_type(word) != nullptr;
}

// Options (if the next word is not a key type), key and comment.
Result<AllowedSigner> parse_after_principals(std::string principals, std::string_view rest) {
  rest = skip_blanks(rest);
  if (rest.empty()) return Error(Errc::kMalformed, "missing key");
  std::string_view first = rest.substr(0, std::min(rest.size(), rest.find_first_of(" \t\r\n")));
  AllowedSignerOptions options;
  if (!is_key_type_name(first)) {
    auto len_or = option_text::field_length(rest);
    if (!len_or.ok()) return len_or.error().with_context("invalid options");
    std::string_view field = rest.substr(0, *len_or);
    rest = skip_blanks(rest.substr(field.size()));
    // As OpenSSH, a missing key is reported before anything about the options.
    if (rest.empty() || rest.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return Error(Errc::kMalformed, "missing key");
    }
    auto parsed = parse_options(field);
    if (!parsed.ok()) return parsed.error().with_context("bad options");
    options = std::move(*parsed);
  }
  auto key = KeyOrCertificate::from_line(rest);
  if (!key.ok()) return key.error().with_context("invalid key");
  return AllowedSigner{std::move(principals), std::move(options), std::move(*key)};
}

// ---- certificates under cert-authority lines (sshkey_cert_check_authority
// for a user certificate, principal required, no wildcards) ----

Status check_cert_authority(const Certificate& cert, uint64_t verify_time, const std::string* name) {
  if (cert.type != CertType::kUser) return Error(Errc::kInvalidKey, "Certificate invalid: not a user certificate");
  if (verify_time < cert.valid_after) return Error(Errc::kInvalidKey, "Certificate invalid: not yet valid");
  if (verify_time >= cert.valid_before) return Error(Errc::kInvalidKey, "Certificate invalid: expired");
  if (cert.principals.empty()) return Error(Errc::kInvalidKey, "Certificate lacks principal list");
  if (name != nullptr && std::find(cert.principals.begin(), cert.principals.end(), *name) == cert.principals.end()) {
    return Error(Errc::kInvalidKey, "Certificate invalid: name is not a listed principal");
  }
  return ok_status();
}

// The elements of a comma-separated list up to the first empty one, as
// ssh-keygen's strsep loops read them.
std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    if (item.empty()) break;
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

// cert_filter_principals: the certificate's principals that the line's patterns match.
std::string cert_filter_principals(const Certificate& cert, std::string_view patterns, uint64_t verify_time) {
  std::string out;
  for (const std::string& pattern : split_list(patterns)) {
    if (!check_cert_authority(cert, verify_time, nullptr).ok()) continue;
    for (const std::string& principal : cert.principals) {
      if (!match_pattern(principal, pattern)) continue;
      if (!out.empty()) out += ',';
      out += principal;
    }
  }
  return out;
}

// ---- reading a file as ssh-keygen does ----

class LineReader {
 public:
  LineReader(const AllowedSignersFile& file, Diagnostics* diagnostics)
      : file_(file), rest_(file.text), diagnostics_(diagnostics) {}

  bool next(std::string_view& line) {
    if (rest_.empty()) return false;
    size_t nl = rest_.find('\n');
    line = rest_.substr(0, nl == std::string_view::npos ? rest_.size() : nl + 1);
    rest_.remove_prefix(line.size());
    ++number_;
    return true;
  }
  std::string where() const { return std::string(file_.path) + ":" + std::to_string(number_) + ": "; }
  void note(std::string_view message) {
    if (diagnostics_ != nullptr) diagnostics_->push_back(where() + std::string(message));
  }

 private:
  const AllowedSignersFile& file_;
  std::string_view rest_;
  Diagnostics* diagnostics_;
  size_t number_ = 0;
};

Status check_file_size(const AllowedSignersFile& file) {
  if (file.text.size() > kMaxAllowedSignersBytes) {
    return Error(Errc::kTooLarge, std::string(file.path) + ": allowed signers file larger than " +
                                      std::to_string(kMaxAllowedSignersBytes) + " bytes");
  }
  return ok_status();
}

// check_allowed_keys_line: does this line allow `signer`? With a principal
// (verify), the line's patterns must match it first; without (find-principals)
// the line's principals are returned through `found`. A namespace is checked
// when given.
bool line_allows(std::string_view line, LineReader& reader, const KeyOrCertificate& signer,
                 const std::optional<std::string>& principal, std::optional<std::string_view> name_space,
                 uint64_t verify_time, std::string* found) {
  auto split = split_principals(line);
  if (!split.ok()) {
    reader.note(split.error().message());
    return false;
  }
  if (!*split) return false;
  if (principal && match_pattern_list(*principal, (*split)->principals) != 1) return false;
  auto entry = parse_after_principals(std::move((*split)->principals), (*split)->rest);
  if (!entry.ok()) {
    reader.note(entry.error().message());
    return false;
  }
  std::string principals = entry->principals;
  const AllowedSignerOptions& options = entry->options;
  if (!options.cert_authority && entry->key == signer) {
    // the very key
  } else if (options.cert_authority && signer.is_certificate() &&
             signer.certificate->signature_key == entry->key.key) {
    if (principal) {
      if (auto ok = check_cert_authority(*signer.certificate, verify_time, &*principal); !ok.ok()) {
        reader.note("certificate not authorized: " + ok.error().message());
        return false;
      }
    } else {
      principals = cert_filter_principals(*signer.certificate, principals, verify_time);
      if (principals.empty()) {
        reader.note("no valid principals found");
        return false;
      }
    }
  } else {
    return false;
  }
  if (name_space && options.namespaces && match_pattern_list(*name_space, *options.namespaces) != 1) {
    reader.note("key is not permitted for use in signature namespace \"" + std::string(*name_space) + "\"");
    return false;
  }
  if (options.valid_after && verify_time < *options.valid_after) {
    reader.note("key is not yet valid: verify time " + format_absolute_time(verify_time) + " < valid-after " +
                format_absolute_time(*options.valid_after));
    return false;
  }
  if (options.valid_before && verify_time > *options.valid_before) {
    reader.note("key has expired: verify time " + format_absolute_time(verify_time) + " > valid-before " +
                format_absolute_time(*options.valid_before));
    return false;
  }
  if (found != nullptr) *found = std::move(principals);
  return true;
}

}  // namespace

// ---- lines and files ----

Result<std::optional<AllowedSigner>> parse_allowed_signers_line(std::string_view line) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<PrincipalsField> split, split_principals(line));
  if (!split) return std::optional<AllowedSigner>();
  TESSERA_ASSIGN_OR_RETURN(AllowedSigner entry, parse_after_principals(std::move(split->principals), split->rest));
  return std::optional<AllowedSigner>(std::move(entry));
}

Result<std::vector<AllowedSigner>> parse_allowed_signers(std::string_view text) {
  AllowedSignersFile file{"allowed_signers", text};
  TESSERA_TRY(check_file_size(file));
  std::vector<AllowedSigner> out;
  LineReader reader(file, nullptr);
  std::string_view line;
  for (size_t number = 1; reader.next(line); ++number) {
    auto entry = parse_allowed_signers_line(line);
    if (!entry.ok()) return entry.error().with_context("line " + std::to_string(number));
    if (*entry) out.push_back(std::move(**entry));
  }
  return out;
}

// ---- times ----

Result<uint64_t> parse_absolute_time(std::string_view text) {
  bool utc = false;
  if (text.size() > 1 && (text.back() == 'Z' || text.back() == 'z')) {
    utc = true;
    text.remove_suffix(1);
  } else if (text.size() > 3 && starts_with_ignore_case(text.substr(text.size() - 3), "utc")) {
    utc = true;
    text.remove_suffix(3);
  }
  auto bad = [&] {
    return Error(Errc::kMalformed, "invalid time \"" + excerpt(text) +
                                       "\": use YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with Z for UTC");
  };
  if (text.size() != 8 && text.size() != 12 && text.size() != 14) return bad();
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return bad();
  auto field = [&](size_t pos, size_t len) {
    int v = 0;
    for (char c : text.substr(pos, len)) v = v * 10 + (c - '0');
    return v;
  };
  std::tm tm{};  // tm_isdst 0, as OpenSSH's zeroed struct tm
  tm.tm_year = field(0, 4) - 1900;
  tm.tm_mon = field(4, 2) - 1;
  tm.tm_mday = field(6, 2);
  if (text.size() >= 12) {
    tm.tm_hour = field(8, 2);
    tm.tm_min = field(10, 2);
  }
  if (text.size() == 14) tm.tm_sec = field(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return bad();
  }
  std::time_t t = utc ? timegm(&tm) : std::mktime(&tm);
  if (t < 0) return bad();
  return static_cast<uint64_t>(t);
}

std::string format_absolute_time(uint64_t seconds) {
  auto t = static_cast<std::time_t>(std::min<uint64_t>(seconds, INT64_MAX));
  std::tm tm{};
  char buf[64];
  if (localtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    return std::to_string(seconds);
  }
  return buf;
}

// ---- ssh-keygen -Y ----

Result<SshsigVerified> sshsig_check(const Sshsig& sig, std::istream& message, const SshsigVerifyRequest& request,
                                    Diagnostics* diagnostics) {
  if (request.allowed_signers.has_value() != request.principal.has_value()) {
    return Error(Errc::kInvalidArgument, "verifying against allowed signers needs both a file and a principal");
  }
  TESSERA_TRY(sshsig_verify(sig, request.name_space, message));
  if (request.is_revoked) {
    auto revoked = request.is_revoked(sig.signer);
    if (!revoked.ok()) return revoked.error().with_context("checking revocation");
    if (*revoked) {
      return Error(Errc::kInvalidKey, sig.signer.display_type() + " key " + sig.signer.fingerprint() + " is revoked");
    }
  }
  if (!request.allowed_signers) return SshsigVerified{sig.signer, std::nullopt};
  TESSERA_TRY(check_file_size(*request.allowed_signers));
  LineReader reader(*request.allowed_signers, diagnostics);
  std::string_view line;
  while (reader.next(line)) {
    if (line_allows(line, reader, sig.signer, request.principal, request.name_space, request.verify_time, nullptr)) {
      return SshsigVerified{sig.signer, request.principal};
    }
  }
  return Error(Errc::kBadSignature, "no line of " + std::string(request.allowed_signers->path) + " allows " +
                                        sig.signer.display_type() + " key " + sig.signer.fingerprint() +
                                        " for \"" + *request.principal + "\" in namespace \"" +
                                        std::string(request.name_space) + "\"");
}

std::string sshsig_good_message(std::string_view name_space, const SshsigVerified& verified, FingerprintHash hash) {
  std::string out = "Good \"" + std::string(name_space) + "\" signature ";
  if (verified.principal) out += "for " + *verified.principal + " ";
  out += "with " + verified.key.display_type() + " key " + verified.key.fingerprint(hash);
  return out;
}

Result<std::vector<std::string>> sshsig_find_principals(const KeyOrCertificate& signer, const AllowedSignersFile& file,
                                                        uint64_t verify_time, Diagnostics* diagnostics) {
  TESSERA_TRY(check_file_size(file));
  LineReader reader(file, diagnostics);
  std::string_view line;
  std::string found;
  while (reader.next(line)) {
    if (line_allows(line, reader, signer, std::nullopt, std::nullopt, verify_time, &found)) return split_list(found);
  }
  return std::vector<std::string>();
}

Result<std::vector<std::string>> sshsig_match_principals(const AllowedSignersFile& file, std::string_view principal) {
  TESSERA_TRY(check_file_size(file));
  LineReader reader(file, nullptr);
  std::vector<std::string> out;
  std::string_view line;
  while (reader.next(line)) {
    auto split = split_principals(line);
    if (!split.ok()) return Error(split.error().code(), reader.where() + split.error().message());
    if (!*split || match_pattern_list(principal, (*split)->principals) != 1) continue;
    std::string principals = (*split)->principals;
    auto entry = parse_after_principals(std::move((*split)->principals), (*split)->rest);
    if (!entry.ok()) return Error(entry.error().code(), reader.where() + entry.error().message());
    out.push_back(std::move(principals));
  }
  return out;
}

}  // namespace tessera::key
