// The fixture the tessera-sshd interop suites built around one server of
// their own share (sshd_{access,forwarding,options,session,transfer}_
// interop_test.cc): a temporary directory with the test account's key, the
// server, the checks each test makes first and the clean-up.
#ifndef TESSERA_TESTS_SSH_SSHD_INTEROP_SUITE_H_
#define TESSERA_TESTS_SSH_SSHD_INTEROP_SUITE_H_

#include <gtest/gtest.h>

#include "sshd_interop_support.h"

namespace tessera::test::sshd_interop {

// Suite is the test suite itself (each suite gets its own dir_ and server_).
// Its SetUpTestSuite starts with start_suite() and, when that says yes,
// makes server_ (a TesseraSshd with the suite's config).
template <typename Suite>
class OneServerSuite : public ::testing::Test {
 protected:
  // False when the suite cannot run here (OpenSSH or the test account is
  // missing: SetUp then skips, or fails if a key could not be made).
  // Otherwise dir_ holds the account's ed25519 key "user" (and user.pub).
  static bool start_suite() {
    if (!Sshd::unavailable().empty() || !ensure_user()) return false;
    dir_ = new TempDir();
    const bool made = make_key(dir_->file("user"));
    EXPECT_TRUE(made) << "ssh-keygen could not make the user's key";
    return made;
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
    server_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE((*server_)->started()) << (*server_)->log();
  }

  // The user's key as the only line of the server's authorized_keys (the
  // AuthorizedKeysFile every account shares).
  static void authorize(TesseraSshd& server) {
    write_file(server->authorized_keys(), read_file(dir_->file("user.pub")), 0644);
  }

  static inline TempDir* dir_ = nullptr;
  static inline TesseraSshd* server_ = nullptr;
};

}  // namespace tessera::test::sshd_interop

#endif  // TESSERA_TESTS_SSH_SSHD_INTEROP_SUITE_H_
