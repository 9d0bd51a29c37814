// tessera-keygen's known_hosts modes and SSHFP records side by side with
// OpenSSH 9.2's ssh-keygen, on the same files:
//   -F host [-l [-v] [-E md5] [-B] | -H] [-q]: the same stdout, stderr and exit status;
//   -R host and -H: the same new file, FILE.old, mode, messages and status
//     (hashed names compared by shape, since each run draws new salts);
//   each program finds hosts in a file the other one hashed;
//   -r host [-g]: the same SSHFP records;
// and OpenSSH's ssh (StrictHostKeyChecking=yes, BatchMode) logs in to sshd
// on loopback with a known_hosts file tessera-keygen -H hashed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "cert_cli.h"
#include "sshd.h"
#include "test_support.h"

namespace tessera::certtest {
namespace {

using test::read_file;
using test::write_file;

// "type base64" of a public key file.
std::string key_part(const std::string& pub_path) {
  std::string text = read_file(pub_path);
  size_t second_blank = text.find(' ', text.find(' ') + 1);
  return text.substr(0, std::min(second_blank, text.find('\n')));
}

// Hashed names (random salts) replaced by a placeholder.
std::string without_hashes(const std::string& text) {
  static const std::regex hashed(R"(\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28})");
  return std::regex_replace(text, hashed, "|1|SALT|HASH");
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// What one run did: its output and the files it left.
struct Outcome {
  int exit_code = -1;
  std::string out, err;
  std::string file, old;  // known_hosts and known_hosts.old afterwards ("<none>" if absent)
  unsigned mode = 0;
};

std::string contents_or_none(const std::string& path) {
  return std::filesystem::exists(path) ? read_file(path) : std::string("<none>");
}

class KnownHostsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH's ssh-keygen is not installed";
    ed_ = key_part(make_key(dir_, "ed", "ed25519") + ".pub");
    ec_ = key_part(make_key(dir_, "ec", "ecdsa", "256") + ".pub");
    rsa_ = key_part(make_key(dir_, "rsa", "rsa", "2048") + ".pub");
    path_ = dir_.file("known_hosts");
    valid_ = "# comment line\n"
             "host1,Host2 " + ed_ + " my comment\n"
             "[host3]:2222 " + ec_ + "\n"
             "*.example.com,!bad.example.com " + rsa_ + "\n"
             "@cert-authority *.corp " + ed_ + " ca\n"
             "@revoked host1 " + ec_ + "\n"
             "\n"
             "   host1\t" + rsa_ + "   trailing\n"
             "host4 ssh-ed25519 garbage\n"
             "old ssh-dss AAAAB3NzaC1kc3MAAACBAP\n"
             "host1 " + ed_ + " crlf\r\n"
             "UPPER.Example.COM " + ed_ + "\n"
             "a,,b " + rsa_ + "\n"
             "host7 " + ec_ + " control\x01 and \x1b escape\n"
             // ssh-keygen -H's name for host1 (OpenSSH 9.2).
             "|1|QiW6v0A3mhiy0YmhazQ/pQrvaps=|3wEpUwGLHlrdpyZ6J+uYzpEV8Tw= " + ec_ + " hashed\n"
             "last " + ed_;  // no newline at the end
    invalid_ = valid_ + "\n"
               "host5 ssh-foo AAAA\n"
               "host1 ssh-ed25519\n"
               "@bogus host1 " + ed_ + "\n"
               "|1|AQID|AAAA " + ed_ + "\n"
               "@cert-authority\thost1 " + ed_ + "\n";
  }

  // Runs `args` + -f FILE with FILE holding `initial` (and no FILE.old), first
  // through ssh-keygen, then through tessera-keygen.
  std::pair<Outcome, Outcome> both(std::vector<std::string> args, const std::string& initial, unsigned mode = 0644) {
    args.push_back("-f");
    args.push_back(path_);
    auto one = [&](bool ours) {
      std::filesystem::remove(path_ + ".old");
      write_file(path_, initial, mode);
      CommandResult r = ours ? tessera_keygen(args) : ssh_keygen(args);
      return Outcome{r.exit_code, r.out, without_cr(r.err), contents_or_none(path_), contents_or_none(path_ + ".old"),
                     file_mode(path_)};
    };
    Outcome theirs = one(false);
    Outcome ours = one(true);
    return {theirs, ours};
  }

