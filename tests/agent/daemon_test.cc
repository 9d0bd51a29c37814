// tessera-agent in-process: an Agent on a temporary socket, driven by a raw
// client. Covers every request the daemon answers, its constraints, locking,
// confirmation, pipelining, and that slow work never holds up other clients.
#include <gtest/gtest.h>

#include "tessera/key/match.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "daemon/askpass.h"
#include "daemon/audit.h"
#include "daemon/options.h"
#include "daemon_test_support.h"
#include "tessera/key/cert.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"
#include "tessera/tokens/names.h"

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

const Bytes kData = {'t', 'o', ' ', 'b', 'e', ' ', 's', 'i', 'g', 'n', 'e', 'd'};

key::Certificate make_certificate(const PrivateKey& subject, const PrivateKey& ca, std::string key_id) {
  key::Certificate cert{.key = subject.public_key(),
                        .nonce = Bytes(32, 0x42),
                        .serial = 7,
                        .type = key::CertType::kUser,
                        .key_id = std::move(key_id),
                        .principals = {"alice"},
                        .valid_after = 0,
                        .valid_before = UINT64_MAX,
                        .critical_options = {},
                        .extensions = {},
                        .reserved = {},
                        .signature_key = ca.public_key(),
                        .signature = {}};
  auto signature = ca.sign(key::certificate_signed_data(cert));
  EXPECT_TRUE(signature.ok());
  cert.signature = *signature;
  return cert;
}

Bytes sign_ok(RawClient& client, const Bytes& blob, uint32_t flags = 0) {
  auto answer = client.call(SignRequest{blob, kData, flags});
  if (!answer || !std::holds_alternative<SignResponse>(*answer)) {
    ADD_FAILURE() << "sign request was refused";
    return {};
  }
  return std::get<SignResponse>(*answer).signature;
}

std::string write_script(const test::TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.file(name);
  test::write_file(path, "#!/bin/sh\n" + body, 0700);
  return path;
}

AskpassConfig forced_askpass(const std::string& program) {
  std::map<std::string, std::string> env = {{"SSH_ASKPASS", program}, {"SSH_ASKPASS_REQUIRE", "force"}};
  return AskpassConfig::from_environment([env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// ---- keys of every type ----

struct KeyCase {
  const char* name;
  KeyType type;
  unsigned bits;
};

class KeyTypeTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(KeyTypeTest, AddListSignVerifyRemove) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& key = test_key(GetParam().type, GetParam().bits);
  Bytes blob = key.public_key().blob();

  ASSERT_TRUE(is_success(client.call(add_request(key, "my key"))));
  auto listed = identities_of(client.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key_blob, blob);
  EXPECT_EQ(listed[0].comment, "my key");

  Bytes signature = sign_ok(client, blob);
  EXPECT_TRUE(key.public_key().verify(signature, kData).ok());
  auto algorithm = key::signature_algorithm_name(signature);
  ASSERT_TRUE(algorithm.ok());
  if (GetParam().type == KeyType::kRsa) {
    EXPECT_EQ(*algorithm, "ssh-rsa");
    Bytes sha256 = sign_ok(client, blob, kSignFlagRsaSha256);
    EXPECT_EQ(*key::signature_algorithm_name(sha256), "rsa-sha2-256");
    EXPECT_TRUE(key.public_key().verify(sha256, kData).ok());
    Bytes sha512 = sign_ok(client, blob, kSignFlagRsaSha512);
    EXPECT_EQ(*key::signature_algorithm_name(sha512), "rsa-sha2-512");
    EXPECT_TRUE(key.public_key().verify(sha512, kData).ok());
  } else {
    EXPECT_EQ(*algorithm, key.public_key().ssh_name());
    // RSA flags mean nothing for other keys.
    Bytes flagged = sign_ok(client, blob, kSignFlagRsaSha512);
    EXPECT_TRUE(key.public_key().verify(flagged, kData).ok());
  }

  ASSERT_TRUE(is_success(client.call(RemoveIdentity{blob})));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
  EXPECT_TRUE(is_failure(client.call(RemoveIdentity{blob})));
  EXPECT_TRUE(is_failure(client.call(SignRequest{blob, kData, 0})));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeyTypeTest,
                         ::testing::Values(KeyCase{"ed25519", KeyType::kEd25519, 0},
                                           KeyCase{"ecdsa256", KeyType::kEcdsaP256, 0},
                                           KeyCase{"ecdsa384", KeyType::kEcdsaP384, 0},
                                           KeyCase{"ecdsa521", KeyType::kEcdsaP521, 0},
                                           KeyCase{"rsa2048", KeyType::kRsa, 2048}),
                         [](const ::testing::TestParamInfo<KeyCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(AgentTest, CertificatesSignWithTheCertifiedKey) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& ca = test_key(KeyType::kEd25519);
  const PrivateKey& user = test_key(KeyType::kEcdsaP256);
  const PrivateKey& rsa_user = test_key(KeyType::kRsa, 2048);
  key::Certificate cert = make_certificate(user, ca, "user cert");
  key::Certificate rsa_cert = make_certificate(rsa_user, ca, "rsa cert");

  ASSERT_TRUE(is_success(client.call(AddIdentity{user, cert, "cert", {}})));
  ASSERT_TRUE(is_success(client.call(AddIdentity{rsa_user, rsa_cert, "rsa cert", {}})));
  // The plain key too: a separate identity.
  ASSERT_TRUE(is_success(client.call(add_request(user, "plain"))));
  auto listed = identities_of(client.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].key_blob, cert.blob());
  EXPECT_EQ(listed[1].key_blob, rsa_cert.blob());
  EXPECT_EQ(listed[2].key_blob, user.public_key().blob());

  Bytes signature = sign_ok(client, cert.blob());
  EXPECT_TRUE(user.public_key().verify(signature, kData).ok());
  Bytes rsa_signature = sign_ok(client, rsa_cert.blob(), kSignFlagRsaSha512);
  EXPECT_EQ(*key::signature_algorithm_name(rsa_signature), "rsa-sha2-512");
  EXPECT_TRUE(rsa_user.public_key().verify(rsa_signature, kData).ok());

  // Removing the certificate leaves the plain key.
  ASSERT_TRUE(is_success(client.call(RemoveIdentity{cert.blob()})));
  listed = identities_of(client.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(is_failure(client.call(SignRequest{cert.blob(), kData, 0})));
}

TEST(AgentTest, CertificateMustMatchItsKey) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  key::Certificate cert = make_certificate(test_key(KeyType::kEcdsaP256), test_key(KeyType::kEd25519), "c");
  // The protocol codec may refuse to encode or parse the mismatch; either way no success.
  auto answer = client.call(AddIdentity{test_key(KeyType::kEcdsaP384), cert, "wrong", {}});
  EXPECT_FALSE(is_success(answer));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
}

TEST(AgentTest, ReAddReplacesCommentAndKeepsOrder) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& a = test_key(KeyType::kEd25519);
  const PrivateKey& b = test_key(KeyType::kEcdsaP256);
  ASSERT_TRUE(is_success(client.call(add_request(a, "first"))));
  ASSERT_TRUE(is_success(client.call(add_request(b, "second"))));
  ASSERT_TRUE(is_success(client.call(add_request(a, "renamed"))));
  auto listed = identities_of(client.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].comment, "renamed");
  EXPECT_EQ(listed[1].comment, "second");
}

