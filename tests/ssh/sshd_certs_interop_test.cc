// tessera-sshd with certificates, against OpenSSH's ssh and tessera-ssh:
// user certificates through TrustedUserCAKeys (with and without
// AuthorizedPrincipalsFile) and through authorized_keys cert-authority
// lines with principals=; expired certificates; RevokedKeys with KRLs that
// ssh-keygen -k wrote; a HostCertificate checked against @cert-authority.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "sshd_interop_support.h"

namespace tessera::test {
namespace {

using sshd_interop::kUser;
using sshd_interop::make_key;
using sshd_interop::ssh_argv;
using sshd_interop::TesseraSshd;

class SshdCertificates : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Sshd::unavailable().empty() || !sshd_interop::ensure_user()) return;
    // Root's alone (0700): sshd reads TrustedUserCAKeys and RevokedKeys as
    // root, the user's own files as the user.
    dir_ = new TempDir();
    for (const char* name : {"user_ca", "ak_ca", "host_ca", "other_ca", "host_ed25519", "plain", "plain_revoked",
                             "unrelated", "cert_user", "cert_listed", "cert_unlisted", "cert_expired",
                             "cert_revoked", "ak_listed", "ak_unlisted"}) {
      ASSERT_TRUE(make_key(dir_->file(name)));
    }
    struct Cert {
      const char* key;
      const char* ca;
      const char* principals;
      const char* validity;
      const char* serial;
    };
    for (const Cert& c : std::vector<Cert>{{"cert_user", "user_ca", kUser, "-5m:+1h", "1"},
                                           {"cert_listed", "user_ca", "tessera-ops,nobody-else", "-5m:+1h", "2"},
                                           {"cert_unlisted", "user_ca", "someone-else", "-5m:+1h", "3"},
                                           {"cert_expired", "user_ca", kUser, "20200101:20200102", "4"},
                                           {"cert_revoked", "user_ca", kUser, "-5m:+1h", "7"},
                                           {"ak_listed", "ak_ca", "deploy", "-5m:+1h", "8"},
                                           {"ak_unlisted", "ak_ca", kUser, "-5m:+1h", "9"}}) {
      ASSERT_EQ(run({"ssh-keygen", "-q", "-s", dir_->file(c.ca), "-I", std::string(c.key) + "-id", "-n", c.principals,
                     "-V", c.validity, "-z", c.serial, dir_->file(std::string(c.key) + ".pub")})
                    .exit_code,
                0)
          << c.key;
    }
    ASSERT_EQ(run({"ssh-keygen", "-q", "-s", dir_->file("host_ca"), "-h", "-I", "tessera-sshd-host", "-n",
                   "127.0.0.1,localhost", dir_->file("host_ed25519.pub")})
                  .exit_code,
              0);
    write_krl({"unrelated.pub"});
    const std::string common = "TrustedUserCAKeys " + dir_->file("user_ca.pub") + "\nRevokedKeys " +
                               dir_->file("revoked.krl") + "\n";
    ca_server_ = new TesseraSshd(common + "HostCertificate " + dir_->file("host_ed25519-cert.pub") + "\n",
                                 dir_->file("host_ed25519"));
    if (!(*ca_server_)->started()) return;
    write_file((*ca_server_)->authorized_keys(),
               read_file(dir_->file("plain.pub")) + read_file(dir_->file("plain_revoked.pub")) +
                   "cert-authority,principals=\"deploy,backup\" " + read_file(dir_->file("ak_ca.pub")),
               0644);
    // AuthorizedPrincipalsFile is read as the user: a directory all may read.
    shared_ = new TempDir();
    ::chmod(shared_->path().c_str(), 0755);
    write_file(shared_->file(std::string("principals_") + kUser), "# ops\ntessera-ops\n", 0644);
    principals_server_ = new TesseraSshd(common + "AuthorizedPrincipalsFile " + shared_->file("principals_%u") + "\n");
  }
  static void TearDownTestSuite() {
    delete ca_server_;
    delete principals_server_;
    delete dir_;
    delete shared_;
    ca_server_ = principals_server_ = nullptr;
    dir_ = shared_ = nullptr;
  }
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    ASSERT_NE(ca_server_, nullptr);
    ASSERT_TRUE((*ca_server_)->started()) << (*ca_server_)->log();
    ASSERT_NE(principals_server_, nullptr);
    ASSERT_TRUE((*principals_server_)->started()) << (*principals_server_)->log();
  }

  // ssh-keygen -k: a KRL revoking the listed keys and certificates.
  static void write_krl(const std::vector<std::string>& files) {
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-k", "-f", dir_->file("revoked.krl")};
    for (const std::string& f : files) argv.push_back(dir_->file(f));
    ASSERT_EQ(run(argv).exit_code, 0);
  }

  // OpenSSH's ssh with a key (and the certificate beside it, key-cert.pub).
  static CommandResult login(TesseraSshd& server, const std::string& key, const std::string& program = "ssh") {
    return run(ssh_argv(program, server->port(), dir_->file(key), {}, "echo in as $(id -un)"));
  }
  static void expect_login(TesseraSshd& server, const std::string& key, const std::string& program = "ssh") {
    auto r = login(server, key, program);
    EXPECT_EQ(r.exit_code, 0) << key << " with " << program << ": " << r.err << server->log();
    EXPECT_EQ(r.out, std::string("in as ") + kUser + "\n") << key;
  }
  // Refused, and (when given) the log says why after this attempt.
  static void expect_refused(TesseraSshd& server, const std::string& key, const std::string& program = "ssh",
                             const std::string& reason = "") {
    const size_t logged = server->log().size();
    auto r = login(server, key, program);
    EXPECT_EQ(r.exit_code, 255) << key << " with " << program << ": " << r.out << server->log();
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << key << ": " << r.err;
    if (!reason.empty()) {
      EXPECT_TRUE(sshd_interop::eventually([&] { return server->log().find(reason, logged) != std::string::npos; }))
          << key << ": no \"" << reason << "\" in\n" << server->log().substr(logged);
    }
  }

  static TempDir* dir_;
  static TempDir* shared_;
  static TesseraSshd* ca_server_;
  static TesseraSshd* principals_server_;
};

