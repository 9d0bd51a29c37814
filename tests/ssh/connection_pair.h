// One end of an in-memory SSH connection for tests that drive the
// connection protocol (connection_test, session_channel_test): a Transport
// whose connection-layer messages go to a Connection, a host key for the
// server end, and the pump that carries bytes between two ends.
#ifndef TESSERA_TESTS_SSH_CONNECTION_PAIR_H_
#define TESSERA_TESTS_SSH_CONNECTION_PAIR_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connection/connection.h"
#include "tessera/key/key.h"
#include "transport/transport.h"

namespace tessera::test {

// A fresh Ed25519 host key.
class TestHostKey final : public ssh::transport::HostKeySigner {
 public:
  TestHostKey() : key_(*key::PrivateKey::generate(key::KeyType::kEd25519)) {}
  std::vector<std::string> algorithms() const override { return {"ssh-ed25519"}; }
  key::Bytes host_key_blob(std::string_view) const override { return key_.public_key().blob(); }
  key::Result<key::Bytes> sign(std::string_view, std::span<const uint8_t> hash) override { return key_.sign(hash); }

 private:
  key::PrivateKey key_;
};

// One side: its transport hands connection messages to its Connection and
// keeps the first failure. Any host key is accepted.
class ConnectionSide final : public ssh::transport::TransportListener {
 public:
  ConnectionSide(bool client, TestHostKey* host_key) : transport_(config(client), *this, host_key), conn(transport_) {}
  key::Status check_host_key(const ssh::transport::ServerHostKey&) override { return key::ok_status(); }
  void on_message(uint32_t, std::span<const uint8_t> payload) override {
    auto s = conn.on_message(payload);
    if (!s.ok() && !failure) failure = s.error();
  }
  ssh::transport::Transport& transport() { return transport_; }

 private:
  static ssh::transport::TransportConfig config(bool client) {
    ssh::transport::TransportConfig c;
    c.is_client = client;
    return c;
  }
  ssh::transport::Transport transport_;

 public:
  ssh::connection::Connection conn;
  std::optional<key::Error> failure;
};

// Moves what each end has queued to the other (an end that has closed drops
// it) until neither has anything queued, for at most `max_rounds` rounds.
inline void pump_between(ConnectionSide& client, ConnectionSide& server, int max_rounds) {
  for (int i = 0; i < max_rounds; ++i) {
    bool moved = false;
    for (auto [from, to] : {std::pair{&client, &server}, std::pair{&server, &client}}) {
      auto& out = from->transport().output();
      if (out.empty()) continue;
      const key::Bytes bytes(out.front().begin(), out.front().end());
      out.consume(bytes.size());
      moved = true;
      if (!to->transport().closed()) (void)to->transport().receive(bytes, ssh::transport::Clock::now());
    }
    if (!moved) return;
  }
}

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SSH_CONNECTION_PAIR_H_
