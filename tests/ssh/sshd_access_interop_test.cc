// Who may log in to tessera-sshd, and when, as OpenSSH's sshd decides it:
// MaxAuthTries, LoginGraceTime, PermitRootLogin, AllowUsers/DenyUsers, the
// Banner before it all; and the command line: -t and -T against
// /usr/sbin/sshd's own answers, and relative paths when it detaches.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sshd_interop_suite.h"

namespace tessera::test {
namespace {

using sshd_interop::eventually;
using sshd_interop::kUser;
using sshd_interop::make_key;
using sshd_interop::ssh_argv;
using sshd_interop::TesseraSshd;

class SshdAccess : public sshd_interop::OneServerSuite<SshdAccess> {
 protected:
  static void SetUpTestSuite() {
    if (!start_suite()) return;
    ::chmod(dir_->path().c_str(), 0755);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(make_key(dir_->file("stranger" + std::to_string(i))));
    write_file(dir_->file("banner"), "Authorised use only: tessera-sshd test banner\n", 0644);
    // tests/support/sshd's config permits root logins: a Match block has
    // the last word (sshd keeps the first value of a keyword otherwise).
    server_ = new TesseraSshd("MaxAuthTries 2\nLoginGraceTime 2\nBanner " + dir_->file("banner") +
                              "\nMatch all\n  PermitRootLogin no\n");
    if ((*server_)->started()) authorize(*server_);
  }
  static CommandResult ssh(TesseraSshd& server, const std::vector<std::string>& extra, const std::string& command,
                           const std::string& user = kUser, const std::string& key = "user") {
    return run(ssh_argv("ssh", server->port(), key.empty() ? "" : dir_->file(key), extra, command, user));
  }
  // Waits for `text` in the server's log after offset `from`.
  static bool logged(TesseraSshd& server, const std::string& text, size_t from = 0, int timeout_ms = 5000) {
    return eventually([&] { return server->log().find(text, from) != std::string::npos; }, timeout_ms);
  }
};

// Four keys the server does not know, then the right one: with MaxAuthTries
// 2 the client is disconnected before it gets there.
TEST_F(SshdAccess, MaxAuthTriesDisconnectsAClientOfferingTooManyKeys) {
  const size_t from = (*server_)->log().size();
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) keys.insert(keys.end(), {"-i", dir_->file("stranger" + std::to_string(i))});
  auto r = ssh(*server_, keys, "echo should not run");
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_NE(r.err.find("Too many authentication failures"), std::string::npos) << r.err;
  EXPECT_TRUE(logged(*server_, "maximum authentication attempts exceeded for " + std::string(kUser) +
                                   " from 127.0.0.1 port ", from))
      << (*server_)->log().substr(from);
  EXPECT_TRUE(logged(*server_, "Disconnecting authenticating user " + std::string(kUser) +
                                   " 127.0.0.1 port ", from))
      << (*server_)->log().substr(from);
  // One wrong key is under the limit.
  auto ok = ssh(*server_, {"-i", dir_->file("stranger0")}, "echo in");
  EXPECT_EQ(ok.exit_code, 0) << ok.err << (*server_)->log().substr(from);
  EXPECT_EQ(ok.out, "in\n");
}

// A client that connects and says nothing is dropped after LoginGraceTime.
TEST_F(SshdAccess, LoginGraceTimeDropsASilentClient) {
  const size_t from = (*server_)->log().size();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>((*server_)->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len), 0);
  const auto start = std::chrono::steady_clock::now();
  std::string received;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) received.append(buf, static_cast<size_t>(n));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  close(fd);
  EXPECT_EQ(received.rfind("SSH-2.0-", 0), 0u) << received;
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 6.0);
  EXPECT_TRUE(logged(*server_, "Timeout before authentication for 127.0.0.1 port " +
                                   std::to_string(ntohs(local.sin_port)), from))
      << (*server_)->log().substr(from);
}

