// PINs, user verification, user presence and resident keys, through the
// dlopen'd tessera-sk-fido2.so against the simulator, with both PIN/UV auth
// protocols that libfido2 speaks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "fido_sim_util.h"
#include "middleware.h"
#include "simulator.h"

namespace tessera::fidotest {
namespace {

using fidosim::SimConfig;
using fidosim::Simulator;

constexpr const char* kPin = "1234";
constexpr uint8_t kUp = SSH_SK_USER_PRESENCE_REQD;
constexpr uint8_t kUv = SSH_SK_USER_VERIFICATION_REQD;
constexpr uint8_t kResident = SSH_SK_RESIDENT_KEY;

// The parameter: whether the authenticator offers PIN/UV auth protocol 2
// (libfido2 then uses it) or only protocol 1.
SimConfig with_pin(bool protocol_two) {
  SimConfig config;
  config.pin = kPin;
  config.pin_protocol_two = protocol_two;
  return config;
}

// A credential as enrolled, kept for signing.
struct Enrolled {
  uint32_t alg = 0;
  std::string application;
  Bytes public_key;
  Bytes key_handle;
  uint8_t flags = 0;
};

class PinTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(module_.loaded()) << module_.error();
    ASSERT_TRUE(sim_.listening());
  }

  int enroll(uint32_t alg, uint8_t flags, const char* pin, Enrolled* out = nullptr,
             const std::string& application = "ssh:", const std::string& user = "") {
    const uint8_t challenge[32] = {9};
    Options options;
    if (!user.empty()) options.add("user", user);
    sk_enroll_response* response = nullptr;
    const int r = module_.enroll(alg, challenge, sizeof(challenge), application.c_str(), flags, pin, options.get(),
                                 &response);
    if (r == 0 && out != nullptr) {
      out->alg = alg;
      out->application = application;
      out->public_key.assign(response->public_key, response->public_key + response->public_key_len);
      out->key_handle.assign(response->key_handle, response->key_handle + response->key_handle_len);
      out->flags = response->flags;
    }
    free_enroll_response(response);
    return r;
  }

  // Signs and, on success, checks the signature with libkey.
  int sign(const Enrolled& key, uint8_t flags, const char* pin, uint8_t* response_flags = nullptr) {
    const std::string message = "sign me";
    const Bytes data(message.begin(), message.end());
    sk_sign_response* response = nullptr;
    const int r = module_.sign(key.alg, data.data(), data.size(), key.application.c_str(), key.key_handle.data(),
                               key.key_handle.size(), flags, pin, nullptr, &response);
    if (r != 0) {
      EXPECT_EQ(response, nullptr);
      return r;
    }
    if (response_flags != nullptr) *response_flags = response->flags;
    auto verified = verify_sk_signature(key.alg, key.public_key, key.application, data, response->flags,
                                        response->counter, {response->sig_r, response->sig_r_len},
                                        {response->sig_s, response->sig_s_len});
    EXPECT_TRUE(verified.ok()) << verified.error().message();
    free_sign_response(response);
    return r;
  }

  Module module_;
  Simulator sim_{with_pin(GetParam())};
  ScopedEnv device_{"TESSERA_FIDO_TEST_DEVICE", sim_.socket_path()};
  ScopedEnv timeout_{"TESSERA_FIDO_TEST_TIMEOUT_MS", std::string("3000")};
};

