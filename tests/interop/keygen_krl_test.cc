// tessera-keygen -k / -Q against OpenSSH's ssh-keygen -k / -Q (9.2):
//   the same spec (keys, certificates, serials, serial ranges, key ids,
//   hashes) gives the same KRL bytes (but for the generated date), the same
//   "Revoking from" lines, and the same -Q answers and exit codes whichever
//   tool wrote the KRL and whichever tool reads it; -Q -l prints the same;
//   -k -u adds to either tool's KRL the same way; errors give ssh-keygen's
//   messages and exit codes; -k and -Q win over -s.
// Beyond ssh-keygen: --sign-krl (ssh-keygen -Q accepts the signed KRL),
// --verify-krl (refuses unsigned and wrongly signed KRLs), --revoke-from-log.
// And with sshd: RevokedKeys with a tessera KRL refuses a revoked certificate
// and lets it in with an empty KRL.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cert_cli.h"
#include "cert_sshd.h"

namespace tessera::certtest {
namespace {

using test::read_file;
using test::TempDir;

// -Q -l prints the generated date in local time, and escapes in the C locale.
const std::vector<std::string> kKrlEnv = {"TZ=UTC", "LC_ALL=C"};

CommandResult tk(std::vector<std::string> args, const std::string& input = {}) {
  return tessera_keygen(std::move(args), input, kKrlEnv);
}
CommandResult sk(std::vector<std::string> args, const std::string& input = {}) {
  return ssh_keygen(std::move(args), input, kKrlEnv);
}

// A KRL with its generated date (bytes 20..27) zeroed.
std::string without_date(std::string krl) {
  if (krl.size() >= 28) std::fill(krl.begin() + 20, krl.begin() + 28, '\0');
  return krl;
}

class KeygenKrl : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = make_key(dir_, "ca", "ed25519");
    other_ca_ = make_key(dir_, "other_ca", "ecdsa", "256");
    for (const char* name : {"k_plain", "k_explicit", "k_sha256", "k_ok"}) {
      keys_.push_back(make_key(dir_, name, "ed25519"));
    }
    subject_ = make_key(dir_, "subject", "ecdsa", "256");
    // Certificates (made by ssh-keygen) with serials in and out of the revoked ones.
    certs_ = {sign(ca_, "s5", "5"),         sign(ca_, "s150", "150"),      sign(ca_, "s201", "201"),
              sign(ca_, "alice", "0"),      sign(ca_, "bob", "7"),         sign(other_ca_, "o5", "5"),
              sign(other_ca_, "alice_o", "0"), sign(ca_, "line", "300")};
    spec_ = dir_.file("spec");
    test::write_file(spec_,
                     "# revoked by the CA\n"
                     "serial: 5\n"
                     "serial: 100-200   # a range\n"
                     "  id: alice\n"
                     "key: " + read_file(keys_[1] + ".pub") +
                     "sha256: " + read_file(keys_[2] + ".pub") +
                     read_file(keys_[0] + ".pub") +
                     read_file(dir_.file("line-cert.pub")),
                     0644);
  }

  // ssh-keygen -s ca -I id -z serial: a certificate of `subject_`; returns its path.
  std::string sign(const std::string& ca, const std::string& id, const std::string& serial) {
    std::string pub = copy_pub(dir_, subject_ + ".pub", id);
    CommandResult r = sk({"-q", "-s", ca, "-I", id, "-n", "user", "-z", serial, pub});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return dir_.file(id + "-cert.pub");
  }

  std::vector<std::string> query_args(const std::string& krl) {
    std::vector<std::string> args = {"-Q", "-f", krl};
    for (const std::string& k : keys_) args.push_back(k + ".pub");
    args.push_back(subject_ + ".pub");
    args.insert(args.end(), certs_.begin(), certs_.end());
    return args;
  }

  // Both tools' -Q on `krl`: the same stdout and exit status; returns the stdout.
  std::string expect_same_answers(const std::string& krl) {
    CommandResult theirs = sk(query_args(krl));
    CommandResult ours = tk(query_args(krl));
    EXPECT_EQ(ours.out, theirs.out) << krl;
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << krl << ": " << ours.err << theirs.err;
    EXPECT_EQ(ours.err, "");
    return ours.out;
  }

