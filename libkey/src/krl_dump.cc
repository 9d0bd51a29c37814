// The text of ssh-keygen -Q -l (OpenSSH 9.2's krl_dump()), line for line,
// including its quirks: SHA256 hashes listed in the KRL print as hex after
// "SHA256:", and SHA1 hashes print as comments.
#include <cstdio>
#include <ctime>

#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/krl.h"

namespace tessera::key {
namespace {

// "%Y%m%dT%H%M%S" in local time, or "<INVALID>", as OpenSSH's format_timestamp().
std::string format_timestamp(uint64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (localtime_r(&t, &tm) == nullptr) return "<INVALID>";
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm) == 0) return "";
  return buf;
}

struct KeyName {
  std::string ssh_name;
  std::string fingerprint;  // SHA256, of the plain key
};

// The name and fingerprint OpenSSH prints for a key blob from a KRL. A
// certificate names its own type and the fingerprint of its key.
Result<KeyName> describe_key_blob(std::span<const uint8_t> blob) {
  auto key = PublicKey::from_blob(blob);
  if (key.ok()) return KeyName{std::string(key->ssh_name()), fingerprint(*key, FingerprintHash::kSha256)};
  auto cert = Certificate::from_blob(blob);
  if (!cert.ok()) return key.error();
  return KeyName{std::string(cert->type_name()), fingerprint(cert->key, FingerprintHash::kSha256)};
}

}  // namespace

std::string krl_escape_ascii(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned>(byte));
      out += buf;
    }
  }
  return out;
}

KrlDump krl_dump(const Krl& krl, const KrlTextEscaper& escape) {
  const KrlContents contents = krl.contents();
  KrlDump dump;
  std::string& out = dump.text;
  out += "# KRL version " + std::to_string(contents.version) + "\n";
  out += "# Generated at " + format_timestamp(contents.generated_date) + "\n";
  if (!contents.comment.empty()) out += "# Comment: " + escape(contents.comment) + "\n";
  out += '\n';

  for (const Bytes& blob : contents.keys) {
    auto name = describe_key_blob(blob);
    if (!name.ok()) {
      dump.problems.push_back("revoked key that cannot be read: " + name.error().message());
      continue;
    }
    out += "hash: " + name->fingerprint + " # " + name->ssh_name + "\n";
  }
  for (const Sha256Digest& digest : contents.sha256) out += "hash: SHA256:" + hex_encode(digest) + "\n";
  for (const Sha1Digest& digest : contents.sha1) out += "# hash SHA1:" + hex_encode(digest) + "\n";

  for (const KrlCaRevocations& ca : contents.certificates) {
    out += '\n';
    if (ca.ca_blob.empty()) {
      out += "# Wildcard CA\n";
    } else {
      auto name = describe_key_blob(ca.ca_blob);
      if (!name.ok()) {  // Krl::parse checked it: unreachable in practice
        dump.problems.push_back("CA key that cannot be read: " + name.error().message());
        continue;
      }
      out += "# CA key " + name->ssh_name + " " + name->fingerprint + "\n";
    }
    for (const SerialRange& r : ca.serials) {
      out += "serial: " + std::to_string(r.first);
      if (r.last != r.first) out += "-" + std::to_string(r.last);
      out += '\n';
    }
    for (const std::string& id : ca.key_ids) out += "id: " + escape(id) + "\n";
  }
  return dump;
}

}  // namespace tessera::key
