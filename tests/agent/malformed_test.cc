// tessera-agent against broken clients: truncated, oversized, empty,
// wrong-type and random messages are answered with SSH_AGENT_FAILURE (or the
// connection is closed when the framing itself is broken), and the agent
// keeps serving well-behaved clients, on new connections and, where the
// framing survived, on the same one.
#include <gtest/gtest.h>

#include <random>

#include "daemon_test_support.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::agent::daemon {
namespace {

using testing::identities_of;
using testing::is_failure;
using testing::is_success;
using testing::RawClient;
using testing::RunningAgent;

class MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(agent_.ok());
    auto generated = key::PrivateKey::generate(key::KeyType::kEd25519);
    ASSERT_TRUE(generated.ok());
    key_ = std::make_unique<key::PrivateKey>(std::move(*generated));
    RawClient setup(agent_.socket_path());
    ASSERT_TRUE(is_success(setup.call(AddIdentity{*key_, std::nullopt, "good key", {}})));
  }

  // A well-behaved exchange on this connection: list, then sign and verify.
  void expect_served(RawClient& client) {
    auto listed = identities_of(client.call(RequestIdentities{}));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].comment, "good key");
    Bytes data = {1, 2, 3};
    auto answer = client.call(SignRequest{key_->public_key().blob(), data, 0});
    ASSERT_TRUE(answer && std::holds_alternative<SignResponse>(*answer));
    EXPECT_TRUE(key_->public_key().verify(std::get<SignResponse>(*answer).signature, data).ok());
  }
  void expect_served_on_new_connection() {
    RawClient fresh(agent_.socket_path());
    expect_served(fresh);
  }
  // Sends a payload and expects SSH_AGENT_FAILURE, then normal service on
  // the same connection and a new one.
  void expect_failure_then_service(const Bytes& payload) {
    RawClient client(agent_.socket_path());
    ASSERT_TRUE(client.send_payload(payload));
    EXPECT_TRUE(is_failure(client.receive()));
    expect_served(client);
    expect_served_on_new_connection();
  }

  RunningAgent agent_;
  std::unique_ptr<key::PrivateKey> key_;
};

Bytes bytes_of(std::initializer_list<uint8_t> list) { return Bytes(list); }

TEST_F(MalformedTest, TruncatedMessages) {
  Bytes sign = serialize_request(SignRequest{key_->public_key().blob(), Bytes{1, 2, 3}, 0});
  for (size_t cut = 1; cut < sign.size(); cut += 7) {
    SCOPED_TRACE("sign request cut at " + std::to_string(cut));
    expect_failure_then_service(Bytes(sign.begin(), sign.begin() + static_cast<std::ptrdiff_t>(cut)));
  }
  Bytes add = serialize_request(AddIdentity{*key_, std::nullopt, "comment", {}});
  for (size_t cut : {size_t{1}, size_t{5}, add.size() / 2, add.size() - 1}) {
    SCOPED_TRACE("add request cut at " + std::to_string(cut));
    expect_failure_then_service(Bytes(add.begin(), add.begin() + static_cast<std::ptrdiff_t>(cut)));
  }
  // Lock and unlock without their passphrase string (ssh-agent aborts here).
  expect_failure_then_service(bytes_of({22}));
  expect_failure_then_service(bytes_of({23, 0, 0}));
  expect_failure_then_service(bytes_of({18}));  // remove without a key
  expect_failure_then_service(bytes_of({27}));  // extension without a name
}