  TempDir dir_;
  std::string ca_, other_ca_, subject_, spec_;
  std::vector<std::string> keys_, certs_;
};

TEST_F(KeygenKrl, SameKrlAndSameAnswersFromBothTools) {
  const std::string ours = dir_.file("ours.krl"), theirs = dir_.file("theirs.krl");
  CommandResult t = tk({"-k", "-f", ours, "-s", ca_ + ".pub", "-z", "42", "-C", "a comment", spec_});
  CommandResult s = sk({"-k", "-f", theirs, "-s", ca_ + ".pub", "-z", "42", "-C", "a comment", spec_});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(t.out, s.out);
  EXPECT_EQ(t.out, "Revoking from " + spec_ + "\n");
  EXPECT_EQ(without_date(read_file(ours)), without_date(read_file(theirs)));

  std::string answers = expect_same_answers(ours);
  EXPECT_EQ(answers, expect_same_answers(theirs));
  // The model: what the spec revokes, and what it does not.
  for (const std::string& revoked : {keys_[0] + ".pub", keys_[1] + ".pub", keys_[2] + ".pub", certs_[0], certs_[1],
                                     certs_[3], certs_[7]}) {
    EXPECT_NE(answers.find(revoked + " ("), std::string::npos) << revoked;
    EXPECT_NE(line_with(answers, revoked + " (").find(": REVOKED"), std::string::npos) << answers;
  }
  for (const std::string& fine : {keys_[3] + ".pub", subject_ + ".pub", certs_[2], certs_[4], certs_[5], certs_[6]}) {
    EXPECT_NE(line_with(answers, fine + " (").find(": ok"), std::string::npos) << fine << "\n" << answers;
  }
  EXPECT_EQ(tk(query_args(ours)).exit_code, 1);
  EXPECT_EQ(tk({"-Q", "-f", ours, keys_[3] + ".pub", certs_[4]}).exit_code, 0);
}

TEST_F(KeygenKrl, DumpIsSshKeygens) {
  const std::string ours = dir_.file("ours.krl"), theirs = dir_.file("theirs.krl");
  ASSERT_EQ(tk({"-q", "-k", "-f", ours, "-s", ca_ + ".pub", "-C", "tab\there", spec_}).exit_code, 0);
  ASSERT_EQ(sk({"-q", "-k", "-f", theirs, "-s", "none", spec_}).exit_code, 0);
  for (const std::string& krl : {ours, theirs}) {
    std::vector<std::string> args = query_args(krl);
    args.insert(args.begin() + 1, "-l");
    CommandResult t = tk(args), s = sk(args);
    EXPECT_EQ(t.out, s.out) << krl;
    EXPECT_EQ(t.exit_code, s.exit_code);
    EXPECT_NE(t.out.find("# KRL version"), std::string::npos);
    // Alone (no keys): the dump and exit 0.
    t = tk({"-Q", "-l", "-f", krl});
    s = sk({"-Q", "-l", "-f", krl});
    EXPECT_EQ(t.out, s.out);
    EXPECT_EQ(t.exit_code, 0);
    EXPECT_EQ(s.exit_code, 0);
  }
}

