// The middleware's checks of what an authenticator returns (middleware.h),
// and its handling of the ABI's arguments, without a device.
#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>

#include <string>

#include "fido_sim_util.h"
#include "middleware.h"

namespace tessera::fido2 {
namespace {

using fidotest::ScopedEnv;

Bytes der_signature(const Bytes& r, const Bytes& s) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr),
                 BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

TEST(EcdsaSignature, SplitsCanonicalDerIntoRAndS) {
  const Bytes r = {0x01, 0x02, 0x03};
  const Bytes s(32, 0x7f);
  auto parts = split_ecdsa_signature(der_signature(r, s));
  ASSERT_TRUE(parts.ok()) << parts.failure().message;
  EXPECT_EQ(parts->first, r);
  EXPECT_EQ(parts->second, s);
}

TEST(EcdsaSignature, RejectsTrailingDataBerAndOutOfRangeValues) {
  Bytes good = der_signature({0x05}, {0x06});
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(split_ecdsa_signature(trailing).ok());
  EXPECT_FALSE(split_ecdsa_signature(Bytes{}).ok());
  EXPECT_FALSE(split_ecdsa_signature(Bytes(100, 0x30)).ok());
  // A padded integer (02 02 00 05) is valid BER but not DER.
  const Bytes padded = {0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x06};
  EXPECT_FALSE(split_ecdsa_signature(padded).ok());
  // r = 0, and s = the group order n: both outside 1..n-1.
  EXPECT_FALSE(split_ecdsa_signature(Bytes{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x06}).ok());
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  Bytes order(32);
  BN_bn2bin(EC_GROUP_get0_order(group), order.data());
  EC_GROUP_free(group);
  EXPECT_FALSE(split_ecdsa_signature(der_signature({0x05}, order)).ok());
}

TEST(EcdsaPublicKey, AcceptsACurvePointAndRejectsOthers) {
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  const EC_POINT* generator = EC_GROUP_get0_generator(group);
  Bytes point(65);
  EC_POINT_point2oct(group, generator, POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(), nullptr);
  EC_GROUP_free(group);
  const Bytes x_and_y(point.begin() + 1, point.end());
  auto key = ecdsa_public_key(x_and_y);
  ASSERT_TRUE(key.ok()) << key.failure().message;
  EXPECT_EQ(key.value(), point);

  Bytes off_curve = x_and_y;
  off_curve.back() ^= 1;
  EXPECT_FALSE(ecdsa_public_key(off_curve).ok());
  EXPECT_FALSE(ecdsa_public_key(Bytes(63, 1)).ok());
  EXPECT_FALSE(ecdsa_public_key(Bytes(64, 0xff)).ok()) << "coordinates beyond the field";
}

TEST(CborByteString, ReadsDefiniteLengthsAndRejectsTheRest) {
  auto small = cbor_byte_string(Bytes{0x43, 1, 2, 3});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->size(), 3u);
  Bytes two_byte_length = {0x59, 0x00, 0x25};
  two_byte_length.resize(3 + 0x25, 7);
  auto longer = cbor_byte_string(two_byte_length);
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->size(), 0x25u);

  EXPECT_FALSE(cbor_byte_string(Bytes{}).ok());
  EXPECT_FALSE(cbor_byte_string(Bytes{0x63, 'a', 'b', 'c'}).ok()) << "a text string";
  EXPECT_FALSE(cbor_byte_string(Bytes{0x43, 1, 2}).ok()) << "short";
  EXPECT_FALSE(cbor_byte_string(Bytes{0x42, 1, 2, 3}).ok()) << "trailing byte";
  EXPECT_FALSE(cbor_byte_string(Bytes{0x5f, 0x41, 1, 0xff}).ok()) << "indefinite length";
  EXPECT_FALSE(cbor_byte_string(Bytes{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).ok());
  EXPECT_FALSE(cbor_byte_string(Bytes{0x59, 0x01}).ok()) << "truncated length";
}

TEST(AuthData, ParsesTheFixedHead) {
  Bytes data(37, 0);
  data[0] = 0xaa;
  data[32] = 0x05;
  data[33] = 0x01;
  data[36] = 0x02;
  auto head = parse_authdata_head(data);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->rp_id_hash.size(), 32u);
  EXPECT_EQ(head->rp_id_hash[0], 0xaa);
  EXPECT_EQ(head->flags, 0x05);
  EXPECT_EQ(head->counter, 0x01000002u);
  EXPECT_FALSE(parse_authdata_head(Bytes(36, 0)).ok());
}