  void expect_same(const std::vector<std::string>& args, const std::string& initial, bool compare_stderr = true) {
    auto [theirs, ours] = both(args, initial);
    std::string what;
    for (const auto& a : args) what += a + " ";
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << what << "\nssh-keygen: " << theirs.err << "\ntessera: " << ours.err;
    EXPECT_EQ(ours.out, theirs.out) << what;
    if (compare_stderr) {
      EXPECT_EQ(ours.err, theirs.err) << what;
    }
    EXPECT_EQ(ours.file, theirs.file) << what;
    EXPECT_EQ(ours.old, theirs.old) << what;
    EXPECT_EQ(ours.mode, theirs.mode) << what;
  }

  // The hosts the sample files name, in every spelling that matters.
  const std::vector<std::string> hosts_ = {"host1", "Host1", "HOST2", "host3", "[host3]:2222", "a.example.com",
                                           "bad.example.com", "x.corp", "host4", "old", "upper.example.com",
                                           "a", "b", "host7", "last", "nothere"};
  test::TempDir dir_;
  std::string ed_, ec_, rsa_, path_, valid_, invalid_;
};

TEST_F(KnownHostsCli, FindPrintsWhatSshKeygenPrints) {
  for (const std::string& host : hosts_) {
    for (std::vector<std::string> flags : {std::vector<std::string>{}, {"-l"}, {"-l", "-E", "md5"}, {"-l", "-B"},
                                           {"-B"}, {"-q"}, {"-q", "-l"}}) {
      flags.insert(flags.begin(), {"-F", host});
      expect_same(flags, invalid_);
    }
    // -v: the same stdout (ssh-keygen also writes debug lines to stderr).
    expect_same({"-F", host, "-l", "-v"}, valid_, /*compare_stderr=*/false);
  }
}

TEST_F(KnownHostsCli, FindInUtf8Locale) {
  write_file(path_, valid_, 0644);
  for (const char* host : {"host7", "host1"}) {
    CommandResult theirs = ssh_keygen({"-F", host, "-l", "-f", path_}, {}, {"LC_ALL=C.UTF-8"});
    CommandResult ours = tessera_keygen({"-F", host, "-l", "-f", path_}, {}, {"LC_ALL=C.UTF-8"});
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << host;
    EXPECT_EQ(ours.out, theirs.out) << host;
  }
}

TEST_F(KnownHostsCli, FindHashedPrintsTheSameLinesHashed) {
  for (const std::string& host : hosts_) {
    auto [theirs, ours] = both({"-F", host, "-H"}, valid_);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << host;
    EXPECT_EQ(without_hashes(ours.out), without_hashes(theirs.out)) << host;
  }
  // The hashed lines tessera prints name the host for ssh-keygen (lowercased first).
  for (const char* host : {"[host3]:2222", "upper.example.com", "host7", "last"}) {
    CommandResult printed = tessera_keygen({"-F", host, "-H", "-f", path_});
    ASSERT_EQ(printed.exit_code, 0) << host;
    EXPECT_NE(printed.out.find("\n|1|"), std::string::npos) << printed.out;
    write_file(dir_.file("printed"), printed.out);
    CommandResult found = ssh_keygen({"-F", host, "-f", dir_.file("printed")});
    EXPECT_EQ(found.exit_code, 0) << host << ": " << printed.out;
  }
}

TEST_F(KnownHostsCli, RemoveRewritesAsSshKeygenDoes) {
  for (const std::string& host : hosts_) {
    expect_same({"-R", host}, valid_);
    expect_same({"-q", "-R", host}, valid_);
  }
  // A file with invalid lines is never rewritten.
  for (const char* host : {"host1", "nothere", "host5"}) expect_same({"-R", host}, invalid_);
}

TEST_F(KnownHostsCli, RemoveKeepsTheModeAndTheOldFile) {
  auto [theirs, ours] = both({"-R", "host1"}, valid_, 0640);
  EXPECT_EQ(ours.mode, 0640u);
  EXPECT_EQ(theirs.mode, 0640u);
  EXPECT_EQ(ours.old, valid_);
  EXPECT_EQ(ours.file, theirs.file);
  EXPECT_EQ(ours.out, theirs.out);
  // The group and others never get write permission.
  auto [theirs2, ours2] = both({"-R", "host1"}, valid_, 0666);
  EXPECT_EQ(ours2.mode, theirs2.mode);
  EXPECT_EQ(ours2.mode, 0644u);
}

TEST_F(KnownHostsCli, HashRewritesAsSshKeygenDoes) {
  auto [theirs, ours] = both({"-H"}, valid_);
  EXPECT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.out, theirs.out);
  EXPECT_EQ(ours.err, theirs.err);
  EXPECT_EQ(without_hashes(ours.file), without_hashes(theirs.file));
  EXPECT_NE(ours.file, theirs.file);  // fresh salts
  EXPECT_EQ(ours.old, valid_);
  EXPECT_EQ(ours.mode, theirs.mode);
  // Invalid files are not replaced.
  expect_same({"-H"}, invalid_);
  // Hashing a hashed file changes nothing but the .old copy.
  write_file(path_, ours.file, 0600);
  CommandResult again = tessera_keygen({"-H", "-f", path_});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_file(path_), ours.file);
  EXPECT_EQ(file_mode(path_), 0600u);
}