TEST(AgentTest, RemoveAllBothMessages) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  ASSERT_TRUE(is_success(client.call(add_request(test_key(KeyType::kEd25519), "a"))));
  ASSERT_TRUE(is_success(client.call(add_request(test_key(KeyType::kEcdsaP256), "b"))));
  ASSERT_TRUE(is_success(client.call(RemoveAllIdentities{false})));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
  ASSERT_TRUE(is_success(client.call(add_request(test_key(KeyType::kEd25519), "a"))));
  ASSERT_TRUE(is_success(client.call(RemoveAllIdentities{true})));  // message 9
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
  EXPECT_TRUE(is_success(client.call(RemoveAllIdentities{false})));  // empty: still success
}

TEST(AgentTest, LockAndUnlockWithDelayAfterWrongPassphrase) {
  AgentConfig config;
  config.manual_time = true;
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& key = test_key(KeyType::kEd25519);
  Bytes blob = key.public_key().blob();
  ASSERT_TRUE(is_success(client.call(add_request(key, "k"))));

  EXPECT_TRUE(is_failure(client.call(LockRequest{false, key::SecretBytes::copy_of("pw")})));  // not locked
  EXPECT_TRUE(is_failure(client.call(LockRequest{true, key::SecretBytes::copy_of("")})));     // empty
  ASSERT_TRUE(is_success(client.call(LockRequest{true, key::SecretBytes::copy_of("sesame")})));
  EXPECT_TRUE(is_failure(client.call(LockRequest{true, key::SecretBytes::copy_of("sesame")})));  // already
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
  EXPECT_TRUE(is_failure(client.call(SignRequest{blob, kData, 0})));
  EXPECT_TRUE(is_failure(client.call(add_request(test_key(KeyType::kEcdsaP256), "new"))));
  EXPECT_TRUE(is_failure(client.call(RemoveIdentity{blob})));
  EXPECT_TRUE(is_failure(client.call(RemoveAllIdentities{false})));

  // A wrong passphrase is answered after a delay (0.1 s for the first);
  // meanwhile other clients are served.
  ASSERT_TRUE(client.send_request(LockRequest{false, key::SecretBytes::copy_of("wrong")}));
  RawClient other(agent.socket_path());
  EXPECT_TRUE(identities_of(other.call(RequestIdentities{})).empty());
  agent.advance_time(std::chrono::milliseconds(99));
  EXPECT_EQ(client.answers_waiting(), 0u);
  agent.advance_time(std::chrono::milliseconds(1));
  EXPECT_TRUE(is_failure(client.receive()));

  ASSERT_TRUE(is_success(client.call(LockRequest{false, key::SecretBytes::copy_of("sesame")})));
  EXPECT_EQ(identities_of(client.call(RequestIdentities{})).size(), 1u);
  EXPECT_FALSE(sign_ok(client, blob).empty());
}

TEST(AgentTest, LockDelayGrows) {
  AgentLock lock;
  ASSERT_TRUE(lock.lock(key::SecretBytes::copy_of("right")).ok());
  EXPECT_EQ(lock.failure_delay().count(), 0);
  EXPECT_FALSE(lock.unlock(key::SecretBytes::copy_of("wrong")).ok());
  EXPECT_EQ(lock.failure_delay().count(), 100);
  EXPECT_FALSE(lock.unlock(key::SecretBytes::copy_of("wrong")).ok());
  EXPECT_EQ(lock.failure_delay().count(), 400);
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(lock.unlock(key::SecretBytes::copy_of("wrong")).ok());
  EXPECT_EQ(lock.failure_delay().count(), 10000);
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(lock.unlock(key::SecretBytes::copy_of("right")).ok());
  EXPECT_FALSE(lock.locked());
  EXPECT_EQ(lock.failure_delay().count(), 0);
}

