// Sessions on tessera-sshd as sshd_config shapes them, with OpenSSH's ssh:
// ForceCommand, a Subsystem that is any byte-stream command, AcceptEnv with
// SendEnv and SetEnv, ClientAliveInterval and ClientAliveCountMax, and a
// pty session in utmp while it runs (who(1) inside it shows it), and
// ~/.ssh/rc compared with OpenSSH's sshd.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sshd_interop_suite.h"

namespace tessera::test {
namespace {

using sshd_interop::eventually;
using sshd_interop::kUser;
using sshd_interop::make_key;
using sshd_interop::ssh_argv;
using sshd_interop::TesseraSshd;

constexpr const char* kUtmp = "/run/utmp";

class SshdSessions : public sshd_interop::OneServerSuite<SshdSessions> {
 protected:
  static void SetUpTestSuite() {
    if (!start_suite()) return;
    server_ = new TesseraSshd(
        "Subsystem upper /usr/bin/tr a-z A-Z\n"
        "Subsystem words /usr/bin/wc -w\n"
        "AcceptEnv TESSERA_ACCEPTED_* TESSERA_ALSO\n"
        "ClientAliveInterval 1\nClientAliveCountMax 2\n");
    if ((*server_)->started()) authorize(*server_);
  }
  static std::vector<std::string> ssh(TesseraSshd& server, const std::vector<std::string>& extra,
                                      const std::string& command, const std::string& program = "ssh") {
    return ssh_argv(program, server->port(), dir_->file("user"), extra, command);
  }
};

// ForceCommand runs whatever the client asked for (a command, a shell, a
// subsystem), with SSH_ORIGINAL_COMMAND set as sshd sets it.
TEST_F(SshdSessions, ForceCommandRunsInsteadOfWhatWasAsked) {
  TesseraSshd forced(
      "Subsystem upper /usr/bin/tr a-z A-Z\nForceCommand echo \"forced [$SSH_ORIGINAL_COMMAND]\"; exit 4\n");
  ASSERT_TRUE(forced->started()) << forced->log();
  authorize(forced);
  auto command = run(ssh(forced, {}, "echo asked for"));
  EXPECT_EQ(command.exit_code, 4) << command.err << forced->log();
  EXPECT_EQ(command.out, "forced [echo asked for]\n");
  auto shell = run(ssh(forced, {"-T"}, ""), "echo typed\n");
  EXPECT_EQ(shell.out, "forced []\n") << shell.err;
  auto subsystem = run(ssh(forced, {"-s"}, "upper"), "lower case\n");
  EXPECT_EQ(subsystem.out, "forced [/usr/bin/tr a-z A-Z]\n") << subsystem.err;
}

// A Subsystem is any command: bytes in, bytes out, exit status back.
TEST_F(SshdSessions, SubsystemRunsAByteStreamCommand) {
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    auto upper = run(ssh(*server_, {"-s"}, "upper", program), "hello, subsystem\n");
    EXPECT_EQ(upper.exit_code, 0) << program << ": " << upper.err << (*server_)->log();
    EXPECT_EQ(upper.out, "HELLO, SUBSYSTEM\n") << program;
    auto words = run(ssh(*server_, {"-s"}, "words", program), "one two three four\n");
    EXPECT_EQ(words.out, "4\n") << program << ": " << words.err;
  }
  auto unknown = run(ssh(*server_, {"-s"}, "nosuch"));
  EXPECT_EQ(unknown.exit_code, 255);
  EXPECT_NE(unknown.err.find("subsystem request failed on channel 0"), std::string::npos) << unknown.err;
}

// ~/.ssh/rc runs before the command as under OpenSSH's sshd: the same
// output from both servers with the rc allowed, with the key's no-user-rc,
// with PermitUserRC no and with ForceCommand (an account of its own, so
// that no other suite's account has an rc).
TEST_F(SshdSessions, UserRcRunsAsUnderOpenSshsSshd) {
  constexpr const char* kRcUser = "tessera-sshrc";
  if (getpwnam(kRcUser) == nullptr) {
    ASSERT_EQ(run({"useradd", "-m", "-s", "/bin/sh", kRcUser}).exit_code, 0);
    ASSERT_EQ(run({"usermod", "-p", "*", kRcUser}).exit_code, 0);
  }
  const passwd* pw = getpwnam(kRcUser);
  ASSERT_NE(pw, nullptr);
  const std::string ssh_dir = std::string(pw->pw_dir) + "/.ssh";
  (void)mkdir(ssh_dir.c_str(), 0700);
  write_file(ssh_dir + "/rc", "echo \"rc for $USER in $PWD\"; cat; echo rc-stderr >&2\n", 0644);
  ASSERT_EQ(chown(ssh_dir.c_str(), pw->pw_uid, pw->pw_gid), 0);
  const std::string key = read_file(dir_->file("user.pub"));
  struct Case {
    std::string name, config, key_options, expect;
  };
  const std::string rc_line = std::string("rc for ") + kRcUser + " in " + pw->pw_dir + "\n";
  const std::vector<Case> cases = {
      {"allowed", "", "", rc_line + "command\n"},
      {"no-user-rc", "", "no-user-rc ", "command\n"},
      {"restrict", "", "restrict ", "command\n"},
      {"PermitUserRC no", "PermitUserRC no\n", "", "command\n"},
      {"ForceCommand", "ForceCommand echo forced\n", "", "forced\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir openssh_dir;
    Sshd openssh(SshdConfig{.dir = openssh_dir.path().string(), .host_key = "", .extra = c.config});
    TesseraSshd tessera(c.config);
    ASSERT_TRUE(openssh.started()) << openssh.log();
    ASSERT_TRUE(tessera->started()) << tessera->log();
    std::string outputs[2];
    int i = 0;
    for (Sshd* server : {&openssh, &*tessera}) {
      write_file(server->authorized_keys(), c.key_options + key, 0644);
      auto r = run(ssh_argv("ssh", server->port(), dir_->file("user"), {}, "echo command", kRcUser));
      EXPECT_EQ(r.exit_code, 0) << r.err << server->log();
      outputs[i++] = r.out + "|" + r.err;
    }
    EXPECT_EQ(outputs[0], c.expect + (c.expect.starts_with("rc") ? "|rc-stderr\n" : "|"));
    EXPECT_EQ(outputs[1], outputs[0]);
  }
}

// SIGHUP restarts the listener as sshd's does: it binds what the
// configuration now says (a new Port here), and the sessions it already
// started go on.
TEST_F(SshdSessions, SighupRestartsWithTheNewConfiguration) {
  TesseraSshd server("LogLevel VERBOSE\n");
  ASSERT_TRUE(server->started()) << server->log();
  authorize(server);
  const int old_port = server->port();
  CommandResult long_session;
  std::thread session([&] { long_session = run(ssh(server, {}, "echo started; sleep 2; echo survived")); });
  ASSERT_TRUE(eventually([&] { return server->log().find("Starting session: command") != std::string::npos; }))
      << server->log();

  const int new_port = free_tcp_port();
  std::string config = read_file(server.config_file());
  const std::string old_line = "Port " + std::to_string(old_port) + "\n";
  ASSERT_NE(config.find(old_line), std::string::npos);
  config.replace(config.find(old_line), old_line.size(), "Port " + std::to_string(new_port) + "\n");
  write_file(server.config_file(), config, 0644);
  ASSERT_EQ(kill(server->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return server->log().find("Received SIGHUP; restarting.") != std::string::npos; }));
  ASSERT_TRUE(wait_for_tcp_port(new_port)) << server->log();
  auto fresh = run(ssh_argv("ssh", new_port, dir_->file("user"), {}, "echo on the new port"));
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err << server->log();
  EXPECT_EQ(fresh.out, "on the new port\n");
  auto old = run(ssh_argv("ssh", old_port, dir_->file("user"), {"-o", "ConnectTimeout=5"}, "true"));
  EXPECT_EQ(old.exit_code, 255);
  EXPECT_NE(old.err.find("Connection refused"), std::string::npos) << old.err;
  session.join();
  EXPECT_EQ(long_session.exit_code, 0) << long_session.err;
  EXPECT_EQ(long_session.out, "started\nsurvived\n");
  // In the foreground (-D) the restarted listener is the same process.
  EXPECT_EQ(kill(server->pid(), 0), 0);
}

// The lines admins and fail2ban read are sshd's, at sshd's levels: the same
// lines (up to the client's port) from OpenSSH's sshd and tessera-sshd at
// LogLevel VERBOSE for a refused key, an invalid user, a client that says
// DISCONNECT before authenticating, and a login; the session process's
// lines reach the log through the monitor.
TEST_F(SshdSessions, LogLinesAreSshds) {
  ASSERT_TRUE(make_key(dir_->file("stranger")));
  TempDir openssh_dir;
  Sshd openssh(SshdConfig{.dir = openssh_dir.path().string(), .host_key = "", .extra = "LogLevel VERBOSE\n"});
  TesseraSshd tessera("LogLevel VERBOSE\n");
  ASSERT_TRUE(openssh.started()) << openssh.log();
  ASSERT_TRUE(tessera->started()) << tessera->log();
  std::vector<std::string> logs;
  for (Sshd* server : {&openssh, &*tessera}) {
    write_file(server->authorized_keys(), read_file(dir_->file("user.pub")), 0644);
    EXPECT_EQ(run(ssh_argv("ssh", server->port(), dir_->file("stranger"), {}, "true")).exit_code, 255);
    EXPECT_EQ(run(ssh_argv("ssh", server->port(), dir_->file("stranger"), {}, "true", "no-such-user")).exit_code, 255);
    // tessera-ssh says DISCONNECT (no more authentication methods) when refused.
    EXPECT_EQ(run(ssh_argv(tessera_bin("tessera-ssh"), server->port(), dir_->file("stranger"), {}, "true")).exit_code,
              255);
    EXPECT_EQ(run(ssh_argv("ssh", server->port(), dir_->file("user"), {}, "true")).exit_code, 0);
    const std::string done = std::string("Disconnected from user ") + kUser;
    EXPECT_TRUE(eventually([&] { return server->log().find(done) != std::string::npos; })) << server->log();
    // Each line up to its first port number, the order kept.
    std::string lines;
    std::istringstream in(server->log());
    for (std::string line; std::getline(in, line);) {
      const size_t port = line.find(" port ");
      lines += (port == std::string::npos ? line : line.substr(0, port)) + "\n";
    }
    logs.push_back(lines);
  }
  const std::string u = kUser;
  const std::vector<std::string> wanted_lines = {
      "Connection from 127.0.0.1",
      "Failed publickey for " + u + " from 127.0.0.1",
      "Connection closed by authenticating user " + u + " 127.0.0.1",
      "Invalid user no-such-user from 127.0.0.1",
      "Connection closed by invalid user no-such-user 127.0.0.1",
      "Disconnected from authenticating user " + u + " 127.0.0.1",
      "Postponed publickey for " + u + " from 127.0.0.1",
      "Accepted publickey for " + u + " from 127.0.0.1",
      "Starting session: command for " + u + " from 127.0.0.1",
      "Received disconnect from 127.0.0.1",
      "Disconnected from user " + u + " 127.0.0.1",
  };
  for (const std::string& wanted : wanted_lines) {
    EXPECT_NE(logs[0].find(wanted + "\n"), std::string::npos) << "sshd: " << wanted << "\n" << logs[0];
    EXPECT_NE(logs[1].find(wanted + "\n"), std::string::npos) << "tessera-sshd: " << wanted << "\n" << logs[1];
  }
}

TEST_F(SshdSessions, AcceptEnvTakesOnlyTheListedVariables) {
  auto r = run(ssh(*server_,
                   {"-o", "SendEnv=TESSERA_ACCEPTED_ONE", "-o", "SendEnv=TESSERA_REFUSED", "-o", "SendEnv=TESSERA_ALSO",
                    "-o", "SetEnv=TESSERA_ACCEPTED_SET=from-setenv TESSERA_NOT_SET=x"},
                   "echo \"$TESSERA_ACCEPTED_ONE/$TESSERA_REFUSED/$TESSERA_ALSO/$TESSERA_ACCEPTED_SET/$TESSERA_NOT_SET\""),
               "", {"TESSERA_ACCEPTED_ONE=one", "TESSERA_REFUSED=two", "TESSERA_ALSO=three"});
  EXPECT_EQ(r.exit_code, 0) << r.err << (*server_)->log();
  EXPECT_EQ(r.out, "one//three/from-setenv/\n");
}

// An idle session is probed every ClientAliveInterval (ssh answers the
// keepalive requests)...
TEST_F(SshdSessions, ClientAliveIntervalProbesAnIdleClient) {
  auto r = run(ssh(*server_, {"-o", "LogLevel=DEBUG1"}, "sleep 3; echo awake"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "awake\n");
  size_t probes = 0;
  for (size_t at = 0; (at = r.err.find("rtype keepalive@openssh.com want_reply 1", at)) != std::string::npos; ++at) {
    ++probes;
  }
  EXPECT_GE(probes, 2u) << r.err;
  EXPECT_LE(probes, 5u) << r.err;
}

// ...and one that stops answering is dropped after ClientAliveCountMax
// unanswered probes.
TEST_F(SshdSessions, ClientAliveCountMaxDropsAClientThatStoppedAnswering) {
  TempDir d;
  const size_t from = (*server_)->log().size();
  BackgroundProcess client(ssh(*server_, {}, "sleep 20"), d.file("ssh.log"));
  ASSERT_TRUE(eventually([&] { return (*server_)->log().find("Accepted publickey", from) != std::string::npos; }))
      << (*server_)->log().substr(from);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the session starts
  ASSERT_TRUE(client.signal(SIGSTOP));
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually(
      [&] {
        return (*server_)->log().find("Timeout, client not responding from user " + std::string(kUser) +
                                          " 127.0.0.1 port ",
                                      from) != std::string::npos;
      },
      10000))
      << (*server_)->log().substr(from);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 6.0);
  ASSERT_TRUE(client.signal(SIGCONT));
  // The client finds its connection gone.
  EXPECT_EQ(client.stop(5000), 255) << read_file(d.file("ssh.log"));
}

