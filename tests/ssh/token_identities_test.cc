// The pieces of tessera-ssh's PKCS#11 identities that need no token: which
// token a pkcs11: URI names (for "token 'X' is not present"), and a provider
// that is "none" or cannot be found, which leaves no keys and says why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/token_identities.h"

namespace tessera::ssh::io {
namespace {

TEST(TokenIdentities, TheTokenAUriNames) {
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token=main"), "main");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:model=x;token=my%20token;object=k?module-name=softhsm2"), "my token");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token=a%2db%2Dc"), "a-b-c");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:object=k?token=not-in-the-path"), "");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token="), "");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:"), "");
  EXPECT_EQ(pkcs11_uri_token("/usr/lib/softhsm/libsofthsm2.so"), "");
  EXPECT_EQ(pkcs11_uri_token("softhsm2"), "");
  // Broken escapes stay as they are; nothing reads past the end.
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token=x%"), "x%");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token=x%4"), "x%4");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:token=x%zz"), "x%zz");
  EXPECT_EQ(pkcs11_uri_token("pkcs11:;;token=t;;"), "t");
}

TEST(TokenIdentities, NoProviderOrAMissingOneLeavesNoKeys) {
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };
  auto quiet = [](const std::string&) {};
  auto none = TokenIdentities::open(TokenSettings{"none", false}, warn, quiet);
  ASSERT_NE(none, nullptr);
  EXPECT_TRUE(none->keys().empty());
  EXPECT_TRUE(warnings.empty());
  // A signer for a key that is not there fails, and keeps failing after close.
  auto signer = none->signer(0);
  EXPECT_FALSE(signer(std::vector<uint8_t>{1, 2, 3}, "ssh-ed25519").ok());
  none->close();
  none.reset();
  EXPECT_FALSE(signer(std::vector<uint8_t>{1}, "ssh-ed25519").ok());

  auto missing = TokenIdentities::open(TokenSettings{"/nonexistent/tessera-module.so", false}, warn, quiet);
  EXPECT_TRUE(missing->keys().empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].rfind("PKCS#11 provider /nonexistent/tessera-module.so not found: ", 0), 0u) << warnings[0];
}

}  // namespace
}  // namespace tessera::ssh::io
