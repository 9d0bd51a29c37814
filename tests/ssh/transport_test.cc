// The transport state machine, client against server in memory: every key
// exchange method, cipher, MAC and host key algorithm; re-keys from either
// side with traffic around them; strict key exchange; the failures a peer
// can cause.
#include "transport/transport.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tessera/key/key.h"
#include "transport/packet.h"
#include "test_host_keys.h"

namespace tessera::ssh::transport {
namespace {

using key::KeyType;

class Side final : public TransportListener {
 public:
  key::Status check_host_key(const ServerHostKey& host_key) override {
    seen_host_key = host_key.key.blob();
    if (refuse_host_key) return key::Error(key::Errc::kInvalidKey, "host key refused by test");
    return key::ok_status();
  }
  void on_message(uint32_t, std::span<const uint8_t> payload) override {
    messages.emplace_back(payload.begin(), payload.end());
  }
  void on_ready() override { ready = true; }

  bool refuse_host_key = false;
  bool ready = false;
  key::Bytes seen_host_key;
  std::vector<key::Bytes> messages;
};

key::Bytes message(uint8_t type, std::string_view body) {
  key::Writer w;
  w.u8(type);
  w.string(body);
  return w.take();
}

struct Pair {
  explicit Pair(TransportConfig client_config = {}, TransportConfig server_config = {}) {
    client_config.is_client = true;
    server_config.is_client = false;
    client = std::make_unique<Transport>(client_config, client_side);
    server = std::make_unique<Transport>(server_config, server_side, &signer);
  }
  key::Status connect() {
    client->start(Clock::now());
    server->start(Clock::now());
    return pump(*client, *server);
  }
  TestSigner signer;
  Side client_side, server_side;
  std::unique_ptr<Transport> client, server;
};

TEST(Transport, DefaultsConnectAndCarryMessagesBothWays) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  ASSERT_TRUE(p.client_side.ready);
  ASSERT_TRUE(p.server_side.ready);
  EXPECT_EQ(p.client->session_id(), p.server->session_id());
  EXPECT_FALSE(p.client->session_id().empty());
  EXPECT_TRUE(p.client->strict_kex());
  EXPECT_TRUE(p.server->strict_kex());
  ASSERT_TRUE(p.client->server_sig_algs().has_value());
  EXPECT_NE(std::find(p.client->server_sig_algs()->begin(), p.client->server_sig_algs()->end(), "rsa-sha2-512"),
            p.client->server_sig_algs()->end());
  EXPECT_EQ(p.client->negotiated()->kex, "sntrup761x25519-sha512@openssh.com");  // OpenSSH 9.2's default
  EXPECT_EQ(p.client_side.seen_host_key, p.signer.key(KeyType::kEd25519).public_key().blob());

