// Regression tests for what fuzzing the SSH library (fuzz/ssh_*.cc) found;
// each test names the target and the bug.
#include <openssl/bn.h>

#include <gtest/gtest.h>

#include "tessera/key/ossl.h"
#include "transport/kex_method.h"

namespace tessera::ssh::transport {
namespace {

namespace ossl = key::ossl;

// ssh_kex_reply: a group-exchange group with generator 2 (what OpenSSH's
// moduli files mostly hold) was refused as "a single bit set", the check
// meant for public values.
TEST(FuzzFindings, GroupExchangeAcceptsGeneratorTwo) {
  ossl::BnPtr p(BN_get_rfc3526_prime_2048(nullptr));
  ossl::BnPtr g(BN_new());
  ASSERT_TRUE(p && g && BN_set_word(g.get(), 2) == 1);
  EXPECT_TRUE(dh_check_group(p.get(), g.get(), 2048, 8192).ok());
  // The range is still checked.
  ASSERT_EQ(BN_set_word(g.get(), 1), 1);
  EXPECT_FALSE(dh_check_group(p.get(), g.get(), 2048, 8192).ok());
  ossl::BnPtr p_minus_1(BN_dup(p.get()));
  ASSERT_EQ(BN_sub_word(p_minus_1.get(), 1), 1);
  EXPECT_FALSE(dh_check_group(p.get(), p_minus_1.get(), 2048, 8192).ok());
  ASSERT_EQ(BN_set_word(g.get(), 2), 1);
  auto share = dh_client_start(p.get(), g.get(), 32);
  EXPECT_TRUE(share.ok());
}

}  // namespace
}  // namespace tessera::ssh::transport
