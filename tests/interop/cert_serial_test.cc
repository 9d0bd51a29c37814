// tessera-keygen's --serial-file and --issuance-log (beyond ssh-keygen):
// serials increase across runs, a run killed (SIGKILL) half-way leaves the
// next run's serials above every serial it issued, concurrent runs never
// share a serial, and every certificate issued has its JSON log line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cert_cli.h"
#include "tessera/key/fingerprint.h"

namespace tessera::certtest {
namespace {

using test::read_file;
using test::TempDir;

namespace fs = std::filesystem;

// `count` ed25519 public key files under dir/sub (made in-process: fast).
std::vector<std::string> public_keys(const TempDir& dir, const std::string& sub, size_t count) {
  fs::create_directories(dir.path() / sub);
  std::vector<std::string> paths;
  for (size_t i = 0; i < count; ++i) {
    auto k = key::PrivateKey::generate(key::KeyType::kEd25519);
    std::string path = (dir.path() / sub / ("k" + std::to_string(i) + ".pub")).string();
    test::write_file(path, key::format_public_key_line(k->public_key(), "k" + std::to_string(i)) + "\n", 0644);
    paths.push_back(path);
  }
  return paths;
}

std::string cert_of(const std::string& pub) { return pub.substr(0, pub.size() - 4) + "-cert.pub"; }

// The serials of the certificates that exist for these keys.
std::vector<uint64_t> issued_serials(const std::vector<std::string>& pubs) {
  std::vector<uint64_t> serials;
  for (const auto& pub : pubs) {
    // A certificate being written when the run was killed may be empty or partial.
    if (!fs::exists(cert_of(pub)) || read_file(cert_of(pub)).find('\n') == std::string::npos) continue;
    serials.push_back(read_cert(cert_of(pub)).serial);
  }
  return serials;
}

class CertSerial : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = make_key(dir_, "ca", "ed25519");
    state_ = dir_.file("serial");
    // A serial space starts at 1, in the form the docs give.
    test::write_file(state_, "next 1\n", 0600);
  }
  std::vector<std::string> sign_args(const std::vector<std::string>& pubs, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-q", "-s", ca_, "-I", "batch", "--serial-file", state_};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), pubs.begin(), pubs.end());
    return args;
  }
  TempDir dir_;
  std::string ca_, state_;
};