TEST(AgentTest, LifetimesExpire) {
  AgentConfig config;
  config.default_lifetime = 1;  // as -t 1
  config.manual_time = true;
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& short_lived = test_key(KeyType::kEd25519);
  const PrivateKey& long_lived = test_key(KeyType::kEcdsaP256);
  ASSERT_TRUE(is_success(client.call(add_request(short_lived, "default life"))));
  Constraints hour;
  hour.lifetime_seconds = 3600;
  ASSERT_TRUE(is_success(client.call(add_request(long_lived, "an hour", hour))));
  agent.advance_time(std::chrono::milliseconds(999));
  EXPECT_EQ(identities_of(client.call(RequestIdentities{})).size(), 2u);
  agent.advance_time(std::chrono::milliseconds(1));
  auto listed = identities_of(client.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].comment, "an hour");
  EXPECT_TRUE(is_failure(client.call(SignRequest{short_lived.public_key().blob(), kData, 0})));
}

TEST(AgentTest, LifetimeConstraintOfOneSecond) {
  AgentConfig config;
  config.manual_time = true;
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  Constraints second;
  second.lifetime_seconds = 1;
  ASSERT_TRUE(is_success(client.call(add_request(test_key(KeyType::kEd25519), "brief", second))));
  EXPECT_EQ(identities_of(client.call(RequestIdentities{})).size(), 1u);
  agent.advance_time(std::chrono::milliseconds(999));
  EXPECT_EQ(identities_of(client.call(RequestIdentities{})).size(), 1u);
  agent.advance_time(std::chrono::milliseconds(1));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
}

// ---- confirmation ----

class ConfirmTest : public ::testing::Test {
 protected:
  // An askpass that records its prompt and environment, then answers `answer`
  // with exit status `status` (after `delay` seconds).
  // `wait`: a command the dialog runs before it answers.
  std::unique_ptr<RunningAgent> start(const std::string& answer, int status = 0, const std::string& wait = "true") {
    std::string script = write_script(scripts_, "askpass",
                                      wait + "\nprintf '%s' \"$1\" > " + scripts_.file("prompt") +
                                          "\nprintf '%s' \"$SSH_ASKPASS_PROMPT\" > " + scripts_.file("hint") +
                                          "\necho '" + answer + "'\nexit " + std::to_string(status) + "\n");
    AgentConfig config;
    config.askpass = forced_askpass(script);
    return std::make_unique<RunningAgent>(std::move(config));
  }
  std::optional<Response> sign_confirmed(RunningAgent& agent) {
    RawClient client(agent.socket_path());
    Constraints confirm;
    confirm.confirm = true;
    EXPECT_TRUE(is_success(client.call(add_request(key(), "needs consent", confirm))));
    return client.call(SignRequest{key().public_key().blob(), kData, 0});
  }
  const PrivateKey& key() { return test_key(KeyType::kEd25519); }
  test::TempDir scripts_;
};

TEST_F(ConfirmTest, YesSigns) {
  auto agent = start("yes");
  auto answer = sign_confirmed(*agent);
  ASSERT_TRUE(answer && std::holds_alternative<SignResponse>(*answer));
  EXPECT_EQ(test::read_file(scripts_.file("hint")), "confirm");
  EXPECT_EQ(test::read_file(scripts_.file("prompt")),
            "Allow use of key needs consent?\nKey fingerprint " +
                key::fingerprint(key().public_key(), key::FingerprintHash::kSha256) + ".");
}

TEST_F(ConfirmTest, EmptyAnswerSigns) {
  auto agent = start("");
  auto answer = sign_confirmed(*agent);
  EXPECT_TRUE(answer && std::holds_alternative<SignResponse>(*answer));
}

TEST_F(ConfirmTest, NoRefuses) {
  auto agent = start("no");
  EXPECT_TRUE(is_failure(sign_confirmed(*agent)));
}

TEST_F(ConfirmTest, FailingProgramRefuses) {
  auto agent = start("yes", 1);
  EXPECT_TRUE(is_failure(sign_confirmed(*agent)));
}

TEST_F(ConfirmTest, NoDisplayAndNotForcedRefuses) {
  AgentConfig config;
  config.askpass = AskpassConfig::from_environment([](const char*) -> const char* { return nullptr; });
  config.askpass.program = write_script(scripts_, "never-run", "echo yes\n");
  RunningAgent agent(std::move(config));
  EXPECT_TRUE(is_failure(sign_confirmed(agent)));
}

