#include "daemon/destination.h"

#include <gtest/gtest.h>

#include <ctime>

namespace tessera::agent::daemon {
namespace {

using key::KeyType;
using key::PrivateKey;
using key::PublicKey;
using key::Writer;

const uint64_t kNow = static_cast<uint64_t>(std::time(nullptr));

PrivateKey make_key(KeyType type = KeyType::kEd25519) { return *PrivateKey::generate(type); }

SessionBind bind_request(const PrivateKey& host, const Bytes& sid, bool forwarding) {
  return SessionBind{host.public_key(), std::nullopt, sid, *host.sign(sid), forwarding};
}

Bytes sid(uint8_t n) { return Bytes(32, n); }

// An SSH publickey userauth request as ssh builds it for the agent to sign.
Bytes userauth(const Bytes& session_id, const std::string& user, const PublicKey& key,
               const PublicKey* hostbound = nullptr, std::string alg = {}) {
  Writer w;
  w.string(session_id);
  w.u8(50);
  w.string(user);
  w.string("ssh-connection");
  w.string(hostbound != nullptr ? "publickey-hostbound-v00@openssh.com" : "publickey");
  w.u8(1);
  w.string(alg.empty() ? std::string(key.ssh_name()) : alg);
  w.string(key.blob());
  if (hostbound != nullptr) w.string(hostbound->blob());
  return w.take();
}

DestinationHop hop(std::string host, std::vector<HopKey> keys, std::string user = {}) {
  return DestinationHop{std::move(user), std::move(host), std::move(keys)};
}

DestinationConstraint from_origin_to(const PrivateKey& host, std::string name, std::string user = {}) {
  return DestinationConstraint{DestinationHop{}, hop(std::move(name), {{host.public_key(), false}}, std::move(user))};
}

TEST(SessionBind, AcceptsValidAndRefusesBadSignatures) {
  auto host = make_key();
  ConnectionBindings c;
  EXPECT_FALSE(c.bind_attempted());
  auto req = bind_request(host, sid(1), false);
  req.signature.back() ^= 1;
  EXPECT_FALSE(c.bind(req).ok());
  EXPECT_TRUE(c.bind_attempted());
  EXPECT_TRUE(c.hops().empty());
  EXPECT_TRUE(c.bind(bind_request(host, sid(1), false)).ok());
  ASSERT_EQ(c.hops().size(), 1u);
  // An identical repeat is fine; anything after an authentication bind is not.
  EXPECT_FALSE(c.bind(bind_request(host, sid(2), true)).ok());
  EXPECT_EQ(c.hops().size(), 1u);
}

TEST(SessionBind, Limits) {
  auto host = make_key();
  ConnectionBindings c;
  Bytes long_sid(kMaxSessionIdBytes + 1, 7);
  EXPECT_EQ(c.bind(bind_request(host, long_sid, true)).error().code(), Errc::kTooLarge);
  for (size_t i = 0; i < kMaxSessionBindings; ++i) {
    ASSERT_TRUE(c.bind(bind_request(host, sid(static_cast<uint8_t>(i + 1)), true)).ok()) << i;
  }
  EXPECT_EQ(c.bind(bind_request(host, sid(200), true)).error().code(), Errc::kTooLarge);
  // Same session id with another key is refused, the identical one accepted.
  auto other = make_key();
  EXPECT_FALSE(c.bind(bind_request(other, sid(1), true)).ok());
  EXPECT_TRUE(c.bind(bind_request(host, sid(1), true)).ok());
}

TEST(Destination, UnconstrainedKeysAlwaysUsable) {
  auto host = make_key();
  auto user_key = make_key();
  ConnectionBindings c;
  ASSERT_TRUE(c.bind(bind_request(host, sid(1), false)).ok());
  EXPECT_TRUE(identity_visible({}, c, kNow));
  EXPECT_TRUE(sign_permitted({}, c, user_key.public_key().blob(), Bytes{1, 2, 3}, kNow, nullptr).ok());
}

TEST(Destination, LocalUseOfConstrainedKeyIsVisibleButCannotSign) {
  auto host = make_key();
  auto user_key = make_key();
  std::vector<DestinationConstraint> dcs = {from_origin_to(host, "server")};
  ConnectionBindings local;
  EXPECT_TRUE(identity_visible(dcs, local, kNow));
  auto r = sign_permitted(dcs, local, user_key.public_key().blob(),
                          userauth(sid(1), "alice", user_key.public_key()), kNow, nullptr);
  EXPECT_FALSE(r.ok());
  // A failed bind hides the key.
  ConnectionBindings failed;
  auto bad = bind_request(host, sid(1), false);
  bad.signature.back() ^= 1;
  ASSERT_FALSE(failed.bind(bad).ok());
  EXPECT_FALSE(identity_visible(dcs, failed, kNow));
}

TEST(Destination, DirectLogin) {
  auto host = make_key(KeyType::kEcdsaP256);
  auto other_host = make_key();
  auto user_key = make_key(KeyType::kRsa);
  std::vector<DestinationConstraint> dcs = {from_origin_to(host, "server", "al*")};
  Bytes blob = user_key.public_key().blob();

  ConnectionBindings c;
  ASSERT_TRUE(c.bind(bind_request(host, sid(1), false)).ok());
  EXPECT_TRUE(identity_visible(dcs, c, kNow));
  std::string description;
  auto ok = sign_permitted(dcs, c, blob, userauth(sid(1), "alice", user_key.public_key(), nullptr, "rsa-sha2-512"),
                           kNow, &description);
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(description, "public key authentication request for user \"alice\" to listed host");

  // Hostbound request naming the bound host key works; another host key does not.
  PublicKey host_pub = host.public_key();
  PublicKey other_pub = other_host.public_key();
  EXPECT_TRUE(sign_permitted(dcs, c, blob, userauth(sid(1), "alice", user_key.public_key(), &host_pub), kNow,
                             nullptr).ok());
  EXPECT_FALSE(sign_permitted(dcs, c, blob, userauth(sid(1), "alice", user_key.public_key(), &other_pub), kNow,
                              nullptr).ok());
  // Wrong user, wrong session id, wrong key in the request, not a userauth request.
  EXPECT_FALSE(sign_permitted(dcs, c, blob, userauth(sid(1), "bob", user_key.public_key()), kNow, nullptr).ok());
  EXPECT_FALSE(sign_permitted(dcs, c, blob, userauth(sid(9), "alice", user_key.public_key()), kNow, nullptr).ok());
  EXPECT_FALSE(sign_permitted(dcs, c, blob, userauth(sid(1), "alice", other_host.public_key()), kNow, nullptr).ok());
  EXPECT_FALSE(sign_permitted(dcs, c, blob, Bytes{1, 2, 3}, kNow, nullptr).ok());
  // Algorithm that does not belong to the key.
  EXPECT_FALSE(sign_permitted(dcs, c, blob, userauth(sid(1), "alice", user_key.public_key(), nullptr, "ssh-ed25519"),
                              kNow, nullptr).ok());

  // A connection to another host neither lists nor signs.
  ConnectionBindings elsewhere;
  ASSERT_TRUE(elsewhere.bind(bind_request(other_host, sid(2), false)).ok());
  EXPECT_FALSE(identity_visible(dcs, elsewhere, kNow));
  EXPECT_FALSE(sign_permitted(dcs, elsewhere, blob, userauth(sid(2), "alice", user_key.public_key()), kNow,
                              nullptr).ok());
}

TEST(Destination, ForwardedHops) {
  auto h1 = make_key();
  auto h2 = make_key();
  auto user_key = make_key();
  Bytes blob = user_key.public_key().blob();
  PublicKey h2_pub = h2.public_key();
  DestinationConstraint origin_to_h1 = from_origin_to(h1, "h1");
  DestinationConstraint h1_to_h2{hop("h1", {{h1.public_key(), false}}), hop("h2", {{h2.public_key(), false}})};

  // On h1, the agent is forwarded (hop 1, forwarding), and ssh from h1 to h2 binds hop 2.
  ConnectionBindings c;
  ASSERT_TRUE(c.bind(bind_request(h1, sid(1), true)).ok());
  // Visible on h1 only if the key may be used beyond h1.
  EXPECT_FALSE(identity_visible({origin_to_h1}, c, kNow));
  EXPECT_TRUE(identity_visible({origin_to_h1, h1_to_h2}, c, kNow));
  // No signing on a forwarding hop.
  EXPECT_FALSE(sign_permitted({origin_to_h1, h1_to_h2}, c, blob, userauth(sid(1), "u", user_key.public_key()), kNow,
                              nullptr).ok());

  ASSERT_TRUE(c.bind(bind_request(h2, sid(2), false)).ok());
  auto ok = sign_permitted({origin_to_h1, h1_to_h2}, c, blob, userauth(sid(2), "u", user_key.public_key(), &h2_pub),
                           kNow, nullptr);
  EXPECT_TRUE(ok.ok()) << ok.error().message();
  // Without the hostbound host key, a forwarded request is refused.
  EXPECT_FALSE(sign_permitted({origin_to_h1, h1_to_h2}, c, blob, userauth(sid(2), "u", user_key.public_key()), kNow,
                              nullptr).ok());
  // Without the second constraint, h1 -> h2 is not allowed.
  EXPECT_FALSE(sign_permitted({origin_to_h1}, c, blob, userauth(sid(2), "u", user_key.public_key(), &h2_pub), kNow,
                              nullptr).ok());
}

key::Certificate host_certificate(const PrivateKey& ca, const PrivateKey& host, std::vector<std::string> principals,
                                  uint64_t valid_before = UINT64_MAX) {
  key::Certificate cert{host.public_key(), Bytes(32, 0x11), 1, key::CertType::kHost, "host", std::move(principals),
                        0, valid_before, {}, {}, {}, ca.public_key(), {}};
  cert.signature = *ca.sign(key::certificate_signed_data(cert));
  return cert;
}

TEST(Destination, HostCertificatesUnderACa) {
  auto ca = make_key();
  auto host = make_key();
  auto user_key = make_key();
  Bytes blob = user_key.public_key().blob();
  DestinationConstraint to_ca{DestinationHop{}, hop("server.example", {{ca.public_key(), true}})};

  auto bind_with_cert = [&](const key::Certificate& cert, uint8_t n) {
    ConnectionBindings c;
    SessionBind req = bind_request(host, sid(n), false);
    req.host_certificate = cert;
    EXPECT_TRUE(c.bind(req).ok());
    return c;
  };
  auto good = bind_with_cert(host_certificate(ca, host, {"*.example"}), 1);
  EXPECT_TRUE(identity_visible({to_ca}, good, kNow));
  EXPECT_TRUE(sign_permitted({to_ca}, good, blob, userauth(sid(1), "u", user_key.public_key()), kNow, nullptr).ok());

  auto wrong_name = bind_with_cert(host_certificate(ca, host, {"other.example.org"}), 2);
  EXPECT_FALSE(identity_visible({to_ca}, wrong_name, kNow));

  auto expired = bind_with_cert(host_certificate(ca, host, {}, kNow - 10), 3);
  EXPECT_FALSE(identity_visible({to_ca}, expired, kNow));

  auto other_ca = make_key();
  auto foreign = bind_with_cert(host_certificate(other_ca, host, {}), 4);
  EXPECT_FALSE(identity_visible({to_ca}, foreign, kNow));

  // A plain host key never matches a CA entry.
  ConnectionBindings plain;
  ASSERT_TRUE(plain.bind(bind_request(host, sid(5), false)).ok());
  EXPECT_FALSE(identity_visible({to_ca}, plain, kNow));
}

}  // namespace
}  // namespace tessera::agent::daemon
