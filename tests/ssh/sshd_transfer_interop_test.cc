// Files through tessera-sshd, and how commands end: OpenSSH's sftp, scp -O
// (the old scp protocol, "scp -t" run by the user's shell) and scp (over
// sftp) move a 256 MiB file each way through OpenSSH's sftp-server as the
// Subsystem, with SHA-256 equal at both ends; exit statuses and a command
// killed by a signal, as OpenSSH's ssh and tessera-ssh report them.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "sshd_interop_suite.h"

namespace tessera::test {
namespace {

using sshd_interop::kUser;
using sshd_interop::ssh_argv;
using sshd_interop::TesseraSshd;

constexpr int kFileMiB = 256;

// The options sftp and scp share with ssh (they pass them to it).
std::vector<std::string> client_options(const std::string& key) {
  return {"-F", "none", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
          "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes",
          "-o", "LogLevel=ERROR"};
}

std::string sha256_of(const CommandResult& r) { return r.exit_code == 0 ? r.out.substr(0, 64) : "failed: " + r.err; }

class SshdTransfers : public sshd_interop::OneServerSuite<SshdTransfers> {
 protected:
  static void SetUpTestSuite() {
    if (!start_suite()) return;
    ASSERT_EQ(::chmod(dir_->path().c_str(), 0755), 0);
    // The user's side: a directory of its own.
    const passwd* pw = getpwnam(kUser);
    ASSERT_NE(pw, nullptr);
    ASSERT_EQ(::mkdir(dir_->file("remote").c_str(), 0700), 0);
    ASSERT_EQ(::chown(dir_->file("remote").c_str(), pw->pw_uid, pw->pw_gid), 0);
    ASSERT_EQ(::mkdir(dir_->file("local").c_str(), 0700), 0);
    ASSERT_EQ(run({"dd", "if=/dev/urandom", "of=" + dir_->file("local/source.bin"), "bs=1M",
                   "count=" + std::to_string(kFileMiB), "status=none"})
                  .exit_code,
              0);
    source_sha256_ = new std::string(sha256_of(run({"sha256sum", dir_->file("local/source.bin")})));
    server_ = new TesseraSshd("Subsystem sftp /usr/lib/openssh/sftp-server\n");
    if ((*server_)->started()) authorize(*server_);
  }
  static void TearDownTestSuite() {
    OneServerSuite::TearDownTestSuite();
    delete source_sha256_;
    source_sha256_ = nullptr;
  }

  static int port() { return (*server_)->port(); }
  static std::string remote(const std::string& name) { return dir_->file("remote/" + name); }
  static std::string local(const std::string& name) { return dir_->file("local/" + name); }
  // sha256sum run through tessera-sshd, by the user, on the server's side.
  static std::string remote_sha256(const std::string& path) {
    return sha256_of(run(ssh_argv("ssh", port(), dir_->file("user"), {}, "sha256sum " + path)));
  }
  // Runs argv, timed; prints the figure.
  static CommandResult timed(const std::string& what, const std::vector<std::string>& argv) {
    const auto start = std::chrono::steady_clock::now();
    CommandResult r = run(argv);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ figures  ] %s, %d MiB: %.2f s (%.0f MiB/s)\n", what.c_str(), kFileMiB, seconds,
                kFileMiB / seconds);
    return r;
  }
  // The file went up to remote(name) and came back to local(name): both
  // copies hash as the source did; then both are removed.
  static void expect_round_trip(const std::string& name) {
    EXPECT_EQ(remote_sha256(remote(name)), *source_sha256_) << name << " on the server";
    EXPECT_EQ(sha256_of(run({"sha256sum", local(name)})), *source_sha256_) << name << " back here";
    struct stat st {};
    EXPECT_EQ(::stat(local(name).c_str(), &st), 0);
    EXPECT_EQ(st.st_size, static_cast<off_t>(kFileMiB) * 1024 * 1024);
    ::unlink(remote(name).c_str());
    ::unlink(local(name).c_str());
  }

  static std::string* source_sha256_;
};

std::string* SshdTransfers::source_sha256_ = nullptr;

