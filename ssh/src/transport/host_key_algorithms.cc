#include "transport/host_key_algorithms.h"

#include <array>
#include <string>

#include "tessera/key/wire.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
using key::KeyType;

namespace {

const std::array kAlgorithms = {
    HostKeyAlgorithm{"ssh-ed25519-cert-v01@openssh.com", KeyType::kEd25519, "ssh-ed25519", true},
    HostKeyAlgorithm{"ecdsa-sha2-nistp256-cert-v01@openssh.com", KeyType::kEcdsaP256, "ecdsa-sha2-nistp256", true},
    HostKeyAlgorithm{"ecdsa-sha2-nistp384-cert-v01@openssh.com", KeyType::kEcdsaP384, "ecdsa-sha2-nistp384", true},
    HostKeyAlgorithm{"ecdsa-sha2-nistp521-cert-v01@openssh.com", KeyType::kEcdsaP521, "ecdsa-sha2-nistp521", true},
    HostKeyAlgorithm{"rsa-sha2-512-cert-v01@openssh.com", KeyType::kRsa, "rsa-sha2-512", true},
    HostKeyAlgorithm{"rsa-sha2-256-cert-v01@openssh.com", KeyType::kRsa, "rsa-sha2-256", true},
    HostKeyAlgorithm{"ssh-ed25519", KeyType::kEd25519, "ssh-ed25519", false},
    HostKeyAlgorithm{"ecdsa-sha2-nistp256", KeyType::kEcdsaP256, "ecdsa-sha2-nistp256", false},
    HostKeyAlgorithm{"ecdsa-sha2-nistp384", KeyType::kEcdsaP384, "ecdsa-sha2-nistp384", false},
    HostKeyAlgorithm{"ecdsa-sha2-nistp521", KeyType::kEcdsaP521, "ecdsa-sha2-nistp521", false},
    HostKeyAlgorithm{"rsa-sha2-512", KeyType::kRsa, "rsa-sha2-512", false},
    HostKeyAlgorithm{"rsa-sha2-256", KeyType::kRsa, "rsa-sha2-256", false},
};

}  // namespace

std::span<const HostKeyAlgorithm> supported_host_key_algorithms() { return kAlgorithms; }

const HostKeyAlgorithm* find_host_key_algorithm(std::string_view name) {
  for (const HostKeyAlgorithm& a : kAlgorithms) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

key::Result<ServerHostKey> parse_server_host_key(const HostKeyAlgorithm& alg, std::span<const uint8_t> blob) {
  const key::Bytes copy(blob.begin(), blob.end());
  if (alg.certificate) {
    auto cert = key::Certificate::from_blob(blob);
    if (!cert.ok()) return cert.error().with_context("server host certificate");
    if (cert->key.type() != alg.key_type) {
      return Error(Errc::kMalformed, "server sent a " + std::string(cert->type_name()) + " for " +
                                         std::string(alg.name));
    }
    key::PublicKey certified = cert->key;
    return ServerHostKey{std::move(certified), std::move(*cert), copy};
  }
  auto k = key::PublicKey::from_blob(blob);
  if (!k.ok()) return k.error().with_context("server host key");
  if (k->type() != alg.key_type) {
    return Error(Errc::kMalformed, "server sent an " + std::string(k->ssh_name()) + " host key for " +
                                       std::string(alg.name));
  }
  return ServerHostKey{std::move(*k), std::nullopt, copy};
}

key::Status verify_exchange_signature(const HostKeyAlgorithm& alg, const key::PublicKey& key,
                                      std::span<const uint8_t> signature_blob,
                                      std::span<const uint8_t> exchange_hash) {
  key::Reader sig(signature_blob);
  TESSERA_ASSIGN_OR_RETURN(const std::string_view sig_name, sig.text());
  if (sig_name != alg.signature_name) {
    return Error(Errc::kBadSignature, "server signed the key exchange with " + std::string(sig_name) +
                                          ", not the negotiated " + std::string(alg.signature_name));
  }
  auto verified = key.verify(signature_blob, exchange_hash);
  if (!verified.ok()) {
    return Error(Errc::kBadSignature, "server's signature over the key exchange does not verify: " +
                                          verified.error().message());
  }
  return key::ok_status();
}

}  // namespace tessera::ssh::transport