  p.client->send(message(msg::kServiceRequest, "ssh-userauth"));
  p.server->send(message(msg::kChannelData, "hello"));
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  ASSERT_EQ(p.server_side.messages.size(), 1u);
  EXPECT_EQ(p.server_side.messages[0], message(msg::kServiceRequest, "ssh-userauth"));
  ASSERT_EQ(p.client_side.messages.size(), 1u);
  EXPECT_EQ(p.client_side.messages[0], message(msg::kChannelData, "hello"));
}

struct Combination {
  std::string kex, host_key, cipher, mac;
};

TEST(Transport, EveryKexCipherMacAndHostKeyCombinationWorks) {
  std::vector<Combination> combos;
  for (const KexMethod& kex : supported_kex_methods()) {
    // Group exchange needs a server given moduli (ServerKexConfig::gex): kex_authority_test runs it.
    if (kex.family == KexFamily::kGroupExchange) continue;
    combos.push_back({std::string(kex.name), "ssh-ed25519", "aes128-ctr", "hmac-sha2-256"});
  }
  for (const HostKeyAlgorithm& hk : supported_host_key_algorithms()) {
    if (hk.certificate) continue;
    combos.push_back({"curve25519-sha256", std::string(hk.name), "aes256-gcm@openssh.com", ""});
  }
  for (const CipherInfo& cipher : supported_ciphers()) {
    if (cipher.aead) {
      combos.push_back({"ecdh-sha2-nistp256", "ecdsa-sha2-nistp256", std::string(cipher.name), ""});
      continue;
    }
    for (const MacInfo& mac : supported_macs()) {
      combos.push_back({"ecdh-sha2-nistp256", "ecdsa-sha2-nistp256", std::string(cipher.name), std::string(mac.name)});
    }
  }
  for (const Combination& c : combos) {
    SCOPED_TRACE(c.kex + " " + c.host_key + " " + c.cipher + " " + c.mac);
    TransportConfig config;
    config.kex = {c.kex};
    config.host_key = {c.host_key};
    config.ciphers = {c.cipher};
    if (!c.mac.empty()) config.macs = {c.mac};
    Pair p(config, {});
    ASSERT_TRUE(p.connect().ok());
    ASSERT_TRUE(p.client->ready());
    EXPECT_EQ(p.client->negotiated()->kex, c.kex);
    EXPECT_EQ(p.client->negotiated()->host_key, c.host_key);
    EXPECT_EQ(p.client->negotiated()->cipher_c2s, c.cipher);
    EXPECT_EQ(p.client->negotiated()->mac_s2c, c.mac);
    for (int i = 0; i < 3; ++i) {
      p.client->send(message(msg::kChannelData, std::string(static_cast<size_t>(i) * 1000 + 1, 'c')));
      p.server->send(message(msg::kChannelData, std::string(static_cast<size_t>(i) * 777 + 3, 's')));
    }
    ASSERT_TRUE(pump(*p.client, *p.server).ok());
    EXPECT_EQ(p.server_side.messages.size(), 3u);
    EXPECT_EQ(p.client_side.messages.size(), 3u);
  }
}

TEST(Transport, NoCommonAlgorithmNamesBothLists) {
  TransportConfig client;
  client.ciphers = {"aes128-ctr"};
  TransportConfig server;
  server.ciphers = {"aes256-gcm@openssh.com"};
  Pair p(client, server);
  const key::Status s = p.connect();
  ASSERT_FALSE(s.ok());
  // The server fails first: from its side, the client's list is theirs.
  EXPECT_EQ(s.error().message(), "no matching cipher found. Their offer: aes128-ctr; ours: aes256-gcm@openssh.com");
  EXPECT_TRUE(p.client->closed());

  // From the client's side.
  KexInit c, sv;
  c.kex = sv.kex = {"curve25519-sha256"};
  c.host_key = sv.host_key = {"ssh-ed25519"};
  c.cipher_c2s = c.cipher_s2c = {"aes128-ctr", "aes192-ctr"};
  sv.cipher_c2s = sv.cipher_s2c = {"aes256-gcm@openssh.com"};
  c.compression_c2s = c.compression_s2c = sv.compression_c2s = sv.compression_s2c = {"none"};
  auto n = negotiate(c, sv, [](std::string_view) { return true; }, true);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message(),
            "no matching cipher found. Their offer: aes256-gcm@openssh.com; ours: aes128-ctr,aes192-ctr");
}

TEST(Transport, EitherSideReKeysWhileMessagesFlow) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  const key::Bytes first_session = p.client->session_id();
  for (int round = 0; round < 6; ++round) {
    Transport& starter = round % 2 == 0 ? *p.client : *p.server;
    starter.request_rekey();
    EXPECT_TRUE(starter.kex_in_progress());
    // Sent during the exchange: held, then delivered in order.
    for (int i = 0; i < 5; ++i) {
      p.client->send(message(msg::kChannelData, "c" + std::to_string(round * 10 + i)));
      p.server->send(message(msg::kChannelData, "s" + std::to_string(round * 10 + i)));
    }
    ASSERT_TRUE(pump(*p.client, *p.server).ok());
    EXPECT_FALSE(p.client->kex_in_progress());
    EXPECT_FALSE(p.server->kex_in_progress());
  }
  EXPECT_EQ(p.client->key_exchanges(), 7u);
  EXPECT_EQ(p.server->key_exchanges(), 7u);
  EXPECT_EQ(p.client->session_id(), first_session);  // the session id is the first exchange's hash
  ASSERT_EQ(p.server_side.messages.size(), 30u);
  ASSERT_EQ(p.client_side.messages.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(p.server_side.messages[static_cast<size_t>(i)],
              message(msg::kChannelData, "c" + std::to_string(i / 5 * 10 + i % 5)));
  }
}

TEST(Transport, RekeyLimitReKeysByVolume) {
  TransportConfig client;
  client.rekey_bytes = 64 * 1024;
  Pair p(client, {});
  ASSERT_TRUE(p.connect().ok());
  const std::string chunk(16 * 1024, 'x');
  size_t delivered = 0;
  for (int i = 0; i < 128; ++i) {  // 2 MiB
    p.client->send(message(msg::kChannelData, chunk));
    if (i % 4 == 3) {
      ASSERT_TRUE(pump(*p.client, *p.server).ok());
      delivered = p.server_side.messages.size();
    }
  }
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  EXPECT_EQ(p.server_side.messages.size(), 128u);
  (void)delivered;
  // 2 MiB at one re-key per 64 KiB: about 32 exchanges.
  EXPECT_GE(p.client->key_exchanges(), 25u);
  EXPECT_LE(p.client->key_exchanges(), 40u);
}