// Every kind of request, cut at every length and with a byte too many: each
// that does not parse is answered with SSH_AGENT_FAILURE on a connection that
// goes on serving (cuts that happen to be a valid shorter message are not
// sent: they would change the agent's state).
TEST_F(MalformedTest, EveryRequestCutAtEveryLengthAndWithTrailingData) {
  auto other = key::PrivateKey::generate(key::KeyType::kEd25519);
  auto host = key::PrivateKey::generate(key::KeyType::kEcdsaP256);
  ASSERT_TRUE(other.ok() && host.ok());
  Constraints constraints;
  constraints.lifetime_seconds = 60;
  constraints.confirm = true;
  constraints.destinations.push_back(
      DestinationConstraint{DestinationHop{}, DestinationHop{"alice", "server", {{host->public_key(), false}}}});
  const Bytes session_id(32, 7);
  std::vector<std::pair<std::string, Bytes>> requests;
  auto add = [&](std::string name, const Request& request) {
    requests.emplace_back(std::move(name), serialize_request(request));
  };
  add("request identities", RequestIdentities{});
  add("sign", SignRequest{key_->public_key().blob(), Bytes{1, 2, 3}, kSignFlagRsaSha256});
  add("add", AddIdentity{*other, std::nullopt, "other", {}});
  add("add constrained", AddIdentity{*other, std::nullopt, "other", constraints});
  add("remove", RemoveIdentity{other->public_key().blob()});
  add("remove all", RemoveAllIdentities{});
  add("add smartcard", SmartcardRequest{true, "/nonexistent/module.so", key::SecretBytes::copy_of(std::string_view("1234")),
                                        constraints});
  add("remove smartcard", SmartcardRequest{false, "/nonexistent/module.so", {}, {}});
  add("lock", LockRequest{true, key::SecretBytes::copy_of(std::string_view("secret"))});
  add("unlock", LockRequest{false, key::SecretBytes::copy_of(std::string_view("secret"))});
  add("session bind", SessionBind{host->public_key(), std::nullopt, session_id, *host->sign(session_id), true});
  add("query", QueryRequest{});
  add("unknown extension", UnknownExtension{"nobody@example.com"});

  size_t sent = 0;
  for (const auto& [name, whole] : requests) {
    SCOPED_TRACE(name);
    RawClient client(agent_.socket_path());
    std::vector<Bytes> broken;
    for (size_t cut = 1; cut < whole.size(); ++cut) broken.emplace_back(whole.begin(), whole.begin() + cut);
    broken.push_back(whole);
    broken.back().push_back(0);
    for (const Bytes& payload : broken) {
      if (parse_request(payload).ok()) continue;
      ASSERT_TRUE(client.send_payload(payload)) << payload.size() << " bytes";
      ASSERT_TRUE(is_failure(client.receive())) << payload.size() << " bytes";
      ++sent;
    }
    expect_served(client);
    expect_served_on_new_connection();
  }
  EXPECT_GT(sent, 500u);
}

TEST_F(MalformedTest, TrailingData) {
  expect_failure_then_service(bytes_of({11, 0}));
  Bytes sign = serialize_request(SignRequest{key_->public_key().blob(), Bytes{1, 2, 3}, 0});
  sign.push_back(0);
  expect_failure_then_service(sign);
}

TEST_F(MalformedTest, WrongTypes) {
  for (uint8_t type : {uint8_t{0}, uint8_t{1}, uint8_t{5}, uint8_t{6}, uint8_t{12}, uint8_t{14}, uint8_t{24},
                       uint8_t{28}, uint8_t{29}, uint8_t{100}, uint8_t{255}}) {
    SCOPED_TRACE("type " + std::to_string(type));
    expect_failure_then_service(bytes_of({type, 0, 0, 0, 0}));
  }
}

TEST_F(MalformedTest, BadKeysInsideWellFramedMessages) {
  // A sign request naming a key type nobody knows, and an add with a broken key.
  key::Writer sign;
  sign.u8(13);
  key::Writer blob;
  blob.string("ssh-nonsense");
  blob.string(Bytes(32, 7));
  sign.string(blob);
  sign.string(Bytes{1});
  sign.u32(0);
  expect_failure_then_service(sign.take());

  key::Writer add;
  add.u8(17);
  add.string("ssh-ed25519");
  add.string(Bytes(31, 1));  // public key one byte short
  add.string(Bytes(64, 2));
  add.string("comment");
  expect_failure_then_service(add.take());

  key::Writer constrained;  // a valid key with an unknown constraint
  Bytes valid = serialize_request(AddIdentity{*key_, std::nullopt, "x", {}});
  valid[0] = 25;
  valid.push_back(99);
  expect_failure_then_service(valid);
}