TEST_P(PinTest, EnrolmentNeedsTheRightPin) {
  EXPECT_EQ(enroll(SSH_SK_ED25519, kUp, nullptr), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(enroll(SSH_SK_ED25519, kUp, "0000"), SSH_SK_ERR_PIN_REQUIRED) << "a wrong PIN asks for it again";
  EXPECT_EQ(sim_.stats().pin_failures, 1);
  EXPECT_EQ(sim_.pin_retries(), 7);
  Enrolled key;
  ASSERT_EQ(enroll(SSH_SK_ED25519, kUp, kPin, &key), 0);
  EXPECT_EQ(sim_.pin_retries(), 8) << "the right PIN resets the count";
  EXPECT_EQ(sim_.stats().pin_protocol, GetParam() ? 2 : 1);
  // An ordinary key signs without the PIN (a touch is enough), and the
  // signature says the user was present but not verified.
  uint8_t flags = 0;
  ASSERT_EQ(sign(key, kUp, nullptr, &flags), 0);
  EXPECT_EQ(flags & 0x05, 0x01);
}

TEST_P(PinTest, VerifyRequiredKeysSignOnlyWithThePin) {
  Enrolled key;
  ASSERT_EQ(enroll(SSH_SK_ECDSA, kUp | kUv, kPin, &key), 0);
  EXPECT_EQ(key.flags, kUp | kUv);
  EXPECT_EQ(sign(key, kUp | kUv, nullptr), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(sign(key, kUp | kUv, "9999"), SSH_SK_ERR_PIN_REQUIRED);
  uint8_t flags = 0;
  ASSERT_EQ(sign(key, kUp | kUv, kPin, &flags), 0);
  EXPECT_EQ(flags & 0x05, 0x05) << "user present and verified";
  // The authenticator's credProtect keeps the credential from anyone who
  // leaves out the verification flag.
  EXPECT_NE(sign(key, kUp, nullptr), 0);
}

TEST_P(PinTest, NoTouchRequiredKeysSignWithoutATouch) {
  Enrolled key;
  ASSERT_EQ(enroll(SSH_SK_ED25519, 0, kPin, &key), 0);
  sim_.update([](SimConfig& c) { c.touch_never = true; });
  const int touches = sim_.stats().touch_requests;
  uint8_t flags = 0xff;
  ASSERT_EQ(sign(key, 0, nullptr, &flags), 0);
  EXPECT_EQ(flags & 0x01, 0) << "user presence flag clear";
  EXPECT_EQ(sim_.stats().touch_requests, touches) << "the authenticator never asked for a touch";
}

TEST_P(PinTest, ResidentKeysAreMadeAndLoadedWithThePin) {
  Enrolled ecdsa;
  Enrolled ed25519;
  ASSERT_EQ(enroll(SSH_SK_ECDSA, kUp | kResident, kPin, &ecdsa, "ssh:work"), 0);
  ASSERT_EQ(enroll(SSH_SK_ED25519, kUp | kUv | kResident, kPin, &ed25519, "ssh:", "alice"), 0);
  // A WebAuthn credential of some web site is not an SSH key.
  {
    tessera::fido2::EnrollRequest web;
    web.alg = SSH_SK_ECDSA;
    web.application = "webauthn.example.org";
    web.flags = kUp | kResident;
    web.pin = kPin;
    ASSERT_TRUE(tessera::fido2::enroll(tessera::fido2::device_source_from_environment(), web).ok());
  }
  EXPECT_EQ(sim_.resident_count(), 3u);

  sk_resident_key** rks = nullptr;
  size_t n = 0;
  EXPECT_EQ(module_.load_resident_keys(nullptr, nullptr, &rks, &n), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(module_.load_resident_keys("4321", nullptr, &rks, &n), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(module_.load_resident_keys(kPin, nullptr, &rks, &n), 0);
  ASSERT_EQ(n, 2u);
  for (size_t i = 0; i < n; ++i) {
    const sk_resident_key* rk = rks[i];
    const Enrolled& made = std::string(rk->application) == "ssh:work" ? ecdsa : ed25519;
    EXPECT_EQ(rk->application, made.application);
    EXPECT_EQ(rk->alg, made.alg);
    EXPECT_EQ(Bytes(rk->key.public_key, rk->key.public_key + rk->key.public_key_len), made.public_key);
    EXPECT_EQ(Bytes(rk->key.key_handle, rk->key.key_handle + rk->key.key_handle_len), made.key_handle);
    ASSERT_EQ(rk->user_id_len, 32u);
    if (&made == &ed25519) {
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(rk->user_id)), "alice");
      EXPECT_EQ(rk->flags, kUv) << "credProtect says it needs user verification";
    } else {
      EXPECT_EQ(rk->user_id[0], 0) << "no user option: 32 zero bytes";
      EXPECT_EQ(rk->flags, 0);
    }
  }
  free_resident_keys(rks, n);
  // A loaded key signs.
  EXPECT_EQ(sign(ecdsa, kUp, nullptr), 0);
  EXPECT_EQ(sign(ed25519, kUp | kUv, kPin), 0);
}

TEST_P(PinTest, AnExistingResidentKeyIsReportedUnlessForced) {
  ASSERT_EQ(enroll(SSH_SK_ED25519, kUp | kResident, kPin, nullptr, "ssh:", "bob"), 0);
  EXPECT_EQ(enroll(SSH_SK_ED25519, kUp | kResident, kPin, nullptr, "ssh:", "bob"), SSH_SK_ERR_CREDENTIAL_EXISTS);
  EXPECT_EQ(sim_.resident_count(), 1u);
  // Another user of the same application is another credential.
  ASSERT_EQ(enroll(SSH_SK_ED25519, kUp | kResident, kPin, nullptr, "ssh:", "carol"), 0);
  EXPECT_EQ(sim_.resident_count(), 2u);
  // ssh-keygen's "overwrite?" answer: the force flag replaces it.
  Enrolled replaced;
  ASSERT_EQ(enroll(SSH_SK_ED25519, kUp | kResident | SSH_SK_FORCE_OPERATION, kPin, &replaced, "ssh:", "bob"),
            0);
  EXPECT_EQ(replaced.flags, kUp | kResident) << "the force flag is no key flag";
  EXPECT_EQ(sim_.resident_count(), 2u);
}

TEST_P(PinTest, NoResidentKeysIsAnEmptyList) {
  sk_resident_key** rks = nullptr;
  size_t n = 7;
  ASSERT_EQ(module_.load_resident_keys(kPin, nullptr, &rks, &n), 0);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(rks, nullptr);
}

TEST_P(PinTest, ThreeWrongPinsBlockUntilReinserted) {
  for (int i = 0; i < 2; ++i) EXPECT_EQ(enroll(SSH_SK_ECDSA, kUp, "0000"), SSH_SK_ERR_PIN_REQUIRED);
  tessera::fido2::EnrollRequest request;
  request.application = "ssh:";
  request.pin = "0000";
  auto third = tessera::fido2::enroll(tessera::fido2::device_source_from_environment(), request);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.failure().code, SSH_SK_ERR_GENERAL) << "asking for the PIN again would not help";
  EXPECT_NE(third.failure().message.find("insert it again"), std::string::npos) << third.failure().message;
  EXPECT_NE(enroll(SSH_SK_ECDSA, kUp, kPin), 0) << "blocked even with the right PIN";
  sim_.power_cycle();
  EXPECT_EQ(enroll(SSH_SK_ECDSA, kUp, kPin), 0);
}

INSTANTIATE_TEST_SUITE_P(PinProtocols, PinTest, ::testing::Values(true, false),
                         [](const auto& param_info) { return param_info.param ? "Two" : "One"; });

TEST(PinlessAuthenticator, ResidentKeysNeedCredProtect) {
  Module module;
  ASSERT_TRUE(module.loaded()) << module.error();
  SimConfig config;
  config.cred_protect = false;
  Simulator sim(config);
  const ScopedEnv device("TESSERA_FIDO_TEST_DEVICE", sim.socket_path());
  const uint8_t challenge[32] = {};
  sk_enroll_response* response = nullptr;
  EXPECT_EQ(module.enroll(SSH_SK_ECDSA, challenge, sizeof(challenge), "ssh:", kUp | kResident, nullptr, nullptr,
                          &response),
            SSH_SK_ERR_UNSUPPORTED);
  EXPECT_EQ(response, nullptr);
  EXPECT_EQ(sim.credential_count(), 0u);
  // An ordinary key is fine.
  ASSERT_EQ(module.enroll(SSH_SK_ECDSA, challenge, sizeof(challenge), "ssh:", kUp, nullptr, nullptr, &response), 0);
  free_enroll_response(response);
}

}  // namespace
}  // namespace tessera::fidotest
