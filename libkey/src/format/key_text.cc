#include "format/key_text.h"

#include <strings.h>

#include <string>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"

namespace tessera::key::key_text {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

// strcasecmp(); b is one of our names, which hold no NUL.
bool equals_nocase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<KeyName> key_name(std::string_view name) {
  if (const KeyTypeInfo* info = find_key_type(name)) return KeyName{info->type, false, false};
  if (const KeyTypeInfo* info = find_certificate_type(name)) return KeyName{info->type, true, false};
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") return KeyName{KeyType::kRsa, false, false};
  if (name == "rsa-sha2-256-cert-v01@openssh.com" || name == "rsa-sha2-512-cert-v01@openssh.com") {
    return KeyName{KeyType::kRsa, true, false};
  }
  if (name == "webauthn-sk-ecdsa-sha2-nistp256@openssh.com") return KeyName{KeyType::kSkEcdsaP256, false, false};
  for (const KeyTypeInfo& info : all_key_types()) {
    if (equals_nocase(name, info.display_name)) return KeyName{info.type, false, info.display_name == "ECDSA"};
  }
  return std::nullopt;
}

bool openssh_key_type(std::string_view name) {
  return key_name(name).has_value() || name == "ssh-dss" || name == "ssh-dss-cert-v01@openssh.com" ||
         equals_nocase(name, "dsa");
}

Result<ReadKey> read_key(std::string_view text) {
  const size_t name_end = text.find_first_of(" \t");
  if (name_end == std::string_view::npos) return Error(Errc::kMalformed, "invalid key: no key data");
  const std::string_view name = text.substr(0, name_end);
  const std::optional<KeyName> named = key_name(name);
  if (!named) return Error(Errc::kUnsupported, "invalid key: unknown key type \"" + std::string(name.substr(0, 64)) + "\"");
  const std::string_view rest = skip_blanks(text.substr(name_end));
  if (rest.empty()) return Error(Errc::kMalformed, "invalid key: no key data");
  const size_t blob_end = std::min(rest.find_first_of(" \t"), rest.size());
  auto blob = base64_decode(rest.substr(0, blob_end));
  if (!blob.ok()) return blob.error().with_context("invalid key");
  const std::string_view after = skip_blanks(rest.substr(blob_end));
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
    return ReadKey{KeyOrCertificate::certified(std::move(*cert)), after};
  }
  auto key = PublicKey::from_blob(*blob);
  if (!key.ok()) return key.error().with_context("invalid key");
  if (key->type() != named->type || named->short_ecdsa) return mismatch(key->ssh_name());
  return ReadKey{KeyOrCertificate::plain(std::move(*key)), after};
}

}  // namespace tessera::key::key_text
