// Test pieces shared by the transport-level tests: a server's host keys in
// memory (one of each type) and a pump that moves bytes between two
// transports until both are quiet.
#ifndef TESSERA_TESTS_SSH_TEST_HOST_KEYS_H_
#define TESSERA_TESTS_SSH_TEST_HOST_KEYS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessera/key/key.h"
#include "transport/transport.h"

namespace tessera::ssh::transport {

using key::KeyType;
using key::PrivateKey;
using key::SignatureAlgorithm;

class TestSigner final : public HostKeySigner {
 public:
  TestSigner() {
    add(KeyType::kEd25519);
    add(KeyType::kEcdsaP256);
    add(KeyType::kEcdsaP384);
    add(KeyType::kEcdsaP521);
    add(KeyType::kRsa, 2048);
  }
  void add(KeyType type, unsigned bits = 0) { keys_.insert_or_assign(type, *PrivateKey::generate(type, bits)); }

  std::vector<std::string> algorithms() const override {
    std::vector<std::string> out;
    for (const HostKeyAlgorithm& a : supported_host_key_algorithms()) {
      if (!a.certificate) out.emplace_back(a.name);
    }
    return out;
  }
  key::Bytes host_key_blob(std::string_view algorithm) const override {
    return keys_.at(find_host_key_algorithm(algorithm)->key_type).public_key().blob();
  }
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> hash) override {
    const HostKeyAlgorithm* alg = find_host_key_algorithm(algorithm);
    SignatureAlgorithm sig = SignatureAlgorithm::kDefault;
    if (alg->signature_name == "rsa-sha2-256") sig = SignatureAlgorithm::kRsaSha256;
    if (alg->signature_name == "rsa-sha2-512") sig = SignatureAlgorithm::kRsaSha512;
    return keys_.at(alg->key_type).sign(hash, sig);
  }
  std::vector<key::Bytes> public_key_blobs() const override {
    std::vector<key::Bytes> out;
    for (const auto& [type, k] : keys_) out.push_back(k.public_key().blob());
    return out;
  }
  const PrivateKey& key(KeyType type) const { return keys_.at(type); }

 private:
  std::map<KeyType, PrivateKey> keys_;
};

// Moves bytes both ways until neither side has anything to say (so that a
// DISCONNECT reaches the other side). Returns the first failure of either.
inline key::Status pump(Transport& client, Transport& server, Clock::time_point now = Clock::now()) {
  key::Status first = key::ok_status();
  for (int rounds = 0; rounds < 100000; ++rounds) {
    bool moved = false;
    for (auto [from, to] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      ByteQueue& out = from->output();
      if (out.empty()) continue;
      const key::Bytes bytes(out.front().begin(), out.front().end());
      out.consume(bytes.size());
      moved = true;
      if (to->closed()) continue;
      key::Status s = to->receive(bytes, now);
      if (!s.ok() && first.ok()) first = s;
    }
    if (!moved) return first;
  }
  return key::Error(key::Errc::kIo, "pump did not settle");
}

}  // namespace tessera::ssh::transport

#endif  // TESSERA_TESTS_SSH_TEST_HOST_KEYS_H_
