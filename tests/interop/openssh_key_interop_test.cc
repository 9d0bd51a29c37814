// openssh-key-v1 files between tessera and OpenSSH's ssh-keygen, for every key
// type ssh-keygen generates and every cipher of `ssh-keygen -Z` (OpenSSH 9.2):
//   (a) ssh-keygen writes, tessera reads: the private key's public half equals
//       the .pub line, and the comment survives;
//   (b) tessera writes, `ssh-keygen -y` reads: it prints the same public key.
// KDF rounds stay low (-a 2) except in the test of ssh-keygen's defaults.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

constexpr const char* kPassphrase = "interop pass phrase";
constexpr uint32_t kLowRounds = 2;

struct KeyCase {
  const char* name;  // for test names
  const char* keygen_type;
  unsigned bits;  // ssh-keygen -b; 0 for the type's only size
  KeyType type;
};

const KeyCase kKeys[] = {
    {"ed25519", "ed25519", 0, KeyType::kEd25519},       {"ecdsa256", "ecdsa", 256, KeyType::kEcdsaP256},
    {"ecdsa384", "ecdsa", 384, KeyType::kEcdsaP384},    {"ecdsa521", "ecdsa", 521, KeyType::kEcdsaP521},
    {"rsa2048", "rsa", 2048, KeyType::kRsa},
};

struct Case {
  KeyCase key;
  std::string cipher;  // empty: no passphrase, no encryption
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& k : kKeys) {
    cases.push_back({k, ""});
    for (auto c : supported_key_ciphers()) cases.push_back({k, std::string(c)});
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = std::string(info.param.key.name) + "_" +
                     (info.param.cipher.empty() ? std::string("unencrypted") : info.param.cipher);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> parts;
  std::istringstream in(line);
  for (std::string part; in >> part;) parts.push_back(part);
  return parts;
}

// "type base64 [comment]" -> the public key; the type name must match the blob.
// (Parsed here by hand: the test checks the private key format, not the line parser.)
PublicKey public_key_of_line(const std::string& line) {
  auto parts = split_spaces(line);
  EXPECT_GE(parts.size(), 2u) << line;
  if (parts.size() < 2) std::abort();
  auto blob = base64_decode(parts[1]);
  EXPECT_TRUE(blob.ok()) << line;
  auto key = PublicKey::from_blob(*blob);
  EXPECT_TRUE(key.ok()) << (key.ok() ? "" : key.error().message());
  if (!key.ok()) std::abort();
  EXPECT_EQ(key->ssh_name(), parts[0]);
  return *key;
}

std::string comment_of_line(const std::string& line) {
  auto parts = split_spaces(line);
  std::string comment;
  for (size_t i = 2; i < parts.size(); ++i) comment += (i > 2 ? " " : "") + parts[i];
  return comment;
}

bool have_ssh_keygen() {
  static const bool have = test::have_program("ssh-keygen");
  return have;
}

class OpensshKeyInterop : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed (apt-get install openssh-client)";
  }
};

// (a) ssh-keygen -t TYPE -Z CIPHER -N pass -a 2 -f F -q, read by tessera.
TEST_P(OpensshKeyInterop, TesseraReadsSshKeygenFiles) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file("id");
  const bool encrypted = !c.cipher.empty();
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", c.key.keygen_type, "-C", "interop@tessera",
                                   "-f", path, "-N", encrypted ? kPassphrase : ""};
  if (c.key.bits != 0) argv.insert(argv.end(), {"-b", std::to_string(c.key.bits)});
  if (encrypted) argv.insert(argv.end(), {"-Z", c.cipher, "-a", std::to_string(kLowRounds)});
  auto gen = run(argv);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;

  const std::string text = test::read_file(path);
  const std::string pub_line = test::read_file(path + ".pub");
  PublicKey expected = public_key_of_line(pub_line);
  EXPECT_EQ(comment_of_line(pub_line), "interop@tessera");

  ASSERT_TRUE(is_openssh_private_key(text));
  auto info = inspect_openssh_private_key(text);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_TRUE(info->public_key == expected);
  EXPECT_EQ(info->encrypted, encrypted);
  EXPECT_EQ(info->cipher, encrypted ? c.cipher : "none");
  EXPECT_EQ(info->kdf, encrypted ? "bcrypt" : "none");
  EXPECT_EQ(info->kdf_rounds, encrypted ? kLowRounds : 0u);

  auto parsed = parse_openssh_private_key(text, SecretBytes::copy_of(encrypted ? kPassphrase : ""));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->key.public_key() == expected);
  EXPECT_EQ(parsed->key.type(), c.key.type);
  EXPECT_EQ(parsed->comment, "interop@tessera");
  // The key signs, and the signature verifies under the .pub key.
  auto sig = parsed->key.sign(as_bytes("interop"));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  EXPECT_TRUE(expected.verify(*sig, as_bytes("interop")).ok());

  if (encrypted) {
    auto none = parse_openssh_private_key(text, {});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), Errc::kPassphraseRequired);
    auto wrong = parse_openssh_private_key(text, SecretBytes::copy_of("interop pass phrasE"));
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code(), Errc::kWrongPassphrase);
  }
}

