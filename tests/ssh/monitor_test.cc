// tessera-sshd's monitor protocol, from the side of a compromised child:
// the monitor signs only exchange hashes it computed, verifies signatures
// over its own session id, lets the connection be handed over only after it
// accepted one, and refuses what a phase does not allow.
#include "server/monitor.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "auth/client_auth.h"
#include "test_host_keys.h"
#include "transport/kex_method.h"
#include "transport/messages.h"

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

key::Bytes client_kexinit() {
  KexInit k;
  k.kex = {"curve25519-sha256"};
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
                                      .record_pty = nullptr},
                         6};

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

TEST(Monitor, GarbageIsRefusedWithoutHarm) {
  const std::vector<key::Bytes> inputs = {
      {}, {0}, {99}, {1, 0}, {2}, {2, 0, 0, 0, 9}, {3, 0, 0, 0, 5, 'a'}, {4}, {6, 0xff, 0xff, 0xff, 0xff}, {7, 1},
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
