#include "io/host_key_sources.h"

#include <algorithm>
#include <map>
#include <utility>

#include "io/host_keys_agent.h"
#include "io/host_keys_file.h"
#include "io/host_keys_token.h"
#include "io/token_identities.h"
#include "tessera/key/format.h"
#include "tessera/sys/file.h"
#include "tessera/tokens/names.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

bool is_token_uri(const std::string& host_key) { return host_key.starts_with("pkcs11:"); }

// tessera-sshd is root and loads what its own configuration names: any
// module (the -P allowlist guards the agent, which others can reach).
constexpr std::string_view kAnyModule = "*";

// A message that may quote the URI, with its PIN taken out.
std::string redacted(std::string text, const std::string& uri, const std::string& safe_uri) {
  for (size_t at = text.find(uri); !uri.empty() && at != std::string::npos; at = text.find(uri, at + safe_uri.size())) {
    text.replace(at, uri.size(), safe_uri);
  }
  return tokens::without_pin_value(text);
}

}  // namespace

HostKeySet::HostKeySet(Report on_failure) : on_failure_(std::move(on_failure)) {}

HostKeySet::~HostKeySet() = default;

key::Status HostKeySet::add(key::PublicKey key, SignFunction sign, std::string where) {
  const auto& table = transport::supported_host_key_algorithms();
  if (std::none_of(table.begin(), table.end(),
                   [&](const transport::HostKeyAlgorithm& a) { return a.key_type == key.type(); })) {
    return Error(Errc::kInvalidArgument, "a " + std::string(key.ssh_name()) + " key cannot be a host key");
  }
  for (const Entry& e : entries_) {
    if (e.key.type() == key.type()) {
      return Error(Errc::kInvalidArgument, "not used: the " + std::string(key.ssh_name()) + " key " + e.where +
                                               " answers for its type");
    }
  }
  entries_.push_back(Entry{std::move(key), std::move(sign), std::move(where), std::nullopt, {}});
  return {};
}

key::Status HostKeySet::add_certificate(key::Certificate certificate) {
  if (certificate.type != key::CertType::kHost) {
    return Error(Errc::kInvalidArgument, "a user certificate, not a host certificate");
  }
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == certificate.key; });
  if (it == entries_.end()) return Error(Errc::kInvalidArgument, "certifies none of the host keys");
  if (it->certificate) {
    return Error(Errc::kInvalidArgument, "not used: the host key " + it->where + " has a certificate already");
  }
  it->certificate_blob = certificate.blob();
  it->certificate = std::move(certificate);
  return {};
}

std::vector<key::PublicKey> HostKeySet::public_keys() const {
  std::vector<key::PublicKey> out;
  for (const Entry& e : entries_) out.push_back(e.key);
  return out;
}

std::vector<std::string> HostKeySet::where() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.where);
  return out;
}

std::vector<std::string> HostKeySet::algorithms() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    for (const transport::HostKeyAlgorithm& a : transport::supported_host_key_algorithms()) {
      if (a.key_type != e.key.type() || (a.certificate && !e.certificate)) continue;
      out.emplace_back(a.name);
    }
  }
  return out;
}

const HostKeySet::Entry* HostKeySet::find(std::string_view algorithm, bool& certificate) const {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a == nullptr) return nullptr;
  for (const Entry& e : entries_) {
    if (e.key.type() != a->key_type) continue;
    if (a->certificate && !e.certificate) return nullptr;
    certificate = a->certificate;
    return &e;
  }
  return nullptr;
}

key::Bytes HostKeySet::host_key_blob(std::string_view algorithm) const {
  bool certificate = false;
  const Entry* e = find(algorithm, certificate);
  if (e == nullptr) return {};
  return certificate ? e->certificate_blob : e->key.blob();
}

key::Result<key::Bytes> HostKeySet::sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) {
  bool certificate = false;
  const Entry* e = find(algorithm, certificate);
  if (e == nullptr) return Error(Errc::kUnsupported, "no host key for " + std::string(algorithm));
  // A certificate algorithm signs as its key's plain one.
  auto signature = e->sign(transport::find_host_key_algorithm(algorithm)->signature_name, exchange_hash);
  if (!signature.ok()) {
    Error failed = signature.error().with_context("host key " + e->where);
    if (on_failure_) on_failure_(failed.message());
    return failed;
  }
  return signature;
}

std::vector<key::Bytes> HostKeySet::public_key_blobs() const {
  std::vector<key::Bytes> out;
  for (const Entry& e : entries_) out.push_back(e.key.blob());
  return out;
}

key::Status check_external_signature(const key::PublicKey& key, std::string_view signature_algorithm,
                                     std::span<const uint8_t> signature_blob, std::span<const uint8_t> data) {
  key::Reader in(signature_blob);
  auto name = in.text();
  if (!name.ok()) return Error(Errc::kBadSignature, "the signature is malformed: " + name.error().message());
  if (*name != signature_algorithm) {
    return Error(Errc::kBadSignature, "signed with " + std::string(name->substr(0, 64)) + " instead of " +
                                          std::string(signature_algorithm));
  }
  auto verified = key.verify(signature_blob, data);
  if (!verified.ok()) {
    return Error(Errc::kBadSignature, "the signature does not verify with the host key: " +
                                          verified.error().message());
  }
  return {};
}

