// tessera's fingerprints, randomart and bubblebabble against OpenSSH's
// ssh-keygen, on fresh keys that ssh-keygen generates for each run.
//
// Security-key public keys cannot be generated without an authenticator, so
// those cases rewrap a fresh Ed25519 / P-256 point as an sk key with
// application "ssh:" and let ssh-keygen fingerprint that public line.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

struct Case {
  const char* name;      // gtest parameter name
  const char* type;      // ssh-keygen -t
  unsigned bits;         // ssh-keygen -b; 0 for the type's only size
  bool as_security_key;  // rewrap the generated point as sk-* with application "ssh:"
};

const Case kCases[] = {
    {"ed25519", "ed25519", 0, false},   {"ecdsa256", "ecdsa", 256, false},
    {"ecdsa384", "ecdsa", 384, false},  {"ecdsa521", "ecdsa", 521, false},
    {"rsa2048", "rsa", 2048, false},    {"rsa3072", "rsa", 3072, false},
    {"sk_ed25519", "ed25519", 0, true}, {"sk_ecdsa256", "ecdsa", 256, true},
};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// The generated key's blob, rewritten as a security key when asked:
// "ssh-ed25519" k -> "sk-ssh-ed25519@openssh.com" k "ssh:", and
// "ecdsa-sha2-nistp256" curve Q -> "sk-ecdsa-sha2-nistp256@openssh.com" curve Q "ssh:".
Bytes as_security_key(const Bytes& blob) {
  Reader in(blob);
  auto type = in.text();
  EXPECT_TRUE(type.ok());
  Writer out;
  if (type.ok() && *type == "ssh-ed25519") {
    out.string("sk-ssh-ed25519@openssh.com");
  } else {
    out.string("sk-ecdsa-sha2-nistp256@openssh.com");
  }
  out.bytes(in.rest());
  out.string("ssh:");
  return out.take();
}

// What ssh-keygen prints for one of its fingerprint modes.
struct KeygenOutput {
  unsigned bits = 0;
  std::string fingerprint;  // the second field: "SHA256:...", "MD5:...", or the bubblebabble
  std::string type;         // the last field without parentheses: "ED25519"
  std::string art;          // the lines after the first, joined by '\n', no trailing newline
};

KeygenOutput keygen_output(const std::vector<std::string>& argv) {
  KeygenOutput result;
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = split(r.out, '\n');
  EXPECT_FALSE(lines.empty()) << r.out;
  if (lines.empty()) return result;
  // "BITS FP COMMENT (TYPE)"; the comment may hold spaces, the other fields cannot.
  std::vector<std::string> fields = split(lines[0], ' ');
  EXPECT_GE(fields.size(), 3u) << lines[0];
  if (fields.size() < 3) return result;
  result.bits = static_cast<unsigned>(std::stoul(fields[0]));
  result.fingerprint = fields[1];
  const std::string& last = fields.back();
  if (last.size() > 2 && last.front() == '(' && last.back() == ')') {
    result.type = last.substr(1, last.size() - 2);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (i > 1) result.art += '\n';
    result.art += lines[i];
  }
  return result;
}

class FingerprintInterop : public ::testing::TestWithParam<Case> {};

TEST_P(FingerprintInterop, MatchesSshKeygen) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  const Case& c = GetParam();
  TempDir dir;
  const std::string key_file = dir.file("id");
  std::vector<std::string> gen = {"ssh-keygen", "-q", "-t", c.type, "-N", "", "-C", "interop test",
                                  "-f", key_file};
  if (c.bits != 0) {
    gen.push_back("-b");
    gen.push_back(std::to_string(c.bits));
  }
  auto made = run(gen);
  ASSERT_EQ(made.exit_code, 0) << made.err;

  std::vector<std::string> pub_fields = split(test::read_file(key_file + ".pub"), ' ');
  ASSERT_GE(pub_fields.size(), 2u);
  auto decoded = base64_decode(pub_fields[1]);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  Bytes blob = *decoded;

  std::string pub_file = key_file + ".pub";
  if (c.as_security_key) {
    blob = as_security_key(blob);
    auto parsed_type = Reader(blob).text();
    ASSERT_TRUE(parsed_type.ok());
    pub_file = dir.file("sk.pub");
    test::write_file(pub_file, std::string(*parsed_type) + " " + base64_encode(blob) + " interop test\n");
  }

  auto key = PublicKey::from_blob(blob);
  ASSERT_TRUE(key.ok()) << key.error().message();

  const KeygenOutput sha256 = keygen_output({"ssh-keygen", "-l", "-f", pub_file});
  EXPECT_EQ(sha256.bits, key->bits());
  EXPECT_EQ(sha256.type, key->info().display_name);
  EXPECT_EQ(sha256.fingerprint, fingerprint(*key, FingerprintHash::kSha256));
  EXPECT_EQ(sha256.fingerprint, fingerprint(blob, FingerprintHash::kSha256));
  EXPECT_TRUE(sha256.art.empty()) << sha256.art;

  const KeygenOutput sha256_art = keygen_output({"ssh-keygen", "-lv", "-f", pub_file});
  EXPECT_EQ(sha256_art.fingerprint, fingerprint(*key, FingerprintHash::kSha256));
  EXPECT_EQ(sha256_art.art, randomart(*key, FingerprintHash::kSha256));

  const KeygenOutput md5 = keygen_output({"ssh-keygen", "-l", "-E", "md5", "-f", pub_file});
  EXPECT_EQ(md5.fingerprint, fingerprint(*key, FingerprintHash::kMd5));
  EXPECT_EQ(md5.fingerprint, fingerprint(blob, FingerprintHash::kMd5));

  const KeygenOutput md5_art = keygen_output({"ssh-keygen", "-lv", "-E", "md5", "-f", pub_file});
  EXPECT_EQ(md5_art.fingerprint, fingerprint(*key, FingerprintHash::kMd5));
  EXPECT_EQ(md5_art.art, randomart(*key, FingerprintHash::kMd5));

  const KeygenOutput babble = keygen_output({"ssh-keygen", "-B", "-f", pub_file});
  EXPECT_EQ(babble.bits, key->bits());
  EXPECT_EQ(babble.fingerprint, bubblebabble(*key));
}

INSTANTIATE_TEST_SUITE_P(Fingerprint, FingerprintInterop, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace tessera::key