TEST_F(SshdAccess, PermitRootLoginNoRefusesRoot) {
  const size_t from = (*server_)->log().size();
  auto refused = ssh(*server_, {}, "id -u", "root");
  EXPECT_EQ(refused.exit_code, 255) << refused.out;
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
  EXPECT_TRUE(logged(*server_, "ROOT LOGIN REFUSED FROM 127.0.0.1 port ", from)) << (*server_)->log().substr(from);
  // The same key logs root in where PermitRootLogin allows it (tests/support/sshd's yes).
  TesseraSshd open("");
  ASSERT_TRUE(open->started()) << open->log();
  authorize(open);
  auto root = ssh(open, {}, "id -u; echo $HOME", "root");
  EXPECT_EQ(root.exit_code, 0) << root.err << open->log();
  EXPECT_EQ(root.out, "0\n/root\n");
}

// The monitor execs the session program after becoming the user, who may
// not be able to reach its directory (a checkout under a 0700 directory):
// it is opened first, as root.
TEST_F(SshdAccess, TheSessionProgramNeedNotBeReachableByTheUser) {
  const std::string hidden = dir_->file("hidden");
  ASSERT_EQ(::mkdir(hidden.c_str(), 0700), 0);
  for (const char* program : {"tessera-sshd", "tessera-sshd-session"}) {
    ASSERT_EQ(run({"cp", tessera_bin(program), hidden + "/" + program}).exit_code, 0);
  }
  TesseraSshd server("", "", hidden + "/tessera-sshd");
  ASSERT_TRUE(server->started()) << server->log();
  authorize(server);
  auto r = ssh(server, {}, "echo reached");
  EXPECT_EQ(r.exit_code, 0) << r.err << server->log();
  EXPECT_EQ(r.out, "reached\n");
}

TEST_F(SshdAccess, AllowUsersAndDenyUsersDecideBeforeAnyKey) {
  // AllowUsers with a pattern that holds the user only from elsewhere.
  TesseraSshd allow("AllowUsers root " + std::string(kUser) + "@10.*\n");
  TesseraSshd deny("DenyUsers " + std::string(kUser) + "@127.0.0.1\n");
  TesseraSshd listed("AllowUsers nobody " + std::string(kUser) + "\nDenyUsers nobody\n");
  for (TesseraSshd* s : {&allow, &deny, &listed}) {
    ASSERT_TRUE((*s)->started()) << (*s)->log();
    authorize(*s);
  }
  auto not_listed = ssh(allow, {}, "echo should not run");
  EXPECT_EQ(not_listed.exit_code, 255);
  EXPECT_TRUE(logged(allow, "User " + std::string(kUser) + " from 127.0.0.1 not allowed because not listed in AllowUsers"))
      << allow->log();
  auto root = ssh(allow, {}, "id -un", "root");
  EXPECT_EQ(root.out, "root\n") << root.err << allow->log();
  auto denied = ssh(deny, {}, "echo should not run");
  EXPECT_EQ(denied.exit_code, 255);
  EXPECT_TRUE(logged(deny, "User " + std::string(kUser) + " from 127.0.0.1 not allowed because listed in DenyUsers"))
      << deny->log();
  auto in = ssh(listed, {}, "id -un");
  EXPECT_EQ(in.exit_code, 0) << in.err << listed->log();
  EXPECT_EQ(in.out, std::string(kUser) + "\n");
}

// ssh shows the Banner (at LogLevel INFO) before authentication: a refused
// client sees it too.
TEST_F(SshdAccess, BannerIsShownBeforeAuthentication) {
  const std::string banner = read_file(dir_->file("banner"));
  auto r = ssh(*server_, {"-o", "LogLevel=INFO"}, "echo in");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(banner), std::string::npos) << r.err;
  auto refused = ssh(*server_, {"-o", "LogLevel=INFO"}, "echo in", kUser, "stranger0");
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_NE(refused.err.find(banner), std::string::npos) << refused.err;
  // LogLevel ERROR hides it, as the man page says.
  auto quiet = ssh(*server_, {}, "echo in");
  EXPECT_EQ(quiet.err.find(banner), std::string::npos) << quiet.err;
}

// ---- the command line, against OpenSSH's sshd ----------------------------------