TEST_F(KeygenKrl, UpdateAddsToEitherToolsKrl) {
  const std::string base = dir_.file("base.krl");
  ASSERT_EQ(sk({"-q", "-k", "-f", base, "-s", ca_ + ".pub", "-z", "3", spec_}).exit_code, 0);
  const std::string more = dir_.file("more");
  test::write_file(more, "serial: 7\nserial: 201-0x100\nid: alice_o\n", 0644);
  // Updated by each tool, from both tools' base files.
  for (const std::string writer : {"ssh-keygen", "tessera-keygen"}) {
    const std::string start = dir_.file(writer + ".krl");
    const std::vector<std::string> make = {"-q", "-k", "-f", start, "-s", ca_ + ".pub", "-z", "3", spec_};
    ASSERT_EQ((writer == "ssh-keygen" ? sk(make) : tk(make)).exit_code, 0);
    const std::string ours = dir_.file(writer + ".ours"), theirs = dir_.file(writer + ".theirs");
    test::write_file(ours, read_file(start), 0644);
    test::write_file(theirs, read_file(start), 0644);
    CommandResult t = tk({"-k", "-u", "-f", ours, "-s", other_ca_ + ".pub", more});
    CommandResult s = sk({"-k", "-u", "-f", theirs, "-s", other_ca_ + ".pub", more});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_EQ(t.out, s.out);
    // -u keeps the version and the generated date, as ssh-keygen.
    EXPECT_EQ(read_file(ours), read_file(theirs)) << writer;
    std::string answers = expect_same_answers(ours);
    // Newly revoked under the other CA: o5 stays ok (serial 5 of the other CA is not listed), alice_o is revoked.
    EXPECT_NE(line_with(answers, certs_[6] + " (").find("REVOKED"), std::string::npos) << answers;
    EXPECT_NE(line_with(answers, certs_[5] + " (").find(": ok"), std::string::npos) << answers;
  }
  // Adding a key with -u from standard input.
  const std::string ours = dir_.file("stdin.krl");
  test::write_file(ours, read_file(base), 0644);
  CommandResult t = tk({"-k", "-u", "-f", ours, "-"}, read_file(keys_[3] + ".pub"));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out, "Revoking from (standard input)\n");
  EXPECT_EQ(sk({"-Q", "-f", ours, keys_[3] + ".pub"}).exit_code, 1);
}

TEST_F(KeygenKrl, ReadsSshKeygensKrlsAndSerialRanges) {
  const std::string krl = dir_.file("ranges.krl");
  const std::string spec = dir_.file("ranges");
  test::write_file(spec, "serial: 1-4\nserial: 6\nserial: 149-151\nserial: 0x12C\nid: bob\n", 0644);
  ASSERT_EQ(sk({"-q", "-k", "-f", krl, "-s", "none", spec}).exit_code, 0);
  std::string answers = expect_same_answers(krl);
  // "any CA" revocations reach the other CA's certificates too.
  EXPECT_NE(line_with(answers, certs_[1] + " (").find("REVOKED"), std::string::npos) << answers;
  EXPECT_NE(line_with(answers, certs_[4] + " (").find("REVOKED"), std::string::npos) << answers;
  EXPECT_NE(line_with(answers, certs_[7] + " (").find("REVOKED"), std::string::npos) << answers;
  EXPECT_NE(line_with(answers, certs_[0] + " (").find(": ok"), std::string::npos) << answers;
}

TEST_F(KeygenKrl, ErrorsAreSshKeygens) {
  const std::string krl = dir_.file("x.krl");
  const std::string no_ca = dir_.file("no_ca"), bad_serial = dir_.file("bad_serial");
  const std::string bad_range = dir_.file("bad_range");
  test::write_file(no_ca, "id: x\n", 0644);
  test::write_file(bad_serial, "\nserial: 12z\n", 0644);
  test::write_file(bad_range, "serial: 9-3\n", 0644);
  test::write_file(dir_.file("notkrl"), "hello\n", 0644);
  ASSERT_EQ(sk({"-q", "-k", "-f", dir_.file("good.krl")}).exit_code, 0);
  const std::vector<std::vector<std::string>> cases = {
      {"-k"},
      {"-Q"},
      {"-k", "-u", "-f", dir_.file("absent.krl")},
      {"-k", "-f", krl, no_ca},
      {"-k", "-f", krl, "-s", ca_ + ".pub", bad_serial},
      {"-k", "-f", krl, "-s", ca_ + ".pub", bad_range},
      {"-k", "-f", krl, dir_.file("absent_spec")},
      {"-k", "-f", krl, "-s", dir_.file("absent_ca"), spec_},
      {"-Q", "-f", dir_.file("absent.krl"), keys_[0] + ".pub"},
      {"-Q", "-f", dir_.file("notkrl"), keys_[0] + ".pub"},
      {"-Q", "-f", dir_.file("good.krl"), dir_.file("absent.pub")},
      {"-k", "-u", "-f", dir_.file("notkrl"), spec_},
  };
  for (const auto& args : cases) {
    CommandResult t = tk(args), s = sk(args);
    std::string what = args[0] + " " + (args.size() > 1 ? args.back() : "");
    EXPECT_EQ(t.exit_code, s.exit_code) << what << ": " << t.err;
    EXPECT_EQ(t.err, without_cr(s.err)) << what;
    EXPECT_EQ(t.out, s.out) << what;
  }
  EXPECT_FALSE(std::filesystem::exists(krl));
}

