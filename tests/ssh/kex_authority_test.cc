// The server's key exchange authority (what tessera-sshd's monitor runs) and
// the hand-over of a server connection to another process: the authority
// signs only exchange hashes it computed itself, and a connection exported
// between two packets goes on, re-keys included, in a new Transport.
#include "transport/kex_authority.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/key/key.h"
#include "test_host_keys.h"
#include "transport/kex_hash.h"
#include "transport/kex_method.h"
#include "transport/messages.h"
#include "transport/transport.h"
#include "transport/version.h"

namespace tessera::ssh::transport {
namespace {

constexpr std::string_view kClientVersion = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3";

// A client KEXINIT as a peer chose it: x25519 and one host key algorithm.
key::Bytes client_kexinit(std::string_view kex = "curve25519-sha256", std::string_view host_key = "ssh-ed25519") {
  KexInit k;
  k.kex = {std::string(kex), std::string(kStrictKexClient)};
  k.host_key = {std::string(host_key)};
  k.cipher_c2s = k.cipher_s2c = {"aes128-gcm@openssh.com"};
  k.mac_c2s = k.mac_s2c = {"hmac-sha2-256"};
  k.compression_c2s = k.compression_s2c = {"none"};
  return k.serialize();
}

// KEX_ECDH_INIT carrying the given public value field.
key::Bytes ecdh_init(std::span<const uint8_t> public_field) {
  key::Writer w;
  w.u8(msg::kKexEcdhInit);
  w.bytes(public_field);
  return w.take();
}

struct ParsedReply {
  key::Bytes host_key_blob, server_public_field, signature;
};

ParsedReply parse_reply(std::span<const uint8_t> reply) {
  key::Reader in(reply);
  EXPECT_EQ(*in.u8(), msg::kKexEcdhReply);
  ParsedReply out;
  auto blob = in.string();
  out.host_key_blob.assign(blob->begin(), blob->end());
  auto q = in.string();
  key::Writer field;
  field.string(*q);
  out.server_public_field = field.take();
  auto sig = in.string();
  out.signature.assign(sig->begin(), sig->end());
  return out;
}

TEST(KexAuthority, AnswersWithASignatureOverTheHashItComputed) {
  TestSigner keys;
  LocalKexAuthority authority({}, keys);
  auto server_kexinit = authority.server_kexinit();
  ASSERT_TRUE(server_kexinit.ok());
  auto share = x25519_client_start(32);
  ASSERT_TRUE(share.ok());
  const key::Bytes kexinit = client_kexinit();
  auto answer = authority.answer(kClientVersion, kexinit, ecdh_init((*share)->public_field()));
  ASSERT_TRUE(answer.ok()) << answer.error().message();
  EXPECT_EQ(answer->negotiated.kex, "curve25519-sha256");
  EXPECT_EQ(answer->session_id, answer->exchange_hash);
  EXPECT_EQ(authority.session_id(), answer->exchange_hash);

  // The client recomputes H from the transcript and the shared secret: the
  // signature is over exactly that.
  const ParsedReply reply = parse_reply(answer->reply);
  key::Reader server_public(reply.server_public_field);
  auto k = (*share)->finish(server_public);
  ASSERT_TRUE(k.ok());
  KexHasher h("SHA256");
  h.string(kClientVersion);
  h.string(kOurVersion);
  h.string(kexinit);
  h.string(*server_kexinit);
  h.string(reply.host_key_blob);
  h.raw((*share)->public_field());
  h.raw(reply.server_public_field);
  h.raw(k->reveal());
  auto hash = h.finish();
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, answer->exchange_hash);
  const HostKeyAlgorithm* alg = find_host_key_algorithm("ssh-ed25519");
  EXPECT_TRUE(
      verify_exchange_signature(*alg, keys.key(KeyType::kEd25519).public_key(), reply.signature, *hash).ok());
}

// A relaying process that sends the same crafted messages twice gets two
// different exchange hashes signed: the authority's own ephemeral key goes
// into each, so nothing the relay chooses decides what is signed.
TEST(KexAuthority, CraftedRequestsNeverChooseWhatIsSigned) {
  TestSigner keys;
  LocalKexAuthority authority({}, keys);
  auto share = x25519_client_start(32);
  ASSERT_TRUE(share.ok());
  const key::Bytes kexinit = client_kexinit();
  const key::Bytes init = ecdh_init((*share)->public_field());
  std::vector<key::Bytes> hashes;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(authority.server_kexinit().ok());
    auto answer = authority.answer(kClientVersion, kexinit, init);
    ASSERT_TRUE(answer.ok());
    hashes.push_back(answer->exchange_hash);
    // The signature does not verify over bytes the relay sent.
    const ParsedReply reply = parse_reply(answer->reply);
    const HostKeyAlgorithm* alg = find_host_key_algorithm("ssh-ed25519");
    const key::PublicKey& pub = keys.key(KeyType::kEd25519).public_key();
    EXPECT_FALSE(verify_exchange_signature(*alg, pub, reply.signature, init).ok());
    EXPECT_FALSE(verify_exchange_signature(*alg, pub, reply.signature, kexinit).ok());
  }
  EXPECT_NE(hashes[0], hashes[1]);
  // The session identifier stays the first exchange's.
  EXPECT_EQ(authority.session_id(), hashes[0]);
}