TEST(Transport, RekeyIntervalReKeysByTime) {
  TransportConfig client;
  client.rekey_interval = std::chrono::seconds(60);
  Pair p(client, {});
  ASSERT_TRUE(p.connect().ok());
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(p.client->next_deadline().has_value());
  ASSERT_TRUE(p.client->tick(start + std::chrono::seconds(30)).ok());
  EXPECT_FALSE(p.client->kex_in_progress());
  ASSERT_TRUE(p.client->tick(start + std::chrono::seconds(61)).ok());
  EXPECT_TRUE(p.client->kex_in_progress());
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  EXPECT_EQ(p.client->key_exchanges(), 2u);
}

TEST(Transport, RefusedHostKeyDisconnects) {
  Pair p;
  p.client_side.refuse_host_key = true;
  const key::Status s = p.connect();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "host key refused by test");
  EXPECT_TRUE(p.client->closed());
  EXPECT_TRUE(p.server->closed());
  EXPECT_EQ(p.server->peer_disconnect_reason(), DisconnectReason::kHostKeyNotVerifiable);
}

TEST(Transport, HostKeyChangedDuringReKeyIsRefused) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  p.signer.add(KeyType::kEd25519);  // a new key under the same algorithm
  p.client->request_rekey();
  const key::Status s = pump(*p.client, *p.server);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("host key changed"), std::string::npos) << s.error().message();
}

TEST(Transport, CorruptedPacketIsAMacError) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  p.client->send(message(msg::kChannelData, "payload"));
  ByteQueue& out = p.client->output();
  ASSERT_GT(out.size(), 20u);
  out.front_mutable()[10] ^= 0x01;
  const key::Status s = pump(*p.client, *p.server);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("corrupted MAC"), std::string::npos) << s.error().message();
  EXPECT_EQ(p.client->peer_disconnect_reason(), DisconnectReason::kMacError);
}

// Terrapin (CVE-2023-48795): a packet slipped in before KEXINIT shifts the
// sequence numbers. With strict key exchange the receiver refuses at once.
TEST(Transport, StrictKexRefusesAPacketBeforeKexInit) {
  Pair p;
  p.client->start(Clock::now());
  p.server->start(Clock::now());
  // The server's version line, then an injected IGNORE, then its KEXINIT.
  ByteQueue& out = p.server->output();
  const std::string all(reinterpret_cast<const char*>(out.front().data()), out.size());
  const size_t eol = all.find("\r\n") + 2;
  PacketWriter injector;
  ByteQueue injected;
  injector.write(message(msg::kIgnore, ""), injected);
  std::string tampered = all.substr(0, eol);
  tampered.append(reinterpret_cast<const char*>(injected.front().data()), injected.size());
  tampered += all.substr(eol);
  out.clear();
  const key::Status s = p.client->receive(key::as_bytes(tampered), Clock::now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("strict key exchange"), std::string::npos) << s.error().message();
}

TEST(Transport, StrictKexRefusesNonKexMessagesDuringTheInitialExchange) {
  Pair p;
  p.client->start(Clock::now());
  p.server->start(Clock::now());
  // Let KEXINITs cross, then inject a DEBUG from the "server" in the clear.
  ByteQueue& out = p.server->output();
  ASSERT_TRUE(p.client->receive(out.front(), Clock::now()).ok());
  out.clear();
  ASSERT_TRUE(p.client->strict_kex());
  PacketWriter injector;
  ByteQueue injected;
  // Sequence number 1 is what the injected packet would have had.
  key::Writer debug;
  debug.u8(msg::kDebug);
  debug.boolean(false);
  debug.string("hi");
  debug.string("");
  injector.write(debug.data(), injected);
  const key::Status s = p.client->receive(injected.front(), Clock::now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("strict key exchange"), std::string::npos) << s.error().message();
}