TEST_F(KeygenKrl, KrlModesWinOverSigning) {
  // -s with -k names the CA public key; -I would matter only when signing.
  const std::string krl = dir_.file("p.krl");
  CommandResult r = tk({"-q", "-k", "-I", "ignored", "-s", ca_ + ".pub", "-f", krl, spec_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("spec-cert.pub")));
  // -Q with -s as well (no files: nothing to check, exit 0 as ssh-keygen).
  EXPECT_EQ(tk({"-Q", "-s", ca_ + ".pub", "-f", krl, certs_[0]}).exit_code, 1);
  EXPECT_EQ(sk({"-Q", "-s", ca_ + ".pub", "-f", krl, certs_[0]}).exit_code, 1);
  // The KRL-only long options need their mode.
  r = tk({"--sign-krl", ca_, "-f", krl});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--sign-krl"), std::string::npos) << r.err;
  r = tk({"-Q", "--sign-krl", ca_, "-f", krl});
  EXPECT_EQ(r.exit_code, 1);
  r = tk({"-k", "--verify-krl", ca_ + ".pub", "-f", krl});
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(KeygenKrl, SignedKrl) {
  const std::string krl = dir_.file("signed.krl"), plain = dir_.file("plain.krl");
  // The CA key encrypted: the passphrase is asked as for -s (here from -P).
  ASSERT_EQ(sk({"-q", "-p", "-P", "", "-N", "secret", "-f", ca_}).exit_code, 0);
  CommandResult r = tk({"-q", "-k", "-f", krl, "-s", ca_ + ".pub", "--sign-krl", ca_, "-P", "secret", spec_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(tk({"-q", "-k", "-f", plain, "-s", ca_ + ".pub", spec_}).exit_code, 0);
  // ssh-keygen -Q checks the signature and answers as for the unsigned KRL.
  std::string answers = expect_same_answers(krl);
  EXPECT_EQ(answers, expect_same_answers(plain));
  CommandResult dump = tk({"-Q", "-l", "-f", krl});
  EXPECT_EQ(dump.out, sk({"-Q", "-l", "-f", krl}).out);

  // --verify-krl: the signing CA passes; another CA and an unsigned KRL are refused.
  std::vector<std::string> args = query_args(krl);
  args.insert(args.begin() + 1, {"--verify-krl", ca_ + ".pub"});
  r = tk(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, answers);
  r = tk({"-Q", "--verify-krl", other_ca_ + ".pub", "-f", krl, keys_[3] + ".pub"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not signed by"), std::string::npos) << r.err;
  r = tk({"-Q", "--verify-krl", ca_ + ".pub", "-f", plain, keys_[3] + ".pub"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not signed"), std::string::npos) << r.err;
  // A broken signature: both tools refuse the file.
  std::string bytes = read_file(krl);
  bytes[bytes.size() - 5] ^= 1;
  test::write_file(dir_.file("broken.krl"), bytes, 0644);
  EXPECT_EQ(tk({"-Q", "-f", dir_.file("broken.krl"), keys_[3] + ".pub"}).exit_code, 255);
  EXPECT_EQ(sk({"-Q", "-f", dir_.file("broken.krl"), keys_[3] + ".pub"}).exit_code, 255);
  // -u keeps the new content signed only if asked again: ssh-keygen drops signatures too.
  r = tk({"-q", "-k", "-u", "-f", krl, "--sign-krl", ca_, "-P", "secret"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tk({"-Q", "--verify-krl", ca_ + ".pub", "-f", krl}).exit_code, 0);
}

TEST_F(KeygenKrl, RevokeFromIssuanceLog) {
  const std::string log = dir_.file("issued.log");
  // tessera-keygen issues serials 10, 11, 12 to three ids; another CA issues one too.
  std::vector<std::string> issued;
  test::write_file(dir_.file("serials"), "next 10\n");
  for (const char* id : {"deploy", "carol", "deploy2"}) {
    std::string pub = copy_pub(dir_, subject_ + ".pub", std::string("t_") + id);
    CommandResult r = tk({"-q", "-s", ca_, "-I", id, "-n", "user", "--serial-file", dir_.file("serials"),
                          "--issuance-log", log, pub});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    issued.push_back(dir_.file(std::string("t_") + id + "-cert.pub"));
  }
  std::string other = copy_pub(dir_, subject_ + ".pub", "t_other");
  ASSERT_EQ(tk({"-q", "-s", other_ca_, "-I", "carol", "-z", "99", "--issuance-log", log, other}).exit_code, 0);
  const uint64_t third_serial = read_cert(issued[2]).serial;

  const std::string krl = dir_.file("log.krl");
  CommandResult r = tk({"-k", "-f", krl, "-s", ca_ + ".pub", "--revoke-from-log", log, "--revoke-id", "carol",
                        "--revoke-serial", std::to_string(third_serial)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Revoking 2 certificates from " + log + "\n");
  std::vector<std::string> args = {"-Q", "-f", krl};
  args.insert(args.end(), issued.begin(), issued.end());
  args.push_back(dir_.file("t_other-cert.pub"));
  CommandResult s = sk(args);
  EXPECT_EQ(s.exit_code, 1);
  EXPECT_EQ(tk(args).out, s.out);
  EXPECT_NE(line_with(s.out, issued[0]).find(": ok"), std::string::npos) << s.out;
  EXPECT_NE(line_with(s.out, issued[1]).find("REVOKED"), std::string::npos) << s.out;
  EXPECT_NE(line_with(s.out, issued[2]).find("REVOKED"), std::string::npos) << s.out;
  // The other CA's "carol" is not this CA's to revoke.
  EXPECT_NE(line_with(s.out, dir_.file("t_other-cert.pub")).find(": ok"), std::string::npos) << s.out;

  // An id the log does not have for this CA: nothing is written.
  const std::string none = dir_.file("none.krl");
  r = tk({"-k", "-f", none, "-s", ca_ + ".pub", "--revoke-from-log", log, "--revoke-id", "nobody"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("nobody"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(none));
  // Key ids are read back from the log's JSON escapes exactly as issued.
  const std::string odd_id = "quote\" back\\slash\ttab \xc3\xbc \x01";
  std::string odd = copy_pub(dir_, subject_ + ".pub", "t_odd");
  ASSERT_EQ(tk({"-q", "-s", ca_, "-I", odd_id, "-z", "500", "--issuance-log", log, odd}).exit_code, 0);
  const std::string odd_krl = dir_.file("odd.krl");
  r = tk({"-q", "-k", "-f", odd_krl, "-s", ca_ + ".pub", "--revoke-from-log", log, "--revoke-id", odd_id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sk({"-Q", "-f", odd_krl, dir_.file("t_odd-cert.pub")}).exit_code, 1);
  EXPECT_EQ(sk({"-Q", "-f", odd_krl, issued[1]}).exit_code, 0);

  // The CA key is needed to choose the log's records.
  r = tk({"-k", "-f", none, "--revoke-from-log", log, "--revoke-id", "carol"});
  EXPECT_EQ(r.exit_code, 1);
}

// sshd with RevokedKeys: a tessera KRL keeps a revoked certificate out.
class KeygenKrlSshd : public CertSshd {};

TEST_F(KeygenKrlSshd, RevokedCertificateIsRefused) {
  const std::string krl = dir_.file("revoked.krl");
  ASSERT_EQ(tk({"-q", "-k", "-f", krl}).exit_code, 0);  // empty
  start_sshd("TrustedUserCAKeys " + ca_ + ".pub\nRevokedKeys " + krl + "\n");
  const std::string cert = certify(user_key_ + ".pub", "login", {"-n", "root", "-z", "77"});

  // Control: the empty KRL lets the certificate in.
  expect_login(cert);

  // Revoked by serial under the CA (a signed KRL, as a CA would publish it): refused.
  const std::string spec = dir_.file("spec");
  test::write_file(spec, "serial: 77\n", 0644);
  CommandResult r = tk({"-q", "-k", "-u", "-f", krl, "-s", ca_ + ".pub", "--sign-krl", ca_, spec});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_refused(cert);
  EXPECT_NE(sshd_->log().find("revoked"), std::string::npos) << sshd_->log();
}

}  // namespace
}  // namespace tessera::certtest
