// The agent protocol codec: byte-exact round trips of every message, exact
// OpenSSH encodings, truncations and garbage as clean errors, caps, and the
// constraint checks of OpenSSH's ssh-agent.c.
#include "tessera/agent/protocol.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/constraints.h"
#include "tessera/key/cert.h"

namespace tessera::agent {
namespace {

using key::Bytes;
using key::Certificate;
using key::KeyType;
using key::PrivateKey;
using key::Writer;

const PrivateKey& ed25519_key() {
  static const PrivateKey k = *PrivateKey::generate(KeyType::kEd25519);
  return k;
}
const PrivateKey& ecdsa_key() {
  static const PrivateKey k = *PrivateKey::generate(KeyType::kEcdsaP384);
  return k;
}
const PrivateKey& rsa_key() {
  static const PrivateKey k = *PrivateKey::generate(KeyType::kRsa, 2048);
  return k;
}
const PrivateKey& ca_key() {
  static const PrivateKey k = *PrivateKey::generate(KeyType::kEd25519);
  return k;
}

Certificate make_cert(const PrivateKey& subject, std::string key_id = "id") {
  Certificate c{subject.public_key(), Bytes(32, 0x5a), 7, key::CertType::kUser, std::move(key_id), {"alice"}, 0,
                UINT64_MAX, {}, {{"permit-pty", {}}}, {}, ca_key().public_key(), {}};
  c.signature = *ca_key().sign(key::certificate_signed_data(c));
  return c;
}

HopKey hop_key(const PrivateKey& k, bool ca = false) { return HopKey{k.public_key(), ca}; }

DestinationConstraint simple_destination() {
  DestinationConstraint dc;
  dc.to.user = "bob";
  dc.to.hostname = "[127.0.0.1]:2222";
  dc.to.keys = {hop_key(ecdsa_key()), hop_key(ca_key(), true)};
  return dc;
}

DestinationConstraint two_hop_destination() {
  DestinationConstraint dc;
  dc.from.hostname = "jump.example.com";
  dc.from.keys = {hop_key(ed25519_key())};
  dc.to.hostname = "*.example.com";
  dc.to.keys = {hop_key(ca_key(), true)};
  return dc;
}

Constraints full_constraints() {
  Constraints c;
  c.lifetime_seconds = 5400;
  c.confirm = true;
  c.sk_provider = "internal";
  c.destinations = {simple_destination(), two_hop_destination()};
  return c;
}

// Every kind of request, as the protocol carries them.
std::vector<Request> all_requests() {
  std::vector<Request> r;
  r.emplace_back(RequestIdentities{});
  r.emplace_back(SignRequest{ed25519_key().public_key().blob(), Bytes{1, 2, 3}, 0});
  r.emplace_back(SignRequest{rsa_key().public_key().blob(), Bytes(100, 9), kSignFlagRsaSha512});
  r.emplace_back(AddIdentity{ed25519_key(), std::nullopt, "ed25519 key", {}});
  r.emplace_back(AddIdentity{ecdsa_key(), std::nullopt, "", {}});
  r.emplace_back(AddIdentity{rsa_key(), std::nullopt, "rsa", full_constraints()});
  r.emplace_back(AddIdentity{ed25519_key(), make_cert(ed25519_key()), "cert", {}});
  r.emplace_back(AddIdentity{rsa_key(), make_cert(rsa_key()), "rsa cert", full_constraints()});
  {
    Constraints c;
    c.lifetime_seconds = 0;
    r.emplace_back(AddIdentity{ecdsa_key(), make_cert(ecdsa_key()), "ecdsa cert", c});
  }
  r.emplace_back(RemoveIdentity{ed25519_key().public_key().blob()});
  r.emplace_back(RemoveAllIdentities{false});
  r.emplace_back(RemoveAllIdentities{true});
  r.emplace_back(SmartcardRequest{true, "/usr/lib/softhsm/libsofthsm2.so", key::SecretBytes::copy_of("1234"), {}});
  {
    Constraints c;
    c.confirm = true;
    c.destinations = {simple_destination()};
    c.associated_certs = AssociatedCerts{true, {make_cert(ecdsa_key()), make_cert(rsa_key(), "r")}};
    r.emplace_back(SmartcardRequest{true, "pkcs11:token=bench", key::SecretBytes::copy_of(""), c});
  }
  r.emplace_back(SmartcardRequest{false, "softhsm2", key::SecretBytes(), {}});
  r.emplace_back(LockRequest{true, key::SecretBytes::copy_of("secret")});
  r.emplace_back(LockRequest{false, key::SecretBytes::copy_of("secret")});
  {
    Bytes sid(32, 0x11);
    Bytes sig = *ed25519_key().sign(sid);
    r.emplace_back(SessionBind{ed25519_key().public_key(), std::nullopt, sid, sig, true});
    r.emplace_back(SessionBind{ecdsa_key().public_key(), std::nullopt, sid, sig, false});
    // A host certificate as the bound host key.
    Certificate host_cert = make_cert(ecdsa_key(), "host");
    host_cert.type = key::CertType::kHost;
    host_cert.signature = *ca_key().sign(key::certificate_signed_data(host_cert));
    r.emplace_back(SessionBind{ecdsa_key().public_key(), host_cert, sid, sig, false});
  }
  r.emplace_back(QueryRequest{});
  r.emplace_back(UnknownExtension{"foo@example.com"});
  return r;
}

std::vector<Response> all_responses() {
  std::vector<Response> r;
  r.emplace_back(Failure{});
  r.emplace_back(Success{});
  r.emplace_back(IdentitiesAnswer{});
  r.emplace_back(IdentitiesAnswer{{{ed25519_key().public_key().blob(), "one"},
                                   {make_cert(rsa_key()).blob(), ""},
                                   {Bytes{0, 0, 0, 1, 'x'}, "unknown type"}}});
  r.emplace_back(SignResponse{*ed25519_key().sign(Bytes{1})});
  r.emplace_back(ExtensionFailure{});
  r.emplace_back(ExtensionResponse{});
  r.emplace_back(make_query_response({"session-bind@openssh.com", "query"}));
  return r;
}

// Messages whose last field is a list that may legitimately be cut short at
// an element boundary (constraints, extension contents).
// Equal, except that a constrained add cut before its constraints comes back
// as the plain add (ADD_ID_CONSTRAINED 25 -> ADD_IDENTITY 17, 26 -> 20).
bool same_message(const Bytes& reserialized, std::span<const uint8_t> original) {
  if (reserialized.size() != original.size() || reserialized.empty()) return false;
  uint8_t a = reserialized[0], b = original[0];
  bool type_ok = a == b || (a == 17 && b == 25) || (a == 20 && b == 26);
  return type_ok && std::equal(reserialized.begin() + 1, reserialized.end(), original.begin() + 1);
}

bool has_optional_tail(std::span<const uint8_t> msg) {
  uint8_t t = msg[0];
  return t == 17 || t == 25 || t == 20 || t == 26 || t == 27 || t == 29;
}

TEST(AgentProtocol, EveryRequestRoundTripsByteExact) {
  for (const auto& req : all_requests()) {
    Bytes wire = serialize_request(req);
    auto parsed = parse_request(wire);
    ASSERT_TRUE(parsed.ok()) << "type " << int(wire[0]) << ": " << parsed.error().message();
    EXPECT_EQ(parsed->index(), req.index());
    EXPECT_EQ(serialize_request(*parsed), wire) << "type " << int(wire[0]);
  }
}

TEST(AgentProtocol, EveryResponseRoundTripsByteExact) {
  for (const auto& resp : all_responses()) {
    Bytes wire = serialize_response(resp);
    auto parsed = parse_response(wire);
    ASSERT_TRUE(parsed.ok()) << "type " << int(wire[0]) << ": " << parsed.error().message();
    EXPECT_EQ(parsed->index(), resp.index());
    EXPECT_EQ(serialize_response(*parsed), wire);
  }
}

TEST(AgentProtocol, ParsedFieldsMatch) {
  auto req = parse_request(serialize_request(AddIdentity{rsa_key(), make_cert(rsa_key()), "rsa cert", full_constraints()}));
  ASSERT_TRUE(req.ok()) << req.error().message();
  const auto& a = std::get<AddIdentity>(*req);
  EXPECT_EQ(a.comment, "rsa cert");
  ASSERT_TRUE(a.certificate.has_value());
  EXPECT_EQ(a.certificate->key_id, "id");
  EXPECT_TRUE(a.key.public_key() == rsa_key().public_key());
  EXPECT_EQ(a.constraints.lifetime_seconds, 5400u);
  EXPECT_TRUE(a.constraints.confirm);
  EXPECT_EQ(a.constraints.sk_provider, "internal");
  ASSERT_EQ(a.constraints.destinations.size(), 2u);
  EXPECT_EQ(a.constraints.destinations[0].to.user, "bob");
  EXPECT_EQ(a.constraints.destinations[0].to.hostname, "[127.0.0.1]:2222");
  ASSERT_EQ(a.constraints.destinations[0].to.keys.size(), 2u);
  EXPECT_FALSE(a.constraints.destinations[0].to.keys[0].is_ca);
  EXPECT_TRUE(a.constraints.destinations[0].to.keys[1].is_ca);
  EXPECT_EQ(a.constraints.destinations[1].from.hostname, "jump.example.com");

  auto lock = parse_request(serialize_request(LockRequest{false, key::SecretBytes::copy_of("pw")}));
  ASSERT_TRUE(lock.ok());
  EXPECT_FALSE(std::get<LockRequest>(*lock).lock);
  EXPECT_EQ(std::get<LockRequest>(*lock).passphrase.reveal_text(), "pw");
}

// Encodings spelled out byte by byte, as authfd.c writes them.
TEST(AgentProtocol, ExactOpenSshEncodings) {
  EXPECT_EQ(serialize_request(RequestIdentities{}), Bytes{11});
  EXPECT_EQ(serialize_request(RemoveAllIdentities{false}), Bytes{19});
  EXPECT_EQ(serialize_request(RemoveAllIdentities{true}), Bytes{9});
  EXPECT_EQ(frame(Bytes{11}), (Bytes{0, 0, 0, 1, 11}));
  EXPECT_EQ(serialize_request(QueryRequest{}), (Bytes{27, 0, 0, 0, 5, 'q', 'u', 'e', 'r', 'y'}));
  EXPECT_EQ(serialize_request(SignRequest{Bytes{0xaa}, Bytes{0xbb, 0xcc}, 2}),
            (Bytes{13, 0, 0, 0, 1, 0xaa, 0, 0, 0, 2, 0xbb, 0xcc, 0, 0, 0, 2}));
  EXPECT_EQ(serialize_request(LockRequest{true, key::SecretBytes::copy_of("ab")}), (Bytes{22, 0, 0, 0, 2, 'a', 'b'}));
  EXPECT_EQ(serialize_response(Success{}), Bytes{6});
  EXPECT_EQ(serialize_response(IdentitiesAnswer{}), (Bytes{12, 0, 0, 0, 0}));

  // ADD_ID_CONSTRAINED: key, comment, lifetime, confirm, then the
  // restrict-destination extension with nested strings and empty reserved fields.
  Constraints c;
  c.lifetime_seconds = 60;
  c.confirm = true;
  DestinationConstraint dc;
  dc.to.hostname = "h";
  dc.to.keys = {hop_key(ed25519_key(), true)};
  c.destinations = {dc};
  Bytes wire = serialize_request(AddIdentity{ed25519_key(), std::nullopt, "c", c});
  Writer expect;
  expect.u8(25);
  ed25519_key().serialize(expect);
  expect.string("c");
  expect.u8(1);
  expect.u32(60);
  expect.u8(2);
  expect.u8(255);
  expect.string(kConstraintRestrictDestination);
  Writer from, to, one, list;
  from.string("");
  from.string("");
  from.string("");
  to.string("");
  to.string("h");
  to.string("");
  to.string(ed25519_key().public_key().blob());
  to.u8(1);
  one.string(from);
  one.string(to);
  one.string("");
  list.string(one);
  expect.string(list);
  EXPECT_EQ(wire, expect.take());

  // Plain ADD_IDENTITY when there are no constraints.
  Bytes plain = serialize_request(AddIdentity{ed25519_key(), std::nullopt, "c", {}});
  EXPECT_EQ(plain[0], 17);
}

TEST(AgentProtocol, SmartcardAndAssociatedCertsEncoding) {
  Constraints c;
  c.associated_certs = AssociatedCerts{true, {make_cert(ecdsa_key())}};
  Bytes wire = serialize_request(SmartcardRequest{true, "p", key::SecretBytes::copy_of("1234"), c});
  Writer expect;
  expect.u8(26);
  expect.string("p");
  expect.string("1234");
  expect.u8(255);
  expect.string(kConstraintAssociatedCerts);
  expect.u8(1);
  Writer certs;
  certs.string(make_cert(ecdsa_key()).blob());
  expect.string(certs);
  EXPECT_EQ(wire, expect.take());
  EXPECT_EQ(serialize_request(SmartcardRequest{true, "p", key::SecretBytes::copy_of("1"), {}})[0], 20);
  EXPECT_EQ(serialize_request(SmartcardRequest{false, "p", key::SecretBytes(), {}}),
            (Bytes{21, 0, 0, 0, 1, 'p', 0, 0, 0, 0}));
}

TEST(AgentProtocol, EveryTruncationIsACleanError) {
  auto check = [](const Bytes& wire, bool request) {
    for (size_t n = 0; n < wire.size(); ++n) {
      std::span<const uint8_t> prefix(wire.data(), n);
      if (request) {
        auto r = parse_request(prefix);
        if (r.ok()) {
          // Only a message ending in an optional list may be cut at an
          // element boundary, and then it is that shorter message exactly.
          ASSERT_TRUE(has_optional_tail(wire)) << "type " << int(wire[0]) << " prefix " << n;
          EXPECT_TRUE(same_message(serialize_request(*r), prefix)) << "type " << int(wire[0]) << " prefix " << n;
        }
      } else {
        auto r = parse_response(prefix);
        if (r.ok()) {
          ASSERT_TRUE(has_optional_tail(wire)) << "type " << int(wire[0]) << " prefix " << n;
          EXPECT_TRUE(same_message(serialize_response(*r), prefix)) << "type " << int(wire[0]) << " prefix " << n;
        }
      }
    }
  };
  for (const auto& req : all_requests()) check(serialize_request(req), true);
  for (const auto& resp : all_responses()) check(serialize_response(resp), false);
}

TEST(AgentProtocol, TrailingDataIsRejected) {
  for (const auto& req : all_requests()) {
    Bytes wire = serialize_request(req);
    if (has_optional_tail(wire)) continue;
    wire.push_back(0);
    auto r = parse_request(wire);
    ASSERT_FALSE(r.ok()) << "type " << int(wire[0]);
  }
  for (const auto& resp : all_responses()) {
    Bytes wire = serialize_response(resp);
    if (has_optional_tail(wire)) continue;
    wire.push_back(0);
    EXPECT_FALSE(parse_response(wire).ok()) << "type " << int(wire[0]);
  }
}

TEST(AgentProtocol, RandomGarbageNeverCrashesAndReserializesStably) {
  std::mt19937 rng(12345);
  std::vector<Bytes> seeds;
  for (const auto& r : all_requests()) seeds.push_back(serialize_request(r));
  for (const auto& r : all_responses()) seeds.push_back(serialize_response(r));
  for (int i = 0; i < 20000; ++i) {
    Bytes b;
    if (i % 2 == 0) {
      b.resize(rng() % 64);
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      if (!b.empty()) b[0] = static_cast<uint8_t>(rng() % 32);
    } else {
      b = seeds[rng() % seeds.size()];
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
        b[rng() % b.size()] = static_cast<uint8_t>(rng());
      }
    }
    if (auto r = parse_request(b); r.ok()) {
      Bytes once = serialize_request(*r);
      auto again = parse_request(once);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(serialize_request(*again), once);
    }
    if (auto r = parse_response(b); r.ok()) {
      Bytes once = serialize_response(*r);
      auto again = parse_response(once);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(serialize_response(*again), once);
    }
  }
}

TEST(AgentProtocol, UnknownTypesAndEmptyMessages) {
  EXPECT_EQ(parse_request(Bytes{}).error().code(), Errc::kTruncated);
  EXPECT_EQ(parse_response(Bytes{}).error().code(), Errc::kTruncated);
  EXPECT_EQ(parse_request(Bytes{1}).error().code(), Errc::kUnsupported);  // protocol 1 request
  EXPECT_EQ(parse_request(Bytes{200}).error().code(), Errc::kUnsupported);
  EXPECT_EQ(parse_response(Bytes{99}).error().code(), Errc::kUnsupported);
  // Legacy failure codes OpenSSH's client also accepts.
  EXPECT_TRUE(std::holds_alternative<Failure>(*parse_response(Bytes{30})));
  EXPECT_TRUE(std::holds_alternative<Failure>(*parse_response(Bytes{102})));
  // Unknown extensions parse (the agent answers them with failure).
  Writer w;
  w.u8(27);
  w.string("nobody@example.com");
  w.u32(7);
  auto r = parse_request(w.data());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<UnknownExtension>(*r).name, "nobody@example.com");
  // A query in the IETF draft's old form, with an empty contents string.
  Writer q;
  q.u8(27);
  q.string("query");
  q.u32(0);
  ASSERT_TRUE(parse_request(q.data()).ok());
  EXPECT_TRUE(std::holds_alternative<QueryRequest>(*parse_request(q.data())));
}