TEST(ErrorMapping, AsOpenSsh) {
  EXPECT_EQ(sk_error_for(FIDO_ERR_PIN_REQUIRED), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(sk_error_for(FIDO_ERR_PIN_INVALID), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(sk_error_for(FIDO_ERR_OPERATION_DENIED), SSH_SK_ERR_PIN_REQUIRED);
  EXPECT_EQ(sk_error_for(FIDO_ERR_UNSUPPORTED_OPTION), SSH_SK_ERR_UNSUPPORTED);
  EXPECT_EQ(sk_error_for(FIDO_ERR_UNSUPPORTED_ALGORITHM), SSH_SK_ERR_UNSUPPORTED);
  EXPECT_EQ(sk_error_for(FIDO_ERR_RX), SSH_SK_ERR_GENERAL);
  EXPECT_EQ(sk_error_for(FIDO_ERR_NO_CREDENTIALS), SSH_SK_ERR_GENERAL);
  EXPECT_NE(failure_for(FIDO_ERR_PIN_BLOCKED, "signing").message.find("reset"), std::string::npos);
}

// A source that names a device nobody serves.
DeviceSource missing_device_source() {
  DeviceSource source = device_source_from_environment();
  source.paths = {"/nonexistent/fido-sim.sock"};
  return source;
}

TEST(Arguments, UnknownRequiredOptionsAndLongUserIdsFail) {
  const ScopedEnv device("TESSERA_FIDO_TEST_DEVICE", std::string("/nonexistent/fido-sim.sock"));
  EnrollRequest request;
  request.application = "ssh:";
  request.options = {{"frobnicate", "1", true}};
  auto unknown = enroll(device_source_from_environment(), request);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.failure().message.find("frobnicate"), std::string::npos);
  request.options = {{"user", std::string(32, 'u'), false}};
  auto long_user = enroll(device_source_from_environment(), request);
  ASSERT_FALSE(long_user.ok());
  EXPECT_NE(long_user.failure().message.find("user"), std::string::npos);
  request.options = {};
  request.alg = 7;
  auto bad_alg = enroll(device_source_from_environment(), request);
  ASSERT_FALSE(bad_alg.ok());
  EXPECT_EQ(bad_alg.failure().code, SSH_SK_ERR_UNSUPPORTED);
}

TEST(Arguments, AMissingDeviceIsDeviceNotFound) {
  EnrollRequest request;
  request.application = "ssh:";
  auto enrolled = enroll(missing_device_source(), request);
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.failure().code, SSH_SK_ERR_DEVICE_NOT_FOUND);
  const uint8_t handle[16] = {};
  SignRequest sign_request;
  sign_request.application = "ssh:";
  sign_request.key_handle = handle;
  auto signed_ = sign(missing_device_source(), sign_request);
  ASSERT_FALSE(signed_.ok());
  EXPECT_EQ(signed_.failure().code, SSH_SK_ERR_DEVICE_NOT_FOUND);
  // A "device" option naming something that is not there.
  sign_request.options = {{"device", "/nonexistent/other.sock", false}};
  auto other = sign(missing_device_source(), sign_request);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.failure().code, SSH_SK_ERR_DEVICE_NOT_FOUND);
}

TEST(Arguments, ResidentKeysNeedAPin) {
  auto loaded = load_resident_keys(missing_device_source(), nullptr, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.failure().code, SSH_SK_ERR_PIN_REQUIRED);
}

TEST(Arguments, EmptyOrOversizedKeyHandlesAndApplicationsFail) {
  SignRequest request;
  request.application = "ssh:";
  auto empty_handle = sign(missing_device_source(), request);
  ASSERT_FALSE(empty_handle.ok());
  EXPECT_EQ(empty_handle.failure().code, SSH_SK_ERR_GENERAL);
  const Bytes huge(kMaxKeyHandleLen + 1, 1);
  request.key_handle = huge;
  EXPECT_FALSE(sign(missing_device_source(), request).ok());
  const Bytes handle(16, 1);
  request.key_handle = handle;
  request.application = std::string(300, 'a');
  EXPECT_FALSE(sign(missing_device_source(), request).ok());
}

TEST(TestHook, OnlyTheEnvironmentVariableSelectsTheSocket) {
  {
    const ScopedEnv unset("TESSERA_FIDO_TEST_DEVICE", std::nullopt);
    const DeviceSource hid = device_source_from_environment();
    EXPECT_TRUE(hid.paths.empty());
    EXPECT_EQ(hid.io, nullptr);
    EXPECT_EQ(hid.operation_timeout_ms, kDefaultOperationTimeoutMs);
  }
  const ScopedEnv device("TESSERA_FIDO_TEST_DEVICE", std::string("/tmp/x.sock"));
  const ScopedEnv timeout("TESSERA_FIDO_TEST_TIMEOUT_MS", std::string("1234"));
  const DeviceSource test = device_source_from_environment();
  ASSERT_EQ(test.paths.size(), 1u);
  EXPECT_EQ(test.paths[0], "/tmp/x.sock");
  EXPECT_NE(test.io, nullptr);
  EXPECT_EQ(test.operation_timeout_ms, 1234);
  const ScopedEnv bad_timeout("TESSERA_FIDO_TEST_TIMEOUT_MS", std::string("12x"));
  EXPECT_EQ(device_source_from_environment().operation_timeout_ms, kDefaultOperationTimeoutMs);
}

}  // namespace
}  // namespace tessera::fido2