// (b) tessera writes, `ssh-keygen -y -f F -P pass` prints the same public key.
TEST_P(OpensshKeyInterop, SshKeygenReadsTesseraFiles) {
  const Case& c = GetParam();
  const bool encrypted = !c.cipher.empty();
  auto key = PrivateKey::generate(c.key.type, c.key.bits);
  ASSERT_TRUE(key.ok()) << key.error().message();
  SecretBytes pass = SecretBytes::copy_of(encrypted ? kPassphrase : "");
  auto text = format_openssh_private_key(*key, "written by tessera", pass,
                                         {encrypted ? c.cipher : std::string(kDefaultKeyCipher), kLowRounds});
  ASSERT_TRUE(text.ok()) << text.error().message();

  TempDir dir;
  const std::string path = dir.file("id");  // no id.pub: ssh-keygen must decrypt the private key
  test::write_file(path, *text, 0600);
  auto out = run({"ssh-keygen", "-y", "-f", path, "-P", encrypted ? kPassphrase : ""});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(public_key_of_line(out.out) == key->public_key()) << out.out;
  EXPECT_EQ(comment_of_line(out.out), "written by tessera");

  if (encrypted) {
    auto wrong = run({"ssh-keygen", "-y", "-f", path, "-P", "interop pass phrasE"});
    EXPECT_NE(wrong.exit_code, 0) << wrong.out;
    EXPECT_TRUE(wrong.out.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypesAndCiphers, OpensshKeyInterop, ::testing::ValuesIn(all_cases()), case_name);

// ssh-keygen's defaults (aes256-ctr, 16 rounds) both ways, one key per type.
class OpensshKeyDefaults : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed (apt-get install openssh-client)";
  }
};

TEST_P(OpensshKeyDefaults, BothWays) {
  const KeyCase& k = GetParam();
  TempDir dir;
  const std::string path = dir.file("id");
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", k.keygen_type, "-f", path, "-N", kPassphrase};
  if (k.bits != 0) argv.insert(argv.end(), {"-b", std::to_string(k.bits)});
  auto gen = run(argv);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const std::string text = test::read_file(path);
  auto info = inspect_openssh_private_key(text);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->cipher, kDefaultKeyCipher);
  EXPECT_EQ(info->kdf_rounds, kDefaultKdfRounds);
  auto parsed = parse_openssh_private_key(text, SecretBytes::copy_of(kPassphrase));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->key.public_key() == public_key_of_line(test::read_file(path + ".pub")));

  // Written back by tessera with its defaults, read by ssh-keygen.
  auto ours = format_openssh_private_key(parsed->key, parsed->comment, SecretBytes::copy_of(kPassphrase));
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  const std::string back = dir.file("back");
  test::write_file(back, *ours, 0600);
  auto out = run({"ssh-keygen", "-y", "-f", back, "-P", kPassphrase});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(public_key_of_line(out.out) == parsed->key.public_key());
}

std::string key_case_name(const ::testing::TestParamInfo<KeyCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(AllTypes, OpensshKeyDefaults, ::testing::ValuesIn(kKeys), key_case_name);

// A passphrase change by ssh-keygen (-p) on a tessera file, then read back by tessera.
TEST(OpensshKeyInteropMisc, SshKeygenRewrapsTesseraFile) {
  if (!have_ssh_keygen()) GTEST_SKIP() << "ssh-keygen not installed";
  auto key = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  auto text = format_openssh_private_key(*key, "rewrap", SecretBytes::copy_of("old pass"),
                                         {"chacha20-poly1305@openssh.com", kLowRounds});
  ASSERT_TRUE(text.ok());
  TempDir dir;
  const std::string path = dir.file("id");
  test::write_file(path, *text, 0600);
  auto change = run({"ssh-keygen", "-p", "-f", path, "-P", "old pass", "-N", "new pass", "-Z",
                     "aes128-gcm@openssh.com", "-a", std::to_string(kLowRounds)});
  ASSERT_EQ(change.exit_code, 0) << change.err;
  auto parsed = parse_openssh_private_key(test::read_file(path), SecretBytes::copy_of("new pass"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->key.public_key() == key->public_key());
  EXPECT_EQ(parsed->comment, "rewrap");
  auto info = inspect_openssh_private_key(test::read_file(path));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->cipher, "aes128-gcm@openssh.com");
}

}  // namespace
}  // namespace tessera::key
