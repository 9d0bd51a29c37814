// tessera-agent driven by OpenSSH's own ssh-add (9.2): every key type,
// passphrase-protected keys, certificates, lifetimes, confirmation, listing
// (-l/-L) checked against the key files, removal, locking, test signatures
// (-T), destination constraints (-h); and the program's ssh-agent command
// line: -D, -s/-k, a command to run, and cleanup of the socket on signals.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_test_support.h"
#include "test_support.h"

extern char** environ;

namespace tessera::agent {
namespace {

using test::CommandResult;
using test::read_file;
using test::TempDir;
using test::write_file;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// A tessera-agent -D process with its output in files.
class AgentProcess {
 public:
  AgentProcess(const TempDir& dir, std::vector<std::string> args, std::vector<std::string> env) {
    std::vector<std::string> argv = {test::tessera_bin("tessera-agent")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    out_ = dir.file("agent.out");
    err_ = dir.file("agent.err");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = ::posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "cannot start tessera-agent: " << std::strerror(rc);
      pid_ = -1;
    }
  }
  ~AgentProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Sends a signal and returns the exit status (-1 if it did not exit normally).
  int stop(int signal_number = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal_number);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

 private:
  pid_t pid_ = -1;
  std::string out_, err_;
};

class OpensshAddTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // ssh-add must see only what each call passes.
    for (const char* name : {"SSH_AUTH_SOCK", "SSH_AGENT_PID", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY"}) {
      ::unsetenv(name);
    }
    if (!test::have_program("ssh-add") || !test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH missing";
    socket_ = dir_.file("agent.sock");
    // The agent's confirmation askpass answers what the file "answer" says.
    write_file(dir_.file("answer"), "yes\n");
    confirm_askpass_ = dir_.file("confirm.sh");
    write_file(confirm_askpass_, "#!/bin/sh\ncat " + dir_.file("answer") + "\n", 0700);
    // ssh-add's askpass gives passphrases from the file "passphrase".
    write_file(dir_.file("passphrase"), "correct horse\n");
    pass_askpass_ = dir_.file("pass.sh");
    write_file(pass_askpass_, "#!/bin/sh\ncat " + dir_.file("passphrase") + "\n", 0700);
    agent_ = std::make_unique<AgentProcess>(
        dir_, std::vector<std::string>{"-D", "-a", socket_},
        std::vector<std::string>{"SSH_ASKPASS=" + confirm_askpass_, "SSH_ASKPASS_REQUIRE=force"});
    ASSERT_TRUE(wait_for([&] { return exists(socket_); }, std::chrono::seconds(10))) << agent_->err();
  }
  void TearDown() override {
    if (agent_) {
      agent_->stop();
      EXPECT_FALSE(exists(socket_)) << "socket left behind";
    }
  }

  CommandResult ssh_add(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), "ssh-add");
    env.push_back("SSH_AUTH_SOCK=" + socket_);
    env.push_back("SSH_ASKPASS=" + pass_askpass_);
    env.push_back("SSH_ASKPASS_REQUIRE=force");
    return test::run(args, "", env);
  }
  std::string keygen(const std::string& name, std::vector<std::string> type_args, const std::string& passphrase = "") {
    std::string path = dir_.file(name);
    std::vector<std::string> args = {"ssh-keygen", "-q", "-N", passphrase, "-C", name + "@test", "-f", path};
    args.insert(args.end(), type_args.begin(), type_args.end());
    if (!passphrase.empty()) {
      args.push_back("-a");
      args.push_back("4");
    }
    auto r = test::run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }
  std::string fingerprint_line(const std::string& pub) {
    auto r = test::run({"ssh-keygen", "-l", "-f", pub});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return trim(r.out);
  }

  TempDir dir_;
  std::string socket_, confirm_askpass_, pass_askpass_;
  std::unique_ptr<AgentProcess> agent_;
};

struct KeySpec {
  const char* name;
  std::vector<std::string> args;
};

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> specs = {
      {"id_ed25519", {"-t", "ed25519"}},          {"id_ecdsa256", {"-t", "ecdsa", "-b", "256"}},
      {"id_ecdsa384", {"-t", "ecdsa", "-b", "384"}}, {"id_ecdsa521", {"-t", "ecdsa", "-b", "521"}},
      {"id_rsa2048", {"-t", "rsa", "-b", "2048"}},  {"id_rsa3072", {"-t", "rsa", "-b", "3072"}},
  };
  return specs;
}