TEST_F(ConfirmTest, OpenDialogDoesNotBlockOthers) {
  ASSERT_EQ(::mkfifo(scripts_.file("release").c_str(), 0600), 0);
  auto agent = start("yes", 0, "read line < " + scripts_.file("release"));
  RawClient client(agent->socket_path());
  Constraints confirm;
  confirm.confirm = true;
  ASSERT_TRUE(is_success(client.call(add_request(key(), "slow consent", confirm))));
  const PrivateKey& other_key = test_key(KeyType::kEcdsaP256);
  ASSERT_TRUE(is_success(client.call(add_request(other_key, "free"))));
  ASSERT_TRUE(client.send_request(SignRequest{key().public_key().blob(), kData, 0}));
  // The dialog stays open until the test writes to its FIFO; meanwhile
  // another client lists and signs.
  RawClient other(agent->socket_path());
  EXPECT_EQ(identities_of(other.call(RequestIdentities{})).size(), 2u);
  EXPECT_FALSE(sign_ok(other, other_key.public_key().blob()).empty());
  EXPECT_EQ(client.answers_waiting(), 0u);
  test::write_file(scripts_.file("release"), "go\n");
  auto answer = client.receive();
  EXPECT_TRUE(answer && std::holds_alternative<SignResponse>(*answer));
}

// ---- pipelining and concurrency ----

TEST(AgentTest, PipelinedRequestsAreAnsweredInOrder) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient setup(agent.socket_path());
  const PrivateKey& slow = test_key(KeyType::kRsa, 4096);
  const PrivateKey& fast = test_key(KeyType::kEd25519);
  ASSERT_TRUE(is_success(setup.call(add_request(slow, "slow"))));
  ASSERT_TRUE(is_success(setup.call(add_request(fast, "fast"))));

  RawClient client(agent.socket_path());
  Bytes batch;
  auto append = [&](const Request& r) {
    Bytes framed = frame(serialize_request(r));
    batch.insert(batch.end(), framed.begin(), framed.end());
  };
  append(SignRequest{slow.public_key().blob(), kData, kSignFlagRsaSha512});
  append(RequestIdentities{});
  append(SignRequest{fast.public_key().blob(), kData, 0});
  append(SignRequest{Bytes{1, 2, 3}, kData, 0});
  append(QueryRequest{});
  append(SignRequest{slow.public_key().blob(), kData, kSignFlagRsaSha256});
  append(RequestIdentities{});
  ASSERT_TRUE(client.send_bytes(batch));

  auto r1 = client.receive();
  ASSERT_TRUE(r1 && std::holds_alternative<SignResponse>(*r1));
  EXPECT_TRUE(slow.public_key().verify(std::get<SignResponse>(*r1).signature, kData).ok());
  EXPECT_EQ(identities_of(client.receive()).size(), 2u);
  auto r3 = client.receive();
  ASSERT_TRUE(r3 && std::holds_alternative<SignResponse>(*r3));
  EXPECT_TRUE(fast.public_key().verify(std::get<SignResponse>(*r3).signature, kData).ok());
  EXPECT_TRUE(is_failure(client.receive()));
  auto r5 = client.receive();
  EXPECT_TRUE(r5 && std::holds_alternative<ExtensionResponse>(*r5));
  auto r6 = client.receive();
  ASSERT_TRUE(r6 && std::holds_alternative<SignResponse>(*r6));
  EXPECT_EQ(*key::signature_algorithm_name(std::get<SignResponse>(*r6).signature), "rsa-sha2-256");
  EXPECT_EQ(identities_of(client.receive()).size(), 2u);
}

