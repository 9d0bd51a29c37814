// tessera-add and the agent client library against OpenSSH's own agent
// (/usr/bin/ssh-agent -D), with OpenSSH's ssh-add as the reference printer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/agent/client.h"
#include "tessera/key/format.h"
#include "test_support.h"

namespace tessera::test {
namespace {

namespace fs = std::filesystem;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// OpenSSH's ssh-agent in the foreground on a socket in a temporary directory;
// killed when the object goes away.
class OpenSshAgent {
 public:
  explicit OpenSshAgent(const TempDir& dir, const std::vector<std::string>& env = {}) : sock_(dir.file("agent.sock")) {
    const std::string log = dir.file("agent.log");
    pid_ = fork();
    if (pid_ == 0) {
      setsid();
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      int null_fd = open("/dev/null", O_RDWR);
      int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(126);
      execl("/usr/bin/ssh-agent", "ssh-agent", "-D", "-a", sock_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // The socket file appears at bind(), before listen(): wait until it
    // takes connections.
    listening_ = wait_for_unix_socket(sock_);
  }
  ~OpenSshAgent() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  OpenSshAgent(const OpenSshAgent&) = delete;
  OpenSshAgent& operator=(const OpenSshAgent&) = delete;

  bool running() const { return pid_ > 0 && listening_; }
  const std::string& socket() const { return sock_; }

 private:
  std::string sock_;
  pid_t pid_ = -1;
  bool listening_ = false;
};

class AddAgainstOpenSsh : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The variables each run sets must not be shadowed by the caller's.
    for (const char* v : {"SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY", "WAYLAND_DISPLAY",
                          "TESSERA_ADD_HOME", "SSH_SK_PROVIDER"}) {
      unsetenv(v);
    }
  }

  void SetUp() override {
    if (!have_program("ssh-keygen") || access("/usr/bin/ssh-agent", X_OK) != 0 ||
        access("/usr/bin/ssh-add", X_OK) != 0) {
      GTEST_SKIP() << "OpenSSH's ssh-agent, ssh-add and ssh-keygen are needed";
    }
    // The agent's confirmation prompts (-c) go to this script: "yes" unless
    // the file "deny" exists.
    write_file(dir_.file("confirm.sh"),
               "#!/bin/sh\necho \"$1\" >> '" + dir_.file("confirm.log") + "'\n[ -f '" + dir_.file("deny") +
                   "' ] && exit 1\necho yes\n",
               0700);
    // Passphrase prompts of tessera-add go to this one: it logs the prompt
    // and answers with the first line of "answers", which it then drops.
    write_file(dir_.file("askpass.sh"),
               "#!/bin/sh\necho \"$1\" >> '" + dir_.file("askpass.log") + "'\nf='" + dir_.file("answers") +
                   "'\nhead -n 1 \"$f\"\ntail -n +2 \"$f\" > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"\n",
               0700);
    agent_ = std::make_unique<OpenSshAgent>(
        dir_, std::vector<std::string>{"SSH_ASKPASS=" + dir_.file("confirm.sh"), "SSH_ASKPASS_REQUIRE=force"});
    ASSERT_TRUE(agent_->running()) << read_log("agent.log");
  }

  std::string read_log(const std::string& name) {
    try {
      return read_file(dir_.file(name));
    } catch (...) {
      return {};
    }
  }

  std::vector<std::string> env(std::vector<std::string> extra = {}) {
    extra.push_back("SSH_AUTH_SOCK=" + agent_->socket());
    return extra;
  }
  std::vector<std::string> askpass_env(const std::vector<std::string>& answers) {
    std::string text;
    for (const auto& a : answers) text += a + "\n";
    write_file(dir_.file("answers"), text);
    return env({"SSH_ASKPASS=" + dir_.file("askpass.sh"), "SSH_ASKPASS_REQUIRE=force"});
  }

  CommandResult tessera_add(std::vector<std::string> args, const std::vector<std::string>& extra_env = {},
                            const std::string& input = {}) {
    args.insert(args.begin(), tessera_bin("tessera-add"));
    return run(args, input, extra_env.empty() ? env() : extra_env);
  }
  CommandResult ssh_add(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), "/usr/bin/ssh-add");
    return run(args, input, env());
  }

