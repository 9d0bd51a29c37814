// tessera-keygen against OpenSSH's ssh-keygen (9.2), both ways: OpenSSH reads
// the keys tessera-keygen writes, tessera-keygen reads the keys ssh-keygen
// writes, and for the same file both print the same fingerprints, randomart,
// conversions and exit codes. Encrypted keys use -a 2 to keep this fast.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace tessera::keygen {
namespace {

using test::CommandResult;
using test::read_file;
using test::TempDir;
using test::write_file;

struct KeyCase {
  const char* name;    // gtest parameter name
  const char* type;    // -t
  const char* bits;    // -b ("" for the type's only size)
  const char* cipher;  // -Z for the encrypted key tessera-keygen writes
};

const KeyCase kKeyCases[] = {
    {"ed25519", "ed25519", "", "chacha20-poly1305@openssh.com"},
    {"ecdsa256", "ecdsa", "256", "aes128-gcm@openssh.com"},
    {"ecdsa384", "ecdsa", "384", "aes256-cbc"},
    {"ecdsa521", "ecdsa", "521", "3des-cbc"},
    {"rsa2048", "rsa", "2048", "aes192-ctr"},
    {"rsa3072", "rsa", "3072", "aes256-ctr"},
};

// Passphrases: PEM/PKCS#8 encryption wants five characters or more.
constexpr const char* kPass = "correct horse";
constexpr const char* kOtherPass = "battery staple";

CommandResult tessera(std::vector<std::string> args, const std::string& input = {}) {
  args.insert(args.begin(), test::tessera_bin("tessera-keygen"));
  return test::run(args, input);
}

CommandResult openssh(std::vector<std::string> args, const std::string& input = {}) {
  args.insert(args.begin(), "ssh-keygen");
  return test::run(args, input);
}

std::vector<std::string> size_args(const KeyCase& c) {
  std::vector<std::string> args = {"-t", c.type};
  if (*c.bits != '\0') {
    args.push_back("-b");
    args.push_back(c.bits);
  }
  return args;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "type base64" of a public key line.
std::string key_part(const std::string& line) {
  std::istringstream in(line);
  std::string type, blob;
  in >> type >> blob;
  return type + " " + blob;
}

// One line naming the file: what every failure must print.
void expect_one_line_naming(const CommandResult& r, const std::string& file) {
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
}

// The same command through both programs: same stdout, same exit code.
void expect_same_as_openssh(const std::vector<std::string>& args, const std::string& input = {}) {
  CommandResult theirs = openssh(args, input);
  CommandResult ours = tessera(args, input);
  std::string what;
  for (const auto& a : args) what += a + " ";
  EXPECT_EQ(ours.exit_code, theirs.exit_code) << what << "\nssh-keygen: " << theirs.err << "\ntessera: " << ours.err;
  EXPECT_EQ(ours.out, theirs.out) << what;
}

void expect_same_fingerprints(const std::string& file) {
  for (std::vector<std::string> mode : {std::vector<std::string>{"-l"}, {"-l", "-v"}, {"-l", "-E", "md5"},
                                        {"-l", "-v", "-E", "md5"}, {"-B"}}) {
    mode.push_back("-f");
    mode.push_back(file);
    expect_same_as_openssh(mode);
  }
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class KeyTypes : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH's ssh-keygen is not installed";
  }
  TempDir dir_;
};

// (1) OpenSSH reads the keys tessera-keygen writes, plain and encrypted.
TEST_P(KeyTypes, OpenSshReadsTesseraKeys) {
  const KeyCase& c = GetParam();
  const std::string plain = dir_.file("plain");
  CommandResult r = tessera(concat(size_args(c), {"-N", "", "-C", "plain key", "-f", plain}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Your identification has been saved in " + plain + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("The key's randomart image is:\n+-"), std::string::npos) << r.out;
  EXPECT_EQ(file_mode(plain), 0600u);
  EXPECT_EQ(file_mode(plain + ".pub") & 0133u, 0u);  // 0644 less the umask
  r = openssh({"-y", "-f", plain});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(plain + ".pub"));

  const std::string encrypted = dir_.file("encrypted");
  r = tessera(concat(size_args(c), {"-q", "-N", kPass, "-a", "2", "-Z", c.cipher, "-C", "enc", "-f", encrypted}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = openssh({"-y", "-f", encrypted, "-P", kPass});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(encrypted + ".pub"));
  r = openssh({"-y", "-f", encrypted, "-P", kOtherPass});
  EXPECT_NE(r.exit_code, 0);

  // And tessera-keygen reads its own keys back.
  r = tessera({"-y", "-f", encrypted, "-P", kPass});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(encrypted + ".pub"));
}

// (2) tessera-keygen reads the keys ssh-keygen writes: openssh-key-v1 plain and
// encrypted, PEM and PKCS#8 (ssh-keygen keeps ed25519 in its own format).
TEST_P(KeyTypes, TesseraReadsOpenSshKeys) {
  const KeyCase& c = GetParam();
  const std::string plain = dir_.file("plain");
  CommandResult r = openssh(concat(size_args(c), {"-q", "-N", "", "-C", "made by openssh", "-f", plain}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string pub_line = read_file(plain + ".pub");

  struct Variant {
    std::string name;
    std::vector<std::string> rewrite;  // ssh-keygen -p arguments that make it
    std::string passphrase;
  };
  const std::vector<Variant> variants = {
      {"plain", {}, ""},
      {"encrypted", {"-N", kPass, "-a", "2"}, kPass},
      {"pem", {"-N", "", "-m", "PEM"}, ""},
      {"pem-encrypted", {"-N", kPass, "-m", "PEM", "-a", "2"}, kPass},
      {"pkcs8", {"-N", "", "-m", "PKCS8"}, ""},
      {"pkcs8-encrypted", {"-N", kPass, "-m", "PKCS8", "-a", "2"}, kPass},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const std::string file = dir_.file(v.name);
    write_file(file, read_file(plain));
    if (!v.rewrite.empty()) {
      r = openssh(concat({"-p", "-f", file}, v.rewrite));
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::vector<std::string> y = {"-y", "-f", file};
    if (!v.passphrase.empty()) y = concat(y, {"-P", v.passphrase});
    expect_same_as_openssh(y);
    r = tessera(y);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(key_part(r.out), key_part(pub_line));
    // Without its .pub: the public part comes from the file itself where it can.
    expect_same_fingerprints(file);
  }
}

// (3) Fingerprints of public and private files, with and without the .pub.
TEST_P(KeyTypes, FingerprintsMatchOpenSsh) {
  const KeyCase& c = GetParam();
  const std::string key = dir_.file("id");
  CommandResult r = openssh(concat(size_args(c), {"-q", "-N", kPass, "-a", "2", "-C", "fp test", "-f", key}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_fingerprints(key + ".pub");
  expect_same_fingerprints(key);  // comment from the .pub
  const std::string bare = dir_.file("bare");
  write_file(bare, read_file(key));
  expect_same_fingerprints(bare);  // encrypted, no .pub: "no comment"
  const std::string open = dir_.file("open");
  write_file(open, read_file(key));
  r = openssh({"-p", "-f", open, "-P", kPass, "-N", ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_fingerprints(open);  // comment from the private key

  // A certificate of the key: the certified key's fingerprint, its type
  // "<TYPE>-CERT" in the line and in the randomart title.
  const std::string ca = dir_.file("ca");
  ASSERT_EQ(openssh({"-q", "-t", "ed25519", "-N", "", "-f", ca}).exit_code, 0);
  r = openssh({"-q", "-s", ca, "-I", "cert id", key + ".pub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_fingerprints(key + "-cert.pub");
}

INSTANTIATE_TEST_SUITE_P(KeygenCli, KeyTypes, ::testing::ValuesIn(kKeyCases),
                         [](const ::testing::TestParamInfo<KeyCase>& p) { return std::string(p.param.name); });

// An ed25519 and an RSA key made by ssh-keygen, for the tests below.
class KeygenCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "OpenSSH's ssh-keygen is not installed";
    ASSERT_EQ(openssh({"-q", "-t", "ed25519", "-N", "", "-C", "ed key", "-f", ed_}).exit_code, 0);
    ASSERT_EQ(openssh({"-q", "-t", "rsa", "-b", "2048", "-N", kPass, "-a", "2", "-C", "rsa key", "-f", rsa_}).exit_code,
              0);
    ASSERT_EQ(openssh({"-q", "-t", "ecdsa", "-N", "", "-C", "ec key", "-f", ec_}).exit_code, 0);
  }
  TempDir dir_;
  const std::string ed_ = dir_.file("id_ed25519");
  const std::string rsa_ = dir_.file("id_rsa");
  const std::string ec_ = dir_.file("id_ecdsa");
};

TEST_F(KeygenCliTest, AuthorizedKeysFile) {
  const std::string ed_line = read_file(ed_ + ".pub");
  const std::string rsa_line = read_file(rsa_ + ".pub");
  const std::string file = dir_.file("authorized_keys");
  write_file(file, "# keys for the build host\n\n"
                   "command=\"echo hi there\",no-pty " + ed_line +
                   "  from=\"10.0.0.1\" " + rsa_line +
                   "not a key at all\n");
  expect_same_fingerprints(file);
  CommandResult r = tessera({"-l", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;

  // Options with no trailing comment: ssh-keygen shows the options as the comment.
  const std::string no_comment = dir_.file("no_comment");
  write_file(no_comment, "no-pty,restrict " + key_part(ed_line) + "\n" + key_part(rsa_line) + " last\n");
  expect_same_fingerprints(no_comment);

  // known_hosts lines: host names before the key.
  const std::string known_hosts = dir_.file("known_hosts");
  write_file(known_hosts, "host.example,10.1.2.3 " + key_part(read_file(ec_ + ".pub")) + "\n");
  expect_same_fingerprints(known_hosts);

  // From stdin.
  CommandResult theirs = openssh({"-l", "-f", "-"}, read_file(file));
  CommandResult ours = tessera({"-l", "-f", "-"}, read_file(file));
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.out, theirs.out);
}

TEST_F(KeygenCliTest, Rfc4716FileFingerprint) {
  // ssh-keygen 9.2 cannot fingerprint its own -e output; tessera-keygen can.
  const std::string rfc = dir_.file("ed.rfc");
  CommandResult r = openssh({"-e", "-f", ed_ + ".pub"});
  ASSERT_EQ(r.exit_code, 0);
  write_file(rfc, r.out);
  CommandResult fp = openssh({"-l", "-f", ed_ + ".pub"});
  r = tessera({"-l", "-f", rfc});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected = fp.out.substr(0, fp.out.find(" ed key")) + " 256-bit ED25519, converted by ";
  EXPECT_EQ(r.out.substr(0, expected.size()), expected) << r.out;
}

TEST_F(KeygenCliTest, ChangePassphrase) {
  const std::string key = dir_.file("key");
  write_file(key, read_file(rsa_));
  CommandResult r = tessera({"-p", "-f", key, "-P", kPass, "-N", kOtherPass, "-a", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Key has comment 'rsa key'\nYour identification has been saved with the new passphrase.\n");
  EXPECT_EQ(file_mode(key), 0600u);
  EXPECT_NE(openssh({"-y", "-f", key, "-P", kPass}).exit_code, 0);
  r = openssh({"-y", "-f", key, "-P", kOtherPass});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_file(rsa_ + ".pub"));

  // Passphrases from prompts (stdin, as there is no terminal): old, new, again.
  r = tessera({"-p", "-f", key}, std::string(kOtherPass) + "\n" + kPass + "\n" + kPass + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "Enter old passphrase: Enter new passphrase (empty for no passphrase): "
                   "Enter same passphrase again: ");
  EXPECT_EQ(openssh({"-y", "-f", key, "-P", kPass}).exit_code, 0);

  // Mismatched new passphrases: exit 1, the file unchanged.
  const std::string before = read_file(key);
  r = tessera({"-p", "-f", key, "-P", kPass}, "one\ntwo\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("Pass phrases do not match.  Try again.\n"), std::string::npos);
  EXPECT_EQ(read_file(key), before);

  // -p with -m rewrites the format: PEM, then back to OpenSSH's, which ssh-keygen reads.
  r = tessera({"-p", "-f", key, "-P", kPass, "-N", kPass, "-m", "PEM"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(key).rfind("-----BEGIN RSA PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(openssh({"-y", "-f", key, "-P", kPass}).out, key_part(read_file(rsa_ + ".pub")) + "\n");
  r = tessera({"-p", "-f", key, "-P", kPass, "-N", "", "-m", "PKCS8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(key).rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  r = tessera({"-p", "-f", key, "-N", kPass, "-a", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(key).rfind("-----BEGIN OPENSSH PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(openssh({"-y", "-f", key, "-P", kPass}).exit_code, 0);
  // Too short for PEM, as ssh-keygen.
  expect_same_as_openssh({"-p", "-f", key, "-P", kPass, "-N", "abc", "-m", "PEM"});
}

TEST_F(KeygenCliTest, ChangeComment) {
  const std::string key = dir_.file("key");
  write_file(key, read_file(rsa_));
  CommandResult r = tessera({"-c", "-f", key, "-P", kPass, "-C", "renamed key", "-a", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Old comment: rsa key\nComment 'renamed key' applied\n");
  EXPECT_EQ(read_file(key + ".pub"), key_part(read_file(rsa_ + ".pub")) + " renamed key\n");
  r = openssh({"-y", "-f", key, "-P", kPass});
  EXPECT_EQ(r.out, key_part(read_file(rsa_ + ".pub")) + " renamed key\n");
  write_file(key + ".pub", "");  // an empty .pub: the comment comes from the key itself
  r = tessera({"-c", "-f", key, "-P", kPass, "-C", "renamed key"});
  EXPECT_EQ(r.out, "Old comment: renamed key\nNo change to comment\n");
  // Typed at the prompt.
  r = tessera({"-c", "-f", key, "-P", kPass}, "typed comment\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Old comment: renamed key\nNew comment: Comment 'typed comment' applied\n");
  expect_same_fingerprints(key);
}

TEST_F(KeygenCliTest, ExportAndImport) {
  for (const std::string& key : {ed_, rsa_, ec_}) {
    for (const char* format : {"RFC4716", "PKCS8", "PEM"}) {
      SCOPED_TRACE(key + " " + format);
      // Same output as ssh-keygen (the RFC 4716 Comment names user@host for both).
      expect_same_as_openssh({"-e", "-m", format, "-f", key + ".pub"});
      expect_same_as_openssh({"-e", "-m", format, "-f", key, "-P", kPass});
      CommandResult exported = tessera({"-e", "-m", format, "-f", key + ".pub"});
      if (key == ed_ && std::string(format) != "RFC4716") {
        EXPECT_EQ(exported.exit_code, 255);  // as 9.2: no PEM form for Ed25519
        expect_one_line_naming(exported, key);
        continue;
      }
      ASSERT_EQ(exported.exit_code, 0) << exported.err;
      const std::string file = dir_.file("exported");
      write_file(file, exported.out);
      CommandResult imported = tessera({"-i", "-m", format, "-f", file});
      ASSERT_EQ(imported.exit_code, 0) << imported.err;
      EXPECT_EQ(imported.out, key_part(read_file(key + ".pub")) + "\n");
      // ssh-keygen -i reads what tessera-keygen exports (9.2's -i -m PEM only reads RSA keys).
      if (std::string(format) != "PEM" || key == rsa_) {
        expect_same_as_openssh({"-i", "-m", format, "-f", file});
      }
    }
  }
}

TEST_F(KeygenCliTest, GenerateWithPrompts) {
  // File name and passphrase typed on stdin (there is no terminal).
  const std::string key = dir_.file("typed");
  CommandResult r = tessera({"-t", "ed25519", "-a", "2"}, key + "\n" + kPass + "\n" + kPass + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Generating public/private ed25519 key pair.\nEnter file in which to save the key (", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("/.ssh/id_ed25519): Your identification has been saved in " + key + "\n"), std::string::npos);
  EXPECT_EQ(r.err, "Enter passphrase (empty for no passphrase): Enter same passphrase again: ");
  EXPECT_EQ(openssh({"-y", "-f", key, "-P", kPass}).out, read_file(key + ".pub"));

  // Mismatched passphrases are asked again.
  r = tessera({"-q", "-t", "ecdsa", "-f", dir_.file("again"), "-a", "2"}, "one\ntwo\nthree\nthree\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Passphrases do not match.  Try again.\n");
  EXPECT_EQ(openssh({"-y", "-f", dir_.file("again"), "-P", "three"}).exit_code, 0);

  // An existing file: "n" keeps it (exit 1), "y" replaces it.
  const std::string before = read_file(key);
  r = tessera({"-q", "-t", "ed25519", "-N", "", "-f", key}, "n\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, key + " already exists.\nOverwrite (y/n)? ");
  EXPECT_EQ(read_file(key), before);
  r = tessera({"-q", "-t", "ed25519", "-N", "", "-f", key}, "y\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(key), before);
  EXPECT_EQ(file_mode(key), 0600u);

  // -m PEM: RSA/ECDSA keys in PEM, Ed25519 stays in OpenSSH format (as 9.2).
  r = tessera({"-q", "-t", "ecdsa", "-N", kPass, "-m", "PEM", "-f", dir_.file("pem")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dir_.file("pem")).rfind("-----BEGIN EC PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(openssh({"-y", "-f", dir_.file("pem"), "-P", kPass}).out, key_part(read_file(dir_.file("pem.pub"))) + "\n");
  r = tessera({"-q", "-t", "ed25519", "-N", "", "-m", "PKCS8", "-f", dir_.file("ed_pkcs8")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(dir_.file("ed_pkcs8")).rfind("-----BEGIN OPENSSH PRIVATE KEY-----\n", 0), 0u);
}

TEST_F(KeygenCliTest, Errors) {
  const std::string not_key = dir_.file("not_a_key");
  write_file(not_key, "hello, world\n");
  const std::string truncated = dir_.file("truncated");
  const std::string rsa_text = read_file(rsa_);
  write_file(truncated, rsa_text.substr(0, rsa_text.size() / 2));
  const std::string truncated_open = dir_.file("truncated_open");
  const std::string ed_text = read_file(ed_);
  write_file(truncated_open, ed_text.substr(0, ed_text.size() - 120) + "\n-----END OPENSSH PRIVATE KEY-----\n");
  const std::string missing = dir_.file("missing");
  const std::string garbage_armor = dir_.file("garbage");
  write_file(garbage_armor, "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA!!!!\n-----END OPENSSH PRIVATE KEY-----\n");

  struct Case {
    std::vector<std::string> args;
    std::string file;
  };
  const std::vector<Case> cases = {
      {{"-y", "-f", not_key}, not_key},
      {{"-y", "-f", rsa_, "-P", "wrong passphrase"}, rsa_},
      {{"-y", "-f", rsa_}, rsa_},  // no -P: prompted, end of input
      {{"-y", "-f", truncated, "-P", kPass}, truncated},
      {{"-y", "-f", truncated_open}, truncated_open},
      {{"-y", "-f", garbage_armor}, garbage_armor},
      {{"-y", "-f", missing}, missing},
      {{"-l", "-f", not_key}, not_key},
      {{"-l", "-f", truncated}, truncated},
      {{"-l", "-f", missing}, missing},
      {{"-B", "-f", missing}, missing},
      {{"-p", "-f", rsa_, "-P", "wrong passphrase", "-N", "x"}, rsa_},
      {{"-p", "-f", not_key, "-N", "x"}, not_key},
      {{"-c", "-f", rsa_, "-P", "wrong passphrase", "-C", "x"}, rsa_},
      {{"-e", "-f", not_key}, not_key},
      {{"-e", "-f", missing}, missing},
      {{"-i", "-f", not_key}, not_key},
      {{"-i", "-m", "PKCS8", "-f", not_key}, not_key},
      {{"-i", "-f", missing}, missing},
  };
  for (const Case& c : cases) {
    std::string what;
    for (const auto& a : c.args) what += a + " ";
    SCOPED_TRACE(what);
    CommandResult theirs = openssh(c.args);
    CommandResult ours = tessera(c.args);
    EXPECT_NE(ours.exit_code, 0);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << theirs.err << ours.err;
    EXPECT_EQ(ours.out, "");
    // A prompt may precede the message on the same line.
    expect_one_line_naming(ours, c.file);
  }
  // The wrong passphrase in OpenSSH's words.
  EXPECT_EQ(tessera({"-y", "-f", rsa_, "-P", "wrong passphrase"}).err,
            "Load key \"" + rsa_ + "\": incorrect passphrase supplied to decrypt private key\n");
  EXPECT_EQ(tessera({"-l", "-f", not_key}).err, not_key + " is not a public key file.\n");

  // A private key file that others may read is refused, as OpenSSH refuses it.
  const std::string open_key = dir_.file("open_key");
  write_file(open_key, ed_text, 0644);
  CommandResult r = tessera({"-y", "-f", open_key});
  EXPECT_EQ(r.exit_code, 255);
  expect_one_line_naming(r, open_key);
  EXPECT_NE(r.err.find("bad permissions"), std::string::npos);
}

TEST_F(KeygenCliTest, RefusedGeneration) {
  const std::string file = dir_.file("never");
  CommandResult r = tessera({"-t", "rsa", "-b", "1024", "-N", "", "-f", file});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("minimum is 2048 bits"), std::string::npos) << r.err;
  // Security keys need an authenticator (or a middleware that is one):
  // a relative middleware path is refused, as the helper refuses it.
  for (const char* type : {"ecdsa-sk", "ed25519-sk"}) {
    r = tessera({"-t", type, "-N", "", "-w", "relative.so", "-f", file});
    EXPECT_EQ(r.exit_code, 255);
    EXPECT_NE(r.err.find("Key enrollment failed: "), std::string::npos) << r.err;
  }
  // ssh-keygen's own refusals, with its messages and exit codes.
  for (std::vector<std::string> args :
       {std::vector<std::string>{"-t", "nonsense"}, {"-t", "ecdsa", "-b", "300"}, {"-t", "rsa", "-b", "20000"},
        {"-b", "many"}, {"-a", "0"}, {"-Z", "rot13"}, {"-m", "yaml"}, {"-E", "crc32", "-l"}}) {
    args = concat(args, {"-N", "", "-f", file});
    CommandResult theirs = openssh(args);
    CommandResult ours = tessera(args);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << ours.err;
    EXPECT_EQ(ours.err, theirs.err.substr(0, theirs.err.find('\r')) + "\n");
  }
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(KeygenCliTest, Usage) {
  for (std::vector<std::string> args : {std::vector<std::string>{"-x"}, {"-l", "-f", "a", "extra"},
                                        {"-p", "-c", "-f", "a"}, {"-f"}}) {
    CommandResult theirs = openssh(args);
    CommandResult ours = tessera(args);
    EXPECT_EQ(ours.exit_code, 1);
    EXPECT_EQ(ours.exit_code, theirs.exit_code);
    EXPECT_EQ(ours.err.substr(0, ours.err.find('\n')), theirs.err.substr(0, theirs.err.find_first_of("\r\n")));
    EXPECT_NE(ours.err.find("usage: tessera-keygen"), std::string::npos);
  }
  CommandResult help = tessera({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: tessera-keygen"), std::string::npos);
  EXPECT_NE(help.out.find("-E hash"), std::string::npos);
}

}  // namespace
}  // namespace tessera::keygen