TEST_F(KnownHostsCli, EachFindsHostsInAFileTheOtherHashed) {
  auto [theirs, ours] = both({"-H"}, valid_);
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  const std::string by_openssh = dir_.file("hashed_by_openssh");
  const std::string by_tessera = dir_.file("hashed_by_tessera");
  write_file(by_openssh, theirs.file);
  write_file(by_tessera, ours.file);
  for (const std::string& host : hosts_) {
    for (std::vector<std::string> flags : {std::vector<std::string>{"-F", host}, {"-F", host, "-l"}}) {
      std::vector<std::string> a = flags, b = flags;
      a.insert(a.end(), {"-f", by_openssh});
      b.insert(b.end(), {"-f", by_tessera});
      // The same lines, numbers and fingerprints whoever hashed and whoever reads.
      CommandResult reference = ssh_keygen(a);
      for (const CommandResult& r : {tessera_keygen(a), ssh_keygen(b), tessera_keygen(b)}) {
        EXPECT_EQ(r.exit_code, reference.exit_code) << host;
        EXPECT_EQ(without_hashes(r.out), without_hashes(reference.out)) << host;
      }
    }
  }
}

TEST_F(KnownHostsCli, ErrorsAndExitStatusesAsSshKeygen) {
  for (std::vector<std::string> args : {std::vector<std::string>{"-F", "host1"}, {"-R", "host1"}, {"-H"}}) {
    args.insert(args.end(), {"-f", dir_.file("missing")});
    CommandResult theirs = ssh_keygen(args);
    CommandResult ours = tessera_keygen(args);
    EXPECT_EQ(ours.exit_code, 255);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    EXPECT_EQ(ours.err, without_cr(theirs.err));
  }
  write_file(path_, valid_, 0644);
  for (std::vector<std::string> args : {std::vector<std::string>{"-l", "-H"}, {"-l", "-R", "host1"}, {"-F", "h", "-H", "-l"}}) {
    args.insert(args.end(), {"-f", path_});
    CommandResult theirs = ssh_keygen(args);
    CommandResult ours = tessera_keygen(args);
    EXPECT_EQ(ours.exit_code, 1);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    EXPECT_EQ(ours.err.substr(0, ours.err.find('\n')), "Cannot use -l with -H or -R.");
  }
  // -F and -R together: the last host name, found and removed on stdout only.
  expect_same({"-F", "nothere", "-R", "host1"}, valid_);
  expect_same({"-F", "host1", "-R", "nothere"}, valid_);
  // Extra arguments.
  CommandResult extra = tessera_keygen({"-F", "host1", "-f", path_, "more"});
  EXPECT_EQ(extra.exit_code, 1);
  EXPECT_EQ(extra.err.substr(0, extra.err.find('\n')), "Too many arguments.");
}

