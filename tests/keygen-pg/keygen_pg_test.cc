// tessera-keygen --ca-store against a real PostgreSQL 15, started by the
// test binary on 127.0.0.1 (pg_server.h), once per run of the binary; each
// test has a database of its own. What is proved:
//   - concurrent issuers share one serial space: no serial twice, a record
//     for every certificate;
//   - kill -9 at random moments and a server stopped mid-run leave no
//     certificate without its record, and issuing resumes;
//   - the KRL from the database revokes exactly what was revoked (OpenSSH's
//     ssh-keygen -Q and sshd's RevokedKeys), byte for byte the KRL the file
//     tools make for the same revocations;
//   - a newer schema, an unreachable database, a spent serial range: clear
//     errors, nothing written;
//   - --import-log moves a file store in, idempotently;
//   - serialization failures and deadlocks are retried, up to 5 tries.
// The concurrency test runs 8 x 1,000 certificates (TESSERA_PG_SMALL=1: 8 x 250).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pg_server.h"
#include "sshd.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "test_support.h"

namespace tessera::test {
namespace {

PostgresServer* g_server = nullptr;

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!PostgresServer::unavailable().empty()) return;
    server_ = std::make_unique<PostgresServer>();
    g_server = server_.get();
  }
  void TearDown() override {
    g_server = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<PostgresServer> server_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

CommandResult keygen(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), tessera_bin("tessera-keygen"));
  return run(args, {}, env);
}

std::string make_key(const TempDir& dir, const std::string& name) {
  CommandResult r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", dir.file(name)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.file(name);
}

// The certificate in a -cert.pub file (nullopt if it is not one).
std::optional<key::Certificate> read_cert(const std::string& path) {
  std::string text = read_file(path);
  size_t a = text.find(' ');
  size_t b = text.find_first_of(" \n", a + 1);
  if (a == std::string::npos || b == std::string::npos) return std::nullopt;
  auto blob = key::base64_decode(text.substr(a + 1, b - a - 1));
  if (!blob.ok()) return std::nullopt;
  auto cert = key::Certificate::from_blob(*blob);
  if (!cert.ok()) return std::nullopt;
  return std::move(*cert);
}

// Every *-cert.pub under dir.
std::vector<std::string> certificate_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().string().ends_with("-cert.pub")) out.push_back(e.path().string());
  }
  return out;
}

// `count` copies of a public key file in dir/sub, named k<i>.pub.
std::vector<std::string> key_copies(const TempDir& dir, const std::string& sub, const std::string& pub,
                                    size_t count) {
  std::filesystem::create_directories(dir.path() / sub);
  const std::string line = read_file(pub);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back((dir.path() / sub / ("k" + std::to_string(i) + ".pub")).string());
    write_file(out.back(), line, 0644);
  }
  return out;
}

// A KRL with its generated date (bytes 20..27) zeroed.
std::string without_date(std::string krl) {
  if (krl.size() >= 28) std::fill(krl.begin() + 20, krl.begin() + 28, '\0');
  return krl;
}