TEST(AgentProtocol, SizeCaps) {
  Bytes big(kMaxMessageBytes + 1, 0);
  big[0] = 11;
  EXPECT_EQ(parse_request(big).error().code(), Errc::kTooLarge);
  big[0] = 6;
  EXPECT_EQ(parse_response(big).error().code(), Errc::kTooLarge);

  Writer ids;
  ids.u8(12);
  ids.u32(static_cast<uint32_t>(kMaxIdentities + 1));
  EXPECT_EQ(parse_response(ids.data()).error().code(), Errc::kTooLarge);
  // A count the message cannot hold is a clean truncation, without a huge allocation.
  Writer lying;
  lying.u8(12);
  lying.u32(static_cast<uint32_t>(kMaxIdentities));
  EXPECT_EQ(parse_response(lying.data()).error().code(), Errc::kTruncated);

  // kMaxIdentities identities are accepted.
  IdentitiesAnswer many;
  for (size_t i = 0; i < kMaxIdentities; ++i) many.identities.push_back({Bytes{1}, ""});
  EXPECT_TRUE(parse_response(serialize_response(many)).ok());
}

// Builds ADD_ID_CONSTRAINED for the Ed25519 key with raw constraint bytes.
Bytes add_with_constraints(std::span<const uint8_t> raw, uint8_t type = 25) {
  Writer w;
  w.u8(type);
  ed25519_key().serialize(w);
  w.string("comment");
  w.bytes(raw);
  return w.take();
}

