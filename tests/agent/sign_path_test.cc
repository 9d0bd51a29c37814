// tessera-agent's sign path: fast keys (ed25519, ECDSA P-256) are signed on
// the event loop, a few per round, the others on the signing threads. Each
// test checks what a client sees, whichever path a signature took, and that
// the identities answer the agent keeps ready follows every change.
#include <gtest/gtest.h>

#include "daemon_test_support.h"
#include "tessera/key/key.h"

namespace tessera::agent::daemon {
namespace {

using key::KeyType;
using key::PrivateKey;
using testing::identities_of;
using testing::is_failure;
using testing::is_success;
using testing::add_request;
using testing::test_key;
using testing::RawClient;
using testing::RunningAgent;

const Bytes kData = {'s', 'i', 'g', 'n', ' ', 'p', 'a', 't', 'h'};

bool signs(RawClient& client, const PrivateKey& key, const Bytes& data = kData) {
  auto answer = client.call(SignRequest{key.public_key().blob(), data, 0});
  return answer && std::holds_alternative<SignResponse>(*answer) &&
         key.public_key().verify(std::get<SignResponse>(*answer).signature, data).ok();
}

std::vector<std::string> comments(const std::optional<Response>& answer) {
  std::vector<std::string> out;
  for (const auto& id : identities_of(answer)) out.push_back(id.comment);
  return out;
}

using Comments = std::vector<std::string>;

class FastKeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(FastKeyTest, AnExpiredKeyIsNotSignedWith) {
  AgentConfig config;
  config.manual_time = true;
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& key = test_key(GetParam());
  Constraints brief;
  brief.lifetime_seconds = 2;
  ASSERT_TRUE(is_success(client.call(add_request(key, "brief", brief))));
  EXPECT_TRUE(signs(client, key));
  agent.advance_time(std::chrono::milliseconds(1999));
  EXPECT_TRUE(signs(client, key));
  agent.advance_time(std::chrono::milliseconds(1));
  EXPECT_TRUE(is_failure(client.call(SignRequest{key.public_key().blob(), kData, 0})));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
}

TEST_P(FastKeyTest, ARemovedKeyIsNotSignedWith) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& key = test_key(GetParam());
  ASSERT_TRUE(is_success(client.call(add_request(key, "k"))));
  EXPECT_TRUE(signs(client, key));
  ASSERT_TRUE(is_success(client.call(RemoveIdentity{key.public_key().blob()})));
  EXPECT_TRUE(is_failure(client.call(SignRequest{key.public_key().blob(), kData, 0})));
  // Removal and signature pipelined: the removal, read first, wins.
  ASSERT_TRUE(is_success(client.call(add_request(key, "k"))));
  ASSERT_TRUE(client.send_request(RemoveIdentity{key.public_key().blob()}));
  ASSERT_TRUE(client.send_request(SignRequest{key.public_key().blob(), kData, 0}));
  EXPECT_TRUE(is_success(client.receive()));
  EXPECT_TRUE(is_failure(client.receive()));
}

TEST_P(FastKeyTest, ALockedAgentDoesNotSign) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& key = test_key(GetParam());
  ASSERT_TRUE(is_success(client.call(add_request(key, "k"))));
  ASSERT_TRUE(is_success(client.call(LockRequest{true, key::SecretBytes::copy_of("pw")})));
  EXPECT_TRUE(is_failure(client.call(SignRequest{key.public_key().blob(), kData, 0})));
  ASSERT_TRUE(is_success(client.call(LockRequest{false, key::SecretBytes::copy_of("pw")})));
  EXPECT_TRUE(signs(client, key));
}

INSTANTIATE_TEST_SUITE_P(Types, FastKeyTest, ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256),
                         [](const ::testing::TestParamInfo<KeyType>& param_info) {
                           return param_info.param == KeyType::kEd25519 ? std::string("ed25519") : std::string("p256");
                         });

TEST(SignPathTest, APipelinedBurstIsAnsweredInOrderWhicheverPathItTakes) {
  // More fast signatures in one write than the loop makes in a round (the
  // rest go to the signing threads), with slow keys between them: every
  // answer arrives, in order, and verifies.
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  std::vector<const PrivateKey*> keys = {&test_key(KeyType::kEd25519), &test_key(KeyType::kEcdsaP256),
                                         &test_key(KeyType::kEcdsaP384), &test_key(KeyType::kRsa, 2048)};
  for (const PrivateKey* k : keys) ASSERT_TRUE(is_success(client.call(add_request(*k, "k"))));
  constexpr int kRequests = 60;
  Bytes batch;
  std::vector<const PrivateKey*> order;
  std::vector<Bytes> data;
  for (int i = 0; i < kRequests; ++i) {
    // Mostly fast keys; every tenth a slow one.
    const PrivateKey* k = i % 10 == 9 ? keys[2 + (i / 10) % 2] : keys[static_cast<size_t>(i) % 2];
    order.push_back(k);
    data.push_back(Bytes{static_cast<uint8_t>(i), 'x'});
    Bytes framed = frame(serialize_request(SignRequest{k->public_key().blob(), data.back(), 0}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  ASSERT_TRUE(client.send_bytes(batch));
  for (int i = 0; i < kRequests; ++i) {
    auto answer = client.receive();
    ASSERT_TRUE(answer && std::holds_alternative<SignResponse>(*answer)) << "answer " << i;
    EXPECT_TRUE(order[static_cast<size_t>(i)]
                    ->public_key()
                    .verify(std::get<SignResponse>(*answer).signature, data[static_cast<size_t>(i)])
                    .ok())
        << "answer " << i;
  }
}

TEST(SignPathTest, TheIdentitiesAnswerFollowsEveryChange) {
  AgentConfig config;
  config.manual_time = true;
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& a = test_key(KeyType::kEd25519);
  const PrivateKey& b = test_key(KeyType::kEcdsaP256);
  const PrivateKey& c = test_key(KeyType::kEd25519, 0, 1);
  EXPECT_EQ(comments(client.call(RequestIdentities{})), Comments{});
  ASSERT_TRUE(is_success(client.call(add_request(a, "a"))));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), Comments{"a"});
  ASSERT_TRUE(is_success(client.call(add_request(b, "b"))));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), (Comments{"a", "b"}));
  ASSERT_TRUE(is_success(client.call(add_request(a, "a renamed"))));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), (Comments{"a renamed", "b"}));
  // Locked: nothing; unlocked: the same again.
  ASSERT_TRUE(is_success(client.call(LockRequest{true, key::SecretBytes::copy_of("pw")})));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), Comments{});
  ASSERT_TRUE(is_success(client.call(LockRequest{false, key::SecretBytes::copy_of("pw")})));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), (Comments{"a renamed", "b"}));
  // A key with a lifetime, listed until it ends.
  Constraints minute;
  minute.lifetime_seconds = 60;
  ASSERT_TRUE(is_success(client.call(add_request(c, "c", minute))));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), (Comments{"a renamed", "b", "c"}));
  agent.advance_time(std::chrono::seconds(60));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), (Comments{"a renamed", "b"}));
  ASSERT_TRUE(is_success(client.call(RemoveIdentity{a.public_key().blob()})));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), Comments{"b"});
  ASSERT_TRUE(is_success(client.call(RemoveAllIdentities{false})));
  EXPECT_EQ(comments(client.call(RequestIdentities{})), Comments{});
}

}  // namespace
}  // namespace tessera::agent::daemon