TEST_F(MalformedTest, OversizedMessageClosesTheConnection) {
  RawClient client(agent_.socket_path());
  uint32_t length = kMaxMessageBytes + 1;
  Bytes header = {static_cast<uint8_t>(length >> 24), static_cast<uint8_t>(length >> 16),
                  static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  ASSERT_TRUE(client.send_bytes(header));
  EXPECT_TRUE(client.closed_by_peer());
  expect_served_on_new_connection();

  RawClient huge(agent_.socket_path());
  ASSERT_TRUE(huge.send_bytes(Bytes{0xff, 0xff, 0xff, 0xff, 11}));
  EXPECT_TRUE(huge.closed_by_peer());
  expect_served_on_new_connection();
}

TEST_F(MalformedTest, LargestMessageIsAccepted) {
  // Exactly kMaxMessageBytes: parsed (and refused: the data is garbage), not closed.
  Bytes payload(kMaxMessageBytes, 0x41);
  payload[0] = 13;
  expect_failure_then_service(payload);
}

TEST_F(MalformedTest, ZeroLengthMessageClosesTheConnection) {
  RawClient client(agent_.socket_path());
  ASSERT_TRUE(client.send_bytes(Bytes{0, 0, 0, 0}));
  EXPECT_TRUE(client.closed_by_peer());
  expect_served_on_new_connection();
}

TEST_F(MalformedTest, IncompleteFrameThenHangUp) {
  {
    RawClient client(agent_.socket_path());
    ASSERT_TRUE(client.send_bytes(Bytes{0, 0, 1, 0, 13, 0, 0}));
  }
  {
    RawClient client(agent_.socket_path());
    ASSERT_TRUE(client.send_bytes(Bytes{0, 0}));
  }
  expect_served_on_new_connection();
}

TEST_F(MalformedTest, RandomGarbage) {
  std::mt19937 random(12345);
  auto byte = [&] { return static_cast<uint8_t>(random() & 0xff); };
  RawClient client(agent_.socket_path());
  for (int i = 0; i < 300; ++i) {
    size_t length = 1 + random() % 300;
    Bytes payload(length);
    for (auto& b : payload) b = byte();
    // Keep clear of requests that change the agent's state when they happen
    // to be well-formed: lock, remove all.
    if (payload[0] == 9 || payload[0] == 19 || payload[0] == 22) payload[0] = 200;
    ASSERT_TRUE(client.send_payload(payload));
    auto answer = client.receive();
    ASSERT_TRUE(answer.has_value()) << "no answer to garbage message " << i;
  }
  expect_served(client);

  // Garbage with valid-looking types and nested strings.
  for (int i = 0; i < 300; ++i) {
    key::Writer w;
    uint8_t types[] = {11, 13, 17, 18, 20, 21, 23, 25, 26, 27};
    w.u8(types[random() % (sizeof types)]);
    for (int fields = static_cast<int>(random() % 5); fields > 0; --fields) {
      Bytes field(random() % 40);
      for (auto& b : field) b = byte();
      if (random() % 2) w.string(field);
      else w.bytes(field);
    }
    ASSERT_TRUE(client.send_payload(w.take()));
    ASSERT_TRUE(client.receive().has_value()) << "no answer to structured garbage " << i;
  }
  expect_served(client);

  // Unframed noise: whatever the agent makes of it, it must not hang or die.
  {
    RawClient noisy(agent_.socket_path(), 2);
    Bytes noise(4096);
    for (auto& b : noise) b = byte();
    noisy.send_bytes(noise);
    while (noisy.receive_payload()) {
    }
  }
  expect_served_on_new_connection();
}

TEST_F(MalformedTest, LockedAgentAnswersGarbageWithFailure) {
  RawClient client(agent_.socket_path());
  ASSERT_TRUE(is_success(client.call(LockRequest{true, key::SecretBytes::copy_of("pw")})));
  ASSERT_TRUE(client.send_payload(bytes_of({17, 1, 2})));
  EXPECT_TRUE(is_failure(client.receive()));
  ASSERT_TRUE(client.send_payload(bytes_of({23})));  // unlock without a passphrase
  EXPECT_TRUE(is_failure(client.receive()));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
  ASSERT_TRUE(is_success(client.call(LockRequest{false, key::SecretBytes::copy_of("pw")})));
  expect_served(client);
}

}  // namespace
}  // namespace tessera::agent::daemon