class KeygenPg : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = PostgresServer::unavailable(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(g_server, nullptr);
    // A test that stopped the server and failed before starting it again.
    if (!g_server->started()) {
      ASSERT_TRUE(g_server->start()) << g_server->error();
    }
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    db_ = g_server->create_database("t_" + name);
    ASSERT_TRUE(g_server->error().empty()) << g_server->error();
    ca_ = make_key(dir_, "ca");
    user_ = make_key(dir_, "user");
  }

  // SQL against the test's database; the output, rows on lines.
  std::string sql(const std::string& statement) {
    std::string name = db_.substr(db_.rfind('=') + 1);
    CommandResult r = g_server->psql(statement, name);
    EXPECT_EQ(r.exit_code, 0) << statement << ": " << r.err;
    return r.out;
  }

  // serial -> certificate fingerprint, of every record of the CA.
  std::multimap<uint64_t, std::string> records() {
    std::multimap<uint64_t, std::string> out;
    std::istringstream rows(sql("SELECT serial, coalesce(certificate_fingerprint, '') FROM tessera_issued"));
    for (std::string line; std::getline(rows, line);) {
      size_t bar = line.find('|');
      out.emplace(std::stoull(line.substr(0, bar)), line.substr(bar + 1));
    }
    return out;
  }

  // Every certificate file under dir has a record with its serial and its
  // fingerprint; returns how many there are.
  size_t expect_every_certificate_recorded(const std::filesystem::path& dir) {
    const auto recorded = records();
    std::set<uint64_t> seen;
    std::vector<std::string> files = certificate_files(dir);
    for (const std::string& file : files) {
      std::optional<key::Certificate> cert = read_cert(file);
      if (!cert) {
        ADD_FAILURE() << file << " is not a whole certificate";
        continue;
      }
      const std::string fp = key::fingerprint(cert->blob(), key::FingerprintHash::kSha256);
      auto [a, b] = recorded.equal_range(cert->serial);
      bool found = false;
      for (auto it = a; it != b; ++it) found = found || it->second == fp;
      EXPECT_TRUE(found) << file << ": serial " << cert->serial << " has no record";
      EXPECT_TRUE(seen.insert(cert->serial).second) << file << ": serial " << cert->serial << " twice";
    }
    return files.size();
  }

  void expect_no_duplicate_serials() {
    EXPECT_EQ(sql("SELECT count(*) - count(DISTINCT (ca_fingerprint, serial)) FROM tessera_issued"), "0\n");
  }

  TempDir dir_;
  std::string db_, ca_, user_;
};

// The size: 8 x 1,000 takes about 15 s on 2 cores. TESSERA_PG_SMALL=1
// runs 8 x 250 (still 8 at once) for a quick loop.
size_t concurrent_certificates_each() { return std::getenv("TESSERA_PG_SMALL") != nullptr ? 250 : 1000; }

TEST_F(KeygenPg, EightConcurrentIssuersShareOneSerialSpace) {
  constexpr size_t kIssuers = 8;
  const size_t each = concurrent_certificates_each();
  std::vector<std::vector<std::string>> files;
  for (size_t p = 0; p < kIssuers; ++p) files.push_back(key_copies(dir_, "p" + std::to_string(p), user_ + ".pub", each));
  // The CA's row and the schema exist before the race, as on a fleet.
  ASSERT_EQ(keygen({"-q", "-s", ca_, "-I", "first", "--ca-store", db_, user_ + ".pub"}).exit_code, 0);

  std::vector<CommandResult> results(kIssuers);
  std::vector<std::thread> issuers;
  // Each issuer runs in batches of 50 (several tessera-keygen processes
  // after each other), so the 8 processes' transactions interleave.
  for (size_t p = 0; p < kIssuers; ++p) {
    issuers.emplace_back([&, p] {
      for (size_t start = 0; start < each; start += 50) {
        std::vector<std::string> args = {"-q", "-s", ca_, "-I", "issuer" + std::to_string(p), "-n", "fleet",
                                         "--ca-store", db_};
        for (size_t i = start; i < std::min(each, start + 50); ++i) args.push_back(files[p][i]);
        results[p] = keygen(args);
        if (results[p].exit_code != 0) return;
      }
    });
  }
  for (std::thread& t : issuers) t.join();
  for (const CommandResult& r : results) ASSERT_EQ(r.exit_code, 0) << r.err;

  size_t certificates = 0;
  for (size_t p = 0; p < kIssuers; ++p) certificates += expect_every_certificate_recorded(dir_.path() / ("p" + std::to_string(p)));
  EXPECT_EQ(certificates, kIssuers * each);
  EXPECT_EQ(sql("SELECT count(DISTINCT serial) FROM tessera_issued"), std::to_string(kIssuers * each + 1) + "\n");
  expect_no_duplicate_serials();
  // Serials 1 .. N, none skipped (no run died).
  EXPECT_EQ(sql("SELECT max(serial) FROM tessera_issued"), std::to_string(kIssuers * each + 1) + "\n");
  EXPECT_EQ(sql("SELECT issuing_host <> '' AND principals = '{fleet}' AND cert_type = 'user' FROM tessera_issued "
                "WHERE key_id = 'issuer3' LIMIT 1"),
            "t\n");
}

