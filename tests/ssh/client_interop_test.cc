// tessera-ssh against OpenSSH 9.2's sshd on 127.0.0.1: every key exchange,
// cipher, MAC and host key algorithm; refusals with the negotiation error;
// exit codes, stdin/stdout/stderr; known_hosts handling; ProxyCommand with
// sshd in inetd mode; -W and -J; -L; agent forwarding; a re-keyed bulk
// transfer. And OpenSSH's ssh reading what tessera-ssh wrote (known_hosts).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "sshd.h"
#include "sshd_interop_support.h"
#include "tessera/ssh/client.h"
#include "test_support.h"

namespace tessera::test {
namespace {

// The test account the tessera-sshd suites use too (shell /bin/sh: root's
// .bashrc here is slow, and logins are counted by the hundred).
using sshd_interop::ensure_user;
using sshd_interop::kUser;

std::pair<std::string, int> run_on_pty(const std::vector<std::string>& argv, const std::string& ready,
                                       const std::vector<std::string>& keys);

class SshInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Sshd::unavailable().empty() || !ensure_user()) return;
    dir_ = new TempDir();
    for (const auto& [name, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"host_ed25519", {"-t", "ed25519"}},
             {"host_p256", {"-t", "ecdsa", "-b", "256"}},
             {"host_p384", {"-t", "ecdsa", "-b", "384"}},
             {"host_p521", {"-t", "ecdsa", "-b", "521"}},
             {"host_rsa", {"-t", "rsa", "-b", "2048"}},
             {"user_ed25519", {"-t", "ed25519"}}}) {
      std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", "", "-f", dir_->file(name)};
      argv.insert(argv.end(), args.begin(), args.end());
      ASSERT_EQ(run(argv).exit_code, 0);
    }
    std::string extra;
    for (const char* k : {"host_p256", "host_p384", "host_p521", "host_rsa"}) {
      extra += "HostKey " + dir_->file(k) + "\n";
    }
    // Everything tessera speaks, so that the client's choice decides.
    extra += "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
             "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
             "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256\n";
    extra += "HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
             "rsa-sha2-512,rsa-sha2-256\n";
    extra += "MaxStartups 100:30:200\nMaxSessions 50\n";
    sshd_ = new Sshd(SshdConfig{dir_->path().string(), dir_->file("host_ed25519"), extra});
    if (!sshd_->started()) return;
    write_file(sshd_->authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  }
  static void TearDownTestSuite() {
    delete sshd_;
    delete dir_;
    sshd_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    ASSERT_NE(sshd_, nullptr);
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
  }

  // tessera-ssh with the test's defaults and `extra` options.
  static std::vector<std::string> client(const std::vector<std::string>& extra, const std::string& command) {
    std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(sshd_->port()),
                                     "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityAgent=none", "-q"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    if (!command.empty()) argv.push_back(command);
    return argv;
  }

  static TempDir* dir_;
  static Sshd* sshd_;
};

TempDir* SshInterop::dir_ = nullptr;
Sshd* SshInterop::sshd_ = nullptr;

TEST_F(SshInterop, EveryKexCipherAndHostKeyAlgorithmLogsInAndRunsACommand) {
  const std::vector<std::string> kex = {"sntrup761x25519-sha512@openssh.com", "curve25519-sha256",
                                        "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
                                        "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
                                        "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
                                        "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256"};
  // Each cipher once; CTR with each MAC in turn.
  const std::vector<std::pair<std::string, std::string>> ciphers = {
      {"chacha20-poly1305@openssh.com", ""},
      {"aes128-gcm@openssh.com", ""},
      {"aes256-gcm@openssh.com", ""},
      {"aes128-ctr", "hmac-sha2-256-etm@openssh.com"},
      {"aes192-ctr", "hmac-sha2-512-etm@openssh.com"},
      {"aes256-ctr", "hmac-sha2-256"},
      {"aes128-ctr", "hmac-sha2-512"}};
  const std::vector<std::string> host_keys = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                                              "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256"};
  int n = 0;
  for (const std::string& k : kex) {
    for (const auto& [cipher, mac] : ciphers) {
      for (const std::string& hk : host_keys) {
        std::vector<std::string> opts = {"-o", "KexAlgorithms=" + k, "-c", cipher, "-o", "HostKeyAlgorithms=" + hk};
        if (!mac.empty()) opts.insert(opts.end(), {"-m", mac});
        const std::string tag = k + " " + cipher + " " + mac + " " + hk;
        // Vary the exit status so a stale answer cannot pass.
        const int status = n++ % 200 + 1;
        auto r = run(client(opts, "echo out-" + std::to_string(status) + "; echo err >&2; exit " +
                                      std::to_string(status)));
        ASSERT_EQ(r.exit_code, status) << tag << "\n" << r.err;
        ASSERT_EQ(r.out, "out-" + std::to_string(status) + "\n") << tag;
        ASSERT_EQ(r.err, "err\n") << tag;
      }
    }
  }
}