Bytes smartcard_with_constraints(std::span<const uint8_t> raw) {
  Writer w;
  w.u8(26);
  w.string("provider");
  w.string("1234");
  w.bytes(raw);
  return w.take();
}

Bytes ext_constraint(std::string_view name, std::span<const uint8_t> body) {
  Writer w;
  w.u8(255);
  w.string(name);
  w.bytes(body);
  return w.take();
}

TEST(AgentProtocol, ConstraintErrors) {
  // Unknown constraint type, unknown extension, XMSS maxsign: unsupported.
  EXPECT_EQ(parse_request(add_with_constraints(Bytes{7})).error().code(), Errc::kUnsupported);
  EXPECT_EQ(parse_request(add_with_constraints(Bytes{3, 0, 0, 0, 5})).error().code(), Errc::kUnsupported);
  Writer s;
  s.string("x");
  EXPECT_EQ(parse_request(add_with_constraints(ext_constraint("unknown@example.com", s.data()))).error().code(),
            Errc::kUnsupported);
  // Duplicates.
  EXPECT_EQ(parse_request(add_with_constraints(Bytes{1, 0, 0, 0, 1, 1, 0, 0, 0, 2})).error().code(), Errc::kMalformed);
  EXPECT_EQ(parse_request(add_with_constraints(Bytes{2, 2})).error().code(), Errc::kMalformed);
  Bytes sk = ext_constraint(kConstraintSkProvider, s.data());
  Bytes two_sk = sk;
  two_sk.insert(two_sk.end(), sk.begin(), sk.end());
  EXPECT_TRUE(parse_request(add_with_constraints(sk)).ok());
  EXPECT_EQ(parse_request(add_with_constraints(two_sk)).error().code(), Errc::kMalformed);
  Writer empty_list;
  empty_list.string(std::string_view{});
  Bytes dest = ext_constraint(kConstraintRestrictDestination, empty_list.data());
  Bytes two_dest = dest;
  two_dest.insert(two_dest.end(), dest.begin(), dest.end());
  EXPECT_TRUE(parse_request(add_with_constraints(dest)).ok());
  EXPECT_EQ(parse_request(add_with_constraints(two_dest)).error().code(), Errc::kMalformed);
  // Truncated constraint bodies.
  EXPECT_FALSE(parse_request(add_with_constraints(Bytes{1, 0, 0})).ok());
  EXPECT_FALSE(parse_request(add_with_constraints(Bytes{255})).ok());

  // associated-certs only with smartcard keys; sk-provider never with them.
  Writer certs_body;
  certs_body.u8(0);
  Writer cert_list;
  cert_list.string(make_cert(ed25519_key()).blob());
  certs_body.string(cert_list);
  Bytes certs = ext_constraint(kConstraintAssociatedCerts, certs_body.data());
  EXPECT_FALSE(parse_request(add_with_constraints(certs)).ok());
  EXPECT_TRUE(parse_request(smartcard_with_constraints(certs)).ok());
  EXPECT_FALSE(parse_request(smartcard_with_constraints(sk)).ok());
  Bytes two_certs = certs;
  two_certs.insert(two_certs.end(), certs.begin(), certs.end());
  EXPECT_EQ(parse_request(smartcard_with_constraints(two_certs)).error().code(), Errc::kMalformed);
  // A plain key is not a certificate.
  Writer plain_body;
  plain_body.u8(0);
  Writer plain_list;
  plain_list.string(ed25519_key().public_key().blob());
  plain_body.string(plain_list);
  EXPECT_FALSE(parse_request(smartcard_with_constraints(ext_constraint(kConstraintAssociatedCerts, plain_body.data()))).ok());
  // Constraints after ADD_IDENTITY (17) are read too, as OpenSSH does.
  EXPECT_TRUE(parse_request(add_with_constraints(Bytes{2}, 17)).ok());
}