TEST(AgentTest, ClientThatReadsLateGetsEveryAnswer) {
  // Enough answers to fill the socket and the agent's output limit: the agent
  // stops reading, then resumes as the client catches up.
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  for (int i = 0; i < 24; ++i) {
    auto key = PrivateKey::generate(KeyType::kEd25519);
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(is_success(client.call(add_request(*key, "key number " + std::to_string(i)))));
  }
  constexpr int kRequests = 2000;
  Bytes batch;
  for (int i = 0; i < kRequests; ++i) {
    Bytes framed = frame(serialize_request(RequestIdentities{}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  ASSERT_TRUE(client.send_bytes(batch));
  RawClient other(agent.socket_path());
  EXPECT_EQ(identities_of(other.call(RequestIdentities{})).size(), 24u);
  for (int i = 0; i < kRequests; ++i) {
    auto answer = client.receive();
    ASSERT_TRUE(answer && std::holds_alternative<IdentitiesAnswer>(*answer)) << "answer " << i;
    ASSERT_EQ(std::get<IdentitiesAnswer>(*answer).identities.size(), 24u);
  }
}

TEST(AgentTest, HalfClosedClientStillGetsItsAnswers) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  const PrivateKey& key = test_key(KeyType::kRsa, 4096);
  RawClient client(agent.socket_path());
  ASSERT_TRUE(is_success(client.call(add_request(key, "k"))));
  ASSERT_TRUE(client.send_request(SignRequest{key.public_key().blob(), kData, kSignFlagRsaSha256}));
  ASSERT_TRUE(client.send_request(RequestIdentities{}));
  ASSERT_EQ(::shutdown(client.fd(), SHUT_WR), 0);
  auto signature = client.receive();
  ASSERT_TRUE(signature && std::holds_alternative<SignResponse>(*signature));
  EXPECT_EQ(identities_of(client.receive()).size(), 1u);
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(AgentTest, SlowSignaturesDoNotDelayOtherConnections) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient setup(agent.socket_path());
  const PrivateKey& slow = test_key(KeyType::kRsa, 4096);
  const PrivateKey& fast = test_key(KeyType::kEd25519);
  ASSERT_TRUE(is_success(setup.call(add_request(slow, "slow"))));
  ASSERT_TRUE(is_success(setup.call(add_request(fast, "fast"))));

  // One connection pipelines many RSA-4096 signatures...
  constexpr int kSlowSigns = 100;
  RawClient busy(agent.socket_path());
  Bytes batch;
  for (int i = 0; i < kSlowSigns; ++i) {
    Bytes framed = frame(serialize_request(SignRequest{slow.public_key().blob(), kData, kSignFlagRsaSha512}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  ASSERT_TRUE(busy.send_bytes(batch));

  // ...while another lists and signs with a fast key: both are answered
  // while most of the slow signatures are still to come (they take the
  // signing threads for about a second; the fast answers need milliseconds).
  // bench/agent_bench measures the latencies.
  RawClient other(agent.socket_path());
  EXPECT_EQ(identities_of(other.call(RequestIdentities{})).size(), 2u);
  EXPECT_FALSE(sign_ok(other, fast.public_key().blob()).empty());
  EXPECT_LT(busy.answers_waiting(), static_cast<size_t>(kSlowSigns / 2));
  for (int i = 0; i < kSlowSigns; ++i) {
    auto answer = busy.receive();
    ASSERT_TRUE(answer && std::holds_alternative<SignResponse>(*answer)) << "slow signature " << i;
  }
}

// ---- extensions, smartcards, peers ----

TEST(AgentTest, QueryExtensionListsWhatTesseraSupports) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  auto answer = client.call(QueryRequest{});
  ASSERT_TRUE(answer && std::holds_alternative<ExtensionResponse>(*answer));
  auto names = parse_query_response(std::get<ExtensionResponse>(*answer));
  ASSERT_TRUE(names.ok());
  EXPECT_NE(std::find(names->begin(), names->end(), "query"), names->end());
  EXPECT_NE(std::find(names->begin(), names->end(), "session-bind@openssh.com"), names->end());
  EXPECT_NE(std::find(names->begin(), names->end(), "status@tessera.dev"), names->end());
  EXPECT_TRUE(is_failure(client.call(UnknownExtension{"nonexistent@example.com"})));
}

StatusReport status_of(RawClient& client) {
  auto answer = client.call(StatusRequest{kStatusVersion});
  if (!answer || !std::holds_alternative<ExtensionResponse>(*answer)) {
    ADD_FAILURE() << "status request was refused";
    return {};
  }
  auto report = parse_status_response(std::get<ExtensionResponse>(*answer));
  if (!report.ok()) ADD_FAILURE() << report.error().message();
  return report.ok() ? *report : StatusReport{};
}

uint64_t failures_of(const StatusReport& report, std::string_view cause) {
  for (const auto& counter : report.failures) {
    if (counter.name == cause) return counter.count;
  }
  return 0;
}

TEST(AgentTest, StatusReportShowsKeysConstraintsAndCounters) {
  AgentConfig config;
  config.pkcs11.reader_events = false;  // whether pcscd runs here is no matter
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& timed = test_key(KeyType::kEd25519);
  const PrivateKey& plain = test_key(KeyType::kEcdsaP256);
  Constraints lifetime;
  lifetime.lifetime_seconds = 600;
  ASSERT_TRUE(is_success(client.call(add_request(timed, "timed key", lifetime))));
  ASSERT_TRUE(is_success(client.call(add_request(plain, "plain key"))));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(sign_ok(client, timed.public_key().blob()).empty());
  EXPECT_TRUE(is_failure(client.call(SignRequest{test_key(KeyType::kEcdsaP384).public_key().blob(), kData, 0})));

  StatusReport report = status_of(client);
  EXPECT_EQ(report.pid, static_cast<uint32_t>(::getpid()));
  EXPECT_GE(report.now, report.started);
  EXPECT_EQ(report.reader_service, ReaderService::kNotWatched);
  EXPECT_TRUE(report.providers.empty());
  EXPECT_EQ(report.keys_total, 2u);
  ASSERT_EQ(report.keys.size(), 2u);
  const StatusKey& first = report.keys[0];
  EXPECT_EQ(first.type, "ssh-ed25519");
  EXPECT_EQ(first.fingerprint, key::fingerprint(timed.public_key(), key::FingerprintHash::kSha256));
  EXPECT_EQ(first.comment, "timed key");
  EXPECT_EQ(first.source, KeySource::kFile);
  EXPECT_EQ(first.flags, 0u);
  EXPECT_TRUE(first.has_lifetime);
  EXPECT_GT(first.lifetime_left, 590u);
  EXPECT_LE(first.lifetime_left, 600u);
  EXPECT_EQ(first.signatures, 3u);
  EXPECT_EQ(first.failures, 0u);
  EXPECT_FALSE(report.keys[1].has_lifetime);
  EXPECT_EQ(report.keys[1].signatures, 0u);
  EXPECT_EQ(report.signatures, 3u);
  EXPECT_EQ(failures_of(report, "key_not_found"), 1u);
  EXPECT_EQ(report.failures.size(), 1u);
}

// Counters, errors, paths and pids are the local user's: not for the far
// end of a forwarded agent.
TEST(AgentTest, StatusIsRefusedOnASessionBoundConnection) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& host = test_key(KeyType::kEcdsaP384);
  Bytes session_id(32, 0x22);
  auto signature = host.sign(session_id);
  ASSERT_TRUE(signature.ok());
  ASSERT_TRUE(is_success(client.call(SessionBind{host.public_key(), std::nullopt, session_id, *signature, true})));
  EXPECT_TRUE(is_failure(client.call(StatusRequest{kStatusVersion})));
  RawClient local(agent.socket_path());
  EXPECT_EQ(status_of(local).pid, static_cast<uint32_t>(::getpid()));
}

TEST(AgentTest, SessionBindRecordsHostKeyAndAudits) {
  AgentConfig config;
  test::TempDir logs;
  config.audit_log = logs.file("audit.log");
  RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& host = test_key(KeyType::kEcdsaP384);
  const PrivateKey& user = test_key(KeyType::kEd25519);
  ASSERT_TRUE(is_success(client.call(add_request(user, "user \"key\""))));
  Bytes session_id(32, 0x11);
  auto signature = host.sign(session_id);
  ASSERT_TRUE(signature.ok());
  Bytes bad_signature = {0, 0, 0, 1, 0};
  EXPECT_TRUE(is_failure(client.call(SessionBind{host.public_key(), std::nullopt, session_id, bad_signature, false})));
  ASSERT_TRUE(is_success(client.call(SessionBind{host.public_key(), std::nullopt, session_id, *signature, false})));
  EXPECT_FALSE(sign_ok(client, user.public_key().blob()).empty());
  EXPECT_TRUE(is_failure(client.call(SignRequest{test_key(KeyType::kEcdsaP256).public_key().blob(), kData, 0})));

  std::string log = test::read_file(logs.file("audit.log"));
  auto lines = std::count(log.begin(), log.end(), '\n');
  ASSERT_EQ(lines, 2);
  std::string first = log.substr(0, log.find('\n'));
  std::string user_fp = key::fingerprint(user.public_key(), key::FingerprintHash::kSha256);
  std::string host_fp = key::fingerprint(host.public_key(), key::FingerprintHash::kSha256);
  EXPECT_NE(first.find("\"fingerprint\":\"" + user_fp + "\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"comment\":\"user \\\"key\\\"\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"algorithm\":\"ssh-ed25519\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"session_bind\":{\"host_key\":\"" + host_fp + "\",\"forwarded\":false}"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find("\"result\":\"ok\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"pid\":" + std::to_string(::getpid())), std::string::npos) << first;
  EXPECT_EQ(first.find("to be signed"), std::string::npos);
  std::string second = log.substr(log.find('\n') + 1);
  EXPECT_NE(second.find("\"result\":\"refused: key not found\""), std::string::npos) << second;
  EXPECT_NE(second.find("\"comment\":null"), std::string::npos) << second;
}

TEST(AgentTest, DestinationConstrainedKeyIsListedButNotUsableUnbound) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  const PrivateKey& host = test_key(KeyType::kEcdsaP384);
  const PrivateKey& user = test_key(KeyType::kEd25519);
  Constraints constraints;
  DestinationConstraint to_host{DestinationHop{}, DestinationHop{"", "server", {HopKey{host.public_key(), false}}}};
  constraints.destinations.push_back(to_host);
  ASSERT_TRUE(is_success(client.call(add_request(user, "restricted", constraints))));
  // As ssh-agent: visible on a connection with no bindings (local use), but
  // it signs only SSH user authentication bound to a listed host.
  EXPECT_EQ(identities_of(client.call(RequestIdentities{})).size(), 1u);
  EXPECT_TRUE(is_failure(client.call(SignRequest{user.public_key().blob(), kData, 0})));
}

// The SSH_MSG_USERAUTH_REQUEST a client asks the agent to sign when logging in.
Bytes userauth_request(const Bytes& session_id, const std::string& user, const key::PublicKey& key,
                       const key::PublicKey& host_key) {
  key::Writer w;
  w.string(session_id);
  w.u8(50);
  w.string(user);
  w.string("ssh-connection");
  w.string("publickey-hostbound-v00@openssh.com");
  w.boolean(true);
  w.string(key.ssh_name());
  w.string(key.blob());
  w.string(host_key.blob());
  return w.take();
}

TEST(AgentTest, DestinationConstrainedKeyOnBoundConnections) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  const PrivateKey& host = test_key(KeyType::kEcdsaP384);
  const PrivateKey& other_host = test_key(KeyType::kEcdsaP521);
  const PrivateKey& user = test_key(KeyType::kEd25519);
  Constraints constraints;
  constraints.destinations.push_back(
      DestinationConstraint{DestinationHop{}, DestinationHop{"", "server", {HopKey{host.public_key(), false}}}});
  {
    RawClient setup(agent.socket_path());
    ASSERT_TRUE(is_success(setup.call(add_request(user, "restricted", constraints))));
    ASSERT_TRUE(is_success(setup.call(add_request(test_key(KeyType::kEcdsaP256), "free"))));
  }
  Bytes session_id(32, 0x5a);
  auto bind = [&](RawClient& client, const PrivateKey& to) {
    auto signature = to.sign(session_id);
    ASSERT_TRUE(signature.ok());
    ASSERT_TRUE(is_success(client.call(SessionBind{to.public_key(), std::nullopt, session_id, *signature, false})));
  };

  // Bound to the listed host: listed, and signs its user authentication.
  RawClient good(agent.socket_path());
  bind(good, host);
  EXPECT_EQ(identities_of(good.call(RequestIdentities{})).size(), 2u);
  Bytes request = userauth_request(session_id, "alice", user.public_key(), host.public_key());
  auto answer = good.call(SignRequest{user.public_key().blob(), request, 0});
  ASSERT_TRUE(answer && std::holds_alternative<SignResponse>(*answer));
  EXPECT_TRUE(user.public_key().verify(std::get<SignResponse>(*answer).signature, request).ok());
  // ...but nothing that is not such a request.
  EXPECT_TRUE(is_failure(good.call(SignRequest{user.public_key().blob(), kData, 0})));

  // Bound to another host: hidden, and refused.
  RawClient bad(agent.socket_path());
  bind(bad, other_host);
  auto listed = identities_of(bad.call(RequestIdentities{}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].comment, "free");
  Bytes elsewhere = userauth_request(session_id, "alice", user.public_key(), other_host.public_key());
  EXPECT_TRUE(is_failure(bad.call(SignRequest{user.public_key().blob(), elsewhere, 0})));
  EXPECT_TRUE(is_failure(bad.call(RemoveIdentity{user.public_key().blob()})));

  // Once it is gone, both see the same answer (the one the agent keeps ready).
  ASSERT_TRUE(is_success(good.call(RemoveIdentity{user.public_key().blob()})));
  EXPECT_EQ(identities_of(good.call(RequestIdentities{})).size(), 1u);
  EXPECT_EQ(identities_of(bad.call(RequestIdentities{})).size(), 1u);
}

TEST(AgentTest, SmartcardRequestsFailClearly) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  RawClient client(agent.socket_path());
  auto pin = key::SecretBytes::copy_of("1234");
  EXPECT_TRUE(is_failure(client.call(SmartcardRequest{true, "/usr/lib/nonexistent.so", std::move(pin), {}})));
  EXPECT_TRUE(is_failure(client.call(SmartcardRequest{false, "/usr/lib/nonexistent.so", {}, {}})));
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
}

TEST(AgentTest, OtherUsersAreTurnedAway) {
  if (::geteuid() != 0) {
    // Not root: pretend the agent belongs to someone else.
    AgentConfig config;
    config.agent_uid = ::getuid() + 1;
    RunningAgent agent(std::move(config));
    ASSERT_TRUE(agent.ok());
    RawClient client(agent.socket_path());
    client.send_request(RequestIdentities{});
    EXPECT_TRUE(client.closed_by_peer());
    return;
  }
  // Root: a child that becomes "nobody" connects and must be closed on.
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  ASSERT_EQ(::chmod(agent.dir().path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(agent.socket_path().c_str(), 0666), 0);
  std::string path = agent.socket_path();
  Bytes request = frame(serialize_request(RequestIdentities{}));
  pid_t child = ::fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) ::_exit(11);
    // The agent may have closed already: no SIGPIPE for that.
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    }
    uint8_t buf[16];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::_exit(n == 0 || n < 0 ? 0 : 12);  // closed, never answered
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Our own uid is still served.
  RawClient client(agent.socket_path());
  EXPECT_TRUE(identities_of(client.call(RequestIdentities{})).empty());
}