TEST_F(SshInterop, EachAlgorithmIsRefusedWhenTheServerDoesNotOfferIt) {
  // For every algorithm: the server offers all the others, the client only
  // it; the connection fails with OpenSSH's negotiation error naming both.
  struct Category {
    std::string server_keyword;
    std::string client_option;  // -o Keyword=
    std::string what;           // "cipher", as the error names it
    std::vector<std::string> names;
  };
  const std::vector<Category> categories = {
      {"KexAlgorithms", "KexAlgorithms", "key exchange method",
       {"sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256"}},
      {"HostKeyAlgorithms", "HostKeyAlgorithms", "host key type",
       {"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"}},
      {"Ciphers", "Ciphers", "cipher",
       {"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr",
        "aes192-ctr", "aes256-ctr"}},
      {"MACs", "MACs", "MAC",
       {"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512"}},
  };
  for (const Category& c : categories) {
    for (const std::string& refused : c.names) {
      std::string others;
      for (const std::string& n : c.names) {
        if (n != refused) others += (others.empty() ? "" : ",") + n;
      }
      TempDir d;
      Sshd restricted(SshdConfig{d.path().string(), dir_->file("host_ed25519"),
                                 "HostKey " + dir_->file("host_rsa") + "\nHostKey " + dir_->file("host_p256") + "\n" +
                                     c.server_keyword + " " + others + "\n"});
      ASSERT_TRUE(restricted.started()) << restricted.log();
      std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none",
                                       "-p", std::to_string(restricted.port()), "-o", "BatchMode=yes",
                                       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                       "-o", "IdentityAgent=none", "-o", c.client_option + "=" + refused};
      if (c.what == "MAC") argv.insert(argv.end(), {"-c", "aes128-ctr"});
      argv.push_back("root@127.0.0.1");
      argv.push_back("true");
      auto r = run(argv);
      EXPECT_EQ(r.exit_code, 255) << refused;
      // sshd lists host key types in its HostKey order, the rest in the configured order.
      const std::string head = "Unable to negotiate with 127.0.0.1 port " + std::to_string(restricted.port()) +
                               ": no matching " + c.what + " found. Their offer: ";
      const size_t at = r.err.find(head);
      ASSERT_NE(at, std::string::npos) << r.err;
      const std::string line = r.err.substr(at, r.err.find('\n', at) - at);
      const std::string offer = line.substr(head.size(), line.find("; ours: ") - head.size());
      EXPECT_EQ(line.substr(line.find("; ours: ")), "; ours: " + refused) << line;
      if (c.what != "host key type") {
        EXPECT_EQ(offer, others) << line;
      }
      EXPECT_EQ(("," + offer + ",").find("," + refused + ","), std::string::npos) << line;
    }
  }
}

TEST_F(SshInterop, UnreachableHostIsAClearError) {
  const int closed = free_tcp_port();
  auto r = run({tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(closed), "-o", "BatchMode=yes",
                "127.0.0.1", "true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "ssh: connect to host 127.0.0.1 port " + std::to_string(closed) + ": Connection refused\n");
  auto unknown = run({tessera_bin("tessera-ssh"), "-F", "none", "-o", "BatchMode=yes", "no-such-host.invalid", "true"});
  EXPECT_EQ(unknown.exit_code, 255);
  EXPECT_NE(unknown.err.find("Could not resolve hostname no-such-host.invalid"), std::string::npos) << unknown.err;
}

TEST_F(SshInterop, UserCertificatesFromFilesAndTheAgent) {
  TempDir d;
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", d.file("ca")}).exit_code, 0);
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ecdsa", "-f", d.file("id")}).exit_code, 0);
  ASSERT_EQ(run({"ssh-keygen", "-q", "-s", d.file("ca"), "-I", "cert-id", "-n", kUser, d.file("id.pub")}).exit_code, 0);
  TempDir sd;
  // No authorized_keys line for the key: only the certificate lets it in.
  Sshd server(SshdConfig{sd.path().string(), "", "TrustedUserCAKeys " + d.file("ca.pub") + "\n"});
  ASSERT_TRUE(server.started()) << server.log();
  auto base = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(server.port()),
                                     "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                     "-o", "UserKnownHostsFile=/dev/null"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    argv.push_back("echo certified");
    return argv;
  };
  // id-cert.pub beside the key.
  auto beside = run(base({"-o", "IdentityAgent=none", "-i", d.file("id")}));
  EXPECT_EQ(beside.exit_code, 0) << beside.err << server.log();
  EXPECT_EQ(beside.out, "certified\n");
  // CertificateFile naming it elsewhere.
  ASSERT_EQ(run({"mv", d.file("id-cert.pub"), d.file("elsewhere.pub")}).exit_code, 0);
  auto named = run(base({"-o", "IdentityAgent=none", "-i", d.file("id"), "-o", "CertificateFile=" + d.file("elsewhere.pub")}));
  EXPECT_EQ(named.exit_code, 0) << named.err;
  auto plain = run(base({"-o", "IdentityAgent=none", "-i", d.file("id")}));
  EXPECT_EQ(plain.exit_code, 255);  // the bare key is not authorized
  // The agent's certificate (tessera-add adds id-cert.pub with the key).
  ASSERT_EQ(run({"mv", d.file("elsewhere.pub"), d.file("id-cert.pub")}).exit_code, 0);
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock));
  ASSERT_EQ(run({tessera_bin("tessera-add"), d.file("id")}, "", {"SSH_AUTH_SOCK=" + sock}).exit_code, 0);
  auto via_agent = run(base({"-o", "IdentityAgent=" + sock}));
  EXPECT_EQ(via_agent.exit_code, 0) << via_agent.err;
  EXPECT_EQ(via_agent.out, "certified\n");
}

