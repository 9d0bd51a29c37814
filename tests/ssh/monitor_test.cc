// tessera-sshd's monitor protocol, from the side of a compromised child:
// the monitor signs only exchange hashes it computed, verifies signatures
// over its own session id, lets the connection be handed over only after it
// accepted one, and refuses what a phase does not allow.
#include "server/monitor.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "auth/client_auth.h"
#include "tessera/key/ossl.h"
#include "test_host_keys.h"
#include "test_support.h"
#include "transport/kex_hash.h"
#include "transport/kex_method.h"
#include "transport/messages.h"
#include "transport/transport.h"
#include "transport/version.h"

namespace tessera::ssh::server {
namespace {

using transport::KexInit;
using transport::TestSigner;
namespace msg = ssh::msg;

key::Bytes request(MonitorRequest type, std::span<const uint8_t> fields = {}) {
  key::Writer w;
  w.u8(static_cast<uint8_t>(type));
  w.bytes(fields);
  return w.take();
}

bool ok(std::span<const uint8_t> reply) { return !reply.empty() && reply[0] == 0; }

key::Bytes client_kexinit(std::string_view kex = "curve25519-sha256") {
  KexInit k;
  k.kex = {std::string(kex)};
  k.host_key = {"ssh-ed25519"};
  k.cipher_c2s = k.cipher_s2c = {"aes128-gcm@openssh.com"};
  k.mac_c2s = k.mac_s2c = {"hmac-sha2-256"};
  k.compression_c2s = k.compression_s2c = {"none"};
  return k.serialize();
}

struct Fixture {
  TestSigner host_keys;
  transport::LocalKexAuthority authority{{}, host_keys};
  key::PrivateKey user_key = *key::PrivateKey::generate(key::KeyType::kEd25519);
  std::vector<std::string> logged;
  MonitorService service{authority,
                         MonitorHooks{.check_key =
                                          [this](const auth::PublickeyAttempt& a) {
                                            return KeyVerdict{.allowed = a.user == "alice" &&
                                                                         a.key_blob == user_key.public_key().blob(),
                                                              .log_detail = "ED25519"};
                                          },
                                      .log_attempt =
                                          [this](const auth::PublickeyAttempt& a, bool accepted, const std::string&) {
                                            logged.push_back(a.user + (accepted ? " ok" : " refused"));
                                          },
                                      .record_pty = nullptr,
                                      .log =
                                          [this](uint8_t level, std::string_view line) {
                                            lines.push_back(std::to_string(level) + " " + std::string(line));
                                          }},
                         6};
  std::vector<std::string> lines;

  // A key exchange through the monitor, as the child relays it.
  key::Bytes exchange() {
    EXPECT_TRUE(ok(service.handle(request(MonitorRequest::kKexInit))));
    auto share = transport::x25519_client_start(32);
    key::Writer init;
    init.u8(msg::kKexEcdhInit);
    init.bytes((*share)->public_field());
    key::Writer fields;
    fields.string("SSH-2.0-OpenSSH_9.2p1");
    fields.string(client_kexinit());
    fields.string(init.data());
    const key::Bytes reply = service.handle(request(MonitorRequest::kKexAnswer, fields.data()));
    EXPECT_TRUE(ok(reply));
    auto answer = decode_kex_answer(std::span(reply).subspan(1));
    EXPECT_TRUE(answer.ok());
    return answer.ok() ? answer->session_id : key::Bytes{};
  }

