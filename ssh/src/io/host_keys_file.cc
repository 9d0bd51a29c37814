#include "io/host_keys_file.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/sys/file.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

key::SignatureAlgorithm signature_algorithm(std::string_view signature_name) {
  if (signature_name == "rsa-sha2-512") return key::SignatureAlgorithm::kRsaSha512;
  if (signature_name == "rsa-sha2-256") return key::SignatureAlgorithm::kRsaSha256;
  return key::SignatureAlgorithm::kDefault;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view next_field(std::string_view& line) {
  line = trim(line);
  size_t end = 0;
  while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

}  // namespace

HostKeys::HostKeys(std::vector<key::PrivateKey> keys, std::vector<key::Certificate> certificates,
                   std::vector<std::string>* warnings) {
  auto warn = [&](std::string text) {
    if (warnings != nullptr) warnings->push_back(std::move(text));
  };
  for (key::PrivateKey& k : keys) {
    const bool usable = std::any_of(transport::supported_host_key_algorithms().begin(),
                                    transport::supported_host_key_algorithms().end(),
                                    [&](const transport::HostKeyAlgorithm& a) { return a.key_type == k.type(); });
    if (!usable) {
      warn("a " + std::string(k.public_key().ssh_name()) + " key cannot be a host key");
      continue;
    }
    if (std::any_of(keys_.begin(), keys_.end(), [&](const Entry& e) { return e.key.type() == k.type(); })) {
      warn("a second " + std::string(k.public_key().ssh_name()) + " host key is not used: only the first key of " +
           "each type signs");
      continue;
    }
    keys_.push_back(Entry{std::move(k), std::nullopt, {}});
  }
  for (key::Certificate& cert : certificates) {
    if (cert.type != key::CertType::kHost) {
      warn("certificate " + cert.key_id + " is a user certificate, not a host certificate");
      continue;
    }
    auto it = std::find_if(keys_.begin(), keys_.end(), [&](const Entry& e) { return e.key.public_key() == cert.key; });
    if (it == keys_.end()) {
      warn("no matching private key for certificate " + cert.key_id);
      continue;
    }
    if (it->certificate) {
      warn("a second certificate for the " + std::string(cert.key.ssh_name()) + " host key is not used");
      continue;
    }
    it->certificate_blob = cert.blob();
    it->certificate = std::move(cert);
  }
}

std::vector<std::string> HostKeys::algorithms() const {
  std::vector<std::string> out;
  for (const Entry& e : keys_) {
    for (const transport::HostKeyAlgorithm& a : transport::supported_host_key_algorithms()) {
      if (a.key_type != e.key.type()) continue;
      if (a.certificate && !e.certificate) continue;
      out.emplace_back(a.name);
    }
  }
  return out;
}

const HostKeys::Entry* HostKeys::find(std::string_view algorithm, bool& certificate) const {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a == nullptr) return nullptr;
  for (const Entry& e : keys_) {
    if (e.key.type() != a->key_type) continue;
    if (a->certificate && !e.certificate) return nullptr;
    certificate = a->certificate;
    return &e;
  }
  return nullptr;
}

key::Bytes HostKeys::host_key_blob(std::string_view algorithm) const {
  bool certificate = false;
  const Entry* e = find(algorithm, certificate);
  if (e == nullptr) return {};
  return certificate ? e->certificate_blob : e->key.public_key().blob();
}

key::Result<key::Bytes> HostKeys::sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) {
  bool certificate = false;
  const Entry* e = find(algorithm, certificate);
  if (e == nullptr) return Error(Errc::kUnsupported, "no host key for " + std::string(algorithm));
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  return e->key.sign(exchange_hash, signature_algorithm(a->signature_name));
}

std::vector<key::Bytes> HostKeys::public_key_blobs() const {
  std::vector<key::Bytes> out;
  for (const Entry& e : keys_) out.push_back(e.key.public_key().blob());
  return out;
}