TEST_F(SshInterop, AskPromptTakesTheFingerprintAndHostKeyAlias) {
  TempDir d;
  const std::string kh = d.file("known_hosts");
  auto fp = run({"ssh-keygen", "-l", "-E", "sha256", "-f", dir_->file("host_ed25519.pub")});
  ASSERT_EQ(fp.exit_code, 0);
  const std::string fingerprint = fp.out.substr(fp.out.find("SHA256:"), fp.out.find(' ', fp.out.find("SHA256:")) -
                                                                          fp.out.find("SHA256:"));
  std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(sshd_->port()),
                                   "-i", dir_->file("user_ed25519"), "-o", "StrictHostKeyChecking=ask",
                                   "-o", "UserKnownHostsFile=" + kh, "-o", "GlobalKnownHostsFile=/dev/null",
                                   "-o", "IdentityAgent=none", "-o", "HostKeyAlgorithms=ssh-ed25519",
                                   "-o", "HostKeyAlias=build-box", "-o", "HashKnownHosts=yes",
                                   std::string(kUser) + "@127.0.0.1", "echo PROMPTED-OK"};
  auto [out, code] = run_on_pty(argv, "(yes/no/[fingerprint])?", {fingerprint + "\r"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("The authenticity of host 'build-box (build-box)' can't be established."), std::string::npos)
      << out;
  EXPECT_NE(out.find("ED25519 key fingerprint is " + fingerprint + "."), std::string::npos) << out;
  EXPECT_NE(out.find("PROMPTED-OK"), std::string::npos) << out;
  // Added hashed, under the alias: OpenSSH's ssh-keygen -F finds it.
  const std::string written = read_file(kh);
  EXPECT_EQ(written.rfind("|1|", 0), 0u) << written;
  EXPECT_EQ(run({"ssh-keygen", "-F", "build-box", "-f", kh}).exit_code, 0);
  // "no" at the prompt: refused.
  write_file(kh, "");
  auto [out2, code2] = run_on_pty(argv, "(yes/no/[fingerprint])?", {"no\r"});
  EXPECT_EQ(code2, 255) << out2;
  EXPECT_NE(out2.find("Host key verification failed."), std::string::npos) << out2;
}

TEST_F(SshInterop, StdinReachesTheCommandAndEofEndsIt) {
  std::string input;
  for (int i = 0; i < 20000; ++i) input += "line " + std::to_string(i) + "\n";
  auto r = run(client({}, "wc -l; cat >/dev/null; exit 0"), input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "20000\n");
  auto echo = run(client({}, "cat"), input);
  ASSERT_EQ(echo.exit_code, 0) << echo.err;
  EXPECT_EQ(echo.out, input);
  // Standard input a regular file (which epoll refuses): read to its end.
  TempDir d;
  write_file(d.file("input"), input);
  std::string cmdline;
  for (const std::string& a : client({}, "wc -c")) cmdline += "'" + a + "' ";
  auto from_file = run({"/bin/sh", "-c", cmdline + "< " + d.file("input")});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, std::to_string(input.size()) + "\n");
  // -n: stdin is /dev/null.
  auto null = run(client({"-n"}, "cat"), "ignored\n");
  EXPECT_EQ(null.exit_code, 0);
  EXPECT_EQ(null.out, "");
}

