// Forwarding through tessera-sshd: the client's agent forwarded to a
// session (OpenSSH's ssh -A, then a nested ssh inside the session to
// OpenSSH's sshd, with a tessera-agent key restricted by tessera-add -h to
// exactly that path: session-bind from the nested hop has to reach the agent
// as the nested ssh sent it), and direct-tcpip (ssh -L and -W) when
// AllowTcpForwarding allows it, refused when it says no.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sshd_interop_suite.h"

namespace tessera::test {
namespace {

using sshd_interop::kUser;
using sshd_interop::ssh_argv;
using sshd_interop::tcp_exchange;
using sshd_interop::TcpEcho;
using sshd_interop::TesseraSshd;

class SshdForwarding : public sshd_interop::OneServerSuite<SshdForwarding> {
 protected:
  static void SetUpTestSuite() {
    if (!start_suite()) return;
    server_ = new TesseraSshd("AllowTcpForwarding yes\nAllowAgentForwarding yes\n");
    if ((*server_)->started()) authorize(*server_);
  }
  static std::vector<std::string> ssh(Sshd& server, const std::vector<std::string>& extra,
                                      const std::string& command) {
    return ssh_argv("ssh", server.port(), dir_->file("user"), extra, command);
  }
};

// Bytes that are not all the same, so that a reordering would show.
std::string payload(size_t size) {
  std::string out(size, '\0');
  uint32_t x = 2463534242u;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

// origin -(OpenSSH ssh -A)-> A (tessera-sshd) -(ssh in the session)-> B
// (OpenSSH's sshd): the key is restricted to user@A and A>user@B. The
// nested login to B works, one to C (another OpenSSH sshd) is refused by the
// agent, and so is any use on A that names no hop.
TEST_F(SshdForwarding, AgentForwardingCarriesDestinationConstrainedKeysToTheNextHopOnly) {
  TempDir d;
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({tessera_bin("tessera-agent"), "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(d.file("agent.log"));
  TempDir db, dc;
  Sshd b(SshdConfig{.dir = db.path().string(), .host_key = "", .extra = ""});
  Sshd c(SshdConfig{.dir = dc.path().string(), .host_key = "", .extra = ""});
  ASSERT_TRUE(b.started()) << b.log();
  ASSERT_TRUE(c.started()) << c.log();
  write_file(b.authorized_keys(), read_file(dir_->file("user.pub")), 0644);
  write_file(c.authorized_keys(), read_file(dir_->file("user.pub")), 0644);
  auto name = [](int port) { return "[127.0.0.1]:" + std::to_string(port); };
  const std::string kh = d.file("known_hosts");
  write_file(kh, name((*server_)->port()) + " " + read_file((*server_)->host_key() + ".pub") + name(b.port()) + " " +
                     read_file(b.host_key() + ".pub") + name(c.port()) + " " + read_file(c.host_key() + ".pub"));
  const std::string a = name((*server_)->port());
  auto added = run({tessera_bin("tessera-add"), "-H", kh, "-h", std::string(kUser) + "@" + a, "-h",
                    a + ">" + std::string(kUser) + "@" + name(b.port()), dir_->file("user")},
                   "", {"SSH_AUTH_SOCK=" + sock});
  ASSERT_EQ(added.exit_code, 0) << added.err;

  auto nested = [&](const Sshd& to, const std::string& tag) {
    return "ssh -F none -p " + std::to_string(to.port()) +
           " -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR " +
           kUser + "@127.0.0.1 echo " + tag;
  };
  const std::string remote = "ssh-add -l | grep -c ED25519; " + nested(b, "nested-b") + "; echo b=$?; " +
                             nested(c, "nested-c") + "; echo c=$?";
  // No -i: the agent's key, restricted, is the only one.
  auto r = run(ssh_argv("ssh", (*server_)->port(), "",
                        {"-A", "-o", "IdentityAgent=" + sock, "-o", "IdentitiesOnly=no", "-o", "StrictHostKeyChecking=yes", "-o",
                         "UserKnownHostsFile=" + kh},
                        remote));
  ASSERT_EQ(r.exit_code, 0) << r.err << (*server_)->log() << read_file(d.file("agent.log"));
  EXPECT_EQ(r.out, "1\nnested-b\nb=0\nc=255\n") << r.err << read_file(d.file("agent.log"));
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_NE(b.log().find(std::string("Accepted publickey for ") + kUser), std::string::npos) << b.log();
  EXPECT_EQ(c.log().find("Accepted publickey"), std::string::npos) << c.log();

  // The same key, restricted to a path that does not start at A, is no use
  // on A at all.
  TempDir d2;
  const std::string sock2 = d2.file("agent.sock");
  BackgroundProcess agent2({tessera_bin("tessera-agent"), "-D", "-a", sock2}, d2.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock2));
  ASSERT_EQ(run({tessera_bin("tessera-add"), "-H", kh, "-h", std::string(kUser) + "@" + name(b.port()),
                 dir_->file("user")},
                "", {"SSH_AUTH_SOCK=" + sock2})
                .exit_code,
            0);
  auto off_path = run(ssh_argv("ssh", (*server_)->port(), "",
                               {"-o", "IdentityAgent=" + sock2, "-o", "IdentitiesOnly=no", "-o", "StrictHostKeyChecking=yes", "-o",
                                "UserKnownHostsFile=" + kh},
                               "echo should not run"));
  EXPECT_EQ(off_path.exit_code, 255) << off_path.out;
  EXPECT_NE(off_path.err.find("Permission denied"), std::string::npos) << off_path.err;
}

TEST_F(SshdForwarding, DashWRelaysToATcpTarget) {
  TcpEcho echo;
  const std::string data = payload(1 << 20);
  auto r = run(ssh(**server_, {"-W", "127.0.0.1:" + std::to_string(echo.port())}, ""), data);
  EXPECT_EQ(r.exit_code, 0) << r.err << (*server_)->log();
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
  EXPECT_EQ(echo.connections(), 1);
}

TEST_F(SshdForwarding, DashLForwardsLocalConnections) {
  TcpEcho echo;
  TempDir d;
  const int local = free_tcp_port();
  BackgroundProcess client(ssh(**server_,
                               {"-N", "-o", "ExitOnForwardFailure=yes", "-L",
                                std::to_string(local) + ":127.0.0.1:" + std::to_string(echo.port())},
                               ""),
                           d.file("ssh.log"));
  ASSERT_TRUE(wait_for_tcp_port(local)) << read_file(d.file("ssh.log"));
  const std::string data = payload(1 << 20);
  EXPECT_TRUE(tcp_exchange(local, "first connection") == "first connection");
  EXPECT_TRUE(tcp_exchange(local, data) == data);
  EXPECT_TRUE(sshd_interop::eventually([&] { return echo.connections() >= 2; }));
  EXPECT_TRUE(client.running()) << read_file(d.file("ssh.log"));
}

TEST_F(SshdForwarding, AllowTcpForwardingNoRefusesDashLAndDashW) {
  TesseraSshd refusing("AllowTcpForwarding no\n");
  ASSERT_TRUE(refusing->started()) << refusing->log();
  write_file(refusing->authorized_keys(), read_file(dir_->file("user.pub")), 0644);
  TcpEcho echo;
  auto w = run(ssh(*refusing, {"-o", "LogLevel=DEBUG1", "-W", "127.0.0.1:" + std::to_string(echo.port())}, ""),
               "hello");
  EXPECT_EQ(w.exit_code, 255);
  EXPECT_EQ(w.out, "");
  EXPECT_NE(w.err.find("open failed: administratively prohibited"), std::string::npos) << w.err;

  TempDir d;
  const int local = free_tcp_port();
  BackgroundProcess client(
      ssh(*refusing, {"-N", "-L", std::to_string(local) + ":127.0.0.1:" + std::to_string(echo.port())}, ""),
      d.file("ssh.log"));
  ASSERT_TRUE(wait_for_tcp_port(local)) << read_file(d.file("ssh.log"));
  EXPECT_EQ(tcp_exchange(local, "hello"), "");
  EXPECT_EQ(echo.connections(), 0);
  // The session itself still works.
  auto r = run(ssh(*refusing, {}, "echo sessions still work"));
  EXPECT_EQ(r.out, "sessions still work\n") << r.err;
}

}  // namespace
}  // namespace tessera::test