class SshdCommandLine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    ASSERT_TRUE(make_key(dir_.file("host_ed25519")));
    head_ = "Port 2222\nListenAddress 127.0.0.1\nHostKey " + dir_.file("host_ed25519") +
            "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n"
            "MaxAuthTries 3\nLoginGraceTime 30\nClientAliveInterval 5\nAcceptEnv LANG LC_*\nAllowUsers alice bob\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n";
    match_ = "Match User bob\n  PermitTTY no\n  ForceCommand /bin/true\n";
    good_ = head_ + match_;
  }
  std::string config(const std::string& name, const std::string& text) {
    write_file(dir_.file(name), text);
    return dir_.file(name);
  }
  // Both programs with the same arguments: exit status and stderr.
  std::pair<CommandResult, CommandResult> both(const std::vector<std::string>& args) {
    std::vector<std::string> openssh = {kSshdPath}, tessera = {tessera_bin("tessera-sshd")};
    openssh.insert(openssh.end(), args.begin(), args.end());
    tessera.insert(tessera.end(), args.begin(), args.end());
    return {run(openssh), run(tessera)};
  }

  TempDir dir_;
  std::string head_, match_, good_;  // good_: the global lines, then a Match block
};

TEST_F(SshdCommandLine, DashTChecksAConfigurationAsSshdDoes) {
  auto [o, t] = both({"-t", "-f", config("good", good_)});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out + t.err, "");
  // Same status, same words.
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"an unknown keyword", {"-t", "-f", config("bad1", head_ + "Bogus yes\n" + match_)}},
      {"two unknown keywords", {"-t", "-f", config("bad2", "Bogus yes\n" + head_ + "AlsoBogus no\n" + match_)}},
      {"an unknown keyword in a Match block", {"-t", "-f", config("bad3", good_ + "  Bogus yes\n")}},
      {"a bad value", {"-t", "-f", config("bad4", "MaxAuthTries many\n" + good_)}},
      {"an unknown keyword, then a bad value", {"-t", "-f", config("bad5", "Bogus yes\nMaxAuthTries many\n" + good_)}},
      {"a bad Match line", {"-t", "-f", config("bad6", good_ + "Match User\n")}},
      {"a keyword Match does not allow", {"-t", "-f", config("bad7", good_ + "Match User carol\n  Port 22\n")}},
      {"a missing file", {"-t", "-f", dir_.file("no-such-config")}},
      {"an unknown -o keyword", {"-t", "-f", config("good", good_), "-o", "Bogus=yes"}},
      {"a bad -o value", {"-t", "-f", config("good", good_), "-o", "PermitRootLogin=perhaps"}},
      {"a bad port", {"-t", "-f", config("good", good_), "-p", "99999"}},
  };
  for (const auto& [what, args] : bad) {
    auto [openssh, tessera] = both(args);
    EXPECT_NE(openssh.exit_code, 0) << what;
    EXPECT_EQ(tessera.exit_code, openssh.exit_code) << what << ": " << tessera.err;
    // sshd ends the lines it logs to stderr with "\r\n".
    std::string expected = openssh.err;
    for (size_t at; (at = expected.find("\r\n")) != std::string::npos;) expected.erase(at, 1);
    EXPECT_EQ(tessera.err, expected) << what;
  }
  // No host key that loads: both exit 1 and say so (in their own words
  // about the key itself).
  std::string no_key = good_;
  no_key.replace(no_key.find(dir_.file("host_ed25519")), dir_.file("host_ed25519").size(), dir_.file("missing_key"));
  auto [openssh, tessera] = both({"-t", "-f", config("nokey", no_key)});
  EXPECT_EQ(openssh.exit_code, 1) << openssh.err;
  EXPECT_EQ(tessera.exit_code, 1) << tessera.err;
  EXPECT_NE(tessera.err.find(dir_.file("missing_key")), std::string::npos) << tessera.err;
  EXPECT_NE(tessera.err.find("no hostkeys available -- exiting."), std::string::npos) << tessera.err;
}

