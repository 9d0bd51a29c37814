// tessera-sshd's authorized_keys options, with OpenSSH's ssh as the client:
// from=, command= (and SSH_ORIGINAL_COMMAND), no-pty, environment= under
// PermitUserEnvironment, restrict, expiry-time=, no-agent-forwarding,
// permitopen=. One server; each test writes the authorized_keys line it
// needs (sshd reads the file at each login).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sshd_interop_suite.h"

namespace tessera::test {
namespace {

using sshd_interop::kUser;
using sshd_interop::ssh_argv;
using sshd_interop::TcpEcho;
using sshd_interop::TesseraSshd;

class SshdAuthorizedKeysOptions : public sshd_interop::OneServerSuite<SshdAuthorizedKeysOptions> {
 protected:
  static void SetUpTestSuite() {
    if (!start_suite()) return;
    server_ = new TesseraSshd("PermitUserEnvironment yes\nAllowAgentForwarding yes\nAllowTcpForwarding yes\n");
  }
  // The user's key on one line with `options` in front.
  static void authorize(const std::string& options) {
    const std::string key = read_file(dir_->file("user.pub"));
    write_file((*server_)->authorized_keys(), options.empty() ? key : options + " " + key, 0644);
  }
  static CommandResult ssh(const std::vector<std::string>& extra, const std::string& command,
                           const std::string& input = "") {
    return run(ssh_argv("ssh", (*server_)->port(), dir_->file("user"), extra, command), input);
  }
};

TEST_F(SshdAuthorizedKeysOptions, FromAdmitsOnlyTheListedAddresses) {
  authorize("from=\"127.0.0.1\"");
  auto allowed = ssh({}, "echo from loopback");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err << (*server_)->log();
  EXPECT_EQ(allowed.out, "from loopback\n");
  authorize("from=\"10.0.0.0/8,!127.0.0.1\"");
  auto refused = ssh({}, "echo from loopback");
  EXPECT_EQ(refused.exit_code, 255) << refused.out;
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
  authorize("from=\"10.0.0.0/8\"");
  refused = ssh({}, "echo from loopback");
  EXPECT_EQ(refused.exit_code, 255) << refused.out;
  EXPECT_NE((*server_)->log().find("Authentication tried for " + std::string(kUser) +
                                   " with correct key but not from a permitted host (host=127.0.0.1, ip=127.0.0.1, required=10.0.0.0/8)."),
            std::string::npos)
      << (*server_)->log();
}

TEST_F(SshdAuthorizedKeysOptions, CommandRunsInsteadWithTheOriginalCommandInTheEnvironment) {
  authorize("command=\"echo forced; echo \\\"original: $SSH_ORIGINAL_COMMAND\\\"; exit 5\"");
  auto r = ssh({}, "echo asked for this");
  EXPECT_EQ(r.exit_code, 5) << r.err << (*server_)->log();
  EXPECT_EQ(r.out, "forced\noriginal: echo asked for this\n");
  // A shell session gets the forced command too, with no SSH_ORIGINAL_COMMAND.
  auto shell = ssh({"-T"}, "", "echo typed into the shell\n");
  EXPECT_EQ(shell.exit_code, 5) << shell.err;
  EXPECT_EQ(shell.out, "forced\noriginal: \n");
}

TEST_F(SshdAuthorizedKeysOptions, NoPtyRefusesTheTerminal) {
  authorize("");
  auto with_pty = ssh({"-tt"}, "tty");
  EXPECT_EQ(with_pty.exit_code, 0) << with_pty.err;
  EXPECT_EQ(with_pty.out.rfind("/dev/pts/", 0), 0u) << with_pty.out;
  authorize("no-pty");
  // ssh -tt takes a refused pty as fatal (as with OpenSSH's sshd): nothing runs.
  auto r = ssh({"-tt", "-o", "LogLevel=INFO"}, "tty; echo ran");
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("PTY allocation request failed on channel 0"), std::string::npos) << r.err;
  // Without a pty request the key still runs commands.
  auto plain = ssh({}, "tty");
  EXPECT_EQ(plain.exit_code, 1) << plain.err;  // tty(1): not a tty
  EXPECT_EQ(plain.out, "not a tty\n");
}

TEST_F(SshdAuthorizedKeysOptions, EnvironmentIsSetWithPermitUserEnvironment) {
  authorize("environment=\"TESSERA_FROM_KEY=set by the key\",environment=\"TESSERA_SECOND=2\"");
  auto r = ssh({}, "echo \"$TESSERA_FROM_KEY/$TESSERA_SECOND\"");
  EXPECT_EQ(r.exit_code, 0) << r.err << (*server_)->log();
  EXPECT_EQ(r.out, "set by the key/2\n");
}

TEST_F(SshdAuthorizedKeysOptions, ExpiryTimeInThePastIsRefused) {
  authorize("expiry-time=\"20200101\"");
  auto r = ssh({}, "echo should not run");
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_EQ(r.out, "");
  authorize("expiry-time=\"29991231\"");
  auto future = ssh({}, "echo not expired");
  EXPECT_EQ(future.exit_code, 0) << future.err << (*server_)->log();
  EXPECT_EQ(future.out, "not expired\n");
}

// The agent (ssh-agent, with nothing in it) is forwarded by -A unless the
// key says no-agent-forwarding (or restrict).
TEST_F(SshdAuthorizedKeysOptions, NoAgentForwardingLeavesNoSocket) {
  TempDir d;
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({"ssh-agent", "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(d.file("agent.log"));
  const std::vector<std::string> agent_opts = {"-A", "-o", "IdentityAgent=" + sock};
  const std::string probe = "echo \"sock=${SSH_AUTH_SOCK:+yes}\"; ssh-add -l >/dev/null 2>&1; echo \"agent=$?\"";
  authorize("");
  auto forwarded = ssh(agent_opts, probe);
  EXPECT_EQ(forwarded.exit_code, 0) << forwarded.err;
  EXPECT_EQ(forwarded.out, "sock=yes\nagent=1\n");  // 1: an agent with no identities
  authorize("no-agent-forwarding");
  auto refused = ssh(agent_opts, probe);
  EXPECT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_EQ(refused.out, "sock=\nagent=2\n");  // 2: no agent to ask
}

// permitopen= allows -W and -L to its host:port and nothing else.
TEST_F(SshdAuthorizedKeysOptions, PermitOpenLimitsForwardingTargets) {
  TcpEcho allowed, other;
  authorize("permitopen=\"127.0.0.1:" + std::to_string(allowed.port()) + "\"");
  auto through = ssh({"-W", "127.0.0.1:" + std::to_string(allowed.port())}, "", "to the permitted port");
  EXPECT_EQ(through.exit_code, 0) << through.err << (*server_)->log();
  EXPECT_EQ(through.out, "to the permitted port");
  auto refused =
      ssh({"-W", "127.0.0.1:" + std::to_string(other.port()), "-o", "LogLevel=DEBUG1"}, "", "to another port");
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_EQ(refused.out, "");
  EXPECT_NE(refused.err.find("open failed: administratively prohibited: open failed"), std::string::npos)
      << refused.err;
  EXPECT_EQ(other.connections(), 0);
  // A different name for the same address is not the listed one.
  auto by_name = ssh({"-W", "localhost:" + std::to_string(allowed.port())}, "", "by name");
  EXPECT_EQ(by_name.exit_code, 255);
  EXPECT_EQ(allowed.connections(), 1);
}

// restrict: no pty, no agent, no forwarding; "restrict,pty" gives the pty
// back.
TEST_F(SshdAuthorizedKeysOptions, RestrictTurnsEverythingOffAndPtyBack) {
  TcpEcho echo;
  authorize("restrict");
  auto tty = ssh({"-tt", "-o", "LogLevel=INFO"}, "tty");
  EXPECT_EQ(tty.exit_code, 255);
  EXPECT_NE(tty.err.find("PTY allocation request failed on channel 0"), std::string::npos) << tty.err;
  auto runs = ssh({}, "echo restricted but running");
  EXPECT_EQ(runs.out, "restricted but running\n") << runs.err << (*server_)->log();
  auto w = ssh({"-W", "127.0.0.1:" + std::to_string(echo.port())}, "", "hello");
  EXPECT_EQ(w.exit_code, 255);
  EXPECT_EQ(w.out, "");
  EXPECT_EQ(echo.connections(), 0);
  TempDir d;
  const std::string sock = d.file("agent.sock");
  BackgroundProcess agent({"ssh-agent", "-D", "-a", sock}, d.file("agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(sock)) << read_file(d.file("agent.log"));
  auto agent_probe = ssh({"-A", "-o", "IdentityAgent=" + sock}, "echo \"sock=${SSH_AUTH_SOCK:+yes}\"");
  EXPECT_EQ(agent_probe.out, "sock=\n") << agent_probe.err;
  authorize("restrict,pty");
  auto pty = ssh({"-tt"}, "tty");
  EXPECT_EQ(pty.exit_code, 0) << pty.err;
  EXPECT_EQ(pty.out.rfind("/dev/pts/", 0), 0u) << pty.out;
}

}  // namespace
}  // namespace tessera::test