  key::Bytes publickey(std::string_view user, std::optional<std::span<const uint8_t>> session_id) {
    const key::Bytes blob = user_key.public_key().blob();
    key::Writer w;
    w.string(user);
    w.string("ssh-ed25519");
    w.string(blob);
    w.boolean(session_id.has_value());
    if (session_id) {
      const key::Bytes data = auth::publickey_signed_data(*session_id, user, "ssh-ed25519", blob);
      w.string(*user_key.sign(data, key::SignatureAlgorithm::kDefault));
    }
    return service.handle(request(MonitorRequest::kPublickey, w.data()));
  }
};

bool accepted(std::span<const uint8_t> reply) { return ok(reply) && reply.size() == 2 && reply[1] == 1; }

TEST(Monitor, AcceptsOnlySignaturesOverItsOwnSessionId) {
  Fixture f;
  const key::Bytes session_id = f.exchange();
  ASSERT_FALSE(session_id.empty());
  EXPECT_TRUE(accepted(f.publickey("alice", std::nullopt)));  // a query
  // A signature over a session id the child made up is refused.
  const key::Bytes forged(session_id.size(), 0x41);
  EXPECT_FALSE(accepted(f.publickey("alice", forged)));
  EXPECT_FALSE(f.service.authenticated().has_value());
  // No hand-over before a signature was accepted.
  key::Writer state;
  state.string("state");
  EXPECT_FALSE(ok(Fixture{}.service.handle(request(MonitorRequest::kHandOver, state.data()))));
  EXPECT_TRUE(accepted(f.publickey("alice", session_id)));
  ASSERT_TRUE(f.service.authenticated().has_value());
  EXPECT_EQ(f.service.authenticated()->user, "alice");
  EXPECT_EQ(f.logged, (std::vector<std::string>{"alice ok", "alice refused", "alice ok"}));
  EXPECT_TRUE(ok(f.service.handle(request(MonitorRequest::kHandOver, state.data()))));
  ASSERT_TRUE(f.service.handed_over().has_value());
  // Once: a second hand-over and further authentication are refused.
  EXPECT_FALSE(ok(f.service.handle(request(MonitorRequest::kHandOver, state.data()))));
}

TEST(Monitor, RefusesWhatThePhaseDoesNotAllow) {
  Fixture f;
  // Authentication before any key exchange: nothing to verify against.
  EXPECT_FALSE(ok(f.publickey("alice", std::nullopt)));
  EXPECT_TRUE(f.service.broken());

  Fixture g;
  const key::Bytes session_id = g.exchange();
  // Host key proofs and pty records only after authentication.
  EXPECT_FALSE(ok(g.service.handle(request(MonitorRequest::kHostKeys))));
  Fixture h;
  h.exchange();
  EXPECT_TRUE(accepted(h.publickey("alice", std::nullopt)));
  EXPECT_FALSE(ok(h.publickey("mallory", std::nullopt)));  // the user cannot change

  Fixture s;
  const key::Bytes sid = s.exchange();
  s.service.set_phase(MonitorPhase::kSession);
  EXPECT_FALSE(ok(s.publickey("alice", sid)));  // no authentication in a session
  Fixture t;
  const key::Bytes tsid = t.exchange();
  t.service.set_phase(MonitorPhase::kSession);
  const key::Bytes blobs_reply = t.service.handle(request(MonitorRequest::kHostKeys));
  ASSERT_TRUE(ok(blobs_reply));
  key::Reader in{std::span(blobs_reply).subspan(1)};
  const uint32_t n = *in.u32();
  ASSERT_EQ(n, 5u);
  auto first = in.string();
  const key::Bytes blob(first->begin(), first->end());
  key::Writer prove;
  prove.u32(1);
  prove.string(blob);
  const key::Bytes proof_reply = t.service.handle(request(MonitorRequest::kProveHostKeys, prove.data()));
  ASSERT_TRUE(ok(proof_reply));
  key::Reader p{std::span(proof_reply).subspan(1)};
  ASSERT_EQ(*p.u32(), 1u);
  auto signature = p.string();
  EXPECT_TRUE(key::PublicKey::from_blob(blob)->verify(*signature, transport::host_key_proof_data(tsid, blob)).ok());
  // A re-key in the session phase goes through the monitor as well.
  EXPECT_FALSE(t.exchange().empty());
  EXPECT_EQ(t.authority.session_id(), tsid);
}

// A child's log lines reach the log only through the monitor, one line
// each, cut and with control characters shown as '?' (a forged second line
// stays on the first), at a level from fatal to debug3.
TEST(Monitor, LogLinesFromAChildAreCheckedBeforeTheyAreWritten) {
  Fixture f;
  auto log = [&](uint8_t level, std::string_view text) {
    key::Writer w;
    w.u8(level);
    w.string(text);
    return f.service.handle(request(MonitorRequest::kLog, w.data()));
  };
  EXPECT_TRUE(ok(log(3, "Starting session: command")));
  EXPECT_TRUE(ok(log(4, "line\nAccepted publickey for root\r\x1b[2J")));
  EXPECT_TRUE(ok(log(7, std::string(3 * kMaxMonitorLogLine, 'x'))));
  EXPECT_FALSE(f.service.broken());
  ASSERT_EQ(f.lines.size(), 3u);
  EXPECT_EQ(f.lines[0], "3 Starting session: command");
  EXPECT_EQ(f.lines[1], "4 line?Accepted publickey for root??[2J");
  EXPECT_EQ(f.lines[2], "7 " + std::string(kMaxMonitorLogLine, 'x'));
  for (const uint8_t bad : std::initializer_list<uint8_t>{0, 8, 255}) {
    Fixture g;
    key::Writer w;
    w.u8(bad);
    w.string("x");
    EXPECT_FALSE(ok(g.service.handle(request(MonitorRequest::kLog, w.data())))) << int(bad);
    EXPECT_TRUE(g.lines.empty());
  }
}

TEST(Monitor, GarbageIsRefusedWithoutHarm) {
  const std::vector<key::Bytes> inputs = {
      {}, {0}, {99}, {1, 0}, {2}, {2, 0, 0, 0, 9}, {3, 0, 0, 0, 5, 'a'}, {4}, {6, 0xff, 0xff, 0xff, 0xff}, {7, 1},
      {9}, {9, 3}, {9, 3, 0, 0, 0, 9, 'a'},
  };
  for (const key::Bytes& input : inputs) {
    Fixture f;
    const key::Bytes reply = f.service.handle(input);
    EXPECT_FALSE(ok(reply)) << input.size();
    EXPECT_TRUE(f.service.broken());
  }
}

TEST(Monitor, FramesTravelOverASocketAndAClientCallsThrough) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Fixture f;
  std::thread monitor([&] {
    for (int i = 0; i < 2; ++i) {
      auto frame = read_frame(sv[0]);
      if (!frame.ok()) return;
      (void)write_frame(sv[0], f.service.handle(frame->reveal()));
    }
  });
  MonitorClient client(sv[1]);
  RemoteKexAuthority authority(client);
  auto kexinit = authority.server_kexinit();
  ASSERT_TRUE(kexinit.ok());
  EXPECT_TRUE(KexInit::parse(*kexinit).ok());
  // The monitor refuses (it is pre-auth): the client sees an error.
  EXPECT_FALSE(authority.prove_host_keys(std::vector<key::Bytes>{}).ok());
  monitor.join();
  close(sv[0]);
  EXPECT_FALSE(authority.server_kexinit().ok());  // the monitor is gone
  close(sv[1]);
}

// ---- group exchange through the monitor

constexpr std::string_view kGex = "diffie-hellman-group-exchange-sha256";
constexpr std::string_view kVersion = "SSH-2.0-OpenSSH_9.2p1";

std::string moduli_line(BIGNUM* (*prime)(BIGNUM*)) {
  key::ossl::BnPtr p(prime(nullptr));
  char* hex = BN_bn2hex(p.get());
  std::string out = "20230101000000 2 6 100 " + std::to_string(BN_num_bits(p.get()) - 1) + " 2 " + hex + "\n";
  OPENSSL_free(hex);
  return out;
}

struct GexMonitor {
  test::TempDir dir;
  std::string path = [this] {
    const std::string file = dir.file("moduli");
    std::ofstream(file) << moduli_line(BN_get_rfc3526_prime_2048) << moduli_line(BN_get_rfc3526_prime_3072);
    return file;
  }();
  TestSigner host_keys;
  transport::LocalKexAuthority authority{transport::ServerKexConfig{.gex = transport::GexConfig{.moduli_file = path}},
                                         host_keys};
  MonitorService service{authority, MonitorHooks{}, 6};

