// tessera-sk-fido2.so, loaded with dlopen as OpenSSH loads a middleware,
// against the simulated authenticator through the test hook
// (TESSERA_FIDO_TEST_DEVICE): enrolment and signatures for both algorithms,
// each signature checked with libkey as sshd would check it.
#include <gtest/gtest.h>

#include <string>

#include "fido_sim_util.h"
#include "simulator.h"

namespace tessera::fidotest {
namespace {

using fidosim::SimConfig;
using fidosim::Simulator;

constexpr const char* kApplication = "ssh:";

class MiddlewareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(module_.loaded()) << module_.error();
    ASSERT_TRUE(sim_.listening());
  }

  // Enrols a credential; the response is owned by the test.
  sk_enroll_response* enroll(uint32_t alg, uint8_t flags, const char* pin = nullptr, sk_option** options = nullptr,
                             int* result = nullptr) {
    const uint8_t challenge[32] = {1, 2, 3};
    sk_enroll_response* response = nullptr;
    const int r = module_.enroll(alg, challenge, sizeof(challenge), kApplication, flags, pin, options, &response);
    if (result != nullptr) *result = r;
    if (r != 0) {
      EXPECT_EQ(response, nullptr);
    }
    return response;
  }

  Module module_;
  Simulator sim_;
  ScopedEnv device_{"TESSERA_FIDO_TEST_DEVICE", sim_.socket_path()};
  ScopedEnv timeout_{"TESSERA_FIDO_TEST_TIMEOUT_MS", std::string("3000")};
};

TEST_F(MiddlewareTest, ReportsTheAbiVersion) {
  EXPECT_EQ(module_.api_version() & SSH_SK_VERSION_MAJOR_MASK, static_cast<uint32_t>(SSH_SK_VERSION_MAJOR));
}

class EnrollAndSign : public MiddlewareTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(EnrollAndSign, SignaturesVerifyAsSshdChecksThem) {
  const uint32_t alg = GetParam();
  sk_enroll_response* enrolled = enroll(alg, SSH_SK_USER_PRESENCE_REQD);
  ASSERT_NE(enrolled, nullptr);
  EXPECT_EQ(enrolled->flags, SSH_SK_USER_PRESENCE_REQD);
  if (alg == SSH_SK_ED25519) {
    EXPECT_EQ(enrolled->public_key_len, 32u);
  } else {
    ASSERT_EQ(enrolled->public_key_len, 65u);
    EXPECT_EQ(enrolled->public_key[0], 0x04);
  }
  EXPECT_GT(enrolled->key_handle_len, 0u);
  EXPECT_GT(enrolled->signature_len, 0u) << "the self attestation's signature";
  EXPECT_EQ(enrolled->attestation_cert_len, 0u);
  EXPECT_GT(enrolled->authdata_len, 37u);

  uint32_t last_counter = 0;
  for (const std::string message : {"first message", "second message"}) {
    const Bytes data(message.begin(), message.end());
    sk_sign_response* signed_ = nullptr;
    ASSERT_EQ(module_.sign(alg, data.data(), data.size(), kApplication, enrolled->key_handle,
                           enrolled->key_handle_len, SSH_SK_USER_PRESENCE_REQD, nullptr, nullptr, &signed_),
              0);
    ASSERT_NE(signed_, nullptr);
    EXPECT_EQ(signed_->flags & 0x01, 0x01) << "user present";
    EXPECT_GT(signed_->counter, last_counter);
    last_counter = signed_->counter;
    if (alg == SSH_SK_ED25519) {
      EXPECT_EQ(signed_->sig_r_len, 64u);
      EXPECT_EQ(signed_->sig_s, nullptr);
    } else {
      EXPECT_LE(signed_->sig_r_len, 32u);
      EXPECT_LE(signed_->sig_s_len, 32u);
    }
    auto verified = verify_sk_signature(alg, {enrolled->public_key, enrolled->public_key_len}, kApplication, data,
                                        signed_->flags, signed_->counter, {signed_->sig_r, signed_->sig_r_len},
                                        {signed_->sig_s, signed_->sig_s_len});
    EXPECT_TRUE(verified.ok()) << verified.error().message();
    // The same signature over other data must not verify.
    const Bytes other = {'x'};
    EXPECT_FALSE(verify_sk_signature(alg, {enrolled->public_key, enrolled->public_key_len}, kApplication, other,
                                     signed_->flags, signed_->counter, {signed_->sig_r, signed_->sig_r_len},
                                     {signed_->sig_s, signed_->sig_s_len})
                     .ok());
    free_sign_response(signed_);
  }
  EXPECT_EQ(sim_.stats().touch_requests, 3) << "one touch to enrol, one per signature";
  free_enroll_response(enrolled);
}

INSTANTIATE_TEST_SUITE_P(BothAlgorithms, EnrollAndSign, ::testing::Values(SSH_SK_ECDSA, SSH_SK_ED25519),
                         [](const auto& param_info) { return param_info.param == SSH_SK_ECDSA ? "Ecdsa" : "Ed25519"; });

}  // namespace
}  // namespace tessera::fidotest