TempDir* SshdCertificates::dir_ = nullptr;
TempDir* SshdCertificates::shared_ = nullptr;
TesseraSshd* SshdCertificates::ca_server_ = nullptr;
TesseraSshd* SshdCertificates::principals_server_ = nullptr;

// TrustedUserCAKeys without AuthorizedPrincipalsFile: a certificate naming
// the user logs in; one naming only others, or one from another CA, does not.
TEST_F(SshdCertificates, TrustedUserCaAdmitsCertificatesNamingTheUser) {
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    expect_login(*ca_server_, "cert_user", program);
    expect_refused(*ca_server_, "cert_unlisted", program, "Certificate invalid: name is not a listed principal");
    expect_refused(*ca_server_, "cert_listed", program, "Certificate invalid: name is not a listed principal");
  }
  const std::string log = (*ca_server_)->log();
  EXPECT_NE(log.find(std::string("Accepted publickey for ") + kUser + " from 127.0.0.1 port "), std::string::npos)
      << log;
  EXPECT_NE(log.find("ED25519-CERT SHA256:"), std::string::npos) << log;
  EXPECT_NE(log.find("ID cert_user-id (serial 1) CA ED25519 SHA256:"), std::string::npos) << log;
}

// With AuthorizedPrincipalsFile, the file's principals decide, not the user
// name.
TEST_F(SshdCertificates, AuthorizedPrincipalsFileDecidesWhichPrincipalsLogIn) {
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    expect_login(*principals_server_, "cert_listed", program);
    expect_refused(*principals_server_, "cert_user", program, "Certificate does not contain an authorized principal");
    expect_refused(*principals_server_, "cert_unlisted", program,
                   "Certificate does not contain an authorized principal");
  }
}