TEST_F(CertSerial, SerialsIncreaseAcrossRuns) {
  auto first = public_keys(dir_, "a", 3);
  auto second = public_keys(dir_, "b", 2);
  ASSERT_EQ(tessera_keygen(sign_args(first)).exit_code, 0);
  EXPECT_EQ(issued_serials(first), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_NE(read_file(state_).find("next 4\n"), std::string::npos) << read_file(state_);
  ASSERT_EQ(tessera_keygen(sign_args(second, {"--serial-file=" + state_})).exit_code, 0);
  EXPECT_EQ(issued_serials(second), (std::vector<uint64_t>{4, 5}));
  EXPECT_NE(read_file(state_).find("next 6\n"), std::string::npos);
  // The lock file names the last run that held it.
  const std::string holder = read_file(state_ + ".lock");
  EXPECT_FALSE(holder.empty());
  EXPECT_EQ(holder.find_first_not_of("0123456789\n"), std::string::npos) << holder;
}

// Without a state file no serial is issued: a mistyped or lost file must not
// start again at 1. --new-serial-file starts a serial space, once, and says so.
TEST_F(CertSerial, ANewSerialSpaceStartsOnlyWhenAskedFor) {
  auto pubs = public_keys(dir_, "a", 2);
  const std::string fresh = dir_.file("fresh.serial");
  CommandResult r = tessera_keygen({"-q", "-s", ca_, "-I", "x", "--serial-file", fresh, pubs[0]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find(fresh + ": does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--new-serial-file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(cert_of(pubs[0])));
  EXPECT_FALSE(fs::exists(fresh));

  r = tessera_keygen({"-q", "-s", ca_, "-I", "x", "--new-serial-file", fresh, pubs[0]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("starting a new serial space in " + fresh + " at serial 1"), std::string::npos) << r.err;
  EXPECT_EQ(read_cert(cert_of(pubs[0])).serial, 1u);
  r = tessera_keygen({"-q", "-s", ca_, "-I", "x", "--new-serial-file", fresh, pubs[1]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = tessera_keygen({"-q", "-s", ca_, "-I", "x", "--serial-file", fresh, pubs[1]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_cert(cert_of(pubs[1])).serial, 2u);
}

// A state file that is a symbolic link is followed: the link stays, its
// target moves on; a dangling link is refused like a missing file.
TEST_F(CertSerial, ASymlinkedStateFileIsFollowed) {
  auto pubs = public_keys(dir_, "a", 2);
  fs::create_directories(dir_.path() / "real");
  test::write_file(dir_.file("real/ca.serial"), "next 40\n", 0600);
  const std::string link = dir_.file("link.serial");
  fs::create_symlink("real/ca.serial", link);
  ASSERT_EQ(tessera_keygen(sign_args({pubs[0]}, {"--serial-file=" + link})).exit_code, 0);
  EXPECT_EQ(read_cert(cert_of(pubs[0])).serial, 40u);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_NE(read_file(dir_.file("real/ca.serial")).find("next 41\n"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_.file("real/ca.serial.lock"))) << "the target's lock";

  const std::string dangling = dir_.file("dangling.serial");
  fs::create_symlink("real/missing.serial", dangling);
  CommandResult r = tessera_keygen({"-q", "-s", ca_, "-I", "x", "--serial-file", dangling, pubs[1]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("symbolic link to a file that does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(cert_of(pubs[1])));
}

// A state behind the issuance log (restored from a backup, say) goes on
// above the log's highest serial for this CA, and says so.
TEST_F(CertSerial, NoSerialAtOrBelowTheLogsHighest) {
  auto pubs = public_keys(dir_, "a", 2);
  const std::string log = dir_.file("issued.jsonl");
  ASSERT_EQ(tessera_keygen(sign_args({pubs[0]}, {"--issuance-log", log})).exit_code, 0);
  test::write_file(state_, "next 1\n", 0600);  // the restored backup
  CommandResult r = tessera_keygen(sign_args({pubs[1]}, {"--issuance-log", log}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_cert(cert_of(pubs[1])).serial, 2u);
  EXPECT_NE(r.err.find("the issuance log records serial 1: going on from 2"), std::string::npos) << r.err;
}

// The state file keeps its mode; temporary files of killed runs are removed.
TEST_F(CertSerial, TheStateFileKeepsItsModeAndStaleTemporariesGo) {
  auto pubs = public_keys(dir_, "a", 1);
  fs::permissions(state_, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  test::write_file(dir_.file(".serial.AbC123"), "next 9\n", 0600);
  test::write_file(dir_.file(".serial.keep"), "not ours\n", 0600);
  ASSERT_EQ(tessera_keygen(sign_args(pubs)).exit_code, 0);
  EXPECT_EQ(fs::status(state_).permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_FALSE(fs::exists(dir_.file(".serial.AbC123")));
  EXPECT_TRUE(fs::exists(dir_.file(".serial.keep")));
}

// A run that waits for another's lock says so, naming the holder.
TEST_F(CertSerial, AWaitingRunSaysWhoHoldsTheLock) {
  auto pubs = public_keys(dir_, "a", 1);
  int lock = ::open((state_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(::flock(lock, LOCK_EX), 0);
  const std::string me = std::to_string(::getpid()) + "\n";
  ASSERT_EQ(::write(lock, me.data(), me.size()), static_cast<ssize_t>(me.size()));
  test::BackgroundProcess run([&] {
    auto args = sign_args(pubs);
    args.insert(args.begin(), test::tessera_bin("tessera-keygen"));
    return args;
  }(), dir_.file("wait.log"));
  ASSERT_TRUE(run.started());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (read_file(dir_.file("wait.log")).find("waiting for") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(read_file(dir_.file("wait.log")).find("waiting for " + state_ + ".lock, held by PID " +
                                                  std::to_string(::getpid())),
            std::string::npos)
      << read_file(dir_.file("wait.log"));
  EXPECT_FALSE(fs::exists(cert_of(pubs[0])));
  ::close(lock);  // the run goes on
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (run.running() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(run.stop(), 0) << read_file(dir_.file("wait.log"));
  EXPECT_EQ(read_cert(cert_of(pubs[0])).serial, 1u);
}

// Batches are signed on several threads: the certificates and the lines on
// stderr still follow the order of the files, as with ssh-keygen.
TEST_F(CertSerial, LargeBatchesKeepTheOrderOfTheFiles) {
  auto pubs = public_keys(dir_, "a", 700);
  std::vector<std::string> args = {"-s", ca_, "-I", "order", "-z", "+1000"};
  args.insert(args.end(), pubs.begin(), pubs.end());
  CommandResult r = tessera_keygen(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (size_t i = 0; i < pubs.size(); ++i) {
    EXPECT_EQ(read_cert(cert_of(pubs[i])).serial, 1000 + i);
    expected += "Signed user key " + cert_of(pubs[i]) + ": id \"order\" serial " + std::to_string(1000 + i) +
                " valid forever\n";
  }
  EXPECT_EQ(r.err, expected);
}

// A run that ends on an error records what it issued: nothing is skipped.
TEST_F(CertSerial, AFailedRunRecordsWhatItIssued) {
  auto pubs = public_keys(dir_, "a", 2);
  pubs.insert(pubs.begin() + 1, dir_.file("missing.pub"));
  CommandResult r = tessera_keygen(sign_args(pubs));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(read_file(state_).find("next 2\n"), std::string::npos) << read_file(state_);
}

// A run killed (SIGKILL) half-way: no serial is issued twice afterwards,
// every certificate file is whole (the old one or the new one, never an
// empty or torn file), and every new certificate is in the issuance log.
TEST_F(CertSerial, KilledRunNeverLeadsToARepeatedSerial) {
  auto batch = public_keys(dir_, "batch", 3000);
  const std::string log = dir_.file("issued.jsonl");
  // The certificates of an earlier run, which the killed run replaces.
  ASSERT_EQ(tessera_keygen(sign_args(batch, {"--issuance-log", log})).exit_code, 0);
  const uint64_t earlier = 3000;
  test::BackgroundProcess run([&] {
    auto args = sign_args(batch, {"--issuance-log", log});
    args.insert(args.begin(), test::tessera_bin("tessera-keygen"));
    return args;
  }(), dir_.file("batch.log"));
  ASSERT_TRUE(run.started());
  // Kill it once it is well under way.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_cert(cert_of(batch[200])).serial <= earlier && std::chrono::steady_clock::now() < deadline &&
         run.running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(run.signal(SIGKILL)) << "the run ended before it was killed: make the batch larger";
  run.stop();
  const std::string logged = read_file(log);
  size_t replaced = 0;
  uint64_t highest = 0;
  for (const auto& pub : batch) {
    const key::Certificate cert = read_cert(cert_of(pub));  // throws (fails the test) on a torn file
    highest = std::max(highest, cert.serial);
    if (cert.serial <= earlier) continue;
    ++replaced;
    EXPECT_NE(logged.find("{\"serial\":" + std::to_string(cert.serial) + ","), std::string::npos)
        << "certificate with serial " << cert.serial << " is not in the issuance log";
  }
  ASSERT_GE(replaced, 200u);
  EXPECT_LT(replaced, batch.size()) << "the run finished before it was killed: make the batch larger";

  auto next = public_keys(dir_, "next", 20);
  CommandResult r = tessera_keygen(sign_args(next));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (uint64_t serial : issued_serials(next)) EXPECT_GT(serial, highest);
  std::vector<uint64_t> after = issued_serials(next);
  EXPECT_TRUE(std::is_sorted(after.begin(), after.end()));
}

TEST_F(CertSerial, ConcurrentRunsNeverShareASerial) {
  constexpr int kRuns = 4;
  std::vector<std::vector<std::string>> batches;
  for (int i = 0; i < kRuns; ++i) batches.push_back(public_keys(dir_, "run" + std::to_string(i), 150));
  std::vector<std::thread> threads;
  std::vector<int> status(kRuns, -1);
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] { status[static_cast<size_t>(i)] = tessera_keygen(sign_args(batches[static_cast<size_t>(i)])).exit_code; });
  }
  for (auto& t : threads) t.join();
  std::set<uint64_t> seen;
  size_t total = 0;
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_EQ(status[static_cast<size_t>(i)], 0);
    for (uint64_t serial : issued_serials(batches[static_cast<size_t>(i)])) {
      EXPECT_TRUE(seen.insert(serial).second) << "serial " << serial << " issued twice";
      ++total;
    }
  }
  EXPECT_EQ(total, kRuns * 150u);
}

TEST_F(CertSerial, BrokenStateFileIsRefusedNamingIt) {
  auto pubs = public_keys(dir_, "a", 1);
  for (const char* broken : {"next lots\n", "next 0\n", "nxt 4\n", ""}) {
    test::write_file(state_, broken, 0600);
    CommandResult r = tessera_keygen(sign_args(pubs));
    EXPECT_EQ(r.exit_code, 255) << broken;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(state_), std::string::npos) << r.err;
    // Removing the file would start the serials again at 1: never advised.
    EXPECT_EQ(r.err.find("remove"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(cert_of(pubs[0])));
  }
  test::write_file(state_, "next 0\n", 0600);
  EXPECT_NE(tessera_keygen(sign_args(pubs)).err.find("serial 0 cannot be revoked"), std::string::npos);

  CommandResult r = tessera_keygen({"-s", ca_, "-I", "x", "-z", "5", "--serial-file", state_, pubs[0]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("-z"), std::string::npos) << r.err;
  r = tessera_keygen({"--serial-file", state_, "-l", "-f", pubs[0]});
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(CertSerial, IssuanceLogHasALinePerCertificate) {
  auto pubs = public_keys(dir_, "a", 3);
  const std::string log = dir_.file("issued.jsonl");
  CommandResult r = tessera_keygen(sign_args(pubs, {"--issuance-log", log, "-n", "alice,b\"ob", "-h", "-V",
                                                    "20250101:20260101"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = read_file(log);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  std::string ca_fp = line_with(ssh_keygen({"-l", "-f", ca_ + ".pub"}).out, "256");
  ca_fp = ca_fp.substr(4, ca_fp.find(' ', 4) - 4);
  for (size_t i = 0; i < pubs.size(); ++i) {
    std::string line = line_with(text, "{\"serial\":" + std::to_string(i + 1) + ",");
    ASSERT_FALSE(line.empty()) << text;
    key::Certificate cert = read_cert(cert_of(pubs[i]));
    std::string fp = key::fingerprint(cert.key, key::FingerprintHash::kSha256);
    EXPECT_NE(line.find("\"key_id\":\"batch\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"principals\":[\"alice\",\"b\\\"ob\"]"), std::string::npos) << line;
    EXPECT_NE(line.find("\"type\":\"host\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"valid_after\":1735689600,\"valid_before\":1767225600"), std::string::npos) << line;
    EXPECT_NE(line.find("\"key_fingerprint\":\"" + fp + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"ca_fingerprint\":\"" + ca_fp + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"certificate\":\"" + cert_of(pubs[i]) + "\""), std::string::npos) << line;
  }
  // Appended, not replaced.
  ASSERT_EQ(tessera_keygen(sign_args({pubs[0]}, {"--issuance-log", log})).exit_code, 0);
  text = read_file(log);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
  EXPECT_FALSE(line_with(text, "{\"serial\":4,").empty()) << text;
}

// A full disk in the middle of a record: the record is cut off again, no
// certificate is written for it, and the log stays whole for the next run.
TEST_F(CertSerial, AFullDiskLeavesNoHalfRecord) {
  auto pubs = public_keys(dir_, "a", 3);
  const std::string log = dir_.file("issued.jsonl");
  ASSERT_EQ(tessera_keygen(sign_args({pubs[0], pubs[1]}, {"--issuance-log", log})).exit_code, 0);
  const std::string before = read_file(log);
  // The file size limit stands in for the full disk (SIGXFSZ ignored: the
  // write fails with EFBIG after writing what fits).
  std::vector<std::string> args = {"sh", "-c", "trap '' XFSZ; exec \"$@\"", "sh", "prlimit",
                                   "--fsize=" + std::to_string(before.size() + 40), test::tessera_bin("tessera-keygen")};
  for (const auto& a : sign_args({pubs[2]}, {"--issuance-log", log})) args.push_back(a);
  CommandResult full = test::run(args);
  EXPECT_NE(full.exit_code, 0);
  EXPECT_NE(full.err.find("cannot append a record"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("nothing of it was kept"), std::string::npos) << full.err;
  EXPECT_EQ(read_file(log), before) << "no fragment is left";
  EXPECT_FALSE(fs::exists(cert_of(pubs[2]))) << "no certificate without its record";

  // Room again: the next run appends a whole record that reads back.
  ASSERT_EQ(tessera_keygen(sign_args({pubs[2]}, {"--issuance-log", log})).exit_code, 0);
  const uint64_t serial = read_cert(cert_of(pubs[2])).serial;
  CommandResult krl = tessera_keygen({"-k", "-f", dir_.file("krl"), "-s", ca_ + ".pub", "--revoke-from-log", log,
                                      "--revoke-serial", std::to_string(serial)});
  EXPECT_EQ(krl.exit_code, 0) << krl.err;
  EXPECT_EQ(krl.err, "") << "every line is a record";
}

// A record torn by a crash (no newline) is reported with its line number
// and skipped; the next record starts on a line of its own, and revocation
// from the log still works.
TEST_F(CertSerial, ATornRecordIsReportedAndTheRestOfTheLogIsRead) {
  auto pubs = public_keys(dir_, "a", 3);
  const std::string log = dir_.file("issued.jsonl");
  ASSERT_EQ(tessera_keygen(sign_args({pubs[0], pubs[1]}, {"--issuance-log", log})).exit_code, 0);
  test::write_file(log, read_file(log) + "{\"serial\":77,\"key_id\":\"bat", 0600);
  ASSERT_EQ(tessera_keygen(sign_args({pubs[2]}, {"--issuance-log", log})).exit_code, 0);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("\"key_id\":\"bat\n{\"serial\":3,"), std::string::npos) << text;

  CommandResult krl = tessera_keygen({"-k", "-f", dir_.file("krl"), "-s", ca_ + ".pub", "--revoke-from-log", log,
                                      "--revoke-serial", "3", "--revoke-serial", "1"});
  ASSERT_EQ(krl.exit_code, 0) << krl.err;
  EXPECT_NE(krl.err.find(log + ":3: a record cut short"), std::string::npos) << krl.err;
  EXPECT_EQ(ssh_keygen({"-Q", "-f", dir_.file("krl"), cert_of(pubs[2])}).exit_code, 1);
  EXPECT_EQ(ssh_keygen({"-Q", "-f", dir_.file("krl"), cert_of(pubs[1])}).exit_code, 0);

  // A line that is no record at all says so, and is skipped too.
  test::write_file(log, read_file(log) + "not json\n", 0600);
  krl = tessera_keygen({"-k", "-f", dir_.file("krl2"), "-s", ca_ + ".pub", "--revoke-from-log", log,
                        "--revoke-serial", "2"});
  ASSERT_EQ(krl.exit_code, 0) << krl.err;
  EXPECT_NE(krl.err.find(log + ":5: not a certificate record"), std::string::npos) << krl.err;
}

// A certificate file is replaced whole: one that exists keeps its mode, and
// no temporary file is left beside it.
TEST_F(CertSerial, CertificateFilesAreReplacedWhole) {
  auto pubs = public_keys(dir_, "a", 1);
  ASSERT_EQ(tessera_keygen(sign_args(pubs)).exit_code, 0);
  fs::permissions(cert_of(pubs[0]), fs::perms::owner_read | fs::perms::owner_write);
  const auto inode = fs::status(cert_of(pubs[0]));
  ASSERT_EQ(tessera_keygen(sign_args(pubs)).exit_code, 0);
  EXPECT_EQ(read_cert(cert_of(pubs[0])).serial, 2u);
  EXPECT_EQ(fs::status(cert_of(pubs[0])).permissions(), inode.permissions());
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_.path() / "a")) ++files;
  EXPECT_EQ(files, 2u) << "the key and its certificate, no temporary file";
}

}  // namespace
}  // namespace tessera::certtest