TEST(AgentTest, ManyClientsAtOnce) {
  RunningAgent agent;
  ASSERT_TRUE(agent.ok());
  const PrivateKey& key = test_key(KeyType::kEd25519);
  {
    RawClient setup(agent.socket_path());
    ASSERT_TRUE(is_success(setup.call(add_request(key, "shared"))));
  }
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      RawClient client(agent.socket_path());
      for (int i = 0; i < 20; ++i) {
        auto answer = client.call(SignRequest{key.public_key().blob(), kData, 0});
        if (answer && std::holds_alternative<SignResponse>(*answer) &&
            key.public_key().verify(std::get<SignResponse>(*answer).signature, kData).ok()) {
          ++good;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 160);
}

// ---- command line and helpers ----

std::variant<Options, CommandLineError> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tessera-agent");
  return parse_command_line(args);
}

TEST(OptionsTest, SshAgentFlags) {
  auto parsed = parse({"-s", "-D", "-a", "/tmp/sock", "-E", "md5", "-t", "1h30m", "-P", "/opt/*", "-O",
                       "allow-remote-pkcs11", "--audit-log", "/tmp/audit", "--audit-syslog", "--workers=3"});
  ASSERT_TRUE(std::holds_alternative<Options>(parsed));
  const auto& o = std::get<Options>(parsed);
  EXPECT_TRUE(o.sh);
  EXPECT_TRUE(o.foreground);
  EXPECT_EQ(o.socket_path, "/tmp/sock");
  EXPECT_EQ(o.fingerprint_hash, key::FingerprintHash::kMd5);
  EXPECT_EQ(o.default_lifetime, 5400u);
  EXPECT_EQ(o.allowed_providers, "/opt/*");
  EXPECT_TRUE(o.allow_remote_pkcs11);
  EXPECT_EQ(o.audit_log, "/tmp/audit");
  EXPECT_TRUE(o.audit_syslog);
  EXPECT_EQ(o.workers, 3u);
  EXPECT_TRUE(o.command.empty());

  auto defaults = parse({});
  ASSERT_TRUE(std::holds_alternative<Options>(defaults));
  EXPECT_EQ(std::get<Options>(defaults).allowed_providers, "/usr/lib*/*,/usr/local/lib*/*");
  EXPECT_EQ(std::get<Options>(defaults).default_lifetime, 0u);
}