TEST_F(OpensshAddTest, AddsListsAndSignsEveryKeyType) {
  std::vector<std::string> paths;
  std::string expected_public;
  std::vector<std::string> expected_fingerprints;
  for (const auto& spec : key_specs()) {
    std::string path = keygen(spec.name, spec.args);
    paths.push_back(path);
    auto added = ssh_add({path});
    ASSERT_EQ(added.exit_code, 0) << spec.name << ": " << added.err;
    EXPECT_NE(added.err.find("Identity added"), std::string::npos);
    expected_public += read_file(path + ".pub");
    expected_fingerprints.push_back(fingerprint_line(path + ".pub"));
  }
  // -L prints exactly the public key files, in the order added.
  auto listed_public = ssh_add({"-L"});
  ASSERT_EQ(listed_public.exit_code, 0) << listed_public.err;
  EXPECT_EQ(listed_public.out, expected_public);
  // -l prints what ssh-keygen -l prints for each file.
  auto listed = ssh_add({"-l"});
  ASSERT_EQ(listed.exit_code, 0);
  EXPECT_EQ(lines_of(listed.out), expected_fingerprints);
  // -T: ssh-add asks for a signature and verifies it.
  for (const auto& path : paths) {
    auto tested = ssh_add({"-T", path + ".pub"});
    EXPECT_EQ(tested.exit_code, 0) << path << ": " << tested.err;
  }
  // -E md5 is ssh-add's printing; the agent's listing stays the same.
  auto md5 = ssh_add({"-l", "-E", "md5"});
  EXPECT_EQ(md5.exit_code, 0);
  EXPECT_NE(md5.out.find("MD5:"), std::string::npos);
}

TEST_F(OpensshAddTest, PassphraseProtectedKeys) {
  std::string ed = keygen("enc_ed25519", {"-t", "ed25519"}, "correct horse");
  std::string rsa = keygen("enc_rsa", {"-t", "rsa", "-b", "2048"}, "correct horse");
  for (const auto& path : {ed, rsa}) {
    auto added = ssh_add({path});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    EXPECT_EQ(ssh_add({"-T", path + ".pub"}).exit_code, 0);
  }
  EXPECT_EQ(lines_of(ssh_add({"-l"}).out).size(), 2u);
}

TEST_F(OpensshAddTest, CertificatesAreAddedWithTheirKeys) {
  std::string ca = keygen("ca", {"-t", "ed25519"});
  std::string user = keygen("user", {"-t", "ecdsa", "-b", "256"});
  std::string rsa_user = keygen("rsa_user", {"-t", "rsa", "-b", "2048"});
  for (const auto& key : {user, rsa_user}) {
    auto signed_cert = test::run({"ssh-keygen", "-q", "-s", ca, "-I", "cert-of-" + key.substr(key.rfind('/') + 1),
                                  "-n", "alice", key + ".pub"});
    ASSERT_EQ(signed_cert.exit_code, 0) << signed_cert.err;
    auto added = ssh_add({key});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    EXPECT_NE(added.err.find("Certificate added"), std::string::npos) << added.err;
  }
  auto listed_public = ssh_add({"-L"});
  EXPECT_EQ(listed_public.out, read_file(user + ".pub") + read_file(user + "-cert.pub") +
                                   read_file(rsa_user + ".pub") + read_file(rsa_user + "-cert.pub"));
  auto listed = ssh_add({"-l"});
  EXPECT_NE(listed.out.find("(ECDSA-CERT)"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("(RSA-CERT)"), std::string::npos) << listed.out;
  EXPECT_EQ(ssh_add({"-T", user + "-cert.pub"}).exit_code, 0);
  EXPECT_EQ(ssh_add({"-T", rsa_user + "-cert.pub"}).exit_code, 0);
  // Deleting the key file's identities removes both the key and its certificate.
  EXPECT_EQ(ssh_add({"-d", user}).exit_code, 0);
  EXPECT_EQ(lines_of(ssh_add({"-l"}).out).size(), 2u);
}

// ssh-add -t: the key leaves when its lifetime ends. The agent runs in this
// process with its time moved by the test, so nothing waits for a second.
TEST(OpensshAddLifetime, KeyLeavesWhenItsLifetimeEnds) {
  if (!test::have_program("ssh-add") || !test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH missing";
  daemon::AgentConfig config;
  config.manual_time = true;
  daemon::testing::RunningAgent agent(std::move(config));
  ASSERT_TRUE(agent.ok());
  auto ssh_add = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "ssh-add");
    return test::run(args, "", {"SSH_AUTH_SOCK=" + agent.socket_path()});
  };
  for (const char* name : {"brief", "kept"}) {
    auto made = test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", std::string(name) + "@test", "-f",
                           agent.dir().file(name)});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  ASSERT_EQ(ssh_add({"-t", "1", agent.dir().file("brief")}).exit_code, 0);
  ASSERT_EQ(ssh_add({agent.dir().file("kept")}).exit_code, 0);
  agent.advance_time(std::chrono::milliseconds(999));
  EXPECT_EQ(lines_of(ssh_add({"-l"}).out).size(), 2u);
  agent.advance_time(std::chrono::milliseconds(1));
  auto listed = ssh_add({"-l"});
  ASSERT_EQ(lines_of(listed.out).size(), 1u) << listed.out;
  EXPECT_NE(listed.out.find("kept@test"), std::string::npos);
}