// -T prints what sshd -T prints for every keyword tessera-sshd knows: the
// same values, but for the algorithm lists, which hold what tessera
// implements (a subset of OpenSSH's). With -C, Match blocks apply.
TEST_F(SshdCommandLine, DashTPrintsTheEffectiveConfigurationAsSshdDoes) {
  const std::string path = config("good", good_);
  for (const std::vector<std::string>& spec :
       {std::vector<std::string>{}, std::vector<std::string>{"-C", "user=bob,host=h,addr=127.0.0.1"},
        std::vector<std::string>{"-C", "user=alice,host=h,addr=127.0.0.1"},
        // -p takes a service name as well as a number.
        std::vector<std::string>{"-p", "https", "-p", "2222"}}) {
    std::vector<std::string> args = {"-T", "-f", path};
    args.insert(args.end(), spec.begin(), spec.end());
    auto [o, t] = both(args);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    ASSERT_EQ(t.exit_code, 0) << t.err;
    std::map<std::string, std::vector<std::string>> openssh;
    std::istringstream ol(o.out);
    for (std::string line; std::getline(ol, line);) {
      openssh[line.substr(0, line.find(' '))].push_back(line);
    }
    std::istringstream tl(t.out);
    size_t lines = 0;
    for (std::string line; std::getline(tl, line); ++lines) {
      const std::string keyword = line.substr(0, line.find(' '));
      ASSERT_EQ(openssh.count(keyword), 1u) << "sshd -T has no " << keyword;
      const std::vector<std::string>& theirs = openssh[keyword];
      if (keyword == "kexalgorithms" || keyword == "macs" || keyword == "hostkeyalgorithms" ||
          keyword == "ciphers" || keyword == "pubkeyacceptedalgorithms" || keyword == "casignaturealgorithms") {
        std::string list = line.substr(keyword.size() + 1);
        std::string all = "," + theirs.front().substr(keyword.size() + 1) + ",";
        for (size_t at = 0; at <= list.size();) {
          const size_t comma = std::min(list.find(',', at), list.size());
          EXPECT_NE(all.find("," + list.substr(at, comma - at) + ","), std::string::npos)
              << keyword << ": " << list.substr(at, comma - at) << " is not OpenSSH's";
          at = comma + 1;
        }
        continue;
      }
      EXPECT_NE(std::find(theirs.begin(), theirs.end(), line), theirs.end())
          << "tessera-sshd: " << line << "\nsshd:         " << theirs.front();
    }
    EXPECT_GE(lines, 50u) << t.out;
  }
}

TEST_F(SshdCommandLine, BadPortNumbersAreRefusedAsSshdRefusesThem) {
  const std::string path = config("good", good_);
  for (const char* port : {"0", "65536", "no-such-service", ""}) {
    auto [o, t] = both({"-T", "-f", path, "-p", port});
    EXPECT_EQ(o.exit_code, 1) << port;
    EXPECT_EQ(t.exit_code, o.exit_code) << port;
    EXPECT_EQ(t.err, o.err) << port;
  }
}

// daemon() moves to "/": -f and -E given relative to the directory
// tessera-sshd started in still name the same files for every connection.
TEST_F(SshdCommandLine, RelativePathsStillWorkAfterDetaching) {
  if (!sshd_interop::ensure_user()) GTEST_SKIP() << "no test account";
  ::chmod(dir_.path().c_str(), 0755);
  ASSERT_TRUE(make_key(dir_.file("user")));
  write_file(dir_.file("authorized_keys"), read_file(dir_.file("user.pub")), 0644);
  const int port = free_tcp_port();
  config("relative_config", "Port " + std::to_string(port) + "\nListenAddress 127.0.0.1\nHostKey " +
                                dir_.file("host_ed25519") + "\nPidFile " + dir_.file("sshd.pid") +
                                "\nAuthorizedKeysFile " + dir_.file("authorized_keys") +
                                "\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n");
  auto started = run({"sh", "-c", "cd \"$1\" && exec \"$2\" -f relative_config -E relative.log", "sh",
                      dir_.path().string(), tessera_bin("tessera-sshd")});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  struct stat st {};
  ASSERT_TRUE(eventually([&] { return ::stat(dir_.file("sshd.pid").c_str(), &st) == 0 && st.st_size > 0; }));
  const pid_t pid = std::stoi(read_file(dir_.file("sshd.pid")));
  auto r = run(ssh_argv("ssh", port, dir_.file("user"), {}, "echo detached"));
  EXPECT_EQ(r.exit_code, 0) << r.err << read_file(dir_.file("relative.log"));
  EXPECT_EQ(r.out, "detached\n");
  EXPECT_NE(read_file(dir_.file("relative.log")).find("Accepted publickey for " + std::string(kUser)),
            std::string::npos);
  ASSERT_GT(pid, 1);
  ::kill(pid, SIGTERM);
  EXPECT_TRUE(eventually([&] { return ::kill(pid, 0) != 0; }));
}

}  // namespace
}  // namespace tessera::test