TEST(KexAuthority, RefusesWhatItDidNotStartAndMalformedMessages) {
  TestSigner keys;
  LocalKexAuthority authority({}, keys);
  auto share = x25519_client_start(32);
  ASSERT_TRUE(share.ok());
  const key::Bytes init = ecdh_init((*share)->public_field());
  // No KEXINIT of ours: nothing to answer.
  EXPECT_FALSE(authority.answer(kClientVersion, client_kexinit(), init).ok());
  // Each answer consumes our KEXINIT: a replay is refused.
  ASSERT_TRUE(authority.server_kexinit().ok());
  ASSERT_TRUE(authority.answer(kClientVersion, client_kexinit(), init).ok());
  EXPECT_FALSE(authority.answer(kClientVersion, client_kexinit(), init).ok());
  // The client's identification cannot change between exchanges.
  ASSERT_TRUE(authority.server_kexinit().ok());
  EXPECT_FALSE(authority.answer("SSH-2.0-Other", client_kexinit(), init).ok());

  LocalKexAuthority fresh({}, keys);
  struct Case {
    const char* what;
    key::Bytes kexinit, message;
  };
  key::Bytes wrong_type = init;
  wrong_type[0] = msg::kKexInit;
  key::Bytes trailing = init;
  trailing.push_back(0);
  key::Writer short_point;
  short_point.u8(msg::kKexEcdhInit);
  short_point.string(key::Bytes(31, 9));
  const std::vector<Case> cases = {
      {"wrong message", client_kexinit(), wrong_type},
      {"trailing data", client_kexinit(), trailing},
      {"short public value", client_kexinit(), short_point.take()},
      {"empty message", client_kexinit(), {}},
      {"garbage KEXINIT", key::Bytes{20, 1, 2, 3}, init},
      {"no common kex", client_kexinit("diffie-hellman-group1-sha1"), init},
      {"no common host key", client_kexinit("curve25519-sha256", "ssh-dss"), init},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(fresh.server_kexinit().ok());
    EXPECT_FALSE(fresh.answer(kClientVersion, c.kexinit, c.message).ok()) << c.what;
    EXPECT_TRUE(fresh.session_id().empty()) << c.what;
  }
}