TEST(Transport, ServiceMessageBeforeKeyExchangeIsRefused) {
  Pair p;
  p.client->start(Clock::now());
  p.server->start(Clock::now());
  ByteQueue& out = p.server->output();
  const std::string all(reinterpret_cast<const char*>(out.front().data()), out.size());
  const size_t eol = all.find("\r\n") + 2;
  out.clear();
  PacketWriter injector;
  ByteQueue injected;
  injector.write(message(msg::kChannelData, "early"), injected);
  std::string bytes = all.substr(0, eol);
  bytes.append(reinterpret_cast<const char*>(injected.front().data()), injected.size());
  const key::Status s = p.client->receive(key::as_bytes(bytes), Clock::now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("before the key exchange finished"), std::string::npos);
}

TEST(Transport, PingIsAnsweredWithPong) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  EXPECT_TRUE(p.client->peer_supports_ping());
  key::Writer ping;
  ping.u8(msg::kPing);
  ping.string("are you there");
  p.client->send(ping.data());
  const size_t sent_before = p.server->sent_count().packets;
  ASSERT_TRUE(pump(*p.client, *p.server).ok());
  EXPECT_EQ(p.server->sent_count().packets, sent_before + 1);  // the PONG
  EXPECT_TRUE(p.server_side.messages.empty());                  // not passed upwards
}

TEST(Transport, PeerDisconnectEndsWithItsReason) {
  Pair p;
  ASSERT_TRUE(p.connect().ok());
  p.server->disconnect(DisconnectReason::kByApplication, "bye\x1b[31m");
  const key::Status s = pump(*p.client, *p.server);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(p.client->peer_disconnect_reason(), DisconnectReason::kByApplication);
  EXPECT_NE(s.error().message().find("bye?[31m"), std::string::npos) << s.error().message();
}

TEST(VersionReader, AcceptsBannerLinesFromAServerOnly) {
  VersionReader client_reads(true);
  const std::string text = "hello there\r\nsecond line\nSSH-2.0-OpenSSH_9.2p1 Debian\r\nrest";
  auto used = client_reads.feed(key::as_bytes(text));
  ASSERT_TRUE(used.ok());
  EXPECT_TRUE(client_reads.done());
  EXPECT_EQ(*used, text.size() - 4);
  EXPECT_EQ(client_reads.peer_version(), "SSH-2.0-OpenSSH_9.2p1 Debian");
  EXPECT_EQ(client_reads.peer_software(), "OpenSSH_9.2p1");
  ASSERT_EQ(client_reads.banner_lines().size(), 2u);

  VersionReader server_reads(false);
  EXPECT_FALSE(server_reads.feed(key::as_bytes(text)).ok());
}

TEST(VersionReader, RefusesBrokenIdentifications) {
  for (const std::string& bad :
       {std::string("SSH-1.5-old\r\n"), std::string("SSH-2.0-a\rb\r\n"), std::string("SSH-2.0-\r\n"),
        std::string("SSH-2.0-x\0y\r\n", 12), std::string("SSH-2.0\r\n"), std::string(9000, 'a')}) {
    VersionReader r(true);
    EXPECT_FALSE(r.feed(key::as_bytes(bad)).ok()) << bad.substr(0, 40);
  }
  VersionReader many(true);
  std::string lines;
  for (size_t i = 0; i <= kMaxPreVersionLines; ++i) lines += "x\n";
  EXPECT_FALSE(many.feed(key::as_bytes(lines)).ok());
  // Byte by byte works as well as all at once.
  VersionReader slow(true);
  const std::string id = "SSH-1.99-compat\r\n";
  for (const char c : id) ASSERT_TRUE(slow.feed(key::as_bytes(std::string_view(&c, 1))).ok());
  EXPECT_TRUE(slow.done());
}

TEST(KexInit, RoundTripsAndRefusesBadLists) {
  KexInit k;
  k.kex = {"curve25519-sha256", "ext-info-c"};
  k.host_key = {"ssh-ed25519"};
  k.cipher_c2s = k.cipher_s2c = {"aes128-ctr"};
  k.mac_c2s = k.mac_s2c = {"hmac-sha2-256"};
  k.compression_c2s = k.compression_s2c = {"none"};
  const key::Bytes bytes = k.serialize();
  auto parsed = KexInit::parse(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->serialize(), bytes);
  key::Bytes trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(KexInit::parse(trailing).ok());
  KexInit empty = k;
  empty.kex.clear();
  EXPECT_FALSE(KexInit::parse(empty.serialize()).ok());
  KexInit control = k;
  control.host_key = {"ssh-ed\x01" "25519"};
  EXPECT_FALSE(KexInit::parse(control.serialize()).ok());
}

}  // namespace
}  // namespace tessera::ssh::transport