TEST_F(OpensshAddTest, ConfirmationAsksTheAgentsAskpass) {
  std::string key = keygen("confirm", {"-t", "ed25519"});
  auto added = ssh_add({"-c", key});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.err.find("must confirm each use"), std::string::npos) << added.err;
  EXPECT_EQ(ssh_add({"-T", key + ".pub"}).exit_code, 0);
  write_file(dir_.file("answer"), "no\n");
  EXPECT_NE(ssh_add({"-T", key + ".pub"}).exit_code, 0);
}

TEST_F(OpensshAddTest, RemoveOneAndAll) {
  std::string a = keygen("a", {"-t", "ed25519"});
  std::string b = keygen("b", {"-t", "ecdsa"});
  ASSERT_EQ(ssh_add({a}).exit_code, 0);
  ASSERT_EQ(ssh_add({b}).exit_code, 0);
  auto removed = ssh_add({"-d", a + ".pub"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_NE(removed.err.find("Identity removed"), std::string::npos);
  EXPECT_EQ(trim(ssh_add({"-L"}).out), trim(read_file(b + ".pub")));
  EXPECT_NE(ssh_add({"-d", a + ".pub"}).exit_code, 0);  // already gone
  auto all = ssh_add({"-D"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_NE(all.err.find("All identities removed."), std::string::npos) << all.err;
  auto empty = ssh_add({"-l"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.out.find("The agent has no identities."), std::string::npos) << empty.out;
}

TEST_F(OpensshAddTest, LockAndUnlock) {
  std::string key = keygen("lockme", {"-t", "ed25519"});
  ASSERT_EQ(ssh_add({key}).exit_code, 0);
  auto locked = ssh_add({"-x"});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_NE(locked.err.find("Agent locked."), std::string::npos) << locked.err;
  EXPECT_EQ(ssh_add({"-l"}).exit_code, 1);
  EXPECT_NE(ssh_add({"-T", key + ".pub"}).exit_code, 0);

  write_file(dir_.file("passphrase"), "wrong horse\n");
  auto start = std::chrono::steady_clock::now();
  auto wrong = ssh_add({"-X"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("Failed to unlock agent"), std::string::npos) << wrong.err;
  EXPECT_GE(took, std::chrono::milliseconds(100));

  write_file(dir_.file("passphrase"), "correct horse\n");
  auto unlocked = ssh_add({"-X"});
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  EXPECT_NE(unlocked.err.find("Agent unlocked."), std::string::npos);
  EXPECT_EQ(lines_of(ssh_add({"-l"}).out).size(), 1u);
  EXPECT_EQ(ssh_add({"-T", key + ".pub"}).exit_code, 0);
}

TEST_F(OpensshAddTest, DestinationConstrainedKeyIsListed) {
  std::string key = keygen("restricted", {"-t", "ed25519"});
  std::string host = keygen("hostkey", {"-t", "ecdsa"});
  write_file(dir_.file("known_hosts"), "server " + read_file(host + ".pub"));
  auto added = ssh_add({"-H", dir_.file("known_hosts"), "-h", "server", key});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  auto listed = ssh_add({"-L"});
  EXPECT_EQ(trim(listed.out), trim(read_file(key + ".pub")));
  // As ssh-agent: no signature on a connection that is not bound to a listed host.
  EXPECT_NE(ssh_add({"-T", key + ".pub"}).exit_code, 0);
}

// ---- the program's command line (these start agents of their own) ----

TEST_F(OpensshAddTest, SignalsRemoveTheSocket) {
  for (int sig : {SIGINT, SIGHUP}) {
    TempDir dir;
    std::string socket = dir.file("s");
    AgentProcess agent(dir, {"-D", "-a", socket}, {});
    ASSERT_TRUE(wait_for([&] { return exists(socket); }, std::chrono::seconds(10)));
    // The socket exists a moment before the agent prints where it is.
    const std::string expected =
        "SSH_AUTH_SOCK=" + socket + "; export SSH_AUTH_SOCK;\necho Agent pid " + std::to_string(agent.pid()) + ";\n";
    EXPECT_TRUE(wait_for([&] { return agent.out().size() >= expected.size(); }, std::chrono::seconds(10)));
    EXPECT_EQ(agent.out(), expected);
    EXPECT_EQ(agent.stop(sig), 2);
    EXPECT_FALSE(exists(socket));
  }
}

TEST_F(OpensshAddTest, DaemonModeAndKill) {
  TempDir dir;
  std::string socket = dir.file("daemon.sock");
  auto started = test::run({test::tessera_bin("tessera-agent"), "-s", "-a", socket});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  auto lines = lines_of(started.out);
  ASSERT_EQ(lines.size(), 3u) << started.out;
  EXPECT_EQ(lines[0], "SSH_AUTH_SOCK=" + socket + "; export SSH_AUTH_SOCK;");
  std::string pid = lines[1].substr(lines[1].find('=') + 1);
  pid = pid.substr(0, pid.find(';'));
  EXPECT_EQ(lines[1], "SSH_AGENT_PID=" + pid + "; export SSH_AGENT_PID;");
  EXPECT_EQ(lines[2], "echo Agent pid " + pid + ";");
  EXPECT_TRUE(exists(socket));
  auto listed = test::run({"ssh-add", "-l"}, "", {"SSH_AUTH_SOCK=" + socket});
  EXPECT_EQ(listed.exit_code, 1);
  EXPECT_NE(listed.out.find("The agent has no identities."), std::string::npos);

  auto killed = test::run({test::tessera_bin("tessera-agent"), "-k"}, "", {"SSH_AGENT_PID=" + pid});
  EXPECT_EQ(killed.exit_code, 0) << killed.err;
  EXPECT_EQ(killed.out, "unset SSH_AUTH_SOCK;\nunset SSH_AGENT_PID;\necho Agent pid " + pid + " killed;\n");
  EXPECT_TRUE(wait_for([&] { return !exists(socket); }, std::chrono::seconds(10)));

  auto csh = test::run({test::tessera_bin("tessera-agent"), "-c", "-k"}, "", {"SSH_AGENT_PID=1"});
  EXPECT_EQ(csh.exit_code, 1);  // not a good PID
}

TEST_F(OpensshAddTest, RunsACommandAndExitsWithIt) {
  TempDir tmp;
  auto r = test::run({test::tessera_bin("tessera-agent"), "sh", "-c",
                      "ssh-add -l; echo \"pid=$SSH_AGENT_PID\"; echo \"sock=$SSH_AUTH_SOCK\""},
                     "", {"TMPDIR=" + tmp.path().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("The agent has no identities."), std::string::npos) << r.out;
  auto sock_at = r.out.find("sock=");
  ASSERT_NE(sock_at, std::string::npos);
  std::string sock = trim(r.out.substr(sock_at + 5));
  // $TMPDIR/ssh-XXXXXXXXXXXX/agent.<pid>
  EXPECT_EQ(sock.rfind(tmp.path().string() + "/ssh-", 0), 0u) << sock;
  // Twelve random characters, as ssh-agent's, not six after six literal X's.
  std::string dir_name = std::filesystem::path(sock).parent_path().filename().string();
  ASSERT_EQ(dir_name.size(), 16u) << dir_name;
  EXPECT_NE(dir_name.substr(4, 6), "XXXXXX") << dir_name;
  EXPECT_TRUE(std::all_of(dir_name.begin() + 4, dir_name.end(),
                          [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }))
      << dir_name;
  EXPECT_NE(sock.find("/agent."), std::string::npos) << sock;
  // The agent notices that its command ended, and cleans up.
  EXPECT_TRUE(wait_for([&] { return !exists(sock); }, std::chrono::seconds(5)));
  EXPECT_TRUE(wait_for([&] { return std::filesystem::is_empty(tmp.path()); }, std::chrono::seconds(5)));
}

TEST_F(OpensshAddTest, UsageErrorsAsSshAgent) {
  auto bad = test::run({test::tessera_bin("tessera-agent"), "-x"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unknown option -- x"), std::string::npos);
  EXPECT_NE(bad.err.find("usage: tessera-agent"), std::string::npos);
  auto life = test::run({test::tessera_bin("tessera-agent"), "-t", "soon"});
  EXPECT_EQ(life.exit_code, 1);
  EXPECT_NE(life.err.find("Invalid lifetime"), std::string::npos);
  auto help = test::run({test::tessera_bin("tessera-agent"), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--audit-log"), std::string::npos);
}

}  // namespace
}  // namespace tessera::agent