// authorized_keys: cert-authority,principals="deploy,backup" for a CA that
// TrustedUserCAKeys does not name.
TEST_F(SshdCertificates, AuthorizedKeysCertAuthorityWithPrincipals) {
  expect_login(*ca_server_, "ak_listed");
  expect_login(*ca_server_, "ak_listed", tessera_bin("tessera-ssh"));
  // Its certificate names the user, but principals= is the list that counts.
  expect_refused(*ca_server_, "ak_unlisted", "ssh", "Certificate does not contain an authorized principal");
  // A plain key under the CA's line is nothing: the bare key is refused.
  ASSERT_EQ(run({"cp", dir_->file("ak_listed"), dir_->file("ak_bare")}).exit_code, 0);
  expect_refused(*ca_server_, "ak_bare");
}

TEST_F(SshdCertificates, AnExpiredCertificateIsRefused) {
  expect_refused(*ca_server_, "cert_expired", "ssh", "Certificate invalid: expired");
  expect_refused(*ca_server_, "cert_expired", tessera_bin("tessera-ssh"), "Certificate invalid: expired");
}

// RevokedKeys: a KRL that lists neither key lets both in; one from
// ssh-keygen -k that revokes the certificate (by serial) and the plain key
// keeps both out; the other keys are unaffected.
TEST_F(SshdCertificates, RevokedKeysKrlRefusesTheRevokedCertificateAndKey) {
  write_krl({"unrelated.pub"});
  expect_login(*ca_server_, "cert_revoked");
  expect_login(*ca_server_, "plain_revoked");
  write_krl({"cert_revoked-cert.pub", "plain_revoked.pub"});
  expect_refused(*ca_server_, "cert_revoked", "ssh", "revoked by file " + dir_->file("revoked.krl"));
  expect_refused(*ca_server_, "plain_revoked", "ssh", "revoked by file " + dir_->file("revoked.krl"));
  expect_refused(*ca_server_, "cert_revoked", tessera_bin("tessera-ssh"), "revoked by file");
  expect_login(*ca_server_, "cert_user");
  expect_login(*ca_server_, "plain");
  // Revoking the CA's key revokes every certificate it signed.
  write_krl({"user_ca.pub"});
  expect_refused(*ca_server_, "cert_user");
  expect_login(*ca_server_, "plain");
  write_krl({"unrelated.pub"});
  expect_login(*ca_server_, "cert_user");
}

// HostCertificate: OpenSSH's ssh and tessera-ssh with only an
// @cert-authority line in known_hosts and strict checking log in; with
// another CA's line they refuse.
TEST_F(SshdCertificates, HostCertificateSatisfiesCertAuthorityKnownHosts) {
  TempDir d;
  const std::string kh = d.file("known_hosts");
  write_file(kh, "@cert-authority [127.0.0.1]:* " + read_file(dir_->file("host_ca.pub")));
  const std::vector<std::string> strict = {"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh};
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    std::vector<std::string> opts = strict;
    if (program == "ssh") opts.insert(opts.end(), {"-o", "LogLevel=DEBUG1"});
    auto r = run(ssh_argv(program, (*ca_server_)->port(), dir_->file("plain"), opts, "echo certified host"));
    EXPECT_EQ(r.exit_code, 0) << program << ": " << r.err << (*ca_server_)->log();
    EXPECT_EQ(r.out, "certified host\n") << program;
    if (program == "ssh") {
      EXPECT_NE(r.err.find("Server host certificate: ssh-ed25519-cert-v01@openssh.com"), std::string::npos) << r.err;
    }
  }
  write_file(kh, "@cert-authority [127.0.0.1]:* " + read_file(dir_->file("other_ca.pub")));
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    auto r = run(ssh_argv(program, (*ca_server_)->port(), dir_->file("plain"), strict, "echo certified host"));
    EXPECT_EQ(r.exit_code, 255) << program << ": " << r.out;
    EXPECT_NE(r.err.find("Host key verification failed."), std::string::npos) << program << ": " << r.err;
  }
}

}  // namespace
}  // namespace tessera::test
