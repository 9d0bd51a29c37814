// A misbehaving authenticator: every fault gives a clear error within a
// bounded time, and nothing crashes (the suite also runs under ASan/UBSan in
// the sanitizer build).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "fido_sim_util.h"
#include "middleware.h"
#include "simulator.h"

namespace tessera::fidotest {
namespace {

using fido2::DeviceSource;
using fidosim::Fault;
using fidosim::SimConfig;
using fidosim::Simulator;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 1000;
// What "bounded" means here: the deadline plus the opening of the device
// and slack for a loaded machine.
constexpr auto kBound = std::chrono::seconds(6);
constexpr const char* kPin = "1234";

// kPinExchange: loading resident keys with the fault on clientPIN.
enum class Operation { kSign, kEnroll, kLoadResidentKeys, kPinExchange };

struct FaultCase {
  Fault fault;
  Operation operation;
  const char* name;
};

class FaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  void SetUp() override { ASSERT_TRUE(sim_.listening()); }

  fido2::Outcome<fido2::Enrollment> enroll(uint8_t flags = SSH_SK_USER_PRESENCE_REQD, const char* pin = nullptr) {
    fido2::EnrollRequest request;
    request.alg = SSH_SK_ECDSA;
    request.application = "ssh:";
    request.flags = flags;
    request.pin = pin;
    const uint8_t challenge[32] = {};
    request.challenge = challenge;
    return fido2::enroll(source_, request);
  }

  fido2::Outcome<fido2::Signature> sign(const fido2::Enrollment& key) {
    fido2::SignRequest request;
    request.alg = SSH_SK_ECDSA;
    request.application = "ssh:";
    request.key_handle = key.key_handle;
    request.data = data_;
    return fido2::sign(source_, request);
  }

