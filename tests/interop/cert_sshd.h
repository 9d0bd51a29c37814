// The fixture of the sshd tests of tessera-keygen's certificates
// (cert_sshd_test.cc, keygen_krl_test.cc): a CA, a user key and a host key
// made by ssh-keygen, sshd on 127.0.0.1 with extra config lines, certificates
// issued by tessera-keygen -s, and ssh logins with them.
#ifndef TESSERA_TESTS_INTEROP_CERT_SSHD_H_
#define TESSERA_TESTS_INTEROP_CERT_SSHD_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cert_cli.h"
#include "sshd.h"

namespace tessera::certtest {

class CertSshd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = test::Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
    ca_ = make_key(dir_, "ca", "ed25519");
    user_key_ = make_key(dir_, "user", "ecdsa", "256");
    host_key_ = make_key(dir_, "host", "ed25519");
  }

  void start_sshd(const std::string& extra) {
    sshd_ = std::make_unique<test::Sshd>(test::SshdConfig{.dir = dir_.path().string(), .host_key = host_key_,
                                                          .extra = "LogLevel DEBUG1\n" + extra});
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
  }

  // tessera-keygen -s ca ... on a copy of `pub`; returns the certificate's path.
  std::string certify(const std::string& pub, const std::string& name, std::vector<std::string> options) {
    std::string copy = copy_pub(dir_, pub, name);
    std::vector<std::string> args = {"-q", "-s", ca_, "-I", name};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(copy);
    CommandResult r = tessera_keygen(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir_.file(name + "-cert.pub");
  }

  CommandResult ssh(const std::string& user, const std::string& cert,
                    const std::vector<std::string>& host_options = {"-o", "StrictHostKeyChecking=no", "-o",
                                                                    "UserKnownHostsFile=/dev/null"}) {
    std::vector<std::string> argv = {"ssh", "-p", std::to_string(sshd_->port()), "-o", "BatchMode=yes",
                                     "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", user_key_,
                                     "-o", "CertificateFile=" + cert, "-o", "LogLevel=ERROR"};
    argv.insert(argv.end(), host_options.begin(), host_options.end());
    argv.push_back(user + "@127.0.0.1");
    argv.push_back("echo logged-in");
    return test::run(argv);
  }

  void expect_login(const std::string& cert) {
    CommandResult r = ssh("root", cert);
    EXPECT_EQ(r.exit_code, 0) << cert << ": " << r.err << sshd_->log();
    EXPECT_EQ(r.out, "logged-in\n");
  }

  void expect_refused(const std::string& cert) {
    CommandResult r = ssh("root", cert);
    EXPECT_EQ(r.exit_code, 255) << cert << ": " << r.out;
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  }

  test::TempDir dir_;
  std::string ca_, user_key_, host_key_;
  std::unique_ptr<test::Sshd> sshd_;
};

}  // namespace tessera::certtest

#endif  // TESSERA_TESTS_INTEROP_CERT_SSHD_H_