TEST_F(SshInterop, ASignalKillingTheCommandIsExit255AsOpenSsh) {
  auto ours = run(client({}, "kill -9 $$"));
  std::vector<std::string> openssh = {"ssh", "-F", "none", "-p", std::to_string(sshd_->port()), "-i",
                                      dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                      "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                      "-q", std::string(kUser) + "@127.0.0.1", "kill -9 $$"};
  auto theirs = run(openssh);
  EXPECT_EQ(theirs.exit_code, 255);
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
}

TEST_F(SshInterop, NoKeyAcceptedIsPermissionDenied) {
  TempDir d;
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", d.file("other")}).exit_code, 0);
  std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(sshd_->port()),
                                   "-i", d.file("other"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                   "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                                   std::string(kUser) + "@127.0.0.1", "true"};
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find(std::string(kUser) + "@127.0.0.1: Permission denied (publickey"), std::string::npos) << r.err;
}

TEST_F(SshInterop, KnownHostsStrictCheckingAcceptNewAndChangedKeys) {
  TempDir d;
  const std::string kh = d.file("known_hosts");
  auto base = [&](const std::string& strict) {
    return std::vector<std::string>{tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(sshd_->port()),
                                    "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                    "-o", "StrictHostKeyChecking=" + strict, "-o", "UserKnownHostsFile=" + kh,
                                    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                                    "-o", "HostKeyAlgorithms=ssh-ed25519", std::string(kUser) + "@127.0.0.1", "true"};
  };
  const std::string name = "[127.0.0.1]:" + std::to_string(sshd_->port());
  // Unknown host, strict: refused.
  auto strict = run(base("yes"));
  EXPECT_EQ(strict.exit_code, 255);
  EXPECT_NE(strict.err.find("No ED25519 host key is known for " + name + " and you have requested strict checking."),
            std::string::npos)
      << strict.err;
  EXPECT_NE(strict.err.find("Host key verification failed."), std::string::npos);
  // accept-new: added, with OpenSSH's words, and then known.
  auto added = run(base("accept-new"));
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.err.find("Warning: Permanently added '" + name + "' (ED25519) to the list of known hosts."),
            std::string::npos)
      << added.err;
  EXPECT_EQ(run(base("yes")).exit_code, 0);
  // The addition is an INFO line: LogLevel ERROR hides it, as in OpenSSH.
  std::vector<std::string> error_level = base("accept-new");
  error_level.insert(error_level.begin() + 1, {"-o", "LogLevel=ERROR", "-o", "UserKnownHostsFile=" + kh + ".2"});
  auto silent = run(error_level);
  EXPECT_EQ(silent.exit_code, 0) << silent.err;
  EXPECT_EQ(silent.err, "");
  EXPECT_NE(read_file(kh + ".2").find(name + " ssh-ed25519 "), std::string::npos);
  // OpenSSH's ssh reads the line tessera-ssh wrote.
  auto openssh = run({"ssh", "-F", "none", "-p", std::to_string(sshd_->port()), "-i", dir_->file("user_ed25519"),
                      "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh,
                      "-o", "HostKeyAlgorithms=ssh-ed25519", std::string(kUser) + "@127.0.0.1", "true"});
  EXPECT_EQ(openssh.exit_code, 0) << openssh.err;
  // A changed key: the warning names the file and line to fix.
  auto other = run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", d.file("other")});
  ASSERT_EQ(other.exit_code, 0);
  const std::string pub = read_file(d.file("other.pub"));
  write_file(kh, "# comment\n" + name + " " + pub);
  auto changed = run(base("yes"));
  EXPECT_EQ(changed.exit_code, 255);
  EXPECT_NE(changed.err.find("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"), std::string::npos) << changed.err;
  EXPECT_NE(changed.err.find("Offending ED25519 key in " + kh + ":2"), std::string::npos) << changed.err;
  EXPECT_NE(changed.err.find("Host key for " + name + " has changed and you have requested strict checking."),
            std::string::npos);
  // Hashed names work too.
  write_file(kh, "");
  ASSERT_EQ(run(base("accept-new")).exit_code, 0);
  ASSERT_EQ(run({"ssh-keygen", "-H", "-f", kh}).exit_code, 0);
  EXPECT_EQ(read_file(kh).rfind("|1|", 0), 0u);
  EXPECT_EQ(run(base("yes")).exit_code, 0);
  // @revoked refuses the key.
  write_file(kh, "@revoked " + name + " " + read_file(dir_->file("host_ed25519.pub")));
  auto revoked = run(base("no"));
  EXPECT_EQ(revoked.exit_code, 255);
  EXPECT_NE(revoked.err.find("REVOKED HOST KEY DETECTED"), std::string::npos) << revoked.err;
}