TEST_F(KnownHostsCli, ResourceRecordsAsSshKeygen) {
  const std::string cert_pub = dir_.file("ec-cert.pub");
  ASSERT_EQ(ssh_keygen({"-q", "-s", dir_.file("ed"), "-I", "id", "-h", dir_.file("ec.pub")}).exit_code, 0);
  write_file(dir_.file("garbage"), "not a key\n");
  std::filesystem::create_directories(dir_.file("directory"));
  for (const char* file : {"ed", "ed.pub", "ec", "ec.pub", "rsa", "rsa.pub", "ec-cert.pub", "garbage",
                                   "directory", "missing"}) {
    for (std::vector<std::string> args : {std::vector<std::string>{"-r", "Host.Example."}, {"-r", "h", "-g"}}) {
      args.insert(args.end(), {"-f", dir_.file(file)});
      CommandResult theirs = ssh_keygen(args);
      CommandResult ours = tessera_keygen(args);
      EXPECT_EQ(ours.exit_code, theirs.exit_code) << file << ": " << ours.err;
      EXPECT_EQ(ours.out, theirs.out) << file;
      EXPECT_EQ(ours.err, without_cr(theirs.err)) << file;
    }
  }
  // Without -f: the host keys in /etc/ssh (or "no keys found.").
  for (std::vector<std::string> args : {std::vector<std::string>{"-r", "host"}, {"-r", "host", "-g"}}) {
    CommandResult theirs = ssh_keygen(args);
    CommandResult ours = tessera_keygen(args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << ours.err;
    EXPECT_EQ(ours.out, theirs.out);
  }
  // -r after -Y verify is still the revocation list, and with -l the fingerprint mode wins.
  CommandResult with_l = tessera_keygen({"-r", "h", "-l", "-f", dir_.file("ed.pub")});
  EXPECT_EQ(with_l.exit_code, 0);
  EXPECT_EQ(with_l.out, ssh_keygen({"-r", "h", "-l", "-f", dir_.file("ed.pub")}).out);
}

// ---- OpenSSH's ssh trusts a file tessera-keygen hashed ----

class KnownHostsSshd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = test::Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
    user_key_ = make_key(dir_, "user", "ed25519");
    host_key_ = make_key(dir_, "host", "ecdsa", "256");
    other_key_ = make_key(dir_, "other", "ecdsa", "256");
    sshd_ = std::make_unique<test::Sshd>(test::SshdConfig{.dir = dir_.path().string(), .host_key = host_key_,
                                                          .extra = ""});
    ASSERT_TRUE(sshd_->started()) << sshd_->log();
    write_file(sshd_->authorized_keys(), read_file(user_key_ + ".pub"), 0644);
  }

  // ssh -o StrictHostKeyChecking=yes with only `known_hosts` to trust.
  CommandResult ssh(const std::string& known_hosts) {
    return test::run({"ssh", "-p", std::to_string(sshd_->port()), "-o", "BatchMode=yes", "-o",
                      "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known_hosts, "-o",
                      "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                      "-o", "LogLevel=ERROR", "-i", user_key_, "root@127.0.0.1", "echo logged-in"});
  }

  // A known_hosts file naming sshd's address with `pub`, hashed by tessera-keygen -H.
  std::string hashed_known_hosts(const std::string& name, const std::string& pub) {
    const std::string path = dir_.file(name);
    write_file(path, "# for the test's sshd\n[127.0.0.1]:" + std::to_string(sshd_->port()) + ",localhost " +
                         read_file(pub), 0600);
    CommandResult r = tessera_keygen({"-H", "-f", path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, path + " updated.\nOriginal contents retained as " + path + ".old\n");
    return path;
  }

  test::TempDir dir_;
  std::string user_key_, host_key_, other_key_;
  std::unique_ptr<test::Sshd> sshd_;
};

TEST_F(KnownHostsSshd, SshAcceptsAKnownHostsFileTesseraHashed) {
  const std::string known_hosts = hashed_known_hosts("known_hosts", host_key_ + ".pub");
  const std::string text = read_file(known_hosts);
  EXPECT_EQ(text.find("127.0.0.1"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;  // the comment, one line per name
  CommandResult r = ssh(known_hosts);
  EXPECT_EQ(r.exit_code, 0) << r.err << sshd_->log();
  EXPECT_EQ(r.out, "logged-in\n");
  // tessera-keygen -F finds the host under the name ssh looks it up by.
  CommandResult found = tessera_keygen({"-F", "[127.0.0.1]:" + std::to_string(sshd_->port()), "-f", known_hosts});
  EXPECT_EQ(found.exit_code, 0);
  EXPECT_EQ(found.out.substr(0, found.out.find('\n')), "# Host [127.0.0.1]:" + std::to_string(sshd_->port()) +
                                                           " found: line 2 ");
}

TEST_F(KnownHostsSshd, SshRefusesAnotherKeyUnderTheHashedName) {
  // Control: the same file with another host key; ssh must refuse to connect.
  const std::string known_hosts = hashed_known_hosts("wrong_known_hosts", other_key_ + ".pub");
  CommandResult r = ssh(known_hosts);
  EXPECT_EQ(r.exit_code, 255) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("REMOTE HOST IDENTIFICATION HAS CHANGED"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera::certtest
