// ssh-keygen -k revocation specs, read line by line as OpenSSH 9.2's
// update_krl_from_file() reads them: the same trimming, the same keywords,
// strtoull() for serials, sshkey_read() rules for key lines.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <variant>

#include "format/key_text.h"
#include "krl_internal.h"
#include "tessera/key/encoding.h"
#include "tessera/key/krl.h"

namespace tessera::key {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// strncasecmp(line, keyword, strlen(keyword)) == 0, then the blanks after it.
bool take_keyword(std::string_view& line, std::string_view keyword) {
  if (line.size() < keyword.size() || !equals_nocase(line.substr(0, keyword.size()), keyword)) return false;
  line = skip_blanks(line.substr(keyword.size()));
  return true;
}

// The part of a line that counts: from the first non-blank to before a '#'
// or line break, without trailing blanks. C strings end at a NUL.
std::string_view significant_part(std::string_view line) {
  line = line.substr(0, line.find('\0'));
  line = skip_blanks(line);
  line = line.substr(0, line.find_first_of("#\n"));
  while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
  return line;
}

// ---- key lines (sshkey_read, format/key_text.h) ----

Result<KeyOrCertificate> read_key_text(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(key_text::ReadKey read, key_text::read_key(text));
  return std::move(read.key);
}

// ---- serials (strtoull base 0, as ssh-keygen) ----

Result<uint64_t> parse_serial(const std::string& text, const char** end) {
  errno = 0;
  char* ep = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &ep, 0);
  const int saved = errno;
  *end = ep;
  if (saved == ERANGE && value == ULLONG_MAX) return Error(Errc::kMalformed, "serial out of range");
  return static_cast<uint64_t>(value);
}

Status revoke_serials(KrlBuilder& krl, std::string_view spec, const std::optional<PublicKey>& ca) {
  const std::string text(spec);
  const char* ep = nullptr;
  TESSERA_ASSIGN_OR_RETURN(uint64_t first, parse_serial(text, &ep));
  if (text.empty() || (*ep != '\0' && *ep != '-')) {
    return Error(Errc::kMalformed, "invalid serial \"" + text + "\"");
  }
  uint64_t last = first;
  if (*ep == '-') {
    const std::string second(ep + 1);
    const char* ep2 = nullptr;
    TESSERA_ASSIGN_OR_RETURN(last, parse_serial(second, &ep2));
    if (second.empty() || *ep2 != '\0') return Error(Errc::kMalformed, "invalid serial \"" + second + "\"");
    if (last <= first) {
      return Error(Errc::kMalformed, "invalid serial range " + std::to_string(first) + ":" + std::to_string(last));
    }
  }
  return krl.revoke_serial_range(ca, first, last);
}

// ---- hashes ----

// "SHA256:<unpadded base64>" as ssh-keygen -l prints it.
template <typename Digest>
Result<Digest> parse_fingerprint(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix)) {
    return Error(Errc::kUnsupported, "unsupported hash algorithm: expected \"" + std::string(prefix) + "...\"");
  }
  auto raw = base64_decode(text.substr(prefix.size()));
  if (!raw.ok()) return raw.error().with_context("decode hash failed");
  Digest digest{};
  if (raw->size() != digest.size()) {
    return Error(Errc::kMalformed, "a " + std::string(prefix.substr(0, prefix.size() - 1)) + " hash has " +
                                       std::to_string(digest.size()) + " bytes, not " + std::to_string(raw->size()));
  }
  std::copy(raw->begin(), raw->end(), digest.begin());
  return digest;
}

// "sha1:" and "sha256:": the hash of a key (or of a certificate's key) or,
// beyond ssh-keygen 9.2, a fingerprint "<prefix><base64>".
template <typename Digest>
Status revoke_by_hash(KrlBuilder& krl, std::string_view text, std::string_view prefix,
                      void (KrlBuilder::*revoke_digest)(const Digest&),
                      void (KrlBuilder::*revoke_key_digest)(const PublicKey&)) {
  if (text.starts_with(prefix)) {
    TESSERA_ASSIGN_OR_RETURN(Digest digest, parse_fingerprint<Digest>(text, prefix));
    (krl.*revoke_digest)(digest);
    return {};
  }
  TESSERA_ASSIGN_OR_RETURN(KeyOrCertificate key, read_key_text(text));
  (krl.*revoke_key_digest)(key.key);
  return {};
}

std::optional<PublicKey> scope_key(const KrlSpecCa& ca) {
  return ca.kind == KrlSpecCa::Kind::kKey ? ca.key : std::nullopt;
}

}  // namespace

Status add_krl_spec_line(KrlBuilder& krl, std::string_view line, const KrlSpecCa& ca) {
  std::string_view cp = significant_part(line);
  if (cp.empty()) return {};
  if (ca.kind == KrlSpecCa::Kind::kKey && !ca.key.has_value()) {
    return Error(Errc::kInvalidArgument, "a KRL spec CA of kind kKey needs its key");
  }

  if (take_keyword(cp, "serial:")) {
    if (ca.kind == KrlSpecCa::Kind::kNone) {
      return Error(Errc::kInvalidArgument, "revoking certificates by serial number requires specification of a CA key");
    }
    return revoke_serials(krl, cp, scope_key(ca));
  }
  if (take_keyword(cp, "id:")) {
    if (ca.kind == KrlSpecCa::Kind::kNone) {
      return Error(Errc::kInvalidArgument, "revoking certificates by key ID requires specification of a CA key");
    }
    return krl.revoke_key_id(scope_key(ca), cp);
  }
  if (take_keyword(cp, "hash:")) {
    TESSERA_ASSIGN_OR_RETURN(Sha256Digest digest, parse_fingerprint<Sha256Digest>(cp, "SHA256:"));
    krl.revoke_sha256(digest);
    return {};
  }
  if (take_keyword(cp, "sha1:")) {
    return revoke_by_hash<Sha1Digest>(krl, cp, "SHA1:", &KrlBuilder::revoke_sha1, &KrlBuilder::revoke_key_sha1);
  }
  if (take_keyword(cp, "sha256:")) {
    return revoke_by_hash<Sha256Digest>(krl, cp, "SHA256:", &KrlBuilder::revoke_sha256,
                                        &KrlBuilder::revoke_key_sha256);
  }
  if (take_keyword(cp, "key:")) {
    TESSERA_ASSIGN_OR_RETURN(KeyOrCertificate key, read_key_text(cp));
    krl.revoke_key(key.key);
    return {};
  }
  // A bare key line: a plain key is revoked as a key, a certificate under its own CA.
  TESSERA_ASSIGN_OR_RETURN(KeyOrCertificate key, read_key_text(cp));
  if (key.certificate) {
    krl.revoke_certificate(*key.certificate);
  } else {
    krl.revoke_key(key.key);
  }
  return {};
}

Status add_krl_spec(KrlBuilder& krl, std::string_view text, std::string_view source, const KrlSpecCa& ca) {
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto added = add_krl_spec_line(krl, line, ca);
    if (!added.ok()) return added.error().with_context(std::string(source) + ":" + std::to_string(line_number));
  }
  return {};
}

}  // namespace tessera::key