TEST_F(SshInterop, HostCertificatesAreCheckedAgainstCertAuthorityLines) {
  TempDir d;
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", d.file("ca")}).exit_code, 0);
  ASSERT_EQ(run({"cp", dir_->file("host_ed25519"), d.file("hk")}).exit_code, 0);
  ASSERT_EQ(run({"cp", dir_->file("host_ed25519.pub"), d.file("hk.pub")}).exit_code, 0);
  ASSERT_EQ(run({"ssh-keygen", "-q", "-s", d.file("ca"), "-h", "-I", "host", "-n", "127.0.0.1", d.file("hk.pub")})
                .exit_code,
            0);
  TempDir sd;
  Sshd certified(SshdConfig{sd.path().string(), d.file("hk"), "HostCertificate " + d.file("hk-cert.pub") + "\n"});
  ASSERT_TRUE(certified.started()) << certified.log();
  write_file(certified.authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  const std::string kh = d.file("known_hosts");
  write_file(kh, "@cert-authority 127.0.0.1,[127.0.0.1]:* " + read_file(d.file("ca.pub")));
  std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(certified.port()),
                                   "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                   "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh,
                                   "-o", "IdentityAgent=none", std::string(kUser) + "@127.0.0.1", "echo certified"};
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "certified\n");
  // Another CA vouches for nothing: strict checking refuses.
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", d.file("ca2")}).exit_code, 0);
  write_file(kh, "@cert-authority [127.0.0.1]:* " + read_file(d.file("ca2.pub")));
  auto refused = run(argv);
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_NE(refused.err.find("Host key verification failed."), std::string::npos) << refused.err;
}

TEST_F(SshInterop, ProxyCommandRunsSshdInInetdMode) {
  // As OpenSSH's own regression tests: no listening port at all.
  const std::string config = dir_->file("sshd_config");
  const std::string proxy = "ProxyCommand=/usr/sbin/sshd -i -f " + config + " -E " + dir_->file("inetd.log");
  std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-i", dir_->file("user_ed25519"),
                                   "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                                   "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
                                   "-o", proxy, std::string(kUser) + "@somewhere", "echo via inetd; exit 4"};
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 4) << r.err << read_file(dir_->file("inetd.log"));
  EXPECT_EQ(r.out, "via inetd\n");
}

TEST_F(SshInterop, StdioForwardAndProxyJump) {
  // -W: the server connects to its own port and we read its banner.
  auto w = run(client({"-W", "127.0.0.1:" + std::to_string(sshd_->port())}, ""), "");
  EXPECT_EQ(w.out.rfind("SSH-2.0-OpenSSH", 0), 0u) << w.err;
  // -J: through the server to itself, twice over. The hops read the same -F
  // file, as OpenSSH passes it on.
  const std::string cfg = dir_->file("jump_config");
  write_file(cfg, "Host *\n  IdentityFile " + dir_->file("user_ed25519") +
                      "\n  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                      "  IdentityAgent none\n  LogLevel ERROR\n",
             0644);
  const std::string hop = std::string(kUser) + "@127.0.0.1:" + std::to_string(sshd_->port());
  auto j = run({tessera_bin("tessera-ssh"), "-F", cfg, "-J", hop + "," + hop, "-p", std::to_string(sshd_->port()),
                std::string(kUser) + "@127.0.0.1", "echo jumped"});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(j.out, "jumped\n");
}

