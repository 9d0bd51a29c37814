// The server's key exchange authority (what tessera-sshd's monitor runs) and
// the hand-over of a server connection to another process: the authority
// signs only exchange hashes it computed itself, and a connection exported
// between two packets goes on, re-keys included, in a new Transport.
#include "transport/kex_authority.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>

#include <fstream>

#include <string>
#include <vector>

#include "tessera/key/key.h"
#include "tessera/key/ossl.h"
#include "test_host_keys.h"
#include "test_support.h"
#include "transport/moduli.h"
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

ParsedReply parse_reply(std::span<const uint8_t> reply, uint8_t type = msg::kKexEcdhReply) {
  key::Reader in(reply);
  EXPECT_EQ(*in.u8(), type);
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

// ---- group exchange

constexpr std::string_view kGex = "diffie-hellman-group-exchange-sha256";

using PrimeFn = BIGNUM* (*)(BIGNUM*);

std::string moduli_line(PrimeFn prime) {
  key::ossl::BnPtr p(prime(nullptr));
  char* hex = BN_bn2hex(p.get());
  std::string out = "20230101000000 2 6 100 " + std::to_string(BN_num_bits(p.get()) - 1) + " 2 " + hex + "\n";
  OPENSSL_free(hex);
  return out;
}

// A moduli file of RFC 3526's 2048-, 3072- and 4096-bit safe primes.
struct GexSetup {
  test::TempDir dir;
  std::string path = dir.file("moduli");
  std::vector<std::string> logged;
  explicit GexSetup(std::string extra = {}) {
    std::ofstream(path) << "# test moduli\n"
                        << moduli_line(BN_get_rfc3526_prime_2048) << moduli_line(BN_get_rfc3526_prime_3072)
                        << moduli_line(BN_get_rfc3526_prime_4096) << extra;
  }
  ServerKexConfig config() {
    return ServerKexConfig{.gex = GexConfig{.moduli_file = path, .log = [this](bool is_error, const std::string& t) {
                                              logged.push_back((is_error ? "error: " : "info: ") + t);
                                            }}};
  }
};

key::Bytes gex_request(uint32_t min, uint32_t n, uint32_t max) {
  key::Writer w;
  w.u8(msg::kKexDhGexRequest);
  w.u32(min);
  w.u32(n);
  w.u32(max);
  return w.take();
}

struct GexGroupMessage {
  key::ossl::BnPtr p, g;
  key::Bytes p_bytes, g_bytes;
};

GexGroupMessage parse_group(std::span<const uint8_t> payload) {
  key::Reader in(payload);
  EXPECT_EQ(*in.u8(), msg::kKexDhGexGroup);
  auto p = in.mpint();
  auto g = in.mpint();
  EXPECT_TRUE(in.expect_end().ok());
  GexGroupMessage out;
  out.p_bytes.assign(p->begin(), p->end());
  out.g_bytes.assign(g->begin(), g->end());
  out.p.reset(BN_bin2bn(p->data(), static_cast<int>(p->size()), nullptr));
  out.g.reset(BN_bin2bn(g->data(), static_cast<int>(g->size()), nullptr));
  return out;
}

key::Bytes gex_init(std::span<const uint8_t> public_field) {
  key::Writer w;
  w.u8(msg::kKexDhGexInit);
  w.bytes(public_field);
  return w.take();
}

TEST(KexAuthorityGex, OffersGroupExchangeOnlyWithAModuliSource) {
  TestSigner keys;
  GexSetup setup;
  LocalKexAuthority without({}, keys);
  auto plain = KexInit::parse(*without.server_kexinit());
  EXPECT_FALSE(plain->offers_kex(kGex));
  LocalKexAuthority with(setup.config(), keys);
  auto offered = KexInit::parse(*with.server_kexinit());
  EXPECT_TRUE(offered->offers_kex(kGex));
  // Without one, a group request is refused.
  ASSERT_TRUE(without.server_kexinit().ok());
  EXPECT_FALSE(without.gex_group(kClientVersion, client_kexinit(kGex), gex_request(2048, 3072, 8192)).ok());
}

TEST(KexAuthorityGex, SignsTheHashOverTheRequestAndTheGroupItChose) {
  TestSigner keys;
  GexSetup setup;
  LocalKexAuthority authority(setup.config(), keys);
  auto server_kexinit = authority.server_kexinit();
  ASSERT_TRUE(server_kexinit.ok());
  const key::Bytes kexinit = client_kexinit(kGex);
  // The client's request as sent (min below what sshd serves): it is what is hashed.
  auto group_payload = authority.gex_group(kClientVersion, kexinit, gex_request(1024, 3072, 8192));
  ASSERT_TRUE(group_payload.ok()) << group_payload.error().message();
  GexGroupMessage group = parse_group(*group_payload);
  EXPECT_EQ(BN_num_bits(group.p.get()), 3072);  // the closest to n
  EXPECT_TRUE(dh_check_group(group.p.get(), group.g.get(), 2048, 8192).ok());
  auto share = dh_client_start(group.p.get(), group.g.get(), 16);
  ASSERT_TRUE(share.ok());
  auto answer = authority.answer(kClientVersion, kexinit, gex_init((*share)->public_field()));
  ASSERT_TRUE(answer.ok()) << answer.error().message();
  EXPECT_EQ(answer->negotiated.kex, kGex);

  const ParsedReply reply = parse_reply(answer->reply, msg::kKexDhGexReply);
  key::Reader server_public(reply.server_public_field);
  auto k = (*share)->finish(server_public);
  ASSERT_TRUE(k.ok()) << k.error().message();
  KexHasher h("SHA256");
  h.string(kClientVersion);
  h.string(kOurVersion);
  h.string(kexinit);
  h.string(*server_kexinit);
  h.string(reply.host_key_blob);
  h.u32(1024);
  h.u32(3072);
  h.u32(8192);
  key::Writer pg;
  pg.mpint(group.p_bytes);
  pg.mpint(group.g_bytes);
  h.raw(pg.data());
  h.raw((*share)->public_field());
  h.raw(reply.server_public_field);
  h.raw(k->reveal());
  auto hash = h.finish();
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, answer->exchange_hash);
  const HostKeyAlgorithm* alg = find_host_key_algorithm("ssh-ed25519");
  EXPECT_TRUE(
      verify_exchange_signature(*alg, keys.key(KeyType::kEd25519).public_key(), reply.signature, *hash).ok());
  EXPECT_TRUE(setup.logged.empty());
}

