#include "io/host_keys_agent.h"

#include <algorithm>
#include <cctype>

#include "io/host_key_sources.h"
#include "io/host_keys_file.h"
#include "tessera/key/format.h"
#include "tessera/sys/file.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

uint32_t agent_flags(std::string_view signature_algorithm) {
  if (signature_algorithm == "rsa-sha2-256") return agent::kSignFlagRsaSha256;
  if (signature_algorithm == "rsa-sha2-512") return agent::kSignFlagRsaSha512;
  return 0;
}

// The first line that is neither blank nor a comment.
std::string_view first_line(std::string_view text) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    if (!line.empty() && line.front() != '#') return line;
  }
  return {};
}

// A public key line or a host certificate, as a file holds it.
key::Result<AgentKeyFile> parse_public_file(const std::string& path, std::string_view text) {
  const std::string_view line = first_line(text);
  if (line.empty()) return Error(Errc::kIo, "holds no key");
  if (line.starts_with("-----BEGIN") || line.starts_with("SSH PRIVATE KEY FILE")) {
    return Error(Errc::kIo, "holds a private key that cannot be used (encrypted, or of a kind tessera-sshd does "
                            "not read)");
  }
  const std::string_view type = line.substr(0, line.find_first_of(" \t"));
  if (key::find_certificate_type(type) != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(key::Certificate cert, parse_certificate_file(text));
    if (cert.type != key::CertType::kHost) return Error(Errc::kInvalidArgument, "a user certificate, not a host one");
    key::PublicKey certified = cert.key;
    return AgentKeyFile{std::move(certified), std::move(cert), path};
  }
  auto parsed = key::parse_public_key_line(line);
  if (!parsed.ok()) return Error(Errc::kIo, "holds no public key (" + parsed.error().message() + ")");
  return AgentKeyFile{std::move(parsed->key), std::nullopt, path};
}

}  // namespace

key::Result<std::unique_ptr<AgentHostKeys>> AgentHostKeys::connect(const std::string& socket,
                                                                   std::chrono::milliseconds timeout) {
  auto client = socket == kHostKeyAgentFromEnvironment ? agent::AgentClient::connect_from_env()
                                                       : agent::AgentClient::connect(socket);
  if (!client.ok()) return client.error();
  client->set_timeout(timeout);
  return std::make_unique<AgentHostKeys>(std::move(*client));
}

AgentHostKeys::AgentHostKeys(agent::AgentClient client) : client_(std::move(client)) {}

key::Status AgentHostKeys::add(const key::PublicKey& key) {
  if (!held_) {
    auto listed = client_.list_identities();
    if (!listed.ok()) return Error(Errc::kIo, "cannot list the keys of the agent at " + socket() + ": " +
                                                  listed.error().message());
    held_.emplace();
    for (agent::Identity& identity : *listed) held_->push_back(std::move(identity.key_blob));
  }
  if (std::find(held_->begin(), held_->end(), key.blob()) == held_->end()) {
    return Error(Errc::kInvalidArgument, "the agent at " + socket() + " does not hold it");
  }
  keys_.push_back(key);
  return {};
}

std::vector<std::string> AgentHostKeys::algorithms() const {
  std::vector<std::string> out;
  std::vector<key::KeyType> seen;
  for (const key::PublicKey& k : keys_) {
    if (std::find(seen.begin(), seen.end(), k.type()) != seen.end()) continue;
    seen.push_back(k.type());
    for (const transport::HostKeyAlgorithm& a : transport::supported_host_key_algorithms()) {
      if (a.key_type == k.type() && !a.certificate) out.emplace_back(a.name);
    }
  }
  return out;
}

key::Bytes AgentHostKeys::host_key_blob(std::string_view algorithm) const {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a == nullptr || a->certificate) return {};
  for (const key::PublicKey& k : keys_) {
    if (k.type() == a->key_type) return k.blob();
  }
  return {};
}

key::Result<key::Bytes> AgentHostKeys::sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a != nullptr && !a->certificate) {
    for (const key::PublicKey& k : keys_) {
      if (k.type() == a->key_type) return sign_with(k, a->signature_name, exchange_hash);
    }
  }
  return Error(Errc::kUnsupported, "no host key in the agent for " + std::string(algorithm));
}

std::vector<key::Bytes> AgentHostKeys::public_key_blobs() const {
  std::vector<key::Bytes> out;
  for (const key::PublicKey& k : keys_) out.push_back(k.blob());
  return out;
}

key::Result<key::Bytes> AgentHostKeys::sign_with(const key::PublicKey& key, std::string_view signature_algorithm,
                                                 std::span<const uint8_t> data) {
  auto signature = client_.sign(key.blob(), data, agent_flags(signature_algorithm));
  if (!signature.ok()) {
    if (agent::is_agent_refusal(signature.error())) {
      return Error(Errc::kUnsupported, "the agent at " + socket() +
                                           " refused to sign (is the key still in it? is the agent locked?)");
    }
    return Error(Errc::kIo, "the agent at " + socket() + ": " + signature.error().message());
  }
  auto checked = check_external_signature(key, signature_algorithm, *signature, data);
  if (!checked.ok()) return checked.error().with_context("the agent at " + socket());
  return std::move(*signature);
}

key::Result<AgentKeyFile> read_agent_key_file(const std::string& path) {
  // Read as secrets: the file may be a private key after all.
  std::string why;
  auto text = sys::read_file_secret(path, kMaxHostKeyFileBytes);
  if (text.ok()) {
    auto parsed = parse_public_file(path, text->reveal_text());
    if (parsed.ok() || parsed.error().code() != Errc::kIo) return parsed;
    why = path + " " + parsed.error().message();
  } else {
    why = path + ": " + text.error().message();
  }
  const std::string pub = path + ".pub";
  auto pub_text = sys::read_file_secret(pub, kMaxHostKeyFileBytes);
  if (!pub_text.ok()) return Error(Errc::kIo, why + "; " + pub + ": " + pub_text.error().message());
  auto parsed = parse_public_file(pub, pub_text->reveal_text());
  if (!parsed.ok() && parsed.error().code() == Errc::kIo) {
    return Error(Errc::kIo, why + "; " + pub + " " + parsed.error().message());
  }
  return parsed;
}

}  // namespace tessera::ssh::io
