// tessera-keygen as a certificate authority, against OpenSSH 9.2's ssh-keygen:
//   - certificates tessera-keygen issues (user and host; every key type as
//     CA, with every RSA signature algorithm, and as subject) print and
//     verify under ssh-keygen -L, and print the same under tessera-keygen -L;
//   - certificates ssh-keygen issues print byte-identically under
//     tessera-keygen -L, including bad lines, stdin and -E md5;
//   - every -V form gives the validity ssh-keygen gives;
//   - -z +N, -U (a CA key in ssh-agent), an encrypted CA key asked for once,
//     and errors: same message and exit status as ssh-keygen, one line each.
#include <gtest/gtest.h>

#include <filesystem>
#include <signal.h>
#include <stdlib.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "cert_cli.h"

namespace tessera::certtest {
namespace {

using test::read_file;
using test::TempDir;

struct CaCase {
  const char* name;
  const char* key;                 // which CA key (Keys::ca)
  std::vector<std::string> alg;    // -t for the signature
  const char* expected_alg;        // "(using ...)" in -L
};

const CaCase kCaCases[] = {
    {"ed25519", "ed25519", {}, "ssh-ed25519"},
    {"ecdsa256", "ecdsa256", {}, "ecdsa-sha2-nistp256"},
    {"ecdsa384", "ecdsa384", {}, "ecdsa-sha2-nistp384"},
    {"ecdsa521", "ecdsa521", {}, "ecdsa-sha2-nistp521"},
    {"rsa_default", "rsa", {}, "rsa-sha2-512"},
    {"rsa_sha512", "rsa", {"-t", "rsa-sha2-512"}, "rsa-sha2-512"},
    {"rsa_sha256", "rsa", {"-t", "rsa-sha2-256"}, "rsa-sha2-256"},
    {"rsa_sha1", "rsa", {"-t", "ssh-rsa"}, "ssh-rsa"},
};

// Keys shared by every test of this file: RSA keys are slow to make.
struct Keys {
  static Keys& get() {
    static Keys keys;
    return keys;
  }
  std::string ca(const std::string& name) const { return dir.file("ca_" + name); }
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> subjects;  // name, .pub path

 private:
  Keys() {
    make_key(dir, "ca_ed25519", "ed25519");
    make_key(dir, "ca_ecdsa256", "ecdsa", "256");
    make_key(dir, "ca_ecdsa384", "ecdsa", "384");
    make_key(dir, "ca_ecdsa521", "ecdsa", "521");
    make_key(dir, "ca_rsa", "rsa", "2048");
    const std::array<std::array<const char*, 3>, 5> plain = {{{"ed25519", "ed25519", ""},
                                                              {"ecdsa256", "ecdsa", "256"},
                                                              {"ecdsa384", "ecdsa", "384"},
                                                              {"ecdsa521", "ecdsa", "521"},
                                                              {"rsa2048", "rsa", "2048"}}};
    for (const auto& [name, type, bits] : plain) {
      subjects.emplace_back(name, make_key(dir, std::string("subject_") + name, type, bits) + ".pub");
    }
    // Security-key subjects need no authenticator to be certified: only public halves.
    for (key::KeyType sk : {key::KeyType::kSkEd25519, key::KeyType::kSkEcdsaP256}) {
      auto base = key::PrivateKey::generate(sk == key::KeyType::kSkEd25519 ? key::KeyType::kEd25519
                                                                           : key::KeyType::kEcdsaP256);
      auto pub = key::PublicKey::make_security_key(sk, base->evp(), "ssh:");
      std::string name(key::key_type_info(sk).file_stem);
      std::string path = dir.file("subject_" + name + ".pub");
      test::write_file(path, key::format_public_key_line(*pub, name) + "\n", 0644);
      subjects.emplace_back(name, path);
    }
  }
};

class CertIssue : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH's ssh-keygen is not installed";
  }
  TempDir dir_;
};

class CertIssueEveryCa : public CertIssue, public ::testing::WithParamInterface<CaCase> {};