  Simulator sim_;
  DeviceSource source_ = socket_source({sim_.socket_path()}, kTimeoutMs);
  const Bytes data_ = {'d', 'a', 't', 'a'};
};

TEST_P(FaultTest, FailsClearlyInBoundedTime) {
  const FaultCase& c = GetParam();
  std::optional<fido2::Enrollment> key;
  const bool loading = c.operation == Operation::kLoadResidentKeys || c.operation == Operation::kPinExchange;
  if (c.operation != Operation::kEnroll) {
    if (loading) sim_.update([](SimConfig& s) { s.pin = kPin; });
    auto made = enroll(SSH_SK_USER_PRESENCE_REQD | (loading ? SSH_SK_RESIDENT_KEY : 0), loading ? kPin : nullptr);
    ASSERT_TRUE(made.ok()) << made.failure().message;
    key = std::move(made.value());
  }
  sim_.update([&](SimConfig& s) {
    s.fault = c.fault;
    s.fault_command = c.operation == Operation::kSign     ? fidosim::kCtapGetAssertion
                      : c.operation == Operation::kEnroll ? fidosim::kCtapMakeCredential
                      : c.operation == Operation::kPinExchange ? fidosim::kCtapClientPin
                                                               : fidosim::kCtapCredentialManagement;
  });
  const auto start = Clock::now();
  fido2::Failure failure;
  switch (c.operation) {
    case Operation::kSign: {
      auto r = sign(*key);
      ASSERT_FALSE(r.ok());
      failure = r.failure();
      break;
    }
    case Operation::kEnroll: {
      auto r = enroll();
      ASSERT_FALSE(r.ok());
      failure = r.failure();
      break;
    }
    case Operation::kLoadResidentKeys:
    case Operation::kPinExchange: {
      auto r = fido2::load_resident_keys(source_, kPin, {});
      ASSERT_FALSE(r.ok());
      failure = r.failure();
      break;
    }
  }
  EXPECT_LT(Clock::now() - start, kBound);
  EXPECT_EQ(failure.code, SSH_SK_ERR_GENERAL) << failure.message;
  EXPECT_NE(failure.message.find("authenticator"), std::string::npos) << failure.message;
  std::printf("%s: %s\n", c.name, failure.message.c_str());
  // The device still works once it behaves.
  sim_.update([](SimConfig& s) { s.fault = Fault::kNone; });
  EXPECT_TRUE(enroll(SSH_SK_USER_PRESENCE_REQD, sim_.pin() ? kPin : nullptr).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultTest,
    ::testing::Values(FaultCase{Fault::kTruncatedCbor, Operation::kSign, "TruncatedSign"},
                      FaultCase{Fault::kTruncatedCbor, Operation::kEnroll, "TruncatedEnroll"},
                      FaultCase{Fault::kTruncatedCbor, Operation::kLoadResidentKeys, "TruncatedLoad"},
                      FaultCase{Fault::kOversizedReply, Operation::kSign, "OversizedSign"},
                      FaultCase{Fault::kOversizedReply, Operation::kEnroll, "OversizedEnroll"},
                      FaultCase{Fault::kOversizedReply, Operation::kLoadResidentKeys, "OversizedLoad"},
                      FaultCase{Fault::kNeverAnswer, Operation::kSign, "SilentSign"},
                      FaultCase{Fault::kNeverAnswer, Operation::kEnroll, "SilentEnroll"},
                      FaultCase{Fault::kNeverAnswer, Operation::kLoadResidentKeys, "SilentLoad"},
                      FaultCase{Fault::kKeepaliveForever, Operation::kSign, "KeepaliveSign"},
                      FaultCase{Fault::kKeepaliveForever, Operation::kEnroll, "KeepaliveEnroll"},
                      FaultCase{Fault::kKeepaliveForever, Operation::kLoadResidentKeys, "KeepaliveLoad"},
                      FaultCase{Fault::kWrongCredential, Operation::kSign, "WrongCredential"},
                      FaultCase{Fault::kTruncatedCbor, Operation::kPinExchange, "TruncatedPinExchange"},
                      FaultCase{Fault::kNeverAnswer, Operation::kPinExchange, "SilentPinExchange"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(FaultTest, AnAssertionForAnotherCredentialIsRejected) {
  auto key = enroll();
  ASSERT_TRUE(key.ok());
  sim_.update([](SimConfig& s) { s.fault = Fault::kWrongCredential; });
  auto r = sign(key.value());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failure().message.find("different credential"), std::string::npos) << r.failure().message;
}

// The middleware keeps no state between calls, so it cannot see a counter
// go backwards: it hands on exactly what the authenticator signed, and the
// signature still verifies, so the caller (which knows the last counter) can
// notice the clone or reset.
TEST_F(FaultTest, ACounterGoingBackwardsIsHandedOnFaithfully) {
  auto key = enroll();
  ASSERT_TRUE(key.ok());
  sim_.update([](SimConfig& s) { s.fault = Fault::kCounterBackwards; });
  auto first = sign(key.value());
  auto second = sign(key.value());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_LT(second->counter, first->counter);
  for (const auto* s : {&first.value(), &second.value()}) {
    EXPECT_TRUE(verify_sk_signature(SSH_SK_ECDSA, key->public_key, "ssh:", data_, s->flags, s->counter, s->sig_r,
                                    s->sig_s)
                    .ok());
  }
}

TEST_F(FaultTest, ADeadDeviceIsNotFoundInBoundedTime) {
  sim_.update([](SimConfig& s) { s.fault = Fault::kNeverAnswerInit; });
  const auto start = Clock::now();
  auto r = enroll();
  EXPECT_LT(Clock::now() - start, kBound);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().code, SSH_SK_ERR_DEVICE_NOT_FOUND) << r.failure().message;
}

TEST_F(FaultTest, NobodyTouchingIsAClearError) {
  // The authenticator gives up first...
  sim_.update([](SimConfig& s) {
    s.touch_never = true;
    s.user_action_timeout_ms = 300;
  });
  auto r = enroll();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.failure().message.find("touched"), std::string::npos) << r.failure().message;
  // ...or the middleware does, and cancels the request.
  sim_.update([](SimConfig& s) { s.user_action_timeout_ms = 60000; });
  const auto start = Clock::now();
  r = enroll();
  EXPECT_LT(Clock::now() - start, kBound);
  ASSERT_FALSE(r.ok());
  for (int i = 0; i < 50 && sim_.stats().cancels == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sim_.stats().cancels, 1) << "the middleware cancelled the touch request it gave up on";
}

TEST_F(FaultTest, ALateTouchIsWaitedFor) {
  sim_.update([](SimConfig& s) { s.touch_delay_ms = 400; });
  auto key = enroll();
  ASSERT_TRUE(key.ok()) << key.failure().message;
  auto s = sign(key.value());
  ASSERT_TRUE(s.ok()) << s.failure().message;
  EXPECT_EQ(sim_.stats().touch_requests, 2);
}

}  // namespace
}  // namespace tessera::fidotest