// A server whose transactions are serializable by default: issuers that
// wait for the counter row would fail with serialization errors; tessera-keygen
// issues at read committed, where the row lock alone orders them. The database
// is empty: the 8 also create the tables at once, one after another.
TEST_F(KeygenPg, ConcurrentIssuersUnderSerializableDefault) {
  sql("ALTER DATABASE " + db_.substr(db_.rfind('=') + 1) + " SET default_transaction_isolation = 'serializable'");
  ASSERT_EQ(sql("SHOW default_transaction_isolation"), "serializable\n");
  constexpr size_t kIssuers = 8, kRuns = 10;
  std::vector<std::vector<std::string>> files;
  for (size_t p = 0; p < kIssuers; ++p) files.push_back(key_copies(dir_, "p" + std::to_string(p), user_ + ".pub", kRuns));
  std::vector<CommandResult> results(kIssuers * kRuns);
  std::vector<std::thread> issuers;
  for (size_t p = 0; p < kIssuers; ++p) {
    issuers.emplace_back([&, p] {
      for (size_t i = 0; i < kRuns; ++i) {
        results[p * kRuns + i] = keygen({"-q", "-s", ca_, "-I", "s", "--ca-store", db_, files[p][i]});
      }
    });
  }
  for (std::thread& t : issuers) t.join();
  for (const CommandResult& r : results) EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(expect_every_certificate_recorded(dir_.path()), kIssuers * kRuns);
  expect_no_duplicate_serials();
}