// Every subject type, user and host: ssh-keygen -L accepts (and so verifies)
// what tessera-keygen issues, and both -L print the same.
TEST_P(CertIssueEveryCa, OpenSshPrintsAndVerifiesTesseraCertificates) {
  const CaCase& c = GetParam();
  const Keys& keys = Keys::get();
  for (const auto& [subject, pub_path] : keys.subjects) {
    for (bool host : {false, true}) {
      std::string pub = copy_pub(dir_, pub_path, subject + (host ? "_host" : "_user"));
      std::vector<std::string> args = {"-s", keys.ca(c.key), "-I", "id-" + subject, "-n", "alice,bob",
                                       "-V", "20250101:20300101", "-z", "77"};
      if (host) args.push_back("-h");
      args.insert(args.end(), c.alg.begin(), c.alg.end());
      args.push_back(pub);
      CommandResult r = tessera_keygen(args);
      ASSERT_EQ(r.exit_code, 0) << c.name << " " << subject << ": " << r.err;
      const std::string cert = pub.substr(0, pub.size() - 4) + "-cert.pub";
      EXPECT_EQ(r.err, std::string("Signed ") + (host ? "host" : "user") + " key " + cert + ": id \"id-" + subject +
                           "\" serial 77 for alice,bob valid from 2025-01-01T00:00:00 to 2030-01-01T00:00:00\n");
      CommandResult theirs = ssh_keygen({"-L", "-f", cert});
      ASSERT_EQ(theirs.exit_code, 0) << c.name << " " << subject << ": " << theirs.err;
      EXPECT_NE(theirs.out.find(std::string("(using ") + c.expected_alg + ")"), std::string::npos) << theirs.out;
      EXPECT_EQ(tessera_keygen({"-L", "-f", cert}).out, theirs.out);
      EXPECT_TRUE(read_cert(cert).verify_signature().ok());
      // The comment of the public key file is kept.
      EXPECT_TRUE(read_file(cert).ends_with(" " + subject + "\n") ||
                  read_file(cert).ends_with(" subject_" + subject + " comment\n"))
          << read_file(cert);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(IssuingCas, CertIssueEveryCa, ::testing::ValuesIn(kCaCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The same certificate request through both programs: the -L output matches
// everywhere but the nonce-free fields, which must be equal too.
TEST_F(CertIssue, SameOptionsGiveTheSameCertificateContents) {
  const Keys& keys = Keys::get();
  const std::vector<std::vector<std::string>> requests = {
      {},
      {"-h", "-n", "host.example.com,10.0.0.1"},
      {"-O", "clear"},
      {"-O", "clear", "-O", "permit-pty", "-O", "no-touch-required"},
      {"-O", "no-x11-forwarding", "-O", "no-agent-forwarding", "-O", "no-port-forwarding", "-O", "no-pty",
       "-O", "no-user-rc"},
      {"-O", "force-command=/usr/bin/uptime", "-O", "source-address=10.0.0.0/8,192.168.1.1,::1", "-O",
       "verify-required"},
      {"-O", "critical:zzz@example.com=value", "-O", "extension:aaa@example.com", "-O",
       "extension:login@github.com=octocat", "-O", "Permit-PTY"},
      {"-h", "-O", "permit-pty"},  // -O after -h still applies, as in ssh-keygen
      {"-O", "clear", "-h"},
      {"-n", "a", "-z", "18446744073709551615", "-I", "spaces and \"quotes\""},
  };
  int i = 0;
  for (const auto& request : requests) {
    std::string ours_pub = copy_pub(dir_, keys.subjects[0].second, "ours" + std::to_string(i));
    std::string theirs_pub = copy_pub(dir_, keys.subjects[0].second, "theirs" + std::to_string(i));
    ++i;
    std::vector<std::string> base = {"-s", keys.ca("ed25519"), "-I", "same"};
    base.insert(base.end(), request.begin(), request.end());
    auto with = [&](const std::string& pub) {
      auto args = base;
      args.push_back(pub);
      return args;
    };
    CommandResult ours = tessera_keygen(with(ours_pub));
    CommandResult theirs = ssh_keygen(with(theirs_pub));
    ASSERT_EQ(ours.exit_code, theirs.exit_code) << ours.err << theirs.err;
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    auto strip = [](std::string s, const std::string& name) { return s.replace(s.find(name), name.size(), "X"); };
    EXPECT_EQ(strip(ours.err, "ours" + std::to_string(i - 1)), strip(without_cr(theirs.err), "theirs" + std::to_string(i - 1)));
    std::string ours_cert = ours_pub.substr(0, ours_pub.size() - 4) + "-cert.pub";
    std::string theirs_cert = theirs_pub.substr(0, theirs_pub.size() - 4) + "-cert.pub";
    CommandResult ours_list = ssh_keygen({"-L", "-f", ours_cert});
    CommandResult theirs_list = ssh_keygen({"-L", "-f", theirs_cert});
    EXPECT_EQ(strip(ours_list.out, ours_cert), strip(theirs_list.out, theirs_cert));
    key::Certificate a = read_cert(ours_cert);
    key::Certificate b = read_cert(theirs_cert);
    a.nonce = b.nonce;
    a.signature = b.signature;  // ed25519 signatures differ with the nonce only
    EXPECT_EQ(a.blob(), b.blob()) << "request " << i - 1;
  }
}

// ssh-keygen's certificates, every kind, through tessera-keygen -L: byte-identical output.
TEST_F(CertIssue, TesseraPrintsOpenSshCertificatesIdentically) {
  const Keys& keys = Keys::get();
  const std::vector<std::vector<std::string>> requests = {
      {"-I", "plain"},
      {"-I", "host", "-h", "-n", "a.example.com,b.example.com", "-V", "always:20300101"},
      {"-I", "opts", "-O", "force-command=ls -l", "-O", "source-address=10.1.0.0/16", "-O", "verify-required",
       "-O", "critical:unknown=abc", "-O", "extension:flag@x", "-O", "extension:val@x=v", "-V", "20200101:forever"},
      {"-I", "rsa256", "-t", "rsa-sha2-256", "-V", "-1d:+1w"},
      {"-I", "rsa1", "-t", "ssh-rsa", "-O", "clear", "-z", "12345"},
      {"-I", "ecdsa", "-V", "0x1:0x7fffffff"},
  };
  const char* ca_for[] = {"ed25519", "ecdsa384", "ed25519", "rsa", "rsa", "ecdsa521"};
  std::string all;
  for (size_t i = 0; i < requests.size(); ++i) {
    for (const auto& [subject, pub_path] : keys.subjects) {
      std::string pub = copy_pub(dir_, pub_path, "o" + std::to_string(i) + subject);
      std::vector<std::string> args = {"-q", "-s", keys.ca(ca_for[i])};
      args.insert(args.end(), requests[i].begin(), requests[i].end());
      args.push_back(pub);
      CommandResult signed_by_openssh = ssh_keygen(args);
      ASSERT_EQ(signed_by_openssh.exit_code, 0) << signed_by_openssh.err;
      std::string cert = pub.substr(0, pub.size() - 4) + "-cert.pub";
      for (std::vector<std::string> list : {std::vector<std::string>{"-L", "-f", cert},
                                            {"-L", "-E", "md5", "-f", cert}}) {
        CommandResult theirs = ssh_keygen(list);
        CommandResult ours = tessera_keygen(list);
        EXPECT_EQ(ours.exit_code, theirs.exit_code);
        EXPECT_EQ(ours.out, theirs.out);
      }
      all += read_file(cert);
    }
  }
  // One file with many certificates, comments, blank lines, a plain key and garbage.
  std::string mixed = dir_.file("mixed");
  test::write_file(mixed, "# a comment\n\n" + all + "not a key\n" + read_file(keys.subjects[0].second) + all, 0644);
  CommandResult theirs = ssh_keygen({"-L", "-f", mixed});
  CommandResult ours = tessera_keygen({"-L", "-f", mixed});
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.out, theirs.out);
  EXPECT_EQ(ours.err, without_cr(theirs.err));
  // From stdin.
  theirs = ssh_keygen({"-L", "-f", "-"}, all);
  ours = tessera_keygen({"-L", "-f", "-"}, all);
  EXPECT_EQ(ours.out, theirs.out);
  EXPECT_EQ(ours.exit_code, 0);
}

TEST_F(CertIssue, BadCertificatesAreReportedLikeOpenSsh) {
  const Keys& keys = Keys::get();
  std::string pub = copy_pub(dir_, keys.subjects[0].second, "victim");
  ASSERT_EQ(ssh_keygen({"-q", "-s", keys.ca("ed25519"), "-I", "x", pub}).exit_code, 0);
  std::string good = read_file(dir_.file("victim-cert.pub"));
  std::string type = good.substr(0, good.find(' '));
  key::Bytes blob = read_cert(dir_.file("victim-cert.pub")).blob();
  key::Bytes tampered = blob;
  tampered[tampered.size() - 5] ^= 1;
  key::Bytes truncated(blob.begin(), blob.begin() + 100);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tampered", type + " " + key::base64_encode(tampered) + "\n"},
      {"truncated", type + " " + key::base64_encode(truncated) + "\n"},
      {"plain", read_file(keys.subjects[0].second)},
      {"garbage", "ssh-ed25519-cert-v01@openssh.com !!!!\n"},
      {"empty", ""},
  };
  for (const auto& [name, text] : cases) {
    std::string path = dir_.file(name);
    test::write_file(path, text, 0644);
    CommandResult theirs = ssh_keygen({"-L", "-f", path});
    CommandResult ours = tessera_keygen({"-L", "-f", path});
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << name;
    EXPECT_EQ(ours.out, theirs.out) << name;
    EXPECT_EQ(ours.err, without_cr(theirs.err)) << name;
    EXPECT_LE(std::count(ours.err.begin(), ours.err.end(), '\n'), 1) << name;
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"-L", "-f", dir_.file("missing")},
                                        {"-L", "-f", dir_.path().string()}}) {
    CommandResult theirs = ssh_keygen(args);
    CommandResult ours = tessera_keygen(args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    EXPECT_EQ(ours.err, without_cr(theirs.err).replace(0, 10, "tessera-keygen").substr(0, ours.err.size()));
  }
}

// Every -V form: the certificate's validity is the one ssh-keygen gives.
TEST_F(CertIssue, EveryValidityFormMatchesOpenSsh) {
  const Keys& keys = Keys::get();
  const std::vector<std::string> forms = {
      "+52w", "+1d", "+1h30m", "+90m", "+3600", "+1W2D", "+0", "+2147483647", "-1w:+52w", "-1d:+1d", "+1d:+2d",
      "-5m:forever", "always:+1w", "always:forever", "20250101:20260101", "20250101Z:20260101UTC",
      "20250101z:20260101utc", "202501011230:20260101123059", "20250101123000:forever", "always:20300101",
      "20250101:forever", "0x10:0x20", "0x1:forever", "always:0x7fffffff", "0x1:0xffffffffffffffff",
      "0x5f5e100:+1d", "20240229:20240301",
  };
  for (size_t i = 0; i < forms.size(); ++i) {
    std::string ours_valid, theirs_valid;
    // Relative forms depend on the second both runs start in: try again when they straddle one.
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::string ours_pub = copy_pub(dir_, keys.subjects[0].second, "v_ours" + std::to_string(i));
      std::string theirs_pub = copy_pub(dir_, keys.subjects[0].second, "v_theirs" + std::to_string(i));
      CommandResult ours = tessera_keygen({"-q", "-s", keys.ca("ed25519"), "-I", "v", "-V", forms[i], ours_pub});
      CommandResult theirs = ssh_keygen({"-q", "-s", keys.ca("ed25519"), "-I", "v", "-V", forms[i], theirs_pub});
      ASSERT_EQ(theirs.exit_code, 0) << forms[i] << ": " << theirs.err;
      ASSERT_EQ(ours.exit_code, 0) << forms[i] << ": " << ours.err;
      ours_valid = line_with(ssh_keygen({"-L", "-f", dir_.file("v_ours" + std::to_string(i) + "-cert.pub")}).out, "Valid:");
      theirs_valid = line_with(ssh_keygen({"-L", "-f", dir_.file("v_theirs" + std::to_string(i) + "-cert.pub")}).out, "Valid:");
      if (ours_valid == theirs_valid) break;
    }
    EXPECT_EQ(ours_valid, theirs_valid) << "-V " << forms[i];
    EXPECT_FALSE(ours_valid.empty()) << forms[i];
  }
}

// Command lines ssh-keygen refuses: the same message (less its "\r") and exit status.
TEST_F(CertIssue, ErrorsMatchOpenSsh) {
  const Keys& keys = Keys::get();
  const std::string ca = keys.ca("ed25519");
  const std::string rsa_ca = keys.ca("rsa");
  const std::string pub = copy_pub(dir_, keys.subjects[0].second, "e");
  ASSERT_EQ(ssh_keygen({"-q", "-s", ca, "-I", "x", copy_pub(dir_, pub, "already")}).exit_code, 0);
  const std::string cert = dir_.file("already-cert.pub");
  const std::vector<std::vector<std::string>> cases = {
      {"-s", ca, pub},                                        // no -I
      {"-s", dir_.file("nonexistent"), "-I", "x", pub},
      {"-s", ca, "-I", "x", dir_.file("nonexistent.pub")},
      {"-s", ca, "-I", "x", cert},                            // a certificate cannot be certified
      {"-s", ca, "-I", "x", "-t", "rsa-sha2-256", pub},       // -t names another key type
      {"-s", rsa_ca, "-I", "x", "-t", "ssh-ed25519", pub},
      {"-s", rsa_ca, "-I", "x", "-t", "rsa", pub},            // an RSA type that is no signature algorithm
      {"-s", keys.ca("ecdsa256"), "-I", "x", "-t", "ecdsa-sha2-nistp384", pub},
      {"-s", ca, "-I", "x", "-t", "ssh-ed25519-cert-v01@openssh.com", pub},
      {"-s", ca, "-I", "x", "-O", "nonsense", pub},
      {"-s", ca, "-I", "x", "-O", "force-command=", pub},
      {"-s", ca, "-I", "x", "-O", "force-command=a", "-O", "force-command=b", pub},
      {"-s", ca, "-I", "x", "-O", "source-address=", pub},
      {"-s", ca, "-I", "x", "-n", "a,,b", pub},
      {"-s", ca, "-I", "x", "-n", "", pub},
      {"-s", ca, "-I", "x", "-z", "-1", pub},
      {"-s", ca, "-I", "x", "-z", "++1", pub},
      {"-s", ca, "-I", "x", "-z", "18446744073709551616", pub},
      {"-s", ca, "-I", "x", "-z", "12abc", pub},
      {"-s", ca, "-I", "x", "-V", "+1x", pub},
      {"-s", ca, "-I", "x", "-V", "+2147483648", pub},
      {"-s", ca, "-I", "x", "-V", "-1w", pub},
      {"-s", ca, "-I", "x", "-V", "always:", pub},
      {"-s", ca, "-I", "x", "-V", ":forever", pub},
      {"-s", ca, "-I", "x", "-V", "20250101:20250101", pub},
      {"-s", ca, "-I", "x", "-V", "+1d:-1d", pub},
      {"-s", ca, "-I", "x", "-V", "20251301:forever", pub},
      {"-s", ca, "-I", "x", "-V", "2025010:forever", pub},
      {"-s", ca, "-I", "x", "-V", "19000101:forever", pub},
      {"-s", ca, "-I", "x", "-V", "always:2026-01-01", pub},
      {"-s", ca, "-I", "x", "-V", "0x:0x5", pub},
      {"-s", ca, "-I", "x", "-V", "0x1:0x10000000000000000", pub},
      {"-s", ca, "-I", "x", "-V", "-99999999999:forever", pub},
  };
  for (const auto& args : cases) {
    std::string what;
    for (const auto& a : args) what += a + " ";
    CommandResult theirs = ssh_keygen(args);
    CommandResult ours = tessera_keygen(args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << what << "\n" << theirs.err << ours.err;
    EXPECT_EQ(ours.err, without_cr(theirs.err)) << what;
    EXPECT_EQ(std::count(ours.err.begin(), ours.err.end(), '\n'), 1) << what << ours.err;
  }
  // "Too few arguments." and the usage text, exit 1.
  CommandResult ours = tessera_keygen({"-s", ca, "-I", "x"});
  EXPECT_EQ(ours.exit_code, 1);
  EXPECT_TRUE(ours.err.starts_with("Too few arguments.\nusage: tessera-keygen")) << ours.err;
}

// Where ssh-keygen's message would mislead, tessera-keygen says what is wrong
// (same exit status, one line naming the file or the option).
TEST_F(CertIssue, ClearerErrorsWhereOpenSshMisleads) {
  const Keys& keys = Keys::get();
  const std::string ca = keys.ca("ed25519");
  const std::string garbage = dir_.file("garbage.pub");
  test::write_file(garbage, "this is not a key\n", 0644);
  CommandResult r = tessera_keygen({"-s", ca, "-I", "x", garbage});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "load pubkey \"" + garbage + "\": invalid format\n");

  std::string pub = copy_pub(dir_, keys.subjects[0].second, "s");
  r = tessera_keygen({"-s", ca, "-I", "x", "-O", "source-address=10.0.0.0/33", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "Invalid source-address list: inconsistent mask length for network \"10.0.0.0/33\"\n");
  r = tessera_keygen({"-s", ca, "-I", "x", "-O", "source-address=*", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  // ssh-keygen writes such a certificate with "permit-pty" twice; PROTOCOL.certkeys forbids it.
  r = tessera_keygen({"-s", ca, "-I", "x", "-O", "extension:permit-pty", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("\"permit-pty\""), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("s-cert.pub")));

  // A CA file that is not a key.
  r = tessera_keygen({"-s", garbage, "-I", "x", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(garbage), std::string::npos) << r.err;
}

TEST_F(CertIssue, SerialIncrementsPerCertificateWithPlus) {
  const Keys& keys = Keys::get();
  std::vector<std::string> ours = {"-s", keys.ca("ed25519"), "-I", "inc", "-z", "+41"};
  std::vector<std::string> theirs = ours;
  for (int i = 0; i < 3; ++i) {
    ours.push_back(copy_pub(dir_, keys.subjects[i].second, "inc_ours" + std::to_string(i)));
    theirs.push_back(copy_pub(dir_, keys.subjects[i].second, "inc_theirs" + std::to_string(i)));
  }
  CommandResult a = tessera_keygen(ours);
  CommandResult b = ssh_keygen(theirs);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(read_cert(dir_.file("inc_ours" + std::to_string(i) + "-cert.pub")).serial, 41u + static_cast<unsigned>(i));
    EXPECT_EQ(read_cert(dir_.file("inc_theirs" + std::to_string(i) + "-cert.pub")).serial, 41u + static_cast<unsigned>(i));
  }
  // Without '+', every certificate gets the same serial.
  CommandResult c = tessera_keygen({"-q", "-s", keys.ca("ed25519"), "-I", "same", "-z", "9",
                                    copy_pub(dir_, keys.subjects[0].second, "same0"),
                                    copy_pub(dir_, keys.subjects[1].second, "same1")});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(read_cert(dir_.file("same0-cert.pub")).serial, 9u);
  EXPECT_EQ(read_cert(dir_.file("same1-cert.pub")).serial, 9u);
}

// An encrypted CA key: -P, or one prompt (on stdin here) for the whole batch.
TEST_F(CertIssue, EncryptedCaKeyIsAskedForOnce) {
  const std::string ca = dir_.file("enc_ca");
  ASSERT_EQ(ssh_keygen({"-q", "-t", "ed25519", "-a", "2", "-N", "secret phrase", "-f", ca}).exit_code, 0);
  const Keys& keys = Keys::get();
  std::vector<std::string> args = {"-s", ca, "-I", "enc"};
  for (int i = 0; i < 5; ++i) args.push_back(copy_pub(dir_, keys.subjects[0].second, "enc" + std::to_string(i)));
  CommandResult r = tessera_keygen(args, "secret phrase\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t prompts = 0;
  for (size_t pos = 0; (pos = r.err.find("Enter passphrase", pos)) != std::string::npos; ++pos) ++prompts;
  EXPECT_EQ(prompts, 1u) << r.err;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ssh_keygen({"-L", "-f", dir_.file("enc" + std::to_string(i) + "-cert.pub")}).exit_code, 0);

  args.insert(args.begin(), {"-P", "wrong"});
  r = tessera_keygen(args);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "Load key \"" + ca + "\": incorrect passphrase supplied to decrypt private key\n");
}

// -U: the CA key in OpenSSH's ssh-agent.
TEST_F(CertIssue, CaKeyInTheAgent) {
  if (!test::have_program("ssh-agent") || !test::have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent";
  const Keys& keys = Keys::get();
  const std::string socket = dir_.file("agent.sock");
  test::BackgroundProcess agent({"ssh-agent", "-D", "-a", socket}, dir_.file("agent.log"));
  ASSERT_TRUE(test::wait_for_unix_socket(socket));
  const std::vector<std::string> env = {"TZ=UTC", "SSH_AUTH_SOCK=" + socket};
  const std::string pub = copy_pub(dir_, keys.subjects[1].second, "agent_subject");

  // An empty agent, then one without the CA: as ssh-keygen.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> args = {"-U", "-s", keys.ca("ed25519") + ".pub", "-I", "a", pub};
    CommandResult theirs = ssh_keygen(args, {}, env);
    CommandResult ours = tessera_keygen(args, {}, env);
    EXPECT_EQ(ours.exit_code, 255);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    EXPECT_EQ(ours.err, without_cr(theirs.err));
    ASSERT_EQ(test::run({"ssh-add", "-q", keys.ca("ecdsa384")}, {}, env).exit_code, 0);
  }
  ASSERT_EQ(test::run({"ssh-add", "-q", keys.ca("ed25519"), keys.ca("rsa")}, {}, env).exit_code, 0);

  for (const CaCase& c : kCaCases) {
    if (std::string(c.key) != "ed25519" && std::string(c.key) != "rsa") continue;
    std::vector<std::string> args = {"-U", "-s", keys.ca(c.key) + ".pub", "-I", "agent", "-n", "p", "-z", "+3"};
    args.insert(args.end(), c.alg.begin(), c.alg.end());
    args.push_back(pub);
    CommandResult r = tessera_keygen(args, {}, env);
    ASSERT_EQ(r.exit_code, 0) << c.name << ": " << r.err;
    CommandResult listed = ssh_keygen({"-L", "-f", dir_.file("agent_subject-cert.pub")});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find(std::string("(using ") + c.expected_alg + ")"), std::string::npos) << listed.out;
  }
  // -U with an RSA type that no agent signs with.
  std::vector<std::string> args = {"-U", "-s", keys.ca("rsa") + ".pub", "-I", "a", "-t", "rsa", pub};
  CommandResult theirs = ssh_keygen(args, {}, env);
  CommandResult ours = tessera_keygen(args, {}, env);
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.err, without_cr(theirs.err));

  // No agent at all.
  args = {"-U", "-s", keys.ca("ed25519") + ".pub", "-I", "a", pub};
  ours = tessera_keygen(args, {}, {"TZ=UTC", "SSH_AUTH_SOCK="});
  EXPECT_EQ(ours.exit_code, 255);
  EXPECT_EQ(ours.err, "Cannot use public key for CA signature: agent not present\n");
}

// -D with a CA key that is not on the token (tests/keygen-token signs with
// one that is): one line naming the provider, no certificate.
TEST_F(CertIssue, PkcsElevenCaNotOnTheTokenIsRefusedInOneLine) {
  const Keys& keys = Keys::get();
  std::string pub = copy_pub(dir_, keys.subjects[0].second, "tok");
  CommandResult r = tessera_keygen({"-D", "/usr/lib/softhsm/libsofthsm2.so", "-s", keys.ca("ed25519") + ".pub", "-I",
                                    "x", pub});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("libsofthsm2.so"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("tok-cert.pub")));
}

}  // namespace
}  // namespace tessera::certtest