TEST_F(SshInterop, LocalForwardCarriesAConnection) {
  const int local_port = free_tcp_port();
  BackgroundProcess forwarder(
      client({"-N", "-L", std::to_string(local_port) + ":127.0.0.1:" + std::to_string(sshd_->port())}, ""),
      dir_->file("forward.log"));
  ASSERT_TRUE(wait_for_tcp_port(local_port, 10000)) << read_file(dir_->file("forward.log"));
  // Through the forward, OpenSSH's ssh logs in to the same sshd.
  auto r = run({"ssh", "-F", "none", "-p", std::to_string(local_port), "-i", dir_->file("user_ed25519"), "-o",
                "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                std::string(kUser) + "@127.0.0.1", "echo forwarded"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "forwarded\n");
}

TEST_F(SshInterop, BulkTransferReKeysAndLosesNothing) {
  // 2 GiB of deterministic bytes with RekeyLimit 64M: the remote sha256
  // equals ours, and the client re-keyed about 32 times.
  constexpr uint64_t kBytes = uint64_t{2} << 30;
  // Generated by the remote side too would prove nothing: we feed stdin.
  std::vector<std::string> argv =
      client({"-o", "RekeyLimit=64M", "-c", "aes128-gcm@openssh.com", "-v"}, "sha256sum | cut -d' ' -f1");
  // Run with a pipe we write into while hashing.
  int to_child[2], from_child[2], err_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  ASSERT_EQ(pipe(err_child), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    dup2(err_child[1], 2);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1], err_child[0], err_child[1]}) close(fd);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  close(err_child[1]);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  std::vector<uint8_t> block(1 << 20);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (uint64_t sent = 0; sent < kBytes; sent += block.size()) {
    for (size_t i = 0; i < block.size(); i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::memcpy(block.data() + i, &x, 8);
    }
    EVP_DigestUpdate(md, block.data(), block.size());
    size_t off = 0;
    while (off < block.size()) {
      const ssize_t n = write(to_child[1], block.data() + off, block.size() - off);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
  }
  close(to_child[1]);
  uint8_t digest[32];
  unsigned dlen = 0;
  EVP_DigestFinal_ex(md, digest, &dlen);
  EVP_MD_CTX_free(md);
  std::string out, err;
  char buf[4096];
  for (ssize_t n; (n = read(from_child[0], buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  for (ssize_t n; (n = read(err_child[0], buf, sizeof(buf))) > 0;) err.append(buf, static_cast<size_t>(n));
  close(from_child[0]);
  close(err_child[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err.substr(err.size() > 2000 ? err.size() - 2000 : 0);
  static const char* hex = "0123456789abcdef";
  std::string expect;
  for (uint8_t b : digest) {
    expect += hex[b >> 4];
    expect += hex[b & 15];
  }
  EXPECT_EQ(out, expect + "\n");
  size_t rekeys = 0;
  for (size_t at = 0; (at = err.find("rekeyed", at)) != std::string::npos; ++at) ++rekeys;
  EXPECT_GE(rekeys, 28u) << "re-keys seen: " << rekeys;
  EXPECT_LE(rekeys, 40u);
}


// The forwarded agent serves a key restricted (tessera-add -h) to exactly
// origin -> A -> B: ssh-add -l and a nested login to B work on A; a nested
// login to C, a hop not in the restriction, is refused.
TEST_F(SshInterop, AgentForwardingHonoursDestinationConstraints) {
  TempDir d;
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(d.file("agent.log"));
  TempDir da, db, dc;
  std::vector<std::unique_ptr<Sshd>> servers;
  std::string known_hosts;
  for (TempDir* dir : {&da, &db, &dc}) {
    servers.push_back(std::make_unique<Sshd>(SshdConfig{dir->path().string(), "", ""}));
    ASSERT_TRUE(servers.back()->started()) << servers.back()->log();
    write_file(servers.back()->authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
    known_hosts += "[127.0.0.1]:" + std::to_string(servers.back()->port()) + " " +
                   read_file(servers.back()->host_key() + ".pub");
  }
  write_file(d.file("known_hosts"), known_hosts);
  const std::string a = "[127.0.0.1]:" + std::to_string(servers[0]->port());
  const std::string b = "[127.0.0.1]:" + std::to_string(servers[1]->port());
  auto added = run({tessera_bin("tessera-add"), "-H", d.file("known_hosts"), "-h", std::string(kUser) + "@" + a, "-h",
                    a + ">" + std::string(kUser) + "@" + b, dir_->file("user_ed25519")},
                   "", {"SSH_AUTH_SOCK=" + sock});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  auto nested = [&](const Sshd& to, const std::string& tag) {
    return "ssh -F none -p " + std::to_string(to.port()) +
           " -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null " + kUser +
           "@127.0.0.1 echo " + tag;
  };
  const std::string remote = "ssh-add -l | grep -c ED25519; " + nested(*servers[1], "nested-b") + "; " +
                             nested(*servers[2], "nested-c") + "; echo done";
  auto r = run({tessera_bin("tessera-ssh"), "-F", "none", "-A", "-p", std::to_string(servers[0]->port()), "-o",
                "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + d.file("known_hosts"),
                "-o", "IdentityAgent=" + sock, std::string(kUser) + "@127.0.0.1", remote});
  ASSERT_EQ(r.exit_code, 0) << r.err << read_file(d.file("agent.log"));
  EXPECT_EQ(r.out, "1\nnested-b\ndone\n") << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

// The embedding API, as the programming guide shows it: connect with the
// agent, run a command, read its output and status.
TEST_F(SshInterop, LibraryClientRunsCommandsWithTheAgent) {
  TempDir d;
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock));
  ASSERT_EQ(run({tessera_bin("tessera-add"), dir_->file("user_ed25519")}, "", {"SSH_AUTH_SOCK=" + sock}).exit_code, 0);
  write_file(d.file("known_hosts"),
             "[127.0.0.1]:" + std::to_string(sshd_->port()) + " " + read_file(dir_->file("host_ed25519.pub")));

  ssh::ClientOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<uint16_t>(sshd_->port());
  options.user = kUser;
  options.agent_socket = sock;
  options.known_hosts_files = {d.file("known_hosts")};
  options.host_key_algorithms = {"ssh-ed25519"};
  auto client = ssh::Client::connect(options);
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto r = (*client)->run("tr a-z A-Z; echo oops >&2; exit 6", "hello\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "HELLO\n");
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_EQ(r->exit_status, 6);
  auto again = (*client)->run("echo second");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->out, "second\n");
  EXPECT_EQ(again->exit_status, 0);

  // An unknown host is refused by default.
  options.known_hosts_files = {d.file("empty_known_hosts")};
  auto refused = ssh::Client::connect(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("Host key verification failed."), std::string::npos);
}


// Runs argv on a new pseudo-terminal: writes `keys` (after the remote
// prompt shows `ready`) and returns everything the terminal printed and
// the exit code.
std::pair<std::string, int> run_on_pty(const std::vector<std::string>& argv, const std::string& ready,
                                       const std::vector<std::string>& keys) {
  int master = -1;
  struct winsize ws {};
  ws.ws_col = 91;
  ws.ws_row = 37;
  const pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  std::string seen;
  size_t next_key = 0;
  bool sent_after_ready = false;
  for (int rounds = 0; rounds < 400; ++rounds) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char buf[4096];
      const ssize_t n = read(master, buf, sizeof(buf));
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
    }
    if (!sent_after_ready && seen.find(ready) != std::string::npos) sent_after_ready = true;
    if (sent_after_ready && next_key < keys.size()) {
      (void)!write(master, keys[next_key].data(), keys[next_key].size());
      ++next_key;
      usleep(200000);
    }
  }
  int status = 0;
  for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(100000);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(master);
  return {seen, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST_F(SshInterop, PtySessionSizesTheTerminalAndTheEscapeDisconnects) {
  std::vector<std::string> argv = client({"-t"}, "stty size; echo READY; cat");
  auto [out, code] = run_on_pty(argv, "READY", {"typed\r", "\r~."});
  // The remote pty got our window size; what we typed echoed back; ~. ended
  // the connection as OpenSSH's does (exit 255).
  EXPECT_NE(out.find("37 91"), std::string::npos) << out;
  EXPECT_NE(out.find("typed"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection"), std::string::npos) << out;
  EXPECT_EQ(code, 255) << out;
  // Without ~. the exit status is the remote one.
  auto [out2, code2] = run_on_pty(client({"-t"}, "echo READY; read x; exit $x"), "READY", {"7\r"});
  EXPECT_EQ(code2, 7) << out2;
}

TEST_F(SshInterop, SubsystemAndEnvironment) {
  TempDir d;
  Sshd server(SshdConfig{d.path().string(), "",
                         "Subsystem upper /usr/bin/tr a-z A-Z\nAcceptEnv TESSERA_*\n"});
  ASSERT_TRUE(server.started()) << server.log();
  write_file(server.authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  auto base = [&](std::vector<std::string> extra, std::vector<std::string> tail) {
    std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(server.port()),
                                     "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityAgent=none", "-q"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  };
  auto sub = run(base({"-s"}, {"upper"}), "subsystem data\n");
  EXPECT_EQ(sub.exit_code, 0) << sub.err;
  EXPECT_EQ(sub.out, "SUBSYSTEM DATA\n");
  auto missing = run(base({"-s"}, {"nonesuch"}));
  EXPECT_EQ(missing.exit_code, 255);
  EXPECT_NE(missing.err.find("subsystem request failed on channel 0"), std::string::npos) << missing.err;
  auto env = run(base({"-o", "SendEnv=TESSERA_SENT", "-o", "SetEnv=TESSERA_SET=fixed"},
                      {"echo $TESSERA_SENT $TESSERA_SET"}),
                 "", {"TESSERA_SENT=from-client"});
  EXPECT_EQ(env.out, "from-client fixed\n") << env.err;
}

TEST_F(SshInterop, PasswordAndKeyboardInteractiveThroughAskpass) {
  ASSERT_EQ(run({"chpasswd"}, std::string(kUser) + ":tessera-pw-1\n").exit_code, 0);
  TempDir d;
  const std::string askpass = d.file("askpass.sh");
  const std::vector<std::string> env = {"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"};
  struct Method {
    std::string name;
    std::string server;  // sshd_config lines (a Match section overrides the base's "no")
    bool pam;
  };
  // keyboard-interactive on Linux goes through PAM, which asks "Password: ".
  const std::vector<Method> methods = {
      {"password", std::string("Match User ") + kUser + "\n  PasswordAuthentication yes\n", false},
      {"keyboard-interactive", std::string("Match User ") + kUser + "\n  KbdInteractiveAuthentication yes\n", true},
  };
  for (const Method& m : methods) {
    TempDir sd;
    Sshd server(SshdConfig{sd.path().string(), "", m.server, m.pam});
    ASSERT_TRUE(server.started()) << server.log();
    std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(server.port()),
                                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                     "-o", "IdentityAgent=none", "-o", "PubkeyAuthentication=no",
                                     "-o", "PreferredAuthentications=" + m.name,
                                     std::string(kUser) + "@127.0.0.1", "echo by-" + m.name};
    write_file(askpass, "#!/bin/sh\necho tessera-pw-1\n", 0755);
    auto r = run(argv, "", env);
    EXPECT_EQ(r.exit_code, 0) << m.name << ": " << r.err << server.log();
    EXPECT_EQ(r.out, "by-" + m.name + "\n");
    // A wrong answer every time: Permission denied, after the prompts allowed.
    write_file(askpass, "#!/bin/sh\necho wrong\n", 0755);
    auto wrong = run(argv, "", env);
    EXPECT_EQ(wrong.exit_code, 255) << m.name;
    EXPECT_NE(wrong.err.find("Permission denied"), std::string::npos) << wrong.err;
  }
  run({"usermod", "-p", "*", kUser});
}

TEST_F(SshInterop, ServerAliveEndsAConnectionToAFrozenServer) {
  TempDir d;
  Sshd server(SshdConfig{d.path().string(), "", ""});
  ASSERT_TRUE(server.started()) << server.log();
  write_file(server.authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  std::vector<std::string> argv = {tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(server.port()),
                                   "-i", dir_->file("user_ed25519"), "-o", "BatchMode=yes",
                                   "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                   "-o", "IdentityAgent=none", "-o", "ServerAliveInterval=1",
                                   "-o", "ServerAliveCountMax=2", std::string(kUser) + "@127.0.0.1",
                                   "echo up; sleep 60"};
  BackgroundProcess ssh(argv, d.file("client.log"));
  // Wait until logged in, then freeze every sshd process serving it.
  for (int i = 0; i < 100 && read_file(d.file("client.log")).find("up") == std::string::npos; ++i) usleep(100000);
  ASSERT_NE(read_file(d.file("client.log")).find("up"), std::string::npos);
  // This server's own processes only: the listener's children and theirs.
  std::vector<int> frozen;
  std::vector<int> parents = {std::atoi(read_file(d.file("sshd.pid")).c_str())};
  while (!parents.empty()) {
    const int parent = parents.back();
    parents.pop_back();
    auto pids = run({"pgrep", "-P", std::to_string(parent)});
    for (size_t at = 0; at < pids.out.size();) {
      const size_t nl = pids.out.find('\n', at);
      const int pid = std::atoi(pids.out.substr(at, nl - at).c_str());
      if (pid > 0 && kill(pid, SIGSTOP) == 0) {
        frozen.push_back(pid);
        parents.push_back(pid);
      }
      at = nl == std::string::npos ? pids.out.size() : nl + 1;
    }
  }
  ASSERT_FALSE(frozen.empty());
  for (int i = 0; i < 100 && ssh.running(); ++i) usleep(100000);
  const int code = ssh.stop(1000);
  for (int pid : frozen) kill(pid, SIGCONT);
  EXPECT_EQ(code, 255);
  EXPECT_NE(read_file(d.file("client.log")).find("Timeout, server 127.0.0.1 not responding."), std::string::npos)
      << read_file(d.file("client.log"));
}


TEST_F(SshInterop, RevokedHostKeysRefusesAKeyInTheKrl) {
  TempDir d;
  ASSERT_EQ(run({"ssh-keygen", "-q", "-k", "-f", d.file("krl"), dir_->file("host_ed25519.pub")}).exit_code, 0);
  std::vector<std::string> argv =
      client({"-o", "RevokedHostKeys=" + d.file("krl"), "-o", "HostKeyAlgorithms=ssh-ed25519"}, "true");
  std::erase(argv, "-q");  // the reason is an error message, which -q silences as in OpenSSH
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("revoked by file " + d.file("krl")), std::string::npos) << r.err;
  // Another host's key in the KRL: this one is fine.
  ASSERT_EQ(run({"ssh-keygen", "-q", "-k", "-f", d.file("krl2"), dir_->file("host_p256.pub")}).exit_code, 0);
  auto ok = run(client({"-o", "RevokedHostKeys=" + d.file("krl2"), "-o", "HostKeyAlgorithms=ssh-ed25519"}, "true"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}


// The server re-keys every megabyte (its RekeyLimit) while data flows both
// ways: tessera-ssh answers each exchange at once and loses nothing.
TEST_F(SshInterop, ServerStartedReKeysAreAnsweredMidStream) {
  TempDir d;
  Sshd server(SshdConfig{d.path().string(), "", "RekeyLimit 1M\n"});
  ASSERT_TRUE(server.started()) << server.log();
  write_file(server.authorized_keys(), read_file(dir_->file("user_ed25519.pub")), 0644);
  std::string input(24 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < input.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    input[i] = static_cast<char>(x);
  }
  for (const char* cipher : {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr"}) {
    auto r = run({tessera_bin("tessera-ssh"), "-F", "none", "-p", std::to_string(server.port()), "-i",
                  dir_->file("user_ed25519"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                  "UserKnownHostsFile=/dev/null", "-o", "IdentityAgent=none", "-c", cipher, "-v",
                  std::string(kUser) + "@127.0.0.1", "cat"},
                 input);
    ASSERT_EQ(r.exit_code, 0) << cipher << "\n" << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0);
    EXPECT_TRUE(r.out == input) << cipher << ": " << r.out.size() << " bytes back of " << input.size();
    size_t rekeys = 0;
    for (size_t at = 0; (at = r.err.find("rekeyed", at)) != std::string::npos; ++at) ++rekeys;
    // 24 MiB each way at one exchange per MiB in either direction of the server's.
    EXPECT_GE(rekeys, 20u) << cipher;
  }
}

}  // namespace
}  // namespace tessera::test