TEST(KexAuthority, ProvesOnlyItsOwnHostKeysOverItsOwnSessionId) {
  TestSigner keys;
  LocalKexAuthority authority({}, keys);
  const std::vector<key::Bytes> blobs = authority.host_key_blobs();
  ASSERT_EQ(blobs.size(), 5u);
  EXPECT_FALSE(authority.prove_host_keys(blobs).ok());  // no session yet

  ASSERT_TRUE(authority.server_kexinit().ok());
  auto share = x25519_client_start(32);
  ASSERT_TRUE(authority.answer(kClientVersion, client_kexinit(), ecdh_init((*share)->public_field())).ok());
  auto proofs = authority.prove_host_keys(blobs);
  ASSERT_TRUE(proofs.ok()) << proofs.error().message();
  ASSERT_EQ(proofs->size(), blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    auto pub = key::PublicKey::from_blob(blobs[i]);
    ASSERT_TRUE(pub.ok());
    EXPECT_TRUE(pub->verify((*proofs)[i], host_key_proof_data(authority.session_id(), blobs[i])).ok()) << i;
  }
  const key::Bytes stranger = PrivateKey::generate(KeyType::kEd25519)->public_key().blob();
  EXPECT_FALSE(authority.prove_host_keys(std::vector<key::Bytes>{stranger}).ok());
  EXPECT_FALSE(authority.prove_host_keys(std::vector<key::Bytes>{key::Bytes{1, 2, 3}}).ok());
}

// ---- handing a server connection over to another Transport

class Recorder final : public TransportListener {
 public:
  key::Status check_host_key(const ServerHostKey&) override { return key::ok_status(); }
  void on_message(uint32_t, std::span<const uint8_t> payload) override {
    messages.emplace_back(payload.begin(), payload.end());
    if (pause_after != 0 && messages.size() == pause_after && transport != nullptr) transport->pause_input();
  }
  std::vector<key::Bytes> messages;
  size_t pause_after = 0;
  Transport* transport = nullptr;
};

key::Bytes service_message(std::string_view text) {
  key::Writer w;
  w.u8(msg::kServiceRequest);
  w.string(text);
  return w.take();
}

struct HandOver {
  std::string cipher, mac;
};

class TransportHandOver : public ::testing::TestWithParam<HandOver> {};

TEST_P(TransportHandOver, ExportedConnectionGoesOnInANewTransport) {
  TestSigner keys;
  TransportConfig server_config;
  server_config.is_client = false;
  server_config.ciphers = {GetParam().cipher};
  if (!GetParam().mac.empty()) server_config.macs = {GetParam().mac};
  LocalKexAuthority authority(
      ServerKexConfig{{}, {}, server_config.ciphers, server_config.macs.empty() ? std::vector<std::string>{}
                                                                                 : server_config.macs},
      keys);
  Recorder client_side, server_side, new_side;
  TransportConfig client_config;
  Transport client(client_config, client_side);
  auto server = std::make_unique<Transport>(server_config, server_side, authority);
  server_side.transport = server.get();
  const auto now = Clock::now();
  client.start(now);
  server->start(now);
  ASSERT_TRUE(pump(client, *server).ok());
  ASSERT_TRUE(server->ready());
  EXPECT_EQ(server->negotiated()->cipher_c2s, GetParam().cipher);

  // Traffic both ways so that counters and cipher positions are not at zero.
  for (int i = 0; i < 7; ++i) {
    client.send(service_message("before " + std::to_string(i) + std::string(size_t(i) * 37, 'x')));
    server->send(service_message("reply " + std::to_string(i)));
  }
  ASSERT_TRUE(pump(client, *server).ok());
  ASSERT_EQ(server_side.messages.size(), 7u);

  // Three messages arrive together; the server stops after the first and
  // hands the rest over unread, with one message of its own still unsent.
  server_side.pause_after = 8;
  for (int i = 0; i < 3; ++i) client.send(service_message("during " + std::to_string(i)));
  const key::Bytes burst(client.output().front().begin(), client.output().front().end());
  client.output().consume(burst.size());
  ASSERT_TRUE(server->receive(burst, now).ok());
  ASSERT_EQ(server_side.messages.size(), 8u);
  EXPECT_TRUE(server->input_paused());
  server->send(service_message("unsent at hand-over"));
  auto state = server->export_state();
  ASSERT_TRUE(state.ok()) << state.error().message();
  server.reset();

  auto next = Transport::import(server_config, new_side, authority, state->reveal(), now);
  ASSERT_TRUE(next.ok()) << next.error().message();
  Transport& moved = **next;
  ASSERT_TRUE(moved.receive({}, now).ok());  // what was queued unread
  ASSERT_EQ(new_side.messages.size(), 2u);
  EXPECT_EQ(new_side.messages[1], service_message("during 2"));
  moved.send(service_message("after"));
  ASSERT_TRUE(pump(client, moved).ok());
  ASSERT_EQ(client_side.messages.size(), 9u);
  EXPECT_EQ(client_side.messages[7], service_message("unsent at hand-over"));
  EXPECT_EQ(client_side.messages[8], service_message("after"));

  // Re-keys from both sides, answered by the same authority, then traffic.
  moved.request_rekey();
  ASSERT_TRUE(pump(client, moved).ok());
  client.request_rekey();
  ASSERT_TRUE(pump(client, moved).ok());
  EXPECT_EQ(client.key_exchanges(), 3u);
  EXPECT_EQ(authority.exchanges(), 3u);
  client.send(service_message("after re-keys"));
  moved.send(service_message("after re-keys too"));
  ASSERT_TRUE(pump(client, moved).ok());
  EXPECT_EQ(new_side.messages.back(), service_message("after re-keys"));
  EXPECT_EQ(client_side.messages.back(), service_message("after re-keys too"));
  EXPECT_EQ(client.session_id(), moved.session_id());
}