TEST_F(KeygenPg, KilledIssuersLeaveNoCertificateWithoutRecord) {
  constexpr int kKills = 50;
  const uint32_t seed = static_cast<uint32_t>(std::random_device{}());
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  const std::vector<std::string> files = key_copies(dir_, "keys", user_ + ".pub", 600);
  ASSERT_EQ(keygen({"-q", "-s", ca_, "-I", "first", "--ca-store", db_, user_ + ".pub"}).exit_code, 0);
  // How long a whole run takes, so that the kills land anywhere in one.
  std::vector<std::string> args = {tessera_bin("tessera-keygen"), "-q", "-s", ca_, "-I", "timed", "--ca-store", db_};
  auto t0 = std::chrono::steady_clock::now();
  {
    std::vector<std::string> timed = args;
    const auto copies = key_copies(dir_, "timed", user_ + ".pub", 600);
    timed.insert(timed.end(), copies.begin(), copies.end());
    t0 = std::chrono::steady_clock::now();
    CommandResult r = run(timed);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto whole = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  int killed_mid_run = 0, killed_while_writing = 0;
  for (int k = 0; k < kKills; ++k) {
    std::vector<std::string> argv = args;
    const std::string sub = "kill" + std::to_string(k);
    const auto copies = key_copies(dir_, sub, user_ + ".pub", 600);
    argv[5] = sub;
    argv.insert(argv.end(), copies.begin(), copies.end());
    BackgroundProcess p(argv, dir_.file(sub + ".log"));
    ASSERT_TRUE(p.started());
    // Anywhere from start-up to the last batches.
    std::uniform_int_distribution<long> when(0, whole.count() * 3 / 4);
    std::this_thread::sleep_for(std::chrono::microseconds(when(random)));
    if (p.signal(SIGKILL)) ++killed_mid_run;
    p.stop();
    const size_t written = certificate_files(dir_.path() / sub).size();
    if (written > 0 && written < copies.size()) ++killed_while_writing;
  }
  std::cout << killed_mid_run << " of " << kKills << " runs killed before they ended, " << killed_while_writing
            << " of them while writing certificates (a run takes " << whole.count() / 1000 << " ms)\n";
  EXPECT_GE(killed_mid_run, kKills / 2);
  EXPECT_GT(killed_while_writing, 0);
  expect_every_certificate_recorded(dir_.path());
  expect_no_duplicate_serials();
  // And issuing goes on after them.
  CommandResult r = keygen({"-s", ca_, "-I", "after", "--ca-store", db_, files[0]});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(KeygenPg, ServerStoppedMidRunThenIssuingResumes) {
  const std::vector<std::string> files = key_copies(dir_, "big", user_ + ".pub", 12000);
  ASSERT_EQ(keygen({"-q", "-s", ca_, "-I", "first", "--ca-store", db_, user_ + ".pub"}).exit_code, 0);
  std::vector<std::string> argv = {tessera_bin("tessera-keygen"), "-q", "-s", ca_, "-I", "big", "--ca-store", db_};
  argv.insert(argv.end(), files.begin(), files.end());
  const std::string log = dir_.file("big.log");
  BackgroundProcess p(argv, log);
  ASSERT_TRUE(p.started());
  // Once the first certificates are out, the server goes away.
  const std::string first = (dir_.path() / "big" / "k0-cert.pub").string();
  for (int i = 0; i < 2000 && ::access(first.c_str(), F_OK) != 0 && p.running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(g_server->stop());
  int status = p.stop(30000);
  const std::string err = read_file(log);
  EXPECT_NE(status, 0) << "the run ended before the server stopped: make it longer";
  EXPECT_TRUE(err.find("lost the connection to the CA database") != std::string::npos ||
              err.find("cannot connect") != std::string::npos)
      << err;
  EXPECT_NE(err.find("no certificate of this batch was written"), std::string::npos) << err;

  // While it is down: refused, nothing written.
  const std::string down = key_copies(dir_, "down", user_ + ".pub", 1)[0];
  CommandResult r = keygen({"-s", ca_, "-I", "down", "--ca-store", db_, down});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("cannot connect to the CA database"), std::string::npos) << r.err;
  EXPECT_TRUE(certificate_files(dir_.path() / "down").empty());

  ASSERT_TRUE(g_server->start()) << g_server->error();
  const size_t written = expect_every_certificate_recorded(dir_.path() / "big");
  EXPECT_GT(written, 0u);
  EXPECT_LT(written, files.size());
  expect_no_duplicate_serials();
  r = keygen({"-s", ca_, "-I", "down", "--ca-store", db_, down});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_every_certificate_recorded(dir_.path() / "down");
  EXPECT_EQ(certificate_files(dir_.path() / "down").size(), 1u);
}

TEST_F(KeygenPg, KrlFromDatabaseRevokesExactlyAndMatchesFileTools) {
  const std::string other = make_key(dir_, "other");
  const std::string by_hash = make_key(dir_, "by_hash");
  // Certificates: serials 1..6 (alice x2, bob, carol, of user, other, by_hash keys).
  struct Issued {
    std::string pub, id;
  };
  const std::vector<Issued> plan = {{user_, "alice"}, {user_, "alice"}, {user_, "bob"},
                                    {user_, "carol"}, {other, "dave"},  {by_hash, "erin"}};
  std::vector<std::string> certs;
  for (size_t i = 0; i < plan.size(); ++i) {
    const std::string pub = key_copies(dir_, "c" + std::to_string(i), plan[i].pub + ".pub", 1)[0];
    CommandResult r = keygen({"-q", "-s", ca_, "-I", plan[i].id, "-n", "root", "--ca-store", db_, pub});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    certs.push_back((dir_.path() / ("c" + std::to_string(i)) / "k0-cert.pub").string());
  }
  const std::string hash = run({"ssh-keygen", "-lf", by_hash + ".pub"}).out.substr(4, 50);
  ASSERT_TRUE(hash.starts_with("SHA256:")) << hash;
  const std::string krl = dir_.file("db.krl");
  CommandResult r = keygen({"-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--revoke-serial", "2",
                            "--revoke-id", "bob", "--revoke-key", other + ".pub", "--revoke-fingerprint", hash,
                            "--revoked-by", "security@example.com", "--reason", "laptop stolen"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sql("SELECT kind, revoked_by, reason FROM tessera_revoked ORDER BY id"),
            "serial|security@example.com|laptop stolen\nkey_id|security@example.com|laptop stolen\n"
            "key|security@example.com|laptop stolen\nsha256|security@example.com|laptop stolen\n");

  // Exactly #2 (serial), #3 (id bob), #5 (key), #6 (fingerprint) are revoked.
  const std::vector<bool> revoked = {false, true, true, false, true, true};
  for (size_t i = 0; i < certs.size(); ++i) {
    CommandResult q = run({"ssh-keygen", "-Q", "-f", krl, certs[i]});
    EXPECT_EQ(q.exit_code, revoked[i] ? 1 : 0) << certs[i] << ": " << q.out << q.err;
  }

  // The file tools, given the same revocations, make the same bytes.
  const std::string spec = dir_.file("spec");
  write_file(spec, "serial: 2\nid: bob\nkey: " + read_file(other + ".pub") + "hash: " + hash + "\n", 0644);
  const std::string file_krl = dir_.file("file.krl");
  r = keygen({"-q", "-k", "-f", file_krl, "-s", ca_ + ".pub", spec});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_date(read_file(krl)), without_date(read_file(file_krl)));
  const std::string ssh_krl = dir_.file("ssh.krl");
  r = run({"ssh-keygen", "-q", "-k", "-f", ssh_krl, "-s", ca_ + ".pub", spec});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_date(read_file(krl)), without_date(read_file(ssh_krl)));

  // Again (nothing new): the same KRL; a revocation is recorded once.
  r = keygen({"-q", "-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--revoke-serial", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(without_date(read_file(krl)), without_date(read_file(file_krl)));
  EXPECT_EQ(sql("SELECT count(*) FROM tessera_revoked"), "4\n");

  // Signed by the CA: ssh-keygen checks the signature and still answers the same.
  r = keygen({"-q", "-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--sign-krl", ca_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (size_t i = 0; i < certs.size(); ++i) {
    EXPECT_EQ(run({"ssh-keygen", "-Q", "-f", krl, certs[i]}).exit_code, revoked[i] ? 1 : 0) << certs[i];
  }
  EXPECT_EQ(keygen({"-Q", "--verify-krl", ca_ + ".pub", "-f", krl}).exit_code, 0);

  // A serial the database never issued is refused, and nothing is recorded.
  r = keygen({"-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--revoke-serial", "99", "--revoke-id", "x"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("records no certificate with serial 99"), std::string::npos) << r.err;
  EXPECT_EQ(sql("SELECT count(*) FROM tessera_revoked"), "4\n");
}

TEST_F(KeygenPg, SshdRefusesCertificatesTheDatabaseRevoked) {
  if (std::string why = Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
  std::vector<std::string> certs;
  for (const char* id : {"keep", "revoke"}) {
    const std::string pub = key_copies(dir_, id, user_ + ".pub", 1)[0];
    ASSERT_EQ(keygen({"-q", "-s", ca_, "-I", id, "-n", "root", "--ca-store", db_, pub}).exit_code, 0);
    certs.push_back((dir_.path() / id / "k0-cert.pub").string());
  }
  const std::string krl = dir_.file("revoked.krl");
  ASSERT_EQ(keygen({"-q", "-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--sign-krl", ca_}).exit_code, 0);
  const std::string host_key = make_key(dir_, "host");
  Sshd sshd(SshdConfig{.dir = dir_.path().string(), .host_key = host_key,
                       .extra = "TrustedUserCAKeys " + ca_ + ".pub\nRevokedKeys " + krl + "\n"});
  ASSERT_TRUE(sshd.started()) << sshd.log();
  ::chmod(krl.c_str(), 0644);
  auto login = [&](const std::string& cert) {
    return run({"ssh", "-p", std::to_string(sshd.port()), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o",
                "IdentityAgent=none", "-i", user_, "-o", "CertificateFile=" + cert, "-o", "LogLevel=ERROR", "-o",
                "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "root@127.0.0.1", "echo in"});
  };
  EXPECT_EQ(login(certs[1]).exit_code, 0) << sshd.log();  // control: not revoked yet
  CommandResult r = keygen({"-q", "-k", "-f", krl, "-s", ca_ + ".pub", "--ca-store", db_, "--revoke-id", "revoke",
                            "--sign-krl", ca_, "--reason", "test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ::chmod(krl.c_str(), 0644);
  EXPECT_EQ(login(certs[1]).exit_code, 255);
  EXPECT_EQ(login(certs[0]).exit_code, 0) << sshd.log();
}

TEST_F(KeygenPg, NewerSchemaIsRefused) {
  const std::string pub = key_copies(dir_, "k", user_ + ".pub", 1)[0];
  ASSERT_EQ(keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, pub}).exit_code, 0);
  std::filesystem::remove(dir_.path() / "k" / "k0-cert.pub");
  sql("UPDATE tessera_schema_version SET version = 2");
  CommandResult r = keygen({"-s", ca_, "-I", "a", "--ca-store", db_, pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("has schema version 2, newer than this tessera-keygen knows (1)"), std::string::npos) << r.err;
  EXPECT_TRUE(certificate_files(dir_.path() / "k").empty());
  r = keygen({"-k", "-f", dir_.file("x.krl"), "-s", ca_ + ".pub", "--ca-store", db_});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("x.krl")));
  EXPECT_EQ(sql("SELECT count(*) FROM tessera_issued"), "1\n");
}

TEST_F(KeygenPg, UnreachableDatabaseIsRefused) {
  const std::string pub = key_copies(dir_, "k", user_ + ".pub", 1)[0];
  const int closed_port = free_tcp_port();
  CommandResult r = keygen({"-s", ca_, "-I", "a", "--ca-store",
                            "postgresql://postgres:secret-pw@127.0.0.1:" + std::to_string(closed_port) + "/x", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("cannot connect to the CA database"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("secret-pw"), std::string::npos) << r.err;
  EXPECT_TRUE(certificate_files(dir_.path() / "k").empty());
  // The connection string from the environment, also unreachable.
  r = keygen({"-s", ca_, "-I", "a", "--ca-store", "env", pub},
             {"TESSERA_CA_STORE=host=127.0.0.1 port=" + std::to_string(closed_port) + " user=postgres"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
  r = keygen({"-s", ca_, "-I", "a", "--ca-store", "env", pub}, {"TESSERA_CA_STORE="});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("TESSERA_CA_STORE is not set"), std::string::npos) << r.err;
  EXPECT_TRUE(certificate_files(dir_.path() / "k").empty());
  // And from the environment, reachable.
  r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", "env", pub}, {"TESSERA_CA_STORE=" + db_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(KeygenPg, SerialRangeRunsOut) {
  const std::vector<std::string> files = key_copies(dir_, "k", user_ + ".pub", 5);
  CommandResult r = keygen({"-q", "-s", ca_, "-I", "a", "-z", "10-12", "--ca-store", db_, files[0], files[1],
                            files[2], files[3], files[4]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("serial 12 was the last of its range"), std::string::npos) << r.err;
  EXPECT_EQ(certificate_files(dir_.path() / "k").size(), 3u);
  EXPECT_EQ(read_cert((dir_.path() / "k" / "k2-cert.pub").string())->serial, 12u);
  r = keygen({"-q", "-s", ca_, "-I", "a", "-z", "10-12", "--ca-store", db_, files[3]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("has no serial left"), std::string::npos) << r.err;
  EXPECT_EQ(certificate_files(dir_.path() / "k").size(), 3u);
  // The whole 64-bit space spent.
  sql("UPDATE tessera_ca SET next_serial = 18446744073709551615");
  r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, files[3], files[4]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(read_cert((dir_.path() / "k" / "k3-cert.pub").string())->serial, UINT64_MAX);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "k" / "k4-cert.pub"));
  expect_every_certificate_recorded(dir_.path() / "k");
}

// Serialization failures and deadlocks are retried, each try reserving and
// signing anew; past the last try the batch fails whole. The database
// injects them: a trigger on the issuance records fails the inserts whose
// number (from a sequence, which a rollback does not take back) it is told to.
TEST_F(KeygenPg, SerializationFailuresAndDeadlocksAreRetried) {
  const std::vector<std::string> files = key_copies(dir_, "k", user_ + ".pub", 3);
  CommandResult r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, files[0]});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // the schema exists from here on
  sql("CREATE SEQUENCE inserts; CREATE TABLE failing (n bigint, code text);"
      "CREATE FUNCTION fail_some() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE i bigint; c text; BEGIN "
      "i := nextval('inserts'); SELECT code INTO c FROM failing WHERE n = i; "
      "IF c IS NOT NULL THEN RAISE EXCEPTION 'injected' USING ERRCODE = c; END IF; RETURN NEW; END $$;"
      "CREATE TRIGGER fail_some BEFORE INSERT ON tessera_issued FOR EACH ROW EXECUTE FUNCTION fail_some();"
      "INSERT INTO failing VALUES (1, '40001'), (2, '40P01');");
  r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, files[1]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sql("SELECT nextval('inserts')"), "4\n");  // two failed tries, then the one that stood
  EXPECT_EQ(read_cert((dir_.path() / "k" / "k1-cert.pub").string())->serial, 2u);
  // Every one of the 5 tries fails: a clear error, nothing written, no serial spent.
  sql("INSERT INTO failing SELECT n, '40001' FROM generate_series(5, 9) AS n");
  r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, files[2]});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("SQLSTATE 40001"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no certificate of this batch was written"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "k" / "k2-cert.pub"));
  EXPECT_EQ(sql("SELECT nextval('inserts')"), "10\n");
  r = keygen({"-q", "-s", ca_, "-I", "a", "--ca-store", db_, files[2]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_cert((dir_.path() / "k" / "k2-cert.pub").string())->serial, 3u);
  EXPECT_EQ(expect_every_certificate_recorded(dir_.path() / "k"), 3u);
  expect_no_duplicate_serials();
}

TEST_F(KeygenPg, ImportLogMovesAFileStoreInOnce) {
  const std::vector<std::string> files = key_copies(dir_, "k", user_ + ".pub", 4);
  const std::string state = dir_.file("ca.serial"), log = dir_.file("ca.issued.jsonl");
  CommandResult r = keygen({"-q", "-s", ca_, "-I", "old", "-n", "a,b", "--new-serial-file", state, "--issuance-log",
                            log, files[0], files[1], files[2]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  write_file(state, "next 40\n");  // the state went further than the log (a crashed run)
  r = keygen({"--ca-store", db_, "--import-log", log, "-s", ca_ + ".pub", "--serial-file", state});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Imported 3 records"), std::string::npos) << r.err;
  EXPECT_EQ(sql("SELECT serial, key_id, principals, cert_type, imported FROM tessera_issued ORDER BY serial"),
            "1|old|{a,b}|user|t\n2|old|{a,b}|user|t\n3|old|{a,b}|user|t\n");
  // Again: nothing new.
  r = keygen({"--ca-store", db_, "--import-log", log});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Imported 0 records from " + log + " (3 already in the database)"), std::string::npos) << r.err;
  EXPECT_EQ(sql("SELECT count(*) FROM tessera_issued"), "3\n");
  // Issuing goes on above both the log and the state.
  r = keygen({"-q", "-s", ca_, "-I", "new", "--ca-store", db_, files[3]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_cert((dir_.path() / "k" / "k3-cert.pub").string())->serial, 40u);
  // An imported certificate is revoked by its serial like any other.
  r = keygen({"-q", "-k", "-f", dir_.file("krl"), "-s", ca_ + ".pub", "--ca-store", db_, "--revoke-serial", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(run({"ssh-keygen", "-Q", "-f", dir_.file("krl"), (dir_.path() / "k" / "k1-cert.pub").string()}).exit_code,
            1);
  // --serial-file needs the CA whose state it is.
  r = keygen({"--ca-store", db_, "--import-log", log, "--serial-file", state});
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(KeygenPg, OptionsThatDoNotMix) {
  const std::string pub = key_copies(dir_, "k", user_ + ".pub", 1)[0];
  CommandResult r = keygen({"-s", ca_, "-I", "a", "--ca-store", db_, "--serial-file", dir_.file("s"), pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("--serial-file and --issuance-log are for the file store"), std::string::npos) << r.err;
  r = keygen({"-s", ca_, "-I", "a", "--ca-store", db_, "-z", "5", pub});
  EXPECT_EQ(r.exit_code, 255);
  r = keygen({"-s", ca_, "-I", "a", "--ca-store", "not a connection string", pub});
  EXPECT_EQ(r.exit_code, 1);
  r = keygen({"-k", "-f", dir_.file("krl"), "-s", ca_ + ".pub", "--revoke-key", pub});
  EXPECT_EQ(r.exit_code, 1);
  r = keygen({"-k", "-u", "-f", dir_.file("krl"), "-s", ca_ + ".pub", "--ca-store", db_});
  EXPECT_EQ(r.exit_code, 1);
  r = keygen({"-Y", "sign", "-f", user_, "-n", "file", "--ca-store", db_, pub});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not for signatures (-Y)"), std::string::npos) << r.err;
  r = keygen({"--ca-store", db_, "--import-log", dir_.file("log"), "--revoke-id", "a"});
  EXPECT_EQ(r.exit_code, 1);
  r = keygen({"--ca-store", db_, "--import-log", dir_.file("log"), "--reason", "a"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(certificate_files(dir_.path() / "k").empty());
}

}  // namespace
}  // namespace tessera::test
