// Any private key file: tells openssh-key-v1, traditional PEM and PKCS#8 apart
// by their armor line and hands the text to the matching parser.
#include <string>
#include <string_view>

#include "tessera/key/format.h"

namespace tessera::key {
namespace {

struct Armor {
  PrivateKeyFormat format;
  std::string_view label;  // "RSA PRIVATE KEY", ...
  std::string_view after;  // the text after the BEGIN line
};

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Finds the first armor line that names a key. Other PEM blocks (EC
// PARAMETERS, certificates) are skipped, as OpenSSL's readers skip them.
Result<Armor> find_armor(std::string_view text) {
  if (text.size() > kMaxKeyFileBytes) {
    return Error(Errc::kTooLarge, "private key file larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  std::string_view rest = text;
  bool first_line = true;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = trim_right(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (first_line) {
      first_line = false;
      std::string_view start = line;
      while (!start.empty() && (start.front() == ' ' || start.front() == '\t')) start.remove_prefix(1);
      if (start.starts_with("PuTTY-User-Key-File-")) {
        return Error(Errc::kUnsupported, "PuTTY private keys are not supported: convert the key with puttygen");
      }
      if (start.starts_with("ssh-") || start.starts_with("ecdsa-") || start.starts_with("sk-")) {
        return Error(Errc::kMalformed, "this is a public key, not a private key");
      }
    }
    if (line == "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----") {
      return Error(Errc::kUnsupported, "SSH.com private keys are not supported");
    }
    if (line == "---- BEGIN SSH2 PUBLIC KEY ----") {
      return Error(Errc::kMalformed, "this is an RFC 4716 public key, not a private key");
    }
    constexpr std::string_view kBegin = "-----BEGIN ";
    constexpr std::string_view kDashes = "-----";
    if (!line.starts_with(kBegin) || !line.ends_with(kDashes) || line.size() < kBegin.size() + kDashes.size()) {
      continue;
    }
    std::string_view label = line.substr(kBegin.size(), line.size() - kBegin.size() - kDashes.size());
    if (label == "OPENSSH PRIVATE KEY") return Armor{PrivateKeyFormat::kOpenssh, label, rest};
    if (label == "RSA PRIVATE KEY" || label == "EC PRIVATE KEY") return Armor{PrivateKeyFormat::kPem, label, rest};
    if (label == "PRIVATE KEY" || label == "ENCRYPTED PRIVATE KEY") {
      return Armor{PrivateKeyFormat::kPkcs8, label, rest};
    }
    if (label == "DSA PRIVATE KEY") return Error(Errc::kUnsupported, "DSA keys are not supported");
    if (label == "PUBLIC KEY" || label == "RSA PUBLIC KEY") {
      return Error(Errc::kMalformed, "this is a PEM public key, not a private key");
    }
  }
  return Error(Errc::kMalformed, "not a private key file (no -----BEGIN ... PRIVATE KEY----- line)");
}

}  // namespace

Result<PrivateKeyFormat> detect_private_key_format(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(Armor armor, find_armor(text));
  return armor.format;
}

Result<PrivateKeyWithComment> parse_private_key(std::string_view text, const SecretBytes& passphrase) {
  TESSERA_ASSIGN_OR_RETURN(Armor armor, find_armor(text));
  if (armor.format == PrivateKeyFormat::kOpenssh) return parse_openssh_private_key(text, passphrase);
  TESSERA_ASSIGN_OR_RETURN(PrivateKey key, parse_pem_private_key(text, passphrase));
  return PrivateKeyWithComment{std::move(key), std::string()};
}

bool private_key_is_encrypted(std::string_view text) {
  auto armor = find_armor(text);
  if (!armor.ok()) return false;
  switch (armor->format) {
    case PrivateKeyFormat::kOpenssh: {
      auto info = inspect_openssh_private_key(text);
      return info.ok() && info->encrypted;
    }
    case PrivateKeyFormat::kPkcs8:
      return armor->label == "ENCRYPTED PRIVATE KEY";
    case PrivateKeyFormat::kPem: {
      // RFC 1421 headers follow the BEGIN line: "Proc-Type: 4,ENCRYPTED".
      std::string_view rest = armor->after;
      size_t nl = rest.find('\n');
      std::string_view line = trim_right(rest.substr(0, nl));
      return line.starts_with("Proc-Type:") && line.find("ENCRYPTED") != std::string_view::npos;
    }
  }
  return false;
}

}  // namespace tessera::key
