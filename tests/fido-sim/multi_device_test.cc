// Several authenticators at once (two simulators in the device list), as
// OpenSSH's middleware handles them: a signature finds the authenticator that
// holds the credential with a silent probe; an enrolment (or a signature with
// a PIN) uses the one a person touches; the "device" option names one.
#include <gtest/gtest.h>

#include <string>

#include "fido_sim_util.h"
#include "middleware.h"
#include "simulator.h"

namespace tessera::fidotest {
namespace {

using fidosim::SimConfig;
using fidosim::Simulator;

constexpr int kTimeoutMs = 3000;

SimConfig untouched() {
  SimConfig config;
  config.touch_never = true;
  return config;
}

SimConfig touched_after(int ms) {
  SimConfig config;
  config.touch_delay_ms = ms;
  return config;
}

fido2::Outcome<fido2::Enrollment> enroll(const fido2::DeviceSource& source, const char* pin = nullptr,
                                         std::vector<fido2::Option> options = {}) {
  fido2::EnrollRequest request;
  request.alg = SSH_SK_ED25519;
  request.application = "ssh:";
  request.pin = pin;
  request.options = std::move(options);
  return fido2::enroll(source, request);
}

fido2::Outcome<fido2::Signature> sign(const fido2::DeviceSource& source, const fido2::Enrollment& key,
                                      uint8_t flags = SSH_SK_USER_PRESENCE_REQD, const char* pin = nullptr) {
  static const Bytes data = {'m'};
  fido2::SignRequest request;
  request.alg = SSH_SK_ED25519;
  request.application = "ssh:";
  request.key_handle = key.key_handle;
  request.flags = flags;
  request.pin = pin;
  request.data = data;
  return fido2::sign(source, request);
}

TEST(SeveralAuthenticators, EnrolmentUsesTheOneTouched) {
  Simulator idle(untouched());
  Simulator chosen(touched_after(300));
  const auto source = socket_source({idle.socket_path(), chosen.socket_path()}, kTimeoutMs);
  auto key = enroll(source);
  ASSERT_TRUE(key.ok()) << key.failure().message;
  EXPECT_EQ(idle.credential_count(), 0u);
  // The touched one holds the credential (and a throwaway one from the
  // touch request itself, which libfido2 makes as a dummy credential when
  // the authenticator has no PIN support).
  EXPECT_GE(chosen.credential_count(), 1u);
  // The idle authenticator's touch request was cancelled, not left pending.
  EXPECT_EQ(idle.stats().touch_requests, 1);
}

TEST(SeveralAuthenticators, NobodyTouchingAnyIsAClearError) {
  Simulator a(untouched());
  Simulator b(untouched());
  auto key = enroll(socket_source({a.socket_path(), b.socket_path()}, 800));
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.failure().message.find("nobody touched"), std::string::npos) << key.failure().message;
}

TEST(SeveralAuthenticators, SigningFindsTheHolderWithoutATouch) {
  Simulator other;
  Simulator holder;
  auto key = enroll(socket_source({holder.socket_path()}, kTimeoutMs));
  ASSERT_TRUE(key.ok()) << key.failure().message;
  const int other_touches = other.stats().touch_requests;
  for (const auto& order : {std::vector{other.socket_path(), holder.socket_path()},
                            std::vector{holder.socket_path(), other.socket_path()}}) {
    auto signature = sign(socket_source(order, kTimeoutMs), key.value());
    ASSERT_TRUE(signature.ok()) << signature.failure().message;
    EXPECT_TRUE(verify_sk_signature(SSH_SK_ED25519, key->public_key, "ssh:", Bytes{'m'}, signature->flags,
                                    signature->counter, signature->sig_r, signature->sig_s)
                    .ok());
  }
  EXPECT_EQ(other.stats().touch_requests, other_touches) << "the silent probe needs no touch";
  EXPECT_EQ(other.stats().assertions, 0);
}

TEST(SeveralAuthenticators, NoHolderIsDeviceNotFound) {
  Simulator a;
  Simulator b;
  Simulator maker;
  auto key = enroll(socket_source({maker.socket_path()}, kTimeoutMs));
  ASSERT_TRUE(key.ok());
  auto signature = sign(socket_source({a.socket_path(), b.socket_path()}, kTimeoutMs), key.value());
  ASSERT_FALSE(signature.ok());
  EXPECT_EQ(signature.failure().code, SSH_SK_ERR_DEVICE_NOT_FOUND);
}

TEST(SeveralAuthenticators, WithAPinTheOneTouchedSigns) {
  SimConfig with_pin = touched_after(300);
  with_pin.pin = "1234";
  Simulator holder(with_pin);
  SimConfig idle_with_pin = untouched();
  idle_with_pin.pin = "1234";
  Simulator idle(idle_with_pin);
  auto key = enroll(socket_source({holder.socket_path()}, kTimeoutMs), "1234");
  ASSERT_TRUE(key.ok()) << key.failure().message;
  auto signature = sign(socket_source({idle.socket_path(), holder.socket_path()}, kTimeoutMs), key.value(),
                        SSH_SK_USER_PRESENCE_REQD | SSH_SK_USER_VERIFICATION_REQD, "1234");
  ASSERT_TRUE(signature.ok()) << signature.failure().message;
  EXPECT_EQ(signature->flags & 0x05, 0x05);
}

TEST(SeveralAuthenticators, TheDeviceOptionNamesOne) {
  Simulator a(untouched());
  Simulator b;
  const auto source = socket_source({a.socket_path(), b.socket_path()}, kTimeoutMs);
  auto key = enroll(source, nullptr, {{"device", b.socket_path(), false}});
  ASSERT_TRUE(key.ok()) << key.failure().message;
  EXPECT_EQ(a.stats().connections, 0) << "the other one was not even opened";
  EXPECT_EQ(b.credential_count(), 1u);
}

}  // namespace
}  // namespace tessera::fidotest