TEST(KexAuthorityGex, RefusesStepsOutOfOrderAndBadRequests) {
  TestSigner keys;
  GexSetup setup;
  LocalKexAuthority authority(setup.config(), keys);
  const key::Bytes kexinit = client_kexinit(kGex);
  const key::Bytes good = gex_request(2048, 2048, 8192);
  // No KEXINIT of ours yet.
  EXPECT_FALSE(authority.gex_group(kClientVersion, kexinit, good).ok());
  // The INIT before the group: nothing to hash it with.
  ASSERT_TRUE(authority.server_kexinit().ok());
  key::Writer e;
  e.mpint(key::Bytes{5, 5, 5});
  EXPECT_FALSE(authority.answer(kClientVersion, kexinit, gex_init(e.data())).ok());
  // A group for an exchange that is not group exchange.
  ASSERT_TRUE(authority.server_kexinit().ok());
  EXPECT_FALSE(authority.gex_group(kClientVersion, client_kexinit(), good).ok());
  // Twice in one exchange.
  ASSERT_TRUE(authority.server_kexinit().ok());
  ASSERT_TRUE(authority.gex_group(kClientVersion, kexinit, good).ok());
  EXPECT_FALSE(authority.gex_group(kClientVersion, kexinit, good).ok());
  // A KEXINIT or identification other than the group's, at the answer.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(authority.server_kexinit().ok());
    auto group_payload = authority.gex_group(kClientVersion, kexinit, good);
    ASSERT_TRUE(group_payload.ok());
    GexGroupMessage group = parse_group(*group_payload);
    auto share = dh_client_start(group.p.get(), group.g.get(), 16);
    KexInit other = *KexInit::parse(kexinit);
    other.cipher_c2s = other.cipher_s2c = {"aes256-gcm@openssh.com"};
    auto answer = i == 0 ? authority.answer(kClientVersion, other.serialize(), gex_init((*share)->public_field()))
                         : authority.answer("SSH-2.0-Other", kexinit, gex_init((*share)->public_field()));
    EXPECT_FALSE(answer.ok()) << i;
  }
  // Bad requests, and an ECDH message in place of the GEX init.
  for (const key::Bytes& bad : {gex_request(4096, 2048, 8192), gex_request(1024, 1024, 1024), key::Bytes{34, 0}}) {
    ASSERT_TRUE(authority.server_kexinit().ok());
    EXPECT_FALSE(authority.gex_group(kClientVersion, kexinit, bad).ok());
  }
  ASSERT_TRUE(authority.server_kexinit().ok());
  auto group_payload = authority.gex_group(kClientVersion, kexinit, good);
  ASSERT_TRUE(group_payload.ok());
  GexGroupMessage group = parse_group(*group_payload);
  auto share = dh_client_start(group.p.get(), group.g.get(), 16);
  EXPECT_FALSE(authority.answer(kClientVersion, kexinit, ecdh_init((*share)->public_field())).ok());
  // A public value out of range (1, p-1) is refused.
  ASSERT_TRUE(authority.server_kexinit().ok());
  ASSERT_TRUE(authority.gex_group(kClientVersion, kexinit, good).ok());
  key::Writer one;
  one.mpint(key::Bytes{1});
  EXPECT_FALSE(authority.answer(kClientVersion, kexinit, gex_init(one.data())).ok());
  EXPECT_TRUE(authority.session_id().empty());
  EXPECT_EQ(authority.exchanges(), 0u);
}

