// Pieces the SSH protocol fuzz targets (fuzz/ssh_*.cc) share: host keys
// made once per process, a transport listener that records, an in-memory
// client/server pair, clear framing of payloads, and the length-prefixed
// message lists the targets read their inputs as.
//
// Keys are generated once, in a function-local static: key generation
// (RSA above all) would otherwise dominate every input.
#ifndef TESSERA_FUZZ_SSH_FUZZ_COMMON_H_
#define TESSERA_FUZZ_SSH_FUZZ_COMMON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/key.h"
#include "tessera/key/wire.h"
#include "transport/host_key_algorithms.h"
#include "transport/packet.h"
#include "transport/transport.h"

namespace ssh_fuzz {

namespace key = tessera::key;
namespace transport = tessera::ssh::transport;

// A fixed point in time: no input re-keys by the clock.
inline transport::Clock::time_point fixed_now() { return transport::Clock::time_point{}; }

// A server's host keys of every type, one of each, made once.
class FixedSigner final : public transport::HostKeySigner {
 public:
  static FixedSigner& instance() {
    static FixedSigner* signer = new FixedSigner();  // never destroyed: outlives every static user
    return *signer;
  }

  std::vector<std::string> algorithms() const override {
    std::vector<std::string> out;
    for (const transport::HostKeyAlgorithm& a : transport::supported_host_key_algorithms()) {
      if (!a.certificate) out.emplace_back(a.name);
    }
    return out;
  }
  key::Bytes host_key_blob(std::string_view algorithm) const override {
    return keys_.at(transport::find_host_key_algorithm(algorithm)->key_type).public_key().blob();
  }
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> hash) override {
    const transport::HostKeyAlgorithm* alg = transport::find_host_key_algorithm(algorithm);
    key::SignatureAlgorithm sig = key::SignatureAlgorithm::kDefault;
    if (alg->signature_name == "rsa-sha2-256") sig = key::SignatureAlgorithm::kRsaSha256;
    if (alg->signature_name == "rsa-sha2-512") sig = key::SignatureAlgorithm::kRsaSha512;
    return keys_.at(alg->key_type).sign(hash, sig);
  }
  const key::PrivateKey& key_of(key::KeyType type) const { return keys_.at(type); }

 private:
  FixedSigner() {
    for (const key::KeyType t : {key::KeyType::kEd25519, key::KeyType::kEcdsaP256, key::KeyType::kEcdsaP384,
                                 key::KeyType::kEcdsaP521}) {
      add(t, 0);
    }
    add(key::KeyType::kRsa, 2048);
  }
  void add(key::KeyType type, unsigned bits) {
    auto k = key::PrivateKey::generate(type, bits);
    if (!k.ok()) __builtin_trap();
    keys_.insert_or_assign(type, std::move(*k));
  }

  std::map<key::KeyType, key::PrivateKey> keys_;
};

// Accepts every host key and records what reaches the layers above.
class RecordingListener final : public transport::TransportListener {
 public:
  key::Status check_host_key(const transport::ServerHostKey& host_key) override {
    host_keys_seen++;
    if (host_key.blob.empty()) __builtin_trap();
    return key::ok_status();
  }
  void on_message(uint32_t, std::span<const uint8_t> payload) override {
    if (payload.empty()) __builtin_trap();  // the transport never delivers an empty message
    messages.emplace_back(payload.begin(), payload.end());
  }
  void on_ready() override { ready = true; }

  size_t host_keys_seen = 0;
  bool ready = false;
  std::vector<key::Bytes> messages;
};

// Moves bytes both ways until neither side has more to say. Returns the
// first failure of either side.
inline key::Status pump(transport::Transport& client, transport::Transport& server) {
  key::Status first = key::ok_status();
  for (int rounds = 0; rounds < 10000; ++rounds) {
    bool moved = false;
    for (auto [from, to] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      transport::ByteQueue& out = from->output();
      if (out.empty()) continue;
      const key::Bytes bytes(out.front().begin(), out.front().end());
      out.consume(bytes.size());
      moved = true;
      if (to->closed()) continue;
      key::Status s = to->receive(bytes, fixed_now());
      if (!s.ok() && first.ok()) first = s;
    }
    if (!moved) return first;
  }
  return key::Error(key::Errc::kIo, "pump did not settle");
}

// A client and a server transport with tessera's defaults, past their first
// key exchange. Made once per process; callers clear the client's output
// after each input so that it does not grow.
struct ConnectedPair {
  static ConnectedPair& instance() {
    static ConnectedPair* pair = new ConnectedPair();
    return *pair;
  }

  RecordingListener client_listener, server_listener;
  std::unique_ptr<transport::Transport> client, server;

 private:
  ConnectedPair() {
    transport::TransportConfig client_config;
    client_config.is_client = true;
    transport::TransportConfig server_config;
    server_config.is_client = false;
    client = std::make_unique<transport::Transport>(client_config, client_listener);
    server = std::make_unique<transport::Transport>(server_config, server_listener, &FixedSigner::instance());
    client->start(fixed_now());
    server->start(fixed_now());
    if (!pump(*client, *server).ok() || !client->ready() || !server->ready()) __builtin_trap();
  }
};

// payload as clear binary packets (the framing of a first key exchange).
class ClearFramer {
 public:
  void frame(std::span<const uint8_t> payload, transport::ByteQueue& out) { writer_.write(payload, out); }

 private:
  transport::PacketWriter writer_;
};

// A fuzz input read as a list of messages: each is a big-endian u16 length
// and that many bytes (the last one may be cut short). Empty messages and
// messages longer than the transport would carry are skipped.
class MessageList {
 public:
  explicit MessageList(std::span<const uint8_t> input) : rest_(input) {}

  bool next(std::span<const uint8_t>& message) {
    while (rest_.size() >= 2) {
      size_t n = size_t{rest_[0]} << 8 | rest_[1];
      rest_ = rest_.subspan(2);
      if (n > rest_.size()) n = rest_.size();
      message = rest_.first(n);
      rest_ = rest_.subspan(n);
      if (!message.empty() && message.size() <= transport::kMaxPayloadLength) return true;
    }
    return false;
  }

 private:
  std::span<const uint8_t> rest_;
};

// The inverse, for making seeds.
inline void append_message(key::Bytes& out, std::span<const uint8_t> message) {
  out.push_back(static_cast<uint8_t>(message.size() >> 8));
  out.push_back(static_cast<uint8_t>(message.size()));
  out.insert(out.end(), message.begin(), message.end());
}

}  // namespace ssh_fuzz

#endif  // TESSERA_FUZZ_SSH_FUZZ_COMMON_H_