  key::Bytes group_request(std::span<const uint8_t> kexinit, uint32_t min = 2048, uint32_t n = 3072,
                           uint32_t max = 8192) {
    key::Writer req;
    req.u8(msg::kKexDhGexRequest);
    req.u32(min);
    req.u32(n);
    req.u32(max);
    key::Writer w;
    w.string(kVersion);
    w.string(kexinit);
    w.string(req.data());
    return service.handle(request(MonitorRequest::kKexGroup, w.data()));
  }
  key::Bytes answer_request(std::span<const uint8_t> kexinit, std::span<const uint8_t> message) {
    key::Writer w;
    w.string(kVersion);
    w.string(kexinit);
    w.string(message);
    return service.handle(request(MonitorRequest::kKexAnswer, w.data()));
  }
};

struct Group {
  key::Bytes p, g;
  key::ossl::BnPtr bp, bg;
};

Group group_of(std::span<const uint8_t> reply) {
  key::Reader fields(reply.subspan(1));
  auto payload = fields.string();
  key::Reader in(*payload);
  EXPECT_EQ(*in.u8(), msg::kKexDhGexGroup);
  Group out;
  auto p = in.mpint();
  auto g = in.mpint();
  out.p.assign(p->begin(), p->end());
  out.g.assign(g->begin(), g->end());
  out.bp.reset(BN_bin2bn(out.p.data(), static_cast<int>(out.p.size()), nullptr));
  out.bg.reset(BN_bin2bn(out.g.data(), static_cast<int>(out.g.size()), nullptr));
  return out;
}

key::Bytes gex_init(std::span<const uint8_t> public_field) {
  key::Writer w;
  w.u8(msg::kKexDhGexInit);
  w.bytes(public_field);
  return w.take();
}

TEST(MonitorGex, GroupOnlyAfterKexInitAndAnswerOnlyAfterGroup) {
  const key::Bytes kexinit = client_kexinit(kGex);
  {
    GexMonitor m;  // a group before our KEXINIT
    EXPECT_FALSE(ok(m.group_request(kexinit)));
    EXPECT_TRUE(m.service.broken());
  }
  {
    GexMonitor m;  // the answer before the group
    ASSERT_TRUE(ok(m.service.handle(request(MonitorRequest::kKexInit))));
    key::Writer e;
    e.mpint(key::Bytes{7, 7, 7, 7});
    EXPECT_FALSE(ok(m.answer_request(kexinit, gex_init(e.data()))));
    EXPECT_TRUE(m.service.broken());
  }
  {
    GexMonitor m;  // the group twice
    ASSERT_TRUE(ok(m.service.handle(request(MonitorRequest::kKexInit))));
    ASSERT_TRUE(ok(m.group_request(kexinit)));
    EXPECT_FALSE(ok(m.group_request(kexinit)));
    EXPECT_TRUE(m.service.broken());
  }
  {
    GexMonitor m;  // a group for an ECDH exchange, and a bad range
    ASSERT_TRUE(ok(m.service.handle(request(MonitorRequest::kKexInit))));
    EXPECT_FALSE(ok(m.group_request(client_kexinit())));
    GexMonitor r;
    ASSERT_TRUE(ok(r.service.handle(request(MonitorRequest::kKexInit))));
    EXPECT_FALSE(ok(r.group_request(kexinit, 8192, 8192, 1024)));
  }
  {
    GexMonitor m;  // malformed fields
    EXPECT_FALSE(ok(m.service.handle(request(MonitorRequest::kKexGroup, key::Bytes{0, 0, 0, 1}))));
  }
}

// The relay may tell the client a group of its own (RFC 3526's 2048-bit one
// in place of the monitor's 3072-bit choice), but it has no way to hand that
// group to the monitor: the monitor hashes the request and the group it
// kept. The signature verifies over the hash with the monitor's group and
// not over the same transcript with the relay's group in it.
TEST(MonitorGex, TheGroupTheRelaySwapsInIsNeverWhatIsSigned) {
  GexMonitor m;
  const key::Bytes kexinit = client_kexinit(kGex);
  const key::Bytes ours_reply = m.service.handle(request(MonitorRequest::kKexInit));
  ASSERT_TRUE(ok(ours_reply));
  key::Reader kin{std::span(ours_reply).subspan(1)};
  auto server_kexinit = kin.string();
  const key::Bytes group_reply = m.group_request(kexinit);
  ASSERT_TRUE(ok(group_reply));
  const Group real = group_of(group_reply);
  EXPECT_EQ(BN_num_bits(real.bp.get()), 3072);

  auto share = transport::dh_client_start(real.bp.get(), real.bg.get(), 16);
  ASSERT_TRUE(share.ok());
  const key::Bytes reply = m.answer_request(kexinit, gex_init((*share)->public_field()));
  ASSERT_TRUE(ok(reply)) << m.service.failure();
  auto answer = decode_kex_answer(std::span(reply).subspan(1));
  ASSERT_TRUE(answer.ok());
  key::Reader r(answer->reply);
  EXPECT_EQ(*r.u8(), msg::kKexDhGexReply);
  auto host_key = r.string();
  const std::span<const uint8_t> before = r.rest();
  auto k = (*share)->finish(r);
  ASSERT_TRUE(k.ok()) << k.error().message();
  const std::span<const uint8_t> f_field = before.first(before.size() - r.rest().size());
  auto signature = r.string();

  key::ossl::BnPtr fake_p(BN_get_rfc3526_prime_2048(nullptr));
  key::Bytes fake_bytes(static_cast<size_t>(BN_num_bytes(fake_p.get())));
  BN_bn2bin(fake_p.get(), fake_bytes.data());
  auto hash_with = [&](std::span<const uint8_t> p, std::span<const uint8_t> g) {
    transport::KexHasher h("SHA256");
    h.string(kVersion);
    h.string(transport::kOurVersion);
    h.string(kexinit);
    h.string(*server_kexinit);
    h.string(*host_key);
    h.u32(2048);
    h.u32(3072);
    h.u32(8192);
    key::Writer pg;
    pg.mpint(p);
    pg.mpint(g);
    h.raw(pg.data());
    h.raw((*share)->public_field());
    h.raw(f_field);
    h.raw(k->reveal());
    return *h.finish();
  };
  const transport::HostKeyAlgorithm* alg = transport::find_host_key_algorithm("ssh-ed25519");
  const key::PublicKey& pub = m.host_keys.key(key::KeyType::kEd25519).public_key();
  const key::Bytes real_hash = hash_with(real.p, real.g);
  EXPECT_EQ(real_hash, answer->exchange_hash);
  EXPECT_TRUE(transport::verify_exchange_signature(*alg, pub, *signature, real_hash).ok());
  for (const key::Bytes& g : {key::Bytes{2}, key::Bytes{5}}) {
    EXPECT_FALSE(transport::verify_exchange_signature(*alg, pub, *signature, hash_with(fake_bytes, g)).ok());
  }
  EXPECT_FALSE(transport::verify_exchange_signature(*alg, pub, *signature, hash_with(real.p, key::Bytes{5})).ok());
}

class Quiet final : public transport::TransportListener {
 public:
  key::Status check_host_key(const transport::ServerHostKey&) override { return key::ok_status(); }
  void on_message(uint32_t, std::span<const uint8_t>) override {}
};

// A client Transport, a server Transport whose authority is the monitor
// over a socket (as tessera-sshd's children run it), and re-keys.
TEST(MonitorGex, ExchangesAndReKeysThroughTheMonitorSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  GexMonitor m;
  std::thread monitor([&] {
    for (;;) {
      auto frame = read_frame(sv[0]);
      if (!frame.ok()) return;
      if (!write_frame(sv[0], m.service.handle(frame->reveal())).ok()) return;
    }
  });
  {
    MonitorClient client(sv[1]);
    RemoteKexAuthority remote(client);
    Quiet a, b;
    transport::TransportConfig client_config;
    client_config.kex = {std::string(kGex)};
    client_config.ciphers = {"aes128-ctr"};
    client_config.macs = {"hmac-sha2-256"};
    transport::Transport c(client_config, a);
    transport::TransportConfig server_config;
    server_config.is_client = false;
    transport::Transport s(server_config, b, remote);
    const auto now = transport::Clock::now();
    c.start(now);
    s.start(now);
    ASSERT_TRUE(transport::pump(c, s).ok()) << m.service.failure();
    ASSERT_TRUE(c.ready());
    EXPECT_EQ(s.negotiated()->kex, kGex);
    c.request_rekey();
    ASSERT_TRUE(transport::pump(c, s).ok()) << m.service.failure();
    s.request_rekey();
    ASSERT_TRUE(transport::pump(c, s).ok()) << m.service.failure();
    EXPECT_EQ(c.key_exchanges(), 3u);
    EXPECT_EQ(m.authority.exchanges(), 3u);
    EXPECT_EQ(c.session_id(), m.authority.session_id());
    EXPECT_FALSE(m.service.broken());
  }
  shutdown(sv[1], SHUT_RDWR);
  monitor.join();
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
}  // namespace tessera::ssh::server

namespace tessera::ssh::auth {
namespace {

TEST(SecurityKeySignature, FlagsAreReadOnlyFromSkSignatures) {
  key::Writer sk;
  sk.string("sk-ssh-ed25519@openssh.com");
  sk.string(key::Bytes(64, 7));
  sk.u8(kSkUserPresent | kSkUserVerified);
  sk.u32(42);
  EXPECT_EQ(security_key_signature_flags(sk.data()), kSkUserPresent | kSkUserVerified);
  key::Writer plain;
  plain.string("ssh-ed25519");
  plain.string(key::Bytes(64, 7));
  EXPECT_EQ(security_key_signature_flags(plain.data()), std::nullopt);
  key::Writer truncated;
  truncated.string("sk-ecdsa-sha2-nistp256@openssh.com");
  truncated.string(key::Bytes(70, 1));
  truncated.u8(1);
  EXPECT_EQ(security_key_signature_flags(truncated.data()), std::nullopt);
}

}  // namespace
}  // namespace tessera::ssh::auth
