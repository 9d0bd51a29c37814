// The blocking helper client (tessera/pkcs11/client.h) against the SoftHSM2
// fixture tokens: list, log in (wrong PIN first), sign with every key type
// and check the signatures with libkey, always-authenticate keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "softhsm_tokens.h"
#include "tessera/key/key.h"
#include "tessera/pkcs11/client.h"
#include "test_support.h"

namespace tessera::pkcs11 {
namespace {

class HelperClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = test::softhsm_missing(); !missing.empty()) GTEST_SKIP() << missing;
    auto conf = test::copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(conf.empty());
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);  // the helper inherits it
    auto started = HelperClient::start(test::tessera_bin("tessera-pkcs11-helper"), test::kSoftHsmModule);
    ASSERT_TRUE(started.ok()) << started.error().message();
    client_ = std::move(*started);
    auto list = client_->list_keys();
    ASSERT_TRUE(list.ok()) << list.error().message();
    keys_ = list->keys;
  }

  const KeyInfo& key(const std::string& label) {
    auto it = std::find_if(keys_.begin(), keys_.end(), [&](const KeyInfo& k) { return k.label == label; });
    EXPECT_NE(it, keys_.end()) << label;
    return *it;
  }

  test::TempDir dir_;
  std::unique_ptr<HelperClient> client_;
  std::vector<KeyInfo> keys_;
};

TEST_F(HelperClientTest, LogsInAndSignsWithEveryKeyType) {
  EXPECT_EQ(keys_.size(), 8u);
  EXPECT_NE(client_->module_description().find("SoftHSM"), std::string::npos);
  const TokenId token = key("ec256").id.token;
  auto wrong = client_->login(token, SecretBytes::copy_of(std::string_view("0000")));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(helper_code(wrong.error()), ErrorCode::kPinIncorrect);
  EXPECT_NE(wrong.error().flags() & kTokenPinCountLow, 0u) << "the token's PIN state comes with the error";
  auto right = client_->login(token, SecretBytes::copy_of(std::string_view(test::kFixturePin)));
  ASSERT_TRUE(right.ok()) << right.error().message();

  const Bytes data = {'c', 'a', ' ', 'd', 'a', 't', 'a'};
  for (auto [label, algorithm] : {std::pair{"ec256", "ecdsa-sha2-nistp256"}, {"ec384", "ecdsa-sha2-nistp384"},
                                  {"ec521", "ecdsa-sha2-nistp521"}, {"ed25519", "ssh-ed25519"},
                                  {"rsa3072", "rsa-sha2-512"}, {"rsa2048", "rsa-sha2-256"}}) {
    const KeyInfo& k = key(label);
    auto signature = client_->sign(k.id, data, algorithm);
    ASSERT_TRUE(signature.ok()) << label << ": " << signature.error().message();
    auto public_key = key::PublicKey::from_blob(k.public_key);
    ASSERT_TRUE(public_key.ok());
    EXPECT_TRUE(public_key->verify(*signature, data).ok()) << label;
  }
}

TEST_F(HelperClientTest, AlwaysAuthenticateKeyNeedsItsContextPin) {
  const KeyInfo& aa = key("aa-ec256");
  std::optional<SecretBytes> pin = SecretBytes::copy_of(std::string_view(test::kFixturePin));
  ASSERT_TRUE(client_->login(aa.id.token, pin).ok());
  const Bytes data = {1, 2, 3};
  auto without = client_->sign(aa.id, data, "ecdsa-sha2-nistp256");
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(helper_code(without.error()), ErrorCode::kNotLoggedIn);
  auto with = client_->sign(aa.id, data, "ecdsa-sha2-nistp256", pin);
  EXPECT_TRUE(with.ok()) << with.error().message();
}

TEST(HelperClientStart, MissingProgramOrModuleIsAClearError) {
  auto no_program = HelperClient::start("/nonexistent/tessera-pkcs11-helper", test::kSoftHsmModule);
  ASSERT_FALSE(no_program.ok());
  EXPECT_NE(no_program.error().message().find("cannot run"), std::string::npos);
  auto no_module = HelperClient::start(test::tessera_bin("tessera-pkcs11-helper"), "/nonexistent/module.so");
  ASSERT_TRUE(no_module.ok()) << no_module.error().message();
  auto list = (*no_module)->list_keys();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(helper_code(list.error()), ErrorCode::kModuleError);
  EXPECT_NE(list.error().message().find("/nonexistent/module.so"), std::string::npos) << list.error().message();
}

}  // namespace
}  // namespace tessera::pkcs11