key::Result<LoadedHostKeySet> load_host_key_set(const HostKeySources& sources, HostKeySet::Report on_failure) {
  LoadedHostKeySet out;
  out.keys = std::make_unique<HostKeySet>(std::move(on_failure));
  HostKeySet& set = *out.keys;
  auto warn = [&](std::string text) { out.warnings.push_back(std::move(text)); };

  AgentHostKeys* agent = nullptr;
  if (!sources.agent.empty()) {
    auto connected = AgentHostKeys::connect(sources.agent, sources.timeout);
    if (connected.ok()) {
      agent = set.keep(std::move(*connected));
    } else {
      warn("HostKeyAgent " + sources.agent + ": " + connected.error().message());
    }
  }
  std::map<std::string, TokenHostKeys*> modules;  // one helper per module

  for (const std::string& line : sources.host_keys) {
    if (is_token_uri(line)) {
      const std::string safe = tokens::without_pin_value(line);
      const std::string token_label = pkcs11_uri_token(line);
      const std::string what = "host key " + safe + (token_label.empty() ? "" : " on token '" + token_label + "'");
      auto spec = tokens::resolve_provider(line, kAnyModule);
      if (!spec.ok()) {
        warn(what + ": " + redacted(spec.error().message(), line, safe));
        continue;
      }
      TokenHostKeys*& tokens = modules[spec->module_path];
      if (tokens == nullptr) {
        auto started = TokenHostKeys::start(spec->module_path, sources.timeout);
        if (!started.ok()) {
          modules.erase(spec->module_path);
          warn(what + ": " + started.error().message());
          continue;
        }
        tokens = set.keep(std::move(*started));
        out.notes.push_back("PKCS#11 module " + spec->module_path + ": " + tokens->module_description());
      }
      auto added = tokens->add(line);
      if (!added.ok()) {
        warn(what + ": " + redacted(added.error().message(), line, safe));
        continue;
      }
      std::vector<key::KeyType> types;  // added by this line
      for (TokenHostKeys::Added& key : *added) {
        const size_t index = key.index;
        TokenHostKeys* signer = tokens;
        auto sign = [signer, index](std::string_view algorithm, std::span<const uint8_t> data) {
          return signer->sign_with(index, algorithm, data);
        };
        const key::KeyType type = key.key.type();
        auto status = set.add(std::move(key.key), std::move(sign), key.where);
        if (status.ok()) {
          types.push_back(type);
          out.notes.push_back("host key " + safe + ": " + key.where);
        } else if (std::find(types.begin(), types.end(), type) != types.end()) {
          // A URI that selects a whole token: its first key of each type is the one.
          out.notes.push_back("host key " + key.where + " (" + safe + "): " + status.error().message());
        } else {
          warn("host key " + key.where + " (" + safe + "): " + status.error().message());
        }
      }
      continue;
    }

    // A file: a private key is used as it is; with an agent, anything else
    // names a key the agent holds, as sshd.
    std::string why;
    auto text = sys::read_file_secret(line, kMaxHostKeyFileBytes);
    if (text.ok()) {
      auto parsed = key::parse_private_key(key::as_text(text->reveal()), key::SecretBytes());
      if (parsed.ok()) {
        std::vector<std::string> skipped;
        auto part = std::make_unique<HostKeys>(std::vector<key::PrivateKey>{std::move(parsed->key)},
                                               std::vector<key::Certificate>{}, &skipped);
        if (part->empty()) {
          warn("host key " + line + ": " + (skipped.empty() ? "cannot be a host key" : skipped.front()));
          continue;
        }
        const key::PublicKey public_key = part->public_keys().front();
        HostKeys* signer = set.keep(std::move(part));
        auto status = set.add(public_key,
                              [signer](std::string_view algorithm, std::span<const uint8_t> data) {
                                return signer->sign(algorithm, data);
                              },
                              line);
        if (!status.ok()) warn("host key " + line + ": " + status.error().message());
        continue;
      }
      why = parsed.error().code() == Errc::kPassphraseRequired
                ? "the key is encrypted (a server has nobody to ask for its passphrase)"
                : parsed.error().message();
    } else {
      why = text.error().message();
    }
    if (agent == nullptr) {
      warn("host key " + line + ": " + why);
      continue;
    }
    auto public_half = read_agent_key_file(line);
    if (!public_half.ok()) {
      warn("host key " + line + ": " + public_half.error().message());
      continue;
    }
    if (auto held = agent->add(public_half->key); !held.ok()) {
      warn("host key " + line + ": " + held.error().message());
      continue;
    }
    auto sign = [agent, key = public_half->key](std::string_view algorithm, std::span<const uint8_t> data) {
      return agent->sign_with(key, algorithm, data);
    };
    const std::string where = line + " (agent " + agent->socket() + ")";
    if (auto status = set.add(public_half->key, std::move(sign), where); !status.ok()) {
      warn("host key " + line + ": " + status.error().message());
      continue;
    }
    out.notes.push_back("will rely on agent for host key " + line);
    if (public_half->certificate) {
      if (auto status = set.add_certificate(std::move(*public_half->certificate)); !status.ok()) {
        warn("host certificate " + public_half->path + ": " + status.error().message());
      }
    }
  }

  for (const std::string& path : sources.certificates) {
    auto text = sys::read_file(path, kMaxHostKeyFileBytes);
    if (!text.ok()) {
      warn("host certificate " + path + ": " + text.error().message());
      continue;
    }
    auto cert = parse_certificate_file(*text);
    if (!cert.ok()) {
      warn("host certificate " + path + ": " + cert.error().message());
      continue;
    }
    if (auto status = set.add_certificate(std::move(*cert)); !status.ok()) {
      warn("host certificate " + path + ": " + status.error().message());
    }
  }

  if (set.empty()) {
    std::string text = "no host key could be loaded";
    for (const std::string& w : out.warnings) text += "; " + w;
    return Error(Errc::kInvalidArgument, std::move(text));
  }
  return out;
}

}  // namespace tessera::ssh::io
