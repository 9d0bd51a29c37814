// Certificates issued by tessera-keygen in real use, with OpenSSH's sshd
// (127.0.0.1, a free port, a temporary config) and ssh:
//   - a user certificate logs in through TrustedUserCAKeys +
//     AuthorizedPrincipalsFile, and through an authorized_keys cert-authority
//     line; a certificate for a principal that is not listed is refused;
//   - ssh accepts a host certificate through @cert-authority in known_hosts
//     with StrictHostKeyChecking yes, and refuses one for another host name.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cert_sshd.h"

namespace tessera::certtest {
namespace {

using test::read_file;

TEST_F(CertSshd, UserCertificateThroughTrustedUserCaKeysAndPrincipalsFile) {
  std::filesystem::create_directories(dir_.path() / "principals");
  test::write_file(dir_.file("principals/root"), "ops\nbackup\n", 0644);
  start_sshd("TrustedUserCAKeys " + ca_ + ".pub\nAuthorizedPrincipalsFile " + dir_.file("principals/%u") + "\n");

  expect_login(certify(user_key_ + ".pub", "ops", {"-n", "ops", "-V", "-5m:+1h"}));
  // Control: the same key, certified for a principal the file does not list.
  expect_refused(certify(user_key_ + ".pub", "dev", {"-n", "dev"}));
  // And one that is no longer valid.
  expect_refused(certify(user_key_ + ".pub", "expired", {"-n", "ops", "-V", "20200101:20200102"}));
}

TEST_F(CertSshd, UserCertificateThroughAuthorizedKeysCertAuthority) {
  start_sshd("");
  test::write_file(sshd_->authorized_keys(), "cert-authority " + read_file(ca_ + ".pub"), 0644);

  expect_login(certify(user_key_ + ".pub", "root_cert", {"-n", "root", "-O", "clear", "-O", "permit-pty"}));
  // Control: a certificate for another user name is refused for root.
  std::string other = certify(user_key_ + ".pub", "other_cert", {"-n", "someone-else"});
  expect_refused(other);

  // principals="..." on the cert-authority line names what the certificate must carry.
  test::write_file(sshd_->authorized_keys(), "cert-authority,principals=\"someone-else\" " + read_file(ca_ + ".pub"),
                   0644);
  expect_login(other);
}

TEST_F(CertSshd, HostCertificateThroughCertAuthorityInKnownHosts) {
  const std::string known_hosts = dir_.file("known_hosts");
  const std::vector<std::string> strict = {"-o", "StrictHostKeyChecking=yes", "-o",
                                           "UserKnownHostsFile=" + known_hosts, "-o",
                                           "GlobalKnownHostsFile=/dev/null"};
  // sshd presenting a host certificate for `names`; the client trusts only the CA.
  auto serve_host_certificate = [&](const std::string& names) {
    std::string host_cert = certify(host_key_ + ".pub", "host", {"-h", "-n", names});
    sshd_.reset();
    start_sshd("HostCertificate " + host_cert + "\n");
    test::write_file(sshd_->authorized_keys(), read_file(user_key_ + ".pub"), 0644);
    test::write_file(known_hosts, "@cert-authority [127.0.0.1]:" + std::to_string(sshd_->port()) + " " +
                                      read_file(ca_ + ".pub"), 0644);
  };

  serve_host_certificate("127.0.0.1,localhost");
  CommandResult r = ssh("root", user_key_ + ".pub", strict);
  EXPECT_EQ(r.exit_code, 0) << r.err << sshd_->log();
  EXPECT_EQ(r.out, "logged-in\n");

  // Control: a host certificate for another name is not accepted for 127.0.0.1.
  serve_host_certificate("elsewhere.example.com");
  r = ssh("root", user_key_ + ".pub", strict);
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace tessera::certtest