std::vector<key::PublicKey> HostKeys::public_keys() const {
  std::vector<key::PublicKey> out;
  for (const Entry& e : keys_) out.push_back(e.key.public_key());
  return out;
}

key::Result<key::Certificate> parse_certificate_file(std::string_view text) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::string_view type = next_field(line);
    const std::string_view encoded = next_field(line);
    if (key::find_certificate_type(type) == nullptr) {
      return Error(Errc::kMalformed, "not a certificate: the line starts with " + std::string(type.substr(0, 64)));
    }
    auto blob = key::base64_decode(encoded);
    if (!blob.ok()) return blob.error().with_context("certificate");
    auto cert = key::Certificate::from_blob(*blob);
    if (!cert.ok()) return cert.error().with_context("certificate");
    if (cert->type_name() != type) {
      return Error(Errc::kMalformed, "the line says " + std::string(type) + " but holds a " +
                                         std::string(cert->type_name()));
    }
    TESSERA_TRY(cert->verify_signature());
    return std::move(*cert);
  }
  return Error(Errc::kMalformed, "no certificate in the file");
}

key::Result<LoadedHostKeys> load_host_key_files(const std::vector<std::string>& paths,
                                                const std::vector<std::string>& certificate_paths,
                                                std::vector<key::PrivateKey> more_keys) {
  LoadedHostKeys out;
  std::vector<key::PrivateKey> keys;
  auto add = [&](key::PrivateKey k, const std::string& where) {
    const key::KeyType type = k.type();
    if (std::any_of(keys.begin(), keys.end(), [&](const key::PrivateKey& have) { return have.type() == type; })) {
      out.warnings.push_back(where + ": not used, an earlier " + std::string(k.public_key().ssh_name()) +
                             " key answers for its type");
      return;
    }
    keys.push_back(std::move(k));
  };
  for (const std::string& path : paths) {
    auto text = sys::read_file_secret(path, kMaxHostKeyFileBytes);
    if (!text.ok()) {
      out.warnings.push_back("host key " + path + ": " + text.error().message());
      continue;
    }
    auto parsed = key::parse_private_key(key::as_text(text->reveal()), key::SecretBytes());
    if (!parsed.ok()) {
      std::string why = parsed.error().message();
      if (parsed.error().code() == Errc::kPassphraseRequired) {
        why = "the key is encrypted (a server has nobody to ask for its passphrase)";
      }
      out.warnings.push_back("host key " + path + ": " + why);
      continue;
    }
    add(std::move(parsed->key), "host key " + path);
  }
  for (key::PrivateKey& k : more_keys) add(std::move(k), "a host key given in memory");
  std::vector<key::Certificate> certificates;
  for (const std::string& path : certificate_paths) {
    auto text = sys::read_file(path, kMaxHostKeyFileBytes);
    if (!text.ok()) {
      out.warnings.push_back("host certificate " + path + ": " + text.error().message());
      continue;
    }
    auto cert = parse_certificate_file(*text);
    if (!cert.ok()) {
      out.warnings.push_back("host certificate " + path + ": " + cert.error().message());
      continue;
    }
    if (cert->type != key::CertType::kHost) {
      out.warnings.push_back("host certificate " + path + ": a user certificate, not a host certificate");
      continue;
    }
    if (std::none_of(keys.begin(), keys.end(), [&](const key::PrivateKey& k) { return k.public_key() == cert->key; })) {
      out.warnings.push_back("host certificate " + path + ": no matching private key among the host keys");
      continue;
    }
    certificates.push_back(std::move(*cert));
  }
  out.keys = std::make_unique<HostKeys>(std::move(keys), std::move(certificates), &out.warnings);
  if (out.keys->empty()) {
    std::string text = "no host key could be loaded";
    for (const std::string& w : out.warnings) text += "; " + w;
    return Error(Errc::kInvalidArgument, std::move(text));
  }
  return out;
}

}  // namespace tessera::ssh::io
