// The whole chain tessera uses: the client library (skclient) starts
// tessera-sk-helper, which loads the "internal" middleware
// (tessera-sk-fido2.so beside it), which talks to the simulated
// authenticator through the test hook the helper inherits.
#include <gtest/gtest.h>

#include <string>

#include "fido_sim_util.h"
#include "simulator.h"
#include "tessera/fido/client.h"
#include "test_support.h"

namespace tessera::fidotest {
namespace {

using fidosim::Fault;
using fidosim::SimConfig;
using fidosim::Simulator;

class HelperChain : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sim_.listening()); }

  fido::Target target(const char* pin = nullptr) const {
    fido::Target t;
    t.provider = "internal";
    t.helper_program = test::tessera_bin("tessera-sk-helper");
    t.timeout = std::chrono::seconds(20);
    if (pin != nullptr) t.pin = key::SecretBytes::copy_of(std::string_view(pin));
    return t;
  }

  Simulator sim_;
  ScopedEnv device_{"TESSERA_FIDO_TEST_DEVICE", sim_.socket_path()};
  ScopedEnv timeout_{"TESSERA_FIDO_TEST_TIMEOUT_MS", std::string("2000")};
};

TEST_F(HelperChain, EnrolsAndSignsThroughTheHelper) {
  for (auto alg : {fido::Algorithm::kEd25519, fido::Algorithm::kEcdsaP256}) {
    const Bytes challenge(32, 7);
    auto enrolled = fido::enroll(target(), alg, "ssh:chain", SSH_SK_USER_PRESENCE_REQD, challenge, {});
    ASSERT_TRUE(enrolled.ok()) << enrolled.error().message();
    auto public_key = fido::public_key(enrolled->credential);
    ASSERT_TRUE(public_key.ok()) << public_key.error().message();

    const Bytes data = {'c', 'h', 'a', 'i', 'n'};
    auto assertion = fido::sign(target(), alg, "ssh:chain", enrolled->credential.key_handle.reveal(),
                                SSH_SK_USER_PRESENCE_REQD, data);
    ASSERT_TRUE(assertion.ok()) << assertion.error().message();
    auto blob = fido::signature_blob(alg, assertion.value());
    ASSERT_TRUE(blob.ok()) << blob.error().message();
    auto verified = public_key->verify(blob.value(), data);
    EXPECT_TRUE(verified.ok()) << verified.error().message();
  }
}

TEST_F(HelperChain, PinRequiredAndResidentKeysCarryTheirCodes) {
  sim_.update([](SimConfig& c) { c.pin = "2468"; });
  const Bytes challenge(32, 1);
  const uint8_t flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY;
  const Bytes user = {'e', 'v', 'e'};
  auto without = fido::enroll(target(), fido::Algorithm::kEd25519, "ssh:", flags, challenge, user);
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(fido::sk_error_code(without.error()), fido::ErrorCode::kPinRequired) << without.error().message();
  auto with = fido::enroll(target("2468"), fido::Algorithm::kEd25519, "ssh:", flags, challenge, user);
  ASSERT_TRUE(with.ok()) << with.error().message();
  auto again = fido::enroll(target("2468"), fido::Algorithm::kEd25519, "ssh:", flags, challenge, user);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(fido::sk_error_code(again.error()), fido::ErrorCode::kCredentialExists) << again.error().message();

  auto listed = fido::load_resident_keys(target("2468"));
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().application, "ssh:");
  EXPECT_EQ(listed->front().public_key, with->credential.public_key);
  ASSERT_GE(listed->front().user_id.size(), user.size());
  EXPECT_TRUE(std::equal(user.begin(), user.end(), listed->front().user_id.begin()));
}

TEST_F(HelperChain, ASilentAuthenticatorEndsInAnErrorNotAHang) {
  const Bytes challenge(32, 2);
  sim_.update([](SimConfig& c) { c.fault = Fault::kKeepaliveForever; });
  auto enrolled = fido::enroll(target(), fido::Algorithm::kEcdsaP256, "ssh:", SSH_SK_USER_PRESENCE_REQD, challenge, {});
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(fido::sk_error_code(enrolled.error()), fido::ErrorCode::kGeneral) << enrolled.error().message();
}

}  // namespace
}  // namespace tessera::fidotest