struct HopSpec {
  std::string user, hostname;
  std::vector<HopKey> keys;
  Bytes reserved;
};

Bytes hop_bytes(const HopSpec& h) {
  Writer w;
  w.string(h.user);
  w.string(h.hostname);
  w.string(h.reserved);
  for (const auto& k : h.keys) {
    w.string(k.key.blob());
    w.boolean(k.is_ca);
  }
  return w.take();
}

Bytes destination_request(const HopSpec& from, const HopSpec& to, Bytes reserved = {}) {
  Writer one;
  one.string(hop_bytes(from));
  one.string(hop_bytes(to));
  one.string(reserved);
  Writer list;
  list.string(one);
  Writer body;
  body.string(list);
  return add_with_constraints(ext_constraint(kConstraintRestrictDestination, body.data()));
}

TEST(AgentProtocol, DestinationConstraintValidation) {
  const HopSpec origin{};
  const HopSpec to{"", "host", {hop_key(ecdsa_key())}, {}};
  ASSERT_TRUE(parse_request(destination_request(origin, to)).ok());
  // A "from" hop with a user, a hostname without keys, keys without a hostname.
  EXPECT_EQ(parse_request(destination_request({"root", "", {}, {}}, to)).error().code(), Errc::kMalformed);
  EXPECT_EQ(parse_request(destination_request({"", "jump", {}, {}}, to)).error().code(), Errc::kMalformed);
  EXPECT_EQ(parse_request(destination_request({"", "", {hop_key(ed25519_key())}, {}}, to)).error().code(),
            Errc::kMalformed);
  EXPECT_TRUE(parse_request(destination_request({"", "jump", {hop_key(ed25519_key())}, {}}, to)).ok());
  // "to" needs a hostname and keys.
  EXPECT_EQ(parse_request(destination_request(origin, {"u", "", {hop_key(ecdsa_key())}, {}})).error().code(),
            Errc::kMalformed);
  EXPECT_EQ(parse_request(destination_request(origin, {"u", "host", {}, {}})).error().code(), Errc::kMalformed);
  // Reserved fields must be empty.
  EXPECT_EQ(parse_request(destination_request(origin, {"", "host", {hop_key(ecdsa_key())}, Bytes{1}})).error().code(),
            Errc::kUnsupported);
  EXPECT_EQ(parse_request(destination_request(origin, to, Bytes{0})).error().code(), Errc::kUnsupported);
  // Any non-zero is_ca byte means true, as OpenSSH reads it.
  Bytes wire = destination_request(origin, {"", "host", {hop_key(ca_key(), true)}, {}});
  wire[wire.size() - 1 - 4] = 7;  // the is_ca byte precedes the constraint's empty reserved string
  auto parsed = parse_request(wire);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(std::get<AddIdentity>(*parsed).constraints.destinations[0].to.keys[0].is_ca);
}