TEST(OptionsTest, CommandEndsOptions) {
  auto parsed = parse({"-t60", "sh", "-c", "echo -s"});
  ASSERT_TRUE(std::holds_alternative<Options>(parsed));
  const auto& o = std::get<Options>(parsed);
  EXPECT_EQ(o.default_lifetime, 60u);
  EXPECT_EQ(o.command, (std::vector<std::string>{"sh", "-c", "echo -s"}));
  auto dashed = parse({"--", "-weird-command"});
  ASSERT_TRUE(std::holds_alternative<Options>(dashed));
  EXPECT_EQ(std::get<Options>(dashed).command, (std::vector<std::string>{"-weird-command"}));
}

TEST(OptionsTest, ErrorsAsSshAgent) {
  auto status = [](std::vector<std::string> args) {
    auto parsed = parse(std::move(args));
    return std::holds_alternative<CommandLineError>(parsed) ? std::get<CommandLineError>(parsed).exit_status : 0;
  };
  EXPECT_EQ(status({"-x"}), 1);
  EXPECT_EQ(status({"-c", "-s"}), 1);
  EXPECT_EQ(status({"-d", "-D"}), 1);
  EXPECT_EQ(status({"-t", "bad"}), 1);
  EXPECT_EQ(status({"-a"}), 1);
  EXPECT_EQ(status({"-k", "ls"}), 1);
  EXPECT_EQ(status({"-E", "sha3"}), 255);
  EXPECT_EQ(status({"-O", "nonsense"}), 255);
  EXPECT_EQ(status({"-P", "a", "-P", "b"}), 255);
  EXPECT_EQ(status({"--workers", "0"}), 1);
  EXPECT_EQ(status({"--bogus"}), 1);
  EXPECT_EQ(std::get<CommandLineError>(parse({"-x"})).message, "unknown option -- x");
  EXPECT_EQ(std::get<CommandLineError>(parse({"-t", "1x"})).message, "Invalid lifetime");
}