TEST(KexAuthorityGex, FallsBackOnAFixedGroupAndSaysSo) {
  TestSigner keys;
  struct Case {
    std::string file_text;  // "": no file
    unsigned max;
    int bits;
    std::string log;
  };
  const std::vector<Case> cases = {
      {"", 8192, 8192, "info: WARNING: could not open "},
      {"", 4096, 4096, "info: WARNING: could not open "},
      {"", 2048, 2048, "info: WARNING: could not open "},
      {moduli_line(BN_get_rfc2409_prime_1024), 8192, 8192, "info: WARNING: no suitable primes in "},
      {"1 2 3 4 5 6 7\n" + moduli_line(BN_get_rfc3526_prime_2048), 8192, 2048, "error: "},
  };
  for (const Case& c : cases) {
    test::TempDir dir;
    std::vector<std::string> logged;
    GexConfig gex{.moduli_file = dir.file("moduli"),
                  .log = [&](bool is_error, const std::string& t) {
                    logged.push_back((is_error ? "error: " : "info: ") + t);
                  }};
    if (!c.file_text.empty()) std::ofstream(gex.moduli_file) << c.file_text;
    LocalKexAuthority authority(ServerKexConfig{.gex = gex}, keys);
    ASSERT_TRUE(authority.server_kexinit().ok());
    auto group_payload = authority.gex_group(kClientVersion, client_kexinit(kGex), gex_request(2048, 2048, c.max));
    ASSERT_TRUE(group_payload.ok());
    GexGroupMessage group = parse_group(*group_payload);
    EXPECT_EQ(BN_num_bits(group.p.get()), c.bits) << c.log;
    EXPECT_TRUE(BN_is_word(group.g.get(), 2));
    ASSERT_EQ(logged.size(), 1u) << c.log;
    EXPECT_EQ(logged[0].rfind(c.log, 0), 0u) << logged[0];
  }
}

TEST(KexAuthorityGex, RunsBetweenTwoTransportsAndReKeys) {
  TestSigner keys;
  GexSetup setup;
  LocalKexAuthority authority(setup.config(), keys);
  Recorder client_side, server_side;
  TransportConfig client_config;
  client_config.kex = {std::string(kGex)};
  client_config.ciphers = {"aes128-gcm@openssh.com"};
  Transport client(client_config, client_side);
  TransportConfig server_config;
  server_config.is_client = false;
  Transport server(server_config, server_side, authority);
  const auto now = Clock::now();
  client.start(now);
  server.start(now);
  ASSERT_TRUE(pump(client, server).ok());
  ASSERT_TRUE(client.ready());
  ASSERT_TRUE(server.ready());
  EXPECT_EQ(client.negotiated()->kex, kGex);
  EXPECT_EQ(server.negotiated()->kex, kGex);
  EXPECT_EQ(client.session_id(), authority.session_id());

  // Re-keys started by either side run the group exchange again.
  client.send(service_message("one"));
  server.request_rekey();
  ASSERT_TRUE(pump(client, server).ok());
  client.request_rekey();
  server.send(service_message("two"));
  ASSERT_TRUE(pump(client, server).ok());
  EXPECT_EQ(client.key_exchanges(), 3u);
  EXPECT_EQ(server.key_exchanges(), 3u);
  EXPECT_EQ(authority.exchanges(), 3u);
  EXPECT_EQ(server_side.messages, std::vector<key::Bytes>{service_message("one")});
  EXPECT_EQ(client_side.messages, std::vector<key::Bytes>{service_message("two")});
  EXPECT_EQ(client.session_id(), server.session_id());
  EXPECT_TRUE(setup.logged.empty());

  // A client whose range the server refuses gets a key exchange failure.
  Recorder a, b;
  TransportConfig picky = client_config;
  picky.dh_gex_min_bits = 1024;
  picky.dh_gex_max_bits = 1536;
  Transport client2(picky, a);
  Transport server2(server_config, b, authority);
  client2.start(now);
  server2.start(now);
  EXPECT_FALSE(pump(client2, server2).ok());
  EXPECT_FALSE(server2.ready());
}

}  // namespace
}  // namespace tessera::ssh::transport