TEST(AgentProtocol, DestinationCaps) {
  HopSpec to{"", "host", {}, {}};
  for (size_t i = 0; i <= kMaxHopKeys; ++i) to.keys.push_back(hop_key(ed25519_key()));
  auto too_many_keys = parse_request(destination_request({}, to));
  EXPECT_EQ(too_many_keys.error().code(), Errc::kTooLarge);
  to.keys.pop_back();
  EXPECT_TRUE(parse_request(destination_request({}, to)).ok());

  Writer list;
  Writer one;
  one.string(hop_bytes({}));
  one.string(hop_bytes({"", "h", {hop_key(ed25519_key())}, {}}));
  one.string(std::string_view{});
  for (size_t i = 0; i <= kMaxDestinationConstraints; ++i) list.string(one);
  Writer body;
  body.string(list);
  EXPECT_EQ(parse_request(add_with_constraints(ext_constraint(kConstraintRestrictDestination, body.data())))
                .error()
                .code(),
            Errc::kTooLarge);

  // Associated certificates: more than fit a message, so checked on the codec.
  Writer certs;
  const Bytes cert_blob = make_cert(ed25519_key()).blob();
  for (size_t i = 0; i <= kMaxAssociatedCerts; ++i) certs.string(cert_blob);
  Writer raw;
  raw.u8(255);
  raw.string(kConstraintAssociatedCerts);
  raw.u8(0);
  raw.string(certs);
  key::Reader in(raw.data());
  Constraints c;
  EXPECT_EQ(detail::parse_constraints(in, detail::ConstraintContext::kSmartcard, c).error().code(), Errc::kTooLarge);
}