INSTANTIATE_TEST_SUITE_P(EveryCipher, TransportHandOver,
                         ::testing::Values(HandOver{"chacha20-poly1305@openssh.com", ""},
                                           HandOver{"aes128-gcm@openssh.com", ""},
                                           HandOver{"aes256-gcm@openssh.com", ""},
                                           HandOver{"aes128-ctr", "hmac-sha2-256"},
                                           HandOver{"aes192-ctr", "hmac-sha2-512-etm@openssh.com"},
                                           HandOver{"aes256-ctr", "hmac-sha2-256-etm@openssh.com"}),
                         [](const auto& test) {
                           std::string name = test.param.cipher + "_" + test.param.mac;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(TransportHandOver, RefusesToExportMidExchangeAndBadState) {
  TestSigner keys;
  LocalKexAuthority authority({}, keys);
  Recorder client_side, server_side;
  Transport client(TransportConfig{}, client_side);
  TransportConfig server_config;
  server_config.is_client = false;
  Transport server(server_config, server_side, authority);
  EXPECT_FALSE(server.export_state().ok());  // nothing exchanged yet
  client.start(Clock::now());
  server.start(Clock::now());
  ASSERT_TRUE(pump(client, server).ok());
  server.request_rekey();
  EXPECT_FALSE(server.export_state().ok());  // our KEXINIT is out
  ASSERT_TRUE(pump(client, server).ok());
  auto state = server.export_state();
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(client.export_state().ok());

  Recorder other;
  const key::Bytes good(state->reveal().begin(), state->reveal().end());
  for (size_t cut = 0; cut < good.size(); cut += 7) {
    EXPECT_FALSE(Transport::import(server_config, other, authority, std::span(good).first(cut), Clock::now()).ok())
        << cut;
  }
  key::Bytes extra = good;
  extra.push_back(0);
  EXPECT_FALSE(Transport::import(server_config, other, authority, extra, Clock::now()).ok());
  EXPECT_TRUE(Transport::import(server_config, other, authority, good, Clock::now()).ok());
}

}  // namespace
}  // namespace tessera::ssh::transport
