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
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<HelperClient>>(started))
        << std::get<HelperError>(started).message;
    client_ = std::move(std::get<std::unique_ptr<HelperClient>>(started));
    auto list = client_->list_keys();
    ASSERT_TRUE(std::holds_alternative<KeyList>(list)) << std::get<HelperError>(list).message;
    keys_ = std::get<KeyList>(list).keys;
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
  ASSERT_TRUE(std::holds_alternative<HelperError>(wrong));
  EXPECT_EQ(std::get<HelperError>(wrong).code, ErrorCode::kPinIncorrect);
  auto right = client_->login(token, SecretBytes::copy_of(std::string_view(test::kFixturePin)));
  ASSERT_TRUE(std::holds_alternative<Ok>(right)) << std::get<HelperError>(right).message;

  const Bytes data = {'c', 'a', ' ', 'd', 'a', 't', 'a'};
  for (auto [label, algorithm] : {std::pair{"ec256", "ecdsa-sha2-nistp256"}, {"ec384", "ecdsa-sha2-nistp384"},
                                  {"ec521", "ecdsa-sha2-nistp521"}, {"ed25519", "ssh-ed25519"},
                                  {"rsa3072", "rsa-sha2-512"}, {"rsa2048", "rsa-sha2-256"}}) {
    const KeyInfo& k = key(label);
    auto signature = client_->sign(k.id, data, algorithm);
    ASSERT_TRUE(std::holds_alternative<Bytes>(signature)) << label << ": " << std::get<HelperError>(signature).message;
    auto public_key = key::PublicKey::from_blob(k.public_key);
    ASSERT_TRUE(public_key.ok());
    EXPECT_TRUE(public_key->verify(std::get<Bytes>(signature), data).ok()) << label;
  }
}

TEST_F(HelperClientTest, AlwaysAuthenticateKeyNeedsItsContextPin) {
  const KeyInfo& aa = key("aa-ec256");
  std::optional<SecretBytes> pin = SecretBytes::copy_of(std::string_view(test::kFixturePin));
  ASSERT_TRUE(std::holds_alternative<Ok>(client_->login(aa.id.token, pin)));
  const Bytes data = {1, 2, 3};
  auto without = client_->sign(aa.id, data, "ecdsa-sha2-nistp256");
  ASSERT_TRUE(std::holds_alternative<HelperError>(without));
  EXPECT_EQ(std::get<HelperError>(without).code, ErrorCode::kNotLoggedIn);
  auto with = client_->sign(aa.id, data, "ecdsa-sha2-nistp256", pin);
  EXPECT_TRUE(std::holds_alternative<Bytes>(with)) << std::get<HelperError>(with).message;
}

TEST(HelperClientStart, MissingProgramOrModuleIsAClearError) {
  auto no_program = HelperClient::start("/nonexistent/tessera-pkcs11-helper", test::kSoftHsmModule);
  ASSERT_TRUE(std::holds_alternative<HelperError>(no_program));
  EXPECT_NE(std::get<HelperError>(no_program).message.find("cannot run"), std::string::npos);
  auto no_module = HelperClient::start(test::tessera_bin("tessera-pkcs11-helper"), "/nonexistent/module.so");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<HelperClient>>(no_module));
  auto list = std::get<std::unique_ptr<HelperClient>>(no_module)->list_keys();
  ASSERT_TRUE(std::holds_alternative<HelperError>(list));
  EXPECT_NE(std::get<HelperError>(list).message.find("/nonexistent/module.so"), std::string::npos)
      << std::get<HelperError>(list).message;
}

}  // namespace
}  // namespace tessera::pkcs11