TEST_F(SshdTransfers, SftpPutsAndGetsA256MiBFile) {
  ASSERT_EQ(source_sha256_->size(), 64u) << *source_sha256_;
  std::printf("[ figures  ] source: %d MiB from /dev/urandom, sha256 %s\n", kFileMiB, source_sha256_->c_str());
  for (const bool put : {true, false}) {
    const std::string batch = dir_->file("sftp.batch");
    write_file(batch, put ? "put " + local("source.bin") + " " + remote("sftp.bin") + "\n"
                          : "get " + remote("sftp.bin") + " " + local("sftp.bin") + "\n");
    std::vector<std::string> argv = {"sftp", "-q", "-P", std::to_string(port()), "-b", batch};
    const std::vector<std::string> opts = client_options(dir_->file("user"));
    argv.insert(argv.end(), opts.begin(), opts.end());
    argv.push_back(std::string(kUser) + "@127.0.0.1");
    auto r = timed(put ? "sftp put" : "sftp get", argv);
    ASSERT_EQ(r.exit_code, 0) << r.err << (*server_)->log();
  }
  expect_round_trip("sftp.bin");
}

TEST_F(SshdTransfers, ScpBothProtocolsCopyA256MiBFileEachWay) {
  for (const bool legacy : {true, false}) {
    const std::string name = legacy ? "scp-O.bin" : "scp-sftp.bin";
    std::vector<std::string> base = {"scp", "-q", "-P", std::to_string(port())};
    if (legacy) base.push_back("-O");
    const std::vector<std::string> opts = client_options(dir_->file("user"));
    base.insert(base.end(), opts.begin(), opts.end());
    const std::string at = std::string(kUser) + "@127.0.0.1:";
    std::vector<std::string> up = base, down = base;
    up.insert(up.end(), {local("source.bin"), at + remote(name)});
    down.insert(down.end(), {at + remote(name), local(name)});
    auto u = timed(legacy ? "scp -O upload" : "scp (sftp) upload", up);
    ASSERT_EQ(u.exit_code, 0) << name << ": " << u.err << (*server_)->log();
    auto d = timed(legacy ? "scp -O download" : "scp (sftp) download", down);
    ASSERT_EQ(d.exit_code, 0) << name << ": " << d.err << (*server_)->log();
    expect_round_trip(name);
  }
}

// A failed copy reports it: scp -O of a file the user may not write.
TEST_F(SshdTransfers, ScpReportsARemoteError) {
  write_file(local("small.txt"), "small\n");
  for (const bool legacy : {true, false}) {
    std::vector<std::string> argv = {"scp", "-P", std::to_string(port())};
    if (legacy) argv.push_back("-O");
    const std::vector<std::string> opts = client_options(dir_->file("user"));
    argv.insert(argv.end(), opts.begin(), opts.end());
    argv.insert(argv.end(), {local("small.txt"), std::string(kUser) + "@127.0.0.1:/root/not-yours.txt"});
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 1) << (legacy ? "scp -O: " : "scp: ") << r.err;
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  }
}

TEST_F(SshdTransfers, ExitStatusesReachBothClients) {
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    for (int status : {0, 1, 3, 255}) {
      auto r = run(ssh_argv(program, port(), dir_->file("user"), {}, "echo status; exit " + std::to_string(status)));
      EXPECT_EQ(r.exit_code, status) << program << ": " << r.err;
      EXPECT_EQ(r.out, "status\n") << program;
    }
  }
}

// A command that dies of a signal ends with exit-signal and no exit-status:
// ssh exits 255, as it does with OpenSSH's sshd.
TEST_F(SshdTransfers, ACommandKilledByASignalIsReportedAsOne) {
  for (const std::string& program : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    for (const char* signal : {"TERM", "KILL", "INT"}) {
      std::vector<std::string> extra;
      if (program == "ssh") extra = {"-o", "LogLevel=DEBUG1"};
      auto r = run(ssh_argv(program, port(), dir_->file("user"), extra,
                            std::string("echo before; kill -") + signal + " $$; echo after"));
      EXPECT_EQ(r.exit_code, 255) << program << " " << signal << ": " << r.err;
      EXPECT_EQ(r.out, "before\n") << program << " " << signal;
      if (program == "ssh") {
        EXPECT_NE(r.err.find("client_input_channel_req: channel 0 rtype exit-signal reply 0"), std::string::npos)
            << signal << ": " << r.err;
        EXPECT_EQ(r.err.find("rtype exit-status"), std::string::npos) << signal << ": " << r.err;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::test
