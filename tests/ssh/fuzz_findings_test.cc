// Regression tests for what fuzzing the SSH library (fuzz/ssh_*.cc) found;
// each test names the target and the bug.
#include <openssl/bn.h>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "connection/connection.h"
#include "tessera/key/key.h"
#include "tessera/key/ossl.h"
#include "transport/kex_method.h"
#include "transport/messages.h"
#include "transport/transport.h"

namespace tessera::ssh::transport {
namespace {

namespace ossl = key::ossl;

// An ed25519 host key, enough for a server that the tests here connect to.
class Ed25519Signer final : public HostKeySigner {
 public:
  std::vector<std::string> algorithms() const override { return {"ssh-ed25519"}; }
  key::Bytes host_key_blob(std::string_view) const override { return key_.public_key().blob(); }
  key::Result<key::Bytes> sign(std::string_view, std::span<const uint8_t> hash) override { return key_.sign(hash); }

 private:
  key::PrivateKey key_ = *key::PrivateKey::generate(key::KeyType::kEd25519);
};

class Recorder final : public TransportListener {
 public:
  key::Status check_host_key(const ServerHostKey&) override { return key::ok_status(); }
  void on_message(uint32_t, std::span<const uint8_t> payload) override {
    messages.emplace_back(payload.begin(), payload.end());
  }
  std::vector<key::Bytes> messages;
};

// Bytes both ways until both sides are quiet.
key::Status pump(Transport& a, Transport& b) {
  for (int i = 0; i < 1000; ++i) {
    bool moved = false;
    for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      if (from->output().empty()) continue;
      const key::Bytes bytes(from->output().front().begin(), from->output().front().end());
      from->output().consume(bytes.size());
      moved = true;
      TESSERA_TRY(to->receive(bytes, Clock::now()));
    }
    if (!moved) return key::ok_status();
  }
  return key::Error(key::Errc::kIo, "pump did not settle");
}

struct ConnectedPair {
  ConnectedPair() {
    TransportConfig server_config;
    server_config.is_client = false;
    client = std::make_unique<Transport>(TransportConfig{}, client_side);
    server = std::make_unique<Transport>(server_config, server_side, &signer);
    client->start(Clock::now());
    server->start(Clock::now());
  }
  Ed25519Signer signer;
  Recorder client_side, server_side;
  std::unique_ptr<Transport> client, server;
};

class NullHandler final : public connection::ChannelHandler {
 public:
  void on_data(std::span<const uint8_t>) override {}
};

// ssh_kex_reply: a group-exchange group with generator 2 (what OpenSSH's
// moduli files mostly hold) was refused as "a single bit set", the check
// meant for public values.
TEST(FuzzFindings, GroupExchangeAcceptsGeneratorTwo) {
  ossl::BnPtr p(BN_get_rfc3526_prime_2048(nullptr));
  ossl::BnPtr g(BN_new());
  ASSERT_TRUE(p && g && BN_set_word(g.get(), 2) == 1);
  EXPECT_TRUE(dh_check_group(p.get(), g.get(), 2048, 8192).ok());
  // The range is still checked.
  ASSERT_EQ(BN_set_word(g.get(), 1), 1);
  EXPECT_FALSE(dh_check_group(p.get(), g.get(), 2048, 8192).ok());
  ossl::BnPtr p_minus_1(BN_dup(p.get()));
  ASSERT_EQ(BN_sub_word(p_minus_1.get(), 1), 1);
  EXPECT_FALSE(dh_check_group(p.get(), p_minus_1.get(), 2048, 8192).ok());
  ASSERT_EQ(BN_set_word(g.get(), 2), 1);
  auto share = dh_client_start(p.get(), g.get(), 32);
  EXPECT_TRUE(share.ok());
}

// ssh_channel: a peer whose max-packet is as large as we honour
// (kMaxPeerPacket) made send_data build a CHANNEL_DATA larger than a packet
// can carry, and PacketWriter::write aborted.
TEST(FuzzFindings, ChannelDataFitsInAPacketWhateverThePeersMaxPacket) {
  ConnectedPair p;
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  connection::Connection conn(*p.client);
  NullHandler handler;
  const uint32_t id = conn.open("session", {}, handler);
  key::Writer confirm;
  confirm.u8(msg::kChannelOpenConfirmation);
  confirm.u32(id);
  confirm.u32(7);
  confirm.u32(0xffffffffu);  // window
  confirm.u32(1u << 30);     // max-packet, clamped to kMaxPeerPacket
  ASSERT_TRUE(conn.on_message(confirm.data()).ok());

  const std::vector<uint8_t> data(3 * connection::kMaxPeerPacket, 'x');
  EXPECT_EQ(conn.send_data(id, data), data.size());
  EXPECT_EQ(conn.send_extended_data(id, connection::kExtendedDataStderr, data), data.size());
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  size_t carried = 0;
  for (const key::Bytes& m : p.server_side.messages) {
    EXPECT_LE(m.size(), kMaxPayloadLength);
    if (m[0] == msg::kChannelData || m[0] == msg::kChannelExtendedData) carried += m.size();
  }
  EXPECT_GT(carried, 2 * data.size());
}

}  // namespace
}  // namespace tessera::ssh::transport
