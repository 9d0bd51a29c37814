// ssh-keygen -k revocation specs, read line by line as OpenSSH 9.2's
// update_krl_from_file() reads them: the same trimming, the same keywords,
// strtoull() for serials, sshkey_read() rules for key lines.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <variant>

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

// ---- key lines (sshkey_read) ----

struct KeyName {
  KeyType type;
  bool certificate;
  bool short_ecdsa;  // "ECDSA" names no curve: OpenSSH reports a type mismatch
};

// The key type a name on a key line stands for, as OpenSSH's
// sshkey_type_from_name(): full names of keys and certificates (including
// the rsa-sha2-* aliases of RSA), or the short names of plain key types in
// any case ("ed25519", "RSA", "ECDSA-SK").
std::optional<KeyName> key_name(std::string_view name) {
  if (const KeyTypeInfo* info = find_key_type(name)) return KeyName{info->type, false, false};
  if (const KeyTypeInfo* info = find_certificate_type(name)) return KeyName{info->type, true, false};
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") return KeyName{KeyType::kRsa, false, false};
  if (name == "rsa-sha2-256-cert-v01@openssh.com" || name == "rsa-sha2-512-cert-v01@openssh.com") {
    return KeyName{KeyType::kRsa, true, false};
  }
  for (const KeyTypeInfo& info : all_key_types()) {
    if (equals_nocase(name, info.display_name)) return KeyName{info.type, false, info.display_name == "ECDSA"};
  }
  return std::nullopt;
}

using KeyOrCertificate = std::variant<PublicKey, Certificate>;

Result<KeyOrCertificate> read_key_text(std::string_view text) {
  const size_t name_end = text.find_first_of(" \t");
  if (name_end == std::string_view::npos) return Error(Errc::kMalformed, "invalid key: no key data");
  const std::string_view name = text.substr(0, name_end);
  const std::optional<KeyName> named = key_name(name);
  if (!named) return Error(Errc::kUnsupported, "invalid key: unknown key type \"" + std::string(name.substr(0, 64)) + "\"");
  const std::string_view rest = skip_blanks(text.substr(name_end));
  if (rest.empty()) return Error(Errc::kMalformed, "invalid key: no key data");
  auto blob = base64_decode(rest.substr(0, rest.find_first_of(" \t")));
  if (!blob.ok()) return blob.error().with_context("invalid key");
  auto mismatch = [&name](std::string_view actual) {
    return Error(Errc::kMalformed, "invalid key: the line names \"" + std::string(name) + "\" but holds " +
                                       std::string(actual));
  };
  if (named->certificate) {
    auto cert = Certificate::from_blob(*blob);
    if (!cert.ok()) return cert.error().with_context("invalid key");
    if (cert->key.type() != named->type) return mismatch(cert->type_name());
    // sshkey_read() checks a certificate's CA signature as it reads it.
    TESSERA_TRY(cert->verify_signature());
    return KeyOrCertificate(std::move(*cert));
  }
  auto key = PublicKey::from_blob(*blob);
  if (!key.ok()) return key.error().with_context("invalid key");
  if (key->type() != named->type || named->short_ecdsa) return mismatch(key->ssh_name());
  return KeyOrCertificate(std::move(*key));
}

const PublicKey& plain_key(const KeyOrCertificate& k) {
  if (const auto* cert = std::get_if<Certificate>(&k)) return cert->key;
  return std::get<PublicKey>(k);
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
  (krl.*revoke_key_digest)(plain_key(key));
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
    krl.revoke_key(plain_key(key));
    return {};
  }
  // A bare key line: a plain key is revoked as a key, a certificate under its own CA.
  TESSERA_ASSIGN_OR_RETURN(KeyOrCertificate key, read_key_text(cp));
  if (const auto* cert = std::get_if<Certificate>(&key)) {
    krl.revoke_certificate(*cert);
  } else {
    krl.revoke_key(std::get<PublicKey>(key));
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