  // A key made by ssh-keygen; returns its path.
  std::string keygen(const std::string& name, const std::vector<std::string>& type_args,
                     const std::string& passphrase = "", const std::string& comment = "") {
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", passphrase, "-C",
                                     comment.empty() ? name + "@test" : comment, "-f", dir_.file(name)};
    argv.insert(argv.end(), type_args.begin(), type_args.end());
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir_.file(name);
  }
  // Signs PATH.pub with a CA made on first use: PATH-cert.pub.
  void certify(const std::string& path, const std::string& key_id) {
    if (!fs::exists(dir_.file("ca"))) keygen("ca", {"-t", "ed25519"});
    auto r = run({"ssh-keygen", "-q", "-s", dir_.file("ca"), "-I", key_id, "-n", "alice", path + ".pub"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void expect_same_listing() {
    auto ours = tessera_add({"-l"});
    auto theirs = ssh_add({"-l"});
    EXPECT_EQ(ours.out, theirs.out);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    ours = tessera_add({"-L"});
    theirs = ssh_add({"-L"});
    EXPECT_EQ(ours.out, theirs.out);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    ours = tessera_add({"-E", "md5", "-l"});
    theirs = ssh_add({"-E", "md5", "-l"});
    EXPECT_EQ(ours.out, theirs.out);
  }

  TempDir dir_;
  std::unique_ptr<OpenSshAgent> agent_;
};

TEST_F(AddAgainstOpenSsh, AddsEveryKeyTypeAndListsLikeSshAdd) {
  auto empty = tessera_add({"-l"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_EQ(empty.out, "The agent has no identities.\n");
  EXPECT_EQ(ssh_add({"-L"}).out, tessera_add({"-L"}).out);

  std::vector<std::string> keys = {
      keygen("ed", {"-t", "ed25519"}),
      keygen("ec256", {"-t", "ecdsa", "-b", "256"}),
      keygen("ec384", {"-t", "ecdsa", "-b", "384"}),
      keygen("ec521", {"-t", "ecdsa", "-b", "521"}),
      keygen("rsa", {"-t", "rsa", "-b", "2048"}),
      keygen("rsapem", {"-t", "rsa", "-b", "2048", "-m", "PEM"}),
      keygen("ecpkcs8", {"-t", "ecdsa", "-m", "PKCS8"}),
  };
  std::vector<std::string> args = keys;
  auto r = tessera_add(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Identity added: " + keys[0] + " (ed@test)\n"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), keys.size());
  expect_same_listing();

  // -L prints what the .pub files hold (PEM and PKCS#8 files carry no
  // comment, so the agent knows those keys by their path).
  auto listed = tessera_add({"-L"});
  for (const auto& k : keys) {
    std::string line = trimmed(read_file(k + ".pub"));
    line = line.substr(0, line.rfind(' '));
    EXPECT_NE(listed.out.find(line), std::string::npos) << k;
  }
  EXPECT_EQ(count_lines(tessera_add({"-l"}).out), keys.size());
}

TEST_F(AddAgainstOpenSsh, EncryptedKeysThroughAskpass) {
  auto ed = keygen("enc_ed", {"-t", "ed25519"}, "correct horse");
  auto rsa = keygen("enc_rsa", {"-t", "rsa", "-b", "2048", "-Z", "aes128-gcm@openssh.com"}, "battery staple");
  auto pem = keygen("enc_pem", {"-t", "ecdsa", "-m", "PEM"}, "pem pass");

  // One prompt for two files with the same passphrase: the one that worked
  // is tried first on the next file, as ssh-add does.
  auto ed_same = keygen("enc_ed_same", {"-t", "ed25519"}, "correct horse");
  auto r = tessera_add({ed, ed_same}, askpass_env({"correct horse"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_log("askpass.log"), "Enter passphrase for " + ed + ": \n");
  EXPECT_EQ(count_lines(r.err), 2u) << r.err;

  // A wrong answer is asked again; the right one then works.
  std::filesystem::remove(dir_.file("askpass.log"));
  r = tessera_add({rsa}, askpass_env({"wrong", "battery staple"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_log("askpass.log"),
            "Enter passphrase for " + rsa + ": \nBad passphrase, try again for " + rsa + ": \n");

  r = tessera_add({pem}, askpass_env({"pem pass"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // An empty answer gives up quietly, as ssh-add does.
  auto again = keygen("enc_ed2", {"-t", "ed25519"}, "other");
  r = tessera_add({again}, askpass_env({""}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "");

  // With -c the prompt says so.
  std::filesystem::remove(dir_.file("askpass.log"));
  r = tessera_add({"-c", again}, askpass_env({"other"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_log("askpass.log"), "Enter passphrase for " + again + " (will confirm each use): \n");
  expect_same_listing();
}

TEST_F(AddAgainstOpenSsh, CertificatesAndKeyOnlyCertOnly) {
  auto ed = keygen("cert_ed", {"-t", "ed25519"});
  auto rsa = keygen("cert_rsa", {"-t", "rsa", "-b", "2048"});
  certify(ed, "ed-id");
  certify(rsa, "rsa-id");
  auto r = tessera_add({ed, rsa});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Certificate added: " + ed + "-cert.pub (ed-id)\n"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), 4u);
  expect_same_listing();
  EXPECT_NE(tessera_add({"-L"}).out.find(trimmed(read_file(ed + "-cert.pub"))), std::string::npos);

  // -T on a certificate signs with it and verifies with the certified key.
  EXPECT_EQ(tessera_add({"-T", ed + "-cert.pub", rsa + "-cert.pub"}).exit_code, 0);

  ASSERT_EQ(tessera_add({"-D"}).exit_code, 0);
  r = tessera_add({"-k", ed});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(ssh_add({"-l"}).out.find("CERT"), std::string::npos);
  ASSERT_EQ(tessera_add({"-D", "-q"}).exit_code, 0);
  r = tessera_add({"-C", ed});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto listed = ssh_add({"-l"}).out;
  EXPECT_EQ(count_lines(listed), 1u);
  EXPECT_NE(listed.find("(ED25519-CERT)"), std::string::npos);
}

TEST_F(AddAgainstOpenSsh, DeleteAndDeleteAll) {
  auto a = keygen("del_a", {"-t", "ed25519"});
  auto b = keygen("del_b", {"-t", "ecdsa"});
  certify(a, "a-id");
  ASSERT_EQ(tessera_add({a, b}).exit_code, 0);

  auto r = tessera_add({"-d", a});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "Identity removed: " + a + " ED25519 (del_a@test)\nIdentity removed: " + a +
                       "-cert.pub ED25519-CERT (del_a@test)\n");
  // Removing it again fails the way ssh-add's does.
  auto ours = tessera_add({"-d", a});
  ASSERT_EQ(tessera_add({a}).exit_code, 0);
  ASSERT_EQ(ssh_add({"-d", a}).exit_code, 0);
  auto theirs = ssh_add({"-d", a});
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.err, theirs.err);

  // Public keys on stdin.
  r = tessera_add({"-d", "-"}, {}, read_file(b + ".pub"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "Identity removed: (stdin) ECDSA (del_b@test)\n");

  ASSERT_EQ(tessera_add({a, b}).exit_code, 0);
  r = tessera_add({"-D"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "All identities removed.\n");
  EXPECT_EQ(ssh_add({"-l"}).exit_code, 1);

  // A file that is not there.
  ours = tessera_add({"-d", dir_.file("nonexistent")});
  theirs = ssh_add({"-d", dir_.file("nonexistent")});
  EXPECT_EQ(ours.out, theirs.out);
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
}

TEST_F(AddAgainstOpenSsh, LockAndUnlock) {
  auto k = keygen("lock", {"-t", "ed25519"});
  ASSERT_EQ(tessera_add({k}).exit_code, 0);
  auto r = tessera_add({"-x"}, askpass_env({"lockpw", "lockpw"}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "Agent locked.\n");
  EXPECT_EQ(ssh_add({"-l"}).out, "The agent has no identities.\n");

  r = tessera_add({"-X"}, askpass_env({"wrong"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Failed to unlock agent: agent refused operation\n");
  r = tessera_add({"-X"}, askpass_env({"lockpw"}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "Agent unlocked.\n");
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), 1u);

  r = tessera_add({"-x"}, askpass_env({"one", "two"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Passwords do not match.\n");
}

TEST_F(AddAgainstOpenSsh, LifetimeAndConfirm) {
  auto k = keygen("life", {"-t", "ed25519"});
  auto r = tessera_add({"-t", "1h30m", k});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "Identity added: " + k + " (life@test)\nLifetime set to 5400 seconds\n");
  EXPECT_EQ(tessera_add({"-t", "1x", k}).err, "Invalid lifetime\n");
  EXPECT_EQ(tessera_add({"-t", "1x", k}).exit_code, 1);

  // A one-second lifetime expires.
  auto short_lived = keygen("short", {"-t", "ecdsa"});
  r = tessera_add({"-t", "1", short_lived});
  ASSERT_EQ(r.exit_code, 0);
  // (Not counted here: under load the second may be over before ssh-add runs.)
  EXPECT_NE(r.err.find("Lifetime set to 1 seconds"), std::string::npos) << r.err;
  // OpenSSH's agent keeps real time: ask until the key has gone.
  bool expired = false;
  for (int i = 0; i < 100 && !expired; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    expired = count_lines(ssh_add({"-l"}).out) == 1u;
  }
  EXPECT_TRUE(expired);

  // -c: the agent asks (its askpass answers yes), then refuses once told no.
  auto c = keygen("confirm", {"-t", "ed25519"});
  r = tessera_add({"-c", c});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "Identity added: " + c + " (confirm@test)\nThe user must confirm each use of the key\n");
  r = tessera_add({"-T", c + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_log("confirm.log").find("Allow use of key"), std::string::npos);
  write_file(dir_.file("deny"), "");
  r = tessera_add({"-T", c + ".pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Agent signature failed for " + c + ".pub: agent refused operation\r\n");
  EXPECT_EQ(r.err, ssh_add({"-T", c + ".pub"}).err);
}

TEST_F(AddAgainstOpenSsh, TestKeysWithFilesAndWithoutArguments) {
  auto ed = keygen("t_ed", {"-t", "ed25519"});
  auto rsa = keygen("t_rsa", {"-t", "rsa", "-b", "2048"});
  auto ec = keygen("t_ec", {"-t", "ecdsa", "-b", "521"});
  auto absent = keygen("t_absent", {"-t", "ed25519"});
  ASSERT_EQ(tessera_add({ed, rsa, ec}).exit_code, 0);

  EXPECT_EQ(tessera_add({"-T", ed + ".pub", rsa + ".pub", ec + ".pub"}).exit_code, 0);
  // The private key path works too (its .pub is found), as with ssh-add.
  EXPECT_EQ(tessera_add({"-T", ed}).exit_code, 0);
  auto r = tessera_add({"-T", ed + ".pub", absent + ".pub"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, ssh_add({"-T", ed + ".pub", absent + ".pub"}).err);

  // Without files: every key of the agent, one line each.
  r = tessera_add({"-T"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count_lines(r.out), 3u);
  auto listed = ssh_add({"-l"}).out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_NE(line.find(": ok, "), std::string::npos) << line;
    EXPECT_NE(line.find(" ms"), std::string::npos) << line;
    std::string fp = line.substr(0, line.find(' '));
    EXPECT_NE(listed.find(fp), std::string::npos) << fp;
  }
  // A key the agent refuses to use shows as FAILED and the exit status says so.
  auto c = keygen("t_confirm", {"-t", "ed25519"});
  ASSERT_EQ(tessera_add({"-c", c}).exit_code, 0);
  write_file(dir_.file("deny"), "");
  r = tessera_add({"-T"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("t_confirm@test (ED25519): FAILED: agent refused operation"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 4u);

  ASSERT_EQ(tessera_add({"-D", "-q"}).exit_code, 0);
  r = tessera_add({"-T"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "The agent has no identities.\n");
}

TEST_F(AddAgainstOpenSsh, DestinationConstraintsFromKnownHosts) {
  auto host = keygen("hostkey", {"-t", "ed25519"});
  auto ca = keygen("hostca", {"-t", "ecdsa"});
  write_file(dir_.file("known_hosts"), "[127.0.0.1]:2222 " + read_file(host + ".pub") + "@cert-authority *.example.com " +
                                           read_file(ca + ".pub"));
  auto k = keygen("restricted", {"-t", "ed25519"});
  auto r = tessera_add({"-H", dir_.file("known_hosts"), "-h", "user@[127.0.0.1]:2222", k});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), 1u);
  ASSERT_EQ(tessera_add({"-D", "-q"}).exit_code, 0);

  // A CA hop and a two-hop path, with hashed host names.
  ASSERT_EQ(run({"ssh-keygen", "-H", "-f", dir_.file("known_hosts")}).exit_code, 0);
  r = tessera_add({"-H", dir_.file("known_hosts"), "-h", "[127.0.0.1]:2222>bob@web.example.com", k});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), 1u);

  r = tessera_add({"-H", dir_.file("known_hosts"), "-h", "nothere.invalid", k});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "No host keys found for destination \"nothere.invalid\"\r\n");
  r = tessera_add({"-H", dir_.file("known_hosts"), "-h", "u@[127.0.0.1]:2222>web.example.com", k});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "Invalid key constraint u@[127.0.0.1]:2222: cannot specify user on 'from' host\r\n");
}

TEST_F(AddAgainstOpenSsh, DefaultIdentitiesAndUsage) {
  const std::string home = dir_.file("home");
  fs::create_directories(home + "/.ssh");
  auto r = tessera_add({}, env({"TESSERA_ADD_HOME=" + home}));
  EXPECT_EQ(r.exit_code, 1);  // nothing to add
  keygen("home/.ssh/id_ed25519", {"-t", "ed25519"}, "", "default-ed");
  keygen("home/.ssh/id_ecdsa", {"-t", "ecdsa"}, "", "default-ec");
  certify(home + "/.ssh/id_ed25519", "default-cert");
  r = tessera_add({}, env({"TESSERA_ADD_HOME=" + home}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "Identity added: " + home + "/.ssh/id_ecdsa (default-ec)\nIdentity added: " + home +
                       "/.ssh/id_ed25519 (default-ed)\nCertificate added: " + home +
                       "/.ssh/id_ed25519-cert.pub (default-cert)\n");
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), 3u);
  r = tessera_add({"-d"}, env({"TESSERA_ADD_HOME=" + home}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ssh_add({"-l"}).exit_code, 1);

  // Usage errors and exit codes as ssh-add's.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-Z"}, {"-e"}, {"-l", "-L"}, {"-E", "sha3", "-l"}, {"-x", "-l"}, {"-T"}}) {
    if (args == std::vector<std::string>{"-T"}) continue;  // tessera's extension
    auto ours = tessera_add(args);
    auto theirs = ssh_add(args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << args[0];
    EXPECT_EQ(ours.err, theirs.err) << args[0];
  }
  // No agent.
  auto none = run({tessera_bin("tessera-add"), "-l"}, "", {});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err, "Could not open a connection to your authentication agent.\n");
  auto gone = run({tessera_bin("tessera-add"), "-l"}, "", {"SSH_AUTH_SOCK=" + dir_.file("nope")});
  EXPECT_EQ(gone.exit_code, 2);
  EXPECT_EQ(gone.err, "Error connecting to agent: No such file or directory\n");
  // --help works without an agent; -K without a PIN or authenticator says why it added nothing.
  auto help = run({tessera_bin("tessera-add"), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("-T"), std::string::npos);
  auto fido = tessera_add({"-K", "-S", "relative.so"});
  EXPECT_EQ(fido.exit_code, 1);
  EXPECT_NE(fido.err.find("Unable to load resident keys"), std::string::npos) << fido.err;
}

// ---- the client library against OpenSSH's agent ----

TEST_F(AddAgainstOpenSsh, ClientLibrary) {
  using agent::AgentClient;
  auto client = AgentClient::connect(agent_->socket());
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto ids = client->list_identities();
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_TRUE(ids->empty());

  auto ed = *key::PrivateKey::generate(key::KeyType::kEd25519);
  auto rsa = *key::PrivateKey::generate(key::KeyType::kRsa, 2048);
  ASSERT_TRUE(client->add_identity(agent::AddIdentity{ed, std::nullopt, "library ed25519", {}}).ok());
  agent::Constraints life;
  life.lifetime_seconds = 600;
  ASSERT_TRUE(client->add_identity(agent::AddIdentity{rsa, std::nullopt, "library rsa", life}).ok());
  ids = client->list_identities();
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ((*ids)[0].key_blob, ed.public_key().blob());
  EXPECT_EQ((*ids)[0].comment, "library ed25519");

  const key::Bytes data = {'h', 'e', 'l', 'l', 'o'};
  auto sig = client->sign(ed.public_key().blob(), data);
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_TRUE(ed.public_key().verify(*sig, data).ok());
  for (auto [flag, alg] : {std::pair{0u, "ssh-rsa"}, std::pair{agent::kSignFlagRsaSha256, "rsa-sha2-256"},
                           std::pair{agent::kSignFlagRsaSha512, "rsa-sha2-512"}}) {
    auto s = client->sign(rsa.public_key().blob(), data, flag);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(*key::signature_algorithm_name(*s), alg);
    EXPECT_TRUE(rsa.public_key().verify(*s, data).ok());
  }
  // A key the agent does not hold: a refusal, as ssh-add words it.
  auto other = *key::PrivateKey::generate(key::KeyType::kEcdsaP256);
  auto refused = client->sign(other.public_key().blob(), data);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(agent::is_agent_refusal(refused.error()));
  EXPECT_EQ(refused.error().message(), "agent refused operation");

  // OpenSSH 9.2 has no query extension: a clear failure.
  auto q = client->query();
  ASSERT_FALSE(q.ok());
  EXPECT_TRUE(agent::is_agent_refusal(q.error()));
  EXPECT_NE(q.error().message().find("query extension"), std::string::npos);
  // Raw extensions come back as values.
  auto ext = client->extension("nobody@example.com");
  ASSERT_TRUE(ext.ok());
  EXPECT_TRUE(std::holds_alternative<agent::Failure>(*ext));

  ASSERT_TRUE(client->lock(key::SecretBytes::copy_of("pw")).ok());
  EXPECT_TRUE(client->list_identities()->empty());
  EXPECT_FALSE(client->unlock(key::SecretBytes::copy_of("bad")).ok());
  ASSERT_TRUE(client->unlock(key::SecretBytes::copy_of("pw")).ok());
  EXPECT_TRUE(client->remove_identity(ed.public_key().blob()).ok());
  EXPECT_FALSE(client->remove_identity(ed.public_key().blob()).ok());
  EXPECT_TRUE(client->remove_all().ok());
  EXPECT_TRUE(client->list_identities()->empty());
  // OpenSSH's agent is built with PKCS#11: a missing provider is refused.
  EXPECT_FALSE(client->add_smartcard("/nonexistent/pkcs11.so", key::SecretBytes::copy_of("1234")).ok());

  // Connection errors name the socket and the reason.
  auto missing = AgentClient::connect(dir_.file("missing.sock"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), key::Errc::kIo);
  EXPECT_NE(missing.error().message().find("missing.sock"), std::string::npos);
  auto from_env = AgentClient::connect_from_env();  // SSH_AUTH_SOCK is unset in this process
  ASSERT_FALSE(from_env.ok());
  EXPECT_NE(from_env.error().message().find("SSH_AUTH_SOCK"), std::string::npos);
}

}  // namespace
}  // namespace tessera::test