// The monitor records a pty session in utmp while it runs: who(1) inside
// the session shows the user on the session's terminal; the record is gone
// once the session ends. (A system without /run/utmp gets one for the test,
// as systemd-tmpfiles would make it.)
TEST_F(SshdSessions, APtySessionIsInUtmpWhileItRuns) {
  struct stat st {};
  bool made_utmp = false;
  if (::stat(kUtmp, &st) != 0) {
    const int fd = ::open(kUtmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0664);
    ASSERT_GE(fd, 0) << "cannot create " << kUtmp;
    ::close(fd);
    if (const group* utmp = getgrnam("utmp")) (void)!::chown(kUtmp, 0, utmp->gr_gid);
    made_utmp = true;
  }
  auto r = run(ssh(*server_, {"-tt"}, "tty; who"));
  EXPECT_EQ(r.exit_code, 0) << r.err << (*server_)->log();
  std::istringstream lines(r.out);
  std::string tty;
  std::getline(lines, tty);
  if (!tty.empty() && tty.back() == '\r') tty.pop_back();
  ASSERT_EQ(tty.rfind("/dev/pts/", 0), 0u) << r.out;
  const std::string line = tty.substr(5);  // "pts/N"
  bool listed = false;
  for (std::string who; std::getline(lines, who);) {
    std::istringstream fields(who);
    std::string user, terminal;
    fields >> user >> terminal;
    if (user == kUser && terminal == line) {
      listed = true;
      EXPECT_NE(who.find("(127.0.0.1)"), std::string::npos) << who;
    }
  }
  EXPECT_TRUE(listed) << "who inside the session:\n" << r.out;
  // Logged out: no USER_PROCESS record left for the terminal.
  EXPECT_TRUE(eventually([&] {
    auto now = run({"who"});
    std::istringstream l(now.out);
    for (std::string who; std::getline(l, who);) {
      std::istringstream fields(who);
      std::string user, terminal;
      fields >> user >> terminal;
      if (user == kUser && terminal == line) return false;
    }
    return true;
  })) << run({"who"}).out;
  // wtmp has the login.
  auto last = run({"last", "-w", "-n", "20", kUser});
  EXPECT_NE(last.out.find(line), std::string::npos) << last.out;
  if (made_utmp) ::unlink(kUtmp);
}

}  // namespace
}  // namespace tessera::test