TEST(OptionsTest, LifetimeFormats) {
  EXPECT_EQ(parse_lifetime("90"), 90u);
  EXPECT_EQ(parse_lifetime("90s"), 90u);
  EXPECT_EQ(parse_lifetime("90m"), 5400u);
  EXPECT_EQ(parse_lifetime("1h30m"), 5400u);
  EXPECT_EQ(parse_lifetime("2d"), 172800u);
  EXPECT_EQ(parse_lifetime("1W"), 604800u);
  EXPECT_EQ(parse_lifetime("0"), 0u);
  EXPECT_EQ(parse_lifetime("2147483647"), 2147483647u);
  EXPECT_FALSE(parse_lifetime(""));
  EXPECT_FALSE(parse_lifetime("h"));
  EXPECT_FALSE(parse_lifetime("-5"));
  EXPECT_FALSE(parse_lifetime("5x"));
  EXPECT_FALSE(parse_lifetime("2147483648"));
  EXPECT_FALSE(parse_lifetime("100000w"));
  EXPECT_FALSE(parse_lifetime("1 h"));
}

TEST(ProvidersTest, OpenSshPatternLists) {
  EXPECT_EQ(key::match_pattern_list("/usr/lib/a.so", std::string(kDefaultAllowedProviders)), 1);
  EXPECT_EQ(key::match_pattern_list("/usr/local/lib64/b.so", std::string(kDefaultAllowedProviders)), 1);
  EXPECT_EQ(key::match_pattern_list("/home/u/evil.so", std::string(kDefaultAllowedProviders)), 0);
  EXPECT_EQ(key::match_pattern_list("/usr/lib/bad.so", "/usr/lib/*,!/usr/lib/bad.so"), -1);
  EXPECT_EQ(key::match_pattern_list("/usr/lib/bad.so", "!/usr/lib/bad.so,/usr/lib/*"), -1);
  EXPECT_FALSE(tokens::allowed_provider_path("/nonexistent/p11.so", kDefaultAllowedProviders).ok());
  test::TempDir dir;
  test::write_file(dir.file("p11.so"), "not really");
  EXPECT_FALSE(tokens::allowed_provider_path(dir.file("p11.so"), kDefaultAllowedProviders).ok());
  auto allowed = tokens::allowed_provider_path(dir.file("p11.so"), dir.path().string() + "/*");
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(*allowed, dir.file("p11.so"));
}

TEST(AuditTest, JsonEscapingAndTime) {
  AuditRecord record;
  record.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  record.peer.pid = 42;
  record.peer.uid = 1000;
  record.peer.exe = "/usr/bin/ssh";
  record.key_fingerprint = "SHA256:abc";
  record.key_comment = "tab\there \"quoted\" \x01";
  record.algorithm = "ssh-ed25519";
  record.result = "ok";
  EXPECT_EQ(audit_json(record),
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"peer\":{\"pid\":42,\"uid\":1000,\"exe\":\"/usr/bin/ssh\"},"
            "\"key\":{\"fingerprint\":\"SHA256:abc\",\"comment\":\"tab\\there \\\"quoted\\\" \\u0001\"},"
            "\"algorithm\":\"ssh-ed25519\",\"session_bind\":null,\"result\":\"ok\"}");
}

TEST(AgentTest, StopsCleanlyWithWorkInFlight) {
  for (int round = 0; round < 3; ++round) {
    RunningAgent agent;
    ASSERT_TRUE(agent.ok());
    RawClient client(agent.socket_path());
    const PrivateKey& slow = test_key(KeyType::kRsa, 4096);
    ASSERT_TRUE(is_success(client.call(add_request(slow, "slow"))));
    for (int i = 0; i < 10; ++i) client.send_request(SignRequest{slow.public_key().blob(), kData, 0});
    // The agent is destroyed with signatures queued and running.
  }
}

}  // namespace
}  // namespace tessera::agent::daemon