TEST(AgentProtocol, QueryResponse) {
  ExtensionResponse r = make_query_response({"session-bind@openssh.com", "query"});
  Writer expect;
  expect.string("query");
  expect.string("session-bind@openssh.com");
  expect.string("query");
  EXPECT_EQ(r.contents, expect.take());
  auto names = parse_query_response(r);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"session-bind@openssh.com", "query"}));
  EXPECT_TRUE(parse_query_response(make_query_response({}))->empty());

  Writer wrong;
  wrong.string("other");
  EXPECT_EQ(parse_query_response(ExtensionResponse{wrong.take()}).error().code(), Errc::kMalformed);
  EXPECT_FALSE(parse_query_response(ExtensionResponse{}).ok());
  Bytes truncated = make_query_response({"abc"}).contents;
  truncated.pop_back();
  EXPECT_FALSE(parse_query_response(ExtensionResponse{truncated}).ok());
}

TEST(AgentProtocol, SessionBindWithHostCertificate) {
  Certificate host_cert = make_cert(ed25519_key(), "host");
  host_cert.type = key::CertType::kHost;
  host_cert.signature = *ca_key().sign(key::certificate_signed_data(host_cert));
  Bytes sid(32, 3);
  Bytes wire = serialize_request(SessionBind{ed25519_key().public_key(), host_cert, sid, *ed25519_key().sign(sid), true});
  auto parsed = parse_request(wire);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto& b = std::get<SessionBind>(*parsed);
  ASSERT_TRUE(b.host_certificate.has_value());
  EXPECT_EQ(b.host_certificate->key_id, "host");
  EXPECT_TRUE(b.host_key == ed25519_key().public_key());
  EXPECT_TRUE(b.forwarding);
}

TEST(AgentProtocol, SessionBindRejectsBadKeys) {
  Writer w;
  w.u8(27);
  w.string(kExtSessionBind);
  w.string(Bytes{0, 0, 0, 3, 'f', 'o', 'o'});
  w.string(Bytes(32, 1));
  w.string(Bytes(10, 2));
  w.u8(0);
  EXPECT_FALSE(parse_request(w.data()).ok());
}

}  // namespace
}  // namespace tessera::agent
