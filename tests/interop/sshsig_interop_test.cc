// libkey's SSHSIG module against OpenSSH 9.2's ssh-keygen -Y, both ways:
//  - signatures libkey makes (every key type; security keys through a test
//    authenticator) pass ssh-keygen -Y verify and -Y check-novalidate, and
//    ssh-keygen prints the very line sshsig_good_message() builds;
//  - signatures ssh-keygen makes verify with libkey, and for deterministic
//    algorithms (Ed25519, RSA) libkey writes the same armored bytes;
//  - allowed_signers namespaces, validity and cert-authority (a certificate
//    from ssh-keygen -s) decide alike; find-principals and match-principals
//    print the same lines; a revoked key is refused by both.
// Times in messages are local: every ssh-keygen runs with TZ=UTC and so does
// this process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "sk_emulator.h"
#include "tessera/key/cert.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/sshsig.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::TempDir;

const std::string kMessage = "tessera signs this, and OpenSSH checks it\n";
const std::string kPrincipal = "alice@example.com";
// A fixed verification time (2026-06-01), so that messages are the same in both tools.
const std::string kVerifyTime = "20260601Z";

class UtcEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};
[[maybe_unused]] const auto* const kUtc = ::testing::AddGlobalTestEnvironment(new UtcEnvironment);

test::CommandResult keygen(const std::vector<std::string>& args, const std::string& input = {}) {
  std::vector<std::string> argv = {"ssh-keygen"};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv, input, {"TZ=UTC"});
}

uint64_t verify_time() { return *parse_absolute_time(kVerifyTime); }

// What a CLI built on the library prints for -Y verify / check-novalidate.
struct Printed {
  int exit_code = 0;
  std::string out;
  Diagnostics diagnostics;
};

Printed libkey_verify(const std::string& armored, const std::string& name_space,
                      const std::optional<std::string>& principal, const std::optional<std::string>& allowed_path,
                      RevocationCheck revoked = {}) {
  Printed p;
  auto sig = parse_armored_sshsig(armored);
  if (!sig.ok()) return {255, std::string(kSshsigBadMessage) + "\n", {sig.error().message()}};
  std::string text = allowed_path ? test::read_file(*allowed_path) : std::string();
  SshsigVerifyRequest request{name_space, principal, std::nullopt, std::move(revoked), verify_time()};
  if (allowed_path) request.allowed_signers = AllowedSignersFile{*allowed_path, text};
  std::istringstream message(kMessage);
  auto verified = sshsig_check(*sig, message, request, &p.diagnostics);
  if (!verified.ok()) {
    p.exit_code = 255;
    p.out = std::string(kSshsigBadMessage) + "\n";
    return p;
  }
  p.out = sshsig_good_message(name_space, *verified) + "\n";
  return p;
}

Printed openssh_verify(const std::string& sig_file, const std::string& name_space,
                       const std::optional<std::string>& principal, const std::optional<std::string>& allowed_path,
                       const std::optional<std::string>& revoked_file = {}) {
  std::vector<std::string> args = {"-Y", principal ? "verify" : "check-novalidate", "-n", name_space, "-s", sig_file,
                                   "-O", "verify-time=" + kVerifyTime};
  if (principal) args.insert(args.end(), {"-I", *principal, "-f", *allowed_path});
  if (revoked_file) args.insert(args.end(), {"-r", *revoked_file});
  auto r = keygen(args, kMessage);
  return {r.exit_code, r.out, {r.err}};
}

// Both tools agree on stdout and exit code; ssh-keygen's stderr holds every
// diagnostic libkey produced.
void expect_same(const Printed& ours, const Printed& theirs, const std::string& what) {
  EXPECT_EQ(ours.exit_code, theirs.exit_code) << what << "\nssh-keygen: " << theirs.out << theirs.diagnostics[0];
  EXPECT_EQ(ours.out, theirs.out) << what << "\nssh-keygen stderr: " << theirs.diagnostics[0];
  for (const std::string& d : ours.diagnostics) {
    EXPECT_NE(theirs.diagnostics[0].find(d.substr(0, d.find(": ", d.find(": ") + 2))), std::string::npos)
        << what << ": libkey said \"" << d << "\", ssh-keygen said \"" << theirs.diagnostics[0] << "\"";
  }
}

// ---- a signer of each type ----

struct TypeCase {
  const char* name;
  KeyType type;
  unsigned bits;
};

struct TestSigner {
  KeyOrCertificate key;
  SignFunction sign;
};

TestSigner make_signer(const TypeCase& c) {
  if (key_type_info(c.type).security_key) {
    PrivateKey inner = *PrivateKey::generate(test_sk::inner_type(c.type));
    PublicKey pub = *PublicKey::make_security_key(c.type, inner.evp(), "ssh:");
    SignFunction sign = [inner, type = c.type](std::span<const uint8_t> data, SignatureAlgorithm) -> Result<Bytes> {
      return test_sk::sk_sign(type, inner, "ssh:", 0x01, 7, data);
    };
    return {KeyOrCertificate::plain(pub), sign};
  }
  PrivateKey key = *PrivateKey::generate(c.type, c.bits);
  return {KeyOrCertificate::plain(key.public_key()), sign_with(key)};
}

std::string sign_armored(const TestSigner& s, const std::string& name_space, SshsigHash hash) {
  auto sig = sshsig_sign(s.key, s.sign, name_space, hash, sshsig_digest(hash, as_bytes(kMessage)));
  EXPECT_TRUE(sig.ok()) << sig.error().message();
  return sig.ok() ? sshsig_armor(sig->blob()) : std::string();
}

class SshsigInterop : public ::testing::TestWithParam<TypeCase> {};

TEST_P(SshsigInterop, SshKeygenVerifiesWhatLibkeySigns) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  TestSigner signer = make_signer(GetParam());
  std::string allowed = dir.file("allowed_signers");
  test::write_file(allowed, "# team\nbob@example.com " + signer.key.public_line() + "\n" + kPrincipal +
                                ",carol@example.com namespaces=\"file,git\" " + signer.key.public_line() +
                                " alice's key\n");
  for (SshsigHash hash : {SshsigHash::kSha512, SshsigHash::kSha256}) {
    std::string what = std::string(GetParam().name) + " " + std::string(sshsig_hash_name(hash));
    std::string armored = sign_armored(signer, "file", hash);
    std::string sig_file = dir.file("msg.sig");
    test::write_file(sig_file, armored);
    Printed good = openssh_verify(sig_file, "file", kPrincipal, allowed);
    EXPECT_EQ(good.exit_code, 0) << what << ": " << good.diagnostics[0];
    EXPECT_EQ(good.out, "Good \"file\" signature for alice@example.com with " + signer.key.display_type() +
                            " key " + signer.key.fingerprint() + "\n");
    expect_same(libkey_verify(armored, "file", kPrincipal, allowed), good, what);
    expect_same(libkey_verify(armored, "file", std::nullopt, std::nullopt),
                openssh_verify(sig_file, "file", std::nullopt, std::nullopt), what + " check-novalidate");
    // -O print-pubkey adds the key line that KeyOrCertificate::public_line() writes.
    auto printed = keygen({"-Y", "check-novalidate", "-n", "file", "-s", sig_file, "-O", "print-pubkey"}, kMessage);
    EXPECT_EQ(printed.out, sshsig_good_message("file", {signer.key, std::nullopt}) + "\n" +
                               signer.key.public_line() + "\n");
    // The namespace must match the signature, and the line's namespaces.
    expect_same(libkey_verify(armored, "git", kPrincipal, allowed),
                openssh_verify(sig_file, "git", kPrincipal, allowed), what + " wrong namespace");
    std::string other_ns = sign_armored(signer, "email", hash);
    test::write_file(sig_file, other_ns);
    Printed refused = openssh_verify(sig_file, "email", kPrincipal, allowed);
    EXPECT_NE(refused.exit_code, 0) << what;
    expect_same(libkey_verify(other_ns, "email", kPrincipal, allowed), refused, what + " namespaces=");
    // ...but bob's line has no namespaces option.
    expect_same(libkey_verify(other_ns, "email", "bob@example.com", allowed),
                openssh_verify(sig_file, "email", "bob@example.com", allowed), what + " bob");
  }
}

TEST_P(SshsigInterop, CorruptSignaturesAreRefusedByBoth) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  TestSigner signer = make_signer(GetParam());
  auto sig = *sshsig_sign(signer.key, signer.sign, "file", SshsigHash::kSha512,
                          sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage)));
  sig.signature[sig.signature.size() - 6] ^= 0x20;
  std::string sig_file = dir.file("msg.sig");
  test::write_file(sig_file, sshsig_armor(sig.blob()));
  expect_same(libkey_verify(sshsig_armor(sig.blob()), "file", std::nullopt, std::nullopt),
              openssh_verify(sig_file, "file", std::nullopt, std::nullopt), GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(
    Types, SshsigInterop,
    ::testing::Values(TypeCase{"ed25519", KeyType::kEd25519, 0}, TypeCase{"ecdsa256", KeyType::kEcdsaP256, 0},
                      TypeCase{"ecdsa384", KeyType::kEcdsaP384, 0}, TypeCase{"ecdsa521", KeyType::kEcdsaP521, 0},
                      TypeCase{"rsa2048", KeyType::kRsa, 2048}, TypeCase{"sk_ed25519", KeyType::kSkEd25519, 0},
                      TypeCase{"sk_ecdsa", KeyType::kSkEcdsaP256, 0}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

// ---- ssh-keygen signs, libkey verifies ----

struct KeygenCase {
  const char* name;
  std::vector<std::string> args;
  bool deterministic;  // Ed25519 and RSA PKCS#1 v1.5 signatures repeat exactly
};

class SshKeygenSigns : public ::testing::TestWithParam<KeygenCase> {};

TEST_P(SshKeygenSigns, LibkeyVerifiesAndSignsAlike) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  std::string key_file = dir.file("id");
  std::vector<std::string> gen = {"-q", "-N", "", "-f", key_file};
  gen.insert(gen.end(), GetParam().args.begin(), GetParam().args.end());
  ASSERT_EQ(keygen(gen).exit_code, 0);
  auto private_key = parse_private_key(test::read_file(key_file), SecretBytes());
  ASSERT_TRUE(private_key.ok()) << private_key.error().message();
  std::string allowed = dir.file("allowed_signers");
  test::write_file(allowed, kPrincipal + " " + test::read_file(key_file + ".pub"));
  std::string msg_file = dir.file("msg");
  test::write_file(msg_file, kMessage);
  for (std::string hash_name : {"sha512", "sha256"}) {
    std::filesystem::remove(msg_file + ".sig");  // ssh-keygen does not overwrite without asking
    auto signed_ = keygen({"-Y", "sign", "-f", key_file, "-n", "git", "-O", "hashalg=" + hash_name, msg_file});
    ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
    std::string theirs = test::read_file(msg_file + ".sig");
    Printed ours = libkey_verify(theirs, "git", kPrincipal, allowed);
    EXPECT_EQ(ours.exit_code, 0) << GetParam().name << " " << hash_name;
    expect_same(ours, openssh_verify(msg_file + ".sig", "git", kPrincipal, allowed), hash_name);
    auto sig = parse_armored_sshsig(theirs);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sshsig_armor(sig->blob()), theirs) << "re-armoring changes the file";
    if (GetParam().deterministic) {
      SshsigHash hash = *parse_sshsig_hash(hash_name);
      auto mine = sshsig_sign(KeyOrCertificate::plain(private_key->key.public_key()), sign_with(private_key->key),
                              "git", hash, sshsig_digest(hash, as_bytes(kMessage)));
      ASSERT_TRUE(mine.ok()) << mine.error().message();
      EXPECT_EQ(sshsig_armor(mine->blob()), theirs) << GetParam().name << " " << hash_name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SshKeygenSigns,
                         ::testing::Values(KeygenCase{"ed25519", {"-t", "ed25519"}, true},
                                           KeygenCase{"ecdsa256", {"-t", "ecdsa", "-b", "256"}, false},
                                           KeygenCase{"ecdsa384", {"-t", "ecdsa", "-b", "384"}, false},
                                           KeygenCase{"ecdsa521", {"-t", "ecdsa", "-b", "521"}, false},
                                           KeygenCase{"rsa2048", {"-t", "rsa", "-b", "2048"}, true}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

// ---- allowed_signers decisions ----

class AllowedSignersInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
    armored_ = sign_armored({KeyOrCertificate::plain(key_.public_key()), sign_with(key_)}, "file",
                            SshsigHash::kSha512);
    sig_file_ = dir_.file("msg.sig");
    test::write_file(sig_file_, armored_);
  }

  std::string line(const std::string& principals, const std::string& options, const PrivateKey& key) {
    std::string out = principals + " ";
    if (!options.empty()) out += options + " ";
    return out + format_public_key_line(key.public_key(), "comment") + "\n";
  }

  // Verifies with both tools against this allowed_signers text.
  void compare(const std::string& text, const std::string& principal, const std::string& what) {
    std::string path = dir_.file("allowed");
    test::write_file(path, text);
    Printed theirs = openssh_verify(sig_file_, "file", principal, path);
    expect_same(libkey_verify(armored_, "file", principal, path), theirs, what);
  }

  TempDir dir_;
  PrivateKey key_ = *PrivateKey::generate(KeyType::kEd25519);
  PrivateKey other_ = *PrivateKey::generate(KeyType::kEcdsaP256);
  std::string armored_;
  std::string sig_file_;
};

TEST_F(AllowedSignersInterop, DecisionsMatchSshKeygen) {
  const std::string p = kPrincipal;
  struct Case {
    std::string what, text, principal;
  };
  std::vector<Case> cases = {
      {"plain", line(p, "", key_), p},
      {"other key", line(p, "", other_), p},
      {"pattern", line("*@example.com,!mallory@example.com", "", key_), p},
      {"negated", line("*@example.com,!alice@example.com", "", key_), p},
      {"wrong principal", line("bob@example.com", "", key_), p},
      {"quoted principals", line("\"" + p + "\"", "", key_), p},
      {"namespaces", line(p, "namespaces=\"git,fi*\"", key_), p},
      {"namespaces refuse", line(p, "namespaces=\"git\"", key_), p},
      {"valid-after past", line(p, "valid-after=\"20200101\"", key_), p},
      {"valid-after future", line(p, "valid-after=\"20300101Z\"", key_), p},
      {"valid-before past", line(p, "valid-before=\"202601011200\"", key_), p},
      {"valid-before future", line(p, "VALID-BEFORE=\"20261231235959Z\"", key_), p},
      {"window", line(p, "valid-after=\"20260101\",valid-before=\"20270101\"", key_), p},
      {"cert-authority on a plain key", line(p, "cert-authority", key_), p},
      {"bad line then good", "garbage\n" + line(p, "unknown-option", key_) + line(p, "", key_), p},
      {"bad options skipped", line(p, "namespaces=\"a\",namespaces=\"b\"", key_) + line(p, "", other_), p},
      {"inverted window", line(p, "valid-after=\"20270101\",valid-before=\"20260101\"", key_), p},
      {"comments and blanks", "\n  # nothing\n\t\n" + line(p, "", key_), p},
      {"crlf", p + " " + format_public_key_line(key_.public_key(), "") + "\r\n", p},
  };
  for (const auto& c : cases) compare(c.text, c.principal, c.what);
}

TEST_F(AllowedSignersInterop, RevokedKeyIsRefusedByBoth) {
  std::string allowed = dir_.file("allowed");
  test::write_file(allowed, line(kPrincipal, "", key_));
  std::string revoked = dir_.file("revoked_keys");
  test::write_file(revoked, format_public_key_line(key_.public_key(), "") + "\n");
  PublicKey revoked_key = key_.public_key();
  RevocationCheck is_revoked = [revoked_key](const KeyOrCertificate& k) -> Result<bool> {
    return k.key == revoked_key;
  };
  Printed theirs = openssh_verify(sig_file_, "file", kPrincipal, allowed, revoked);
  EXPECT_NE(theirs.exit_code, 0);
  expect_same(libkey_verify(armored_, "file", kPrincipal, allowed, is_revoked), theirs, "revoked");
  // A list without the key revokes nothing.
  test::write_file(revoked, format_public_key_line(other_.public_key(), "") + "\n");
  PublicKey other = other_.public_key();
  RevocationCheck not_revoked = [other](const KeyOrCertificate& k) -> Result<bool> { return k.key == other; };
  theirs = openssh_verify(sig_file_, "file", kPrincipal, allowed, revoked);
  EXPECT_EQ(theirs.exit_code, 0);
  expect_same(libkey_verify(armored_, "file", kPrincipal, allowed, not_revoked), theirs, "not revoked");
}

// ---- certificates as signing keys ----

TEST(SshsigCertificateInterop, CertAuthorityLinesAndFindPrincipals) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  std::string ca = dir.file("ca"), user = dir.file("user"), msg_file = dir.file("msg");
  ASSERT_EQ(keygen({"-q", "-N", "", "-t", "ed25519", "-f", ca}).exit_code, 0);
  ASSERT_EQ(keygen({"-q", "-N", "", "-t", "ecdsa", "-f", user}).exit_code, 0);
  auto certified = keygen({"-q", "-s", ca, "-I", "alice-cert", "-n", "alice@example.com,ops@example.com", "-V",
                           "20260101:20270101", user + ".pub"});
  ASSERT_EQ(certified.exit_code, 0) << certified.err;
  test::write_file(msg_file, kMessage);
  auto signed_ = keygen({"-Y", "sign", "-f", user + "-cert.pub", "-n", "file", msg_file});
  ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
  std::string theirs = test::read_file(msg_file + ".sig");

  // libkey makes the same kind of signature with the same certificate.
  auto cert_line = KeyOrCertificate::from_line(test::read_file(user + "-cert.pub"));
  ASSERT_TRUE(cert_line.ok()) << cert_line.error().message();
  auto user_key = parse_private_key(test::read_file(user), SecretBytes());
  ASSERT_TRUE(user_key.ok());
  auto mine = sshsig_sign(*cert_line, sign_with(user_key->key), "file", SshsigHash::kSha512,
                          sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage)));
  ASSERT_TRUE(mine.ok()) << mine.error().message();
  std::string my_file = dir.file("mine.sig");
  test::write_file(my_file, sshsig_armor(mine->blob()));

  std::string ca_line = test::read_file(ca + ".pub");
  std::string allowed = dir.file("allowed");
  std::vector<std::pair<std::string, std::string>> files = {
      {"ca", "*@example.com cert-authority " + ca_line},
      {"ca namespaces", "*@example.com cert-authority,namespaces=\"git\" " + ca_line},
      {"ca pattern", "ops@*,bob@example.com cert-authority " + ca_line},
      {"ca not marked", "*@example.com " + ca_line},
      {"plain user key", "*@example.com " + test::read_file(user + ".pub")},
  };
  for (const auto& [what, text] : files) {
    test::write_file(allowed, text);
    for (std::string principal : {"alice@example.com", "ops@example.com", "carol@example.com"}) {
      for (const auto& [name, armored, file] :
           {std::tuple{"ssh-keygen's", theirs, msg_file + ".sig"}, std::tuple{"libkey's", sshsig_armor(mine->blob()),
                                                                               my_file}}) {
        Printed them = openssh_verify(file, "file", principal, allowed);
        expect_same(libkey_verify(armored, "file", principal, allowed), them,
                    what + " " + principal + " " + name);
        if (what == "ca" && principal != "carol@example.com") {
          EXPECT_EQ(them.exit_code, 0) << them.diagnostics[0];
          EXPECT_NE(them.out.find("with ECDSA-CERT key"), std::string::npos) << them.out;
        }
      }
    }
    // find-principals prints the same lines.
    auto them = keygen({"-Y", "find-principals", "-s", msg_file + ".sig", "-f", allowed, "-O",
                        "verify-time=" + kVerifyTime});
    auto sig = parse_armored_sshsig(theirs);
    ASSERT_TRUE(sig.ok());
    std::string path_text = test::read_file(allowed);
    Diagnostics diagnostics;
    auto ours = sshsig_find_principals(sig->signer, {allowed, path_text}, verify_time(), &diagnostics);
    ASSERT_TRUE(ours.ok()) << ours.error().message();
    std::string printed;
    for (const auto& p : *ours) printed += p + "\n";
    EXPECT_EQ(printed, them.out) << what << ": " << them.err;
    EXPECT_EQ(ours->empty(), them.exit_code != 0) << what;
  }
  auto printed = keygen({"-Y", "check-novalidate", "-n", "file", "-s", msg_file + ".sig", "-O", "print-pubkey"},
                        kMessage);
  auto parsed = parse_armored_sshsig(theirs);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(printed.out, sshsig_good_message("file", {parsed->signer, std::nullopt}) + "\n" +
                             parsed->signer.public_line() + "\n");
  // Outside the certificate's validity, the CA line no longer accepts it.
  test::write_file(allowed, "*@example.com cert-authority " + ca_line);
  auto late = keygen({"-Y", "verify", "-n", "file", "-s", msg_file + ".sig", "-I", "alice@example.com", "-f",
                      allowed, "-O", "verify-time=20280101"},
                     kMessage);
  EXPECT_NE(late.exit_code, 0);
  EXPECT_NE(late.err.find("certificate not authorized: Certificate invalid: expired"), std::string::npos) << late.err;
  std::istringstream message(kMessage);
  Diagnostics diagnostics;
  std::string text = test::read_file(allowed);
  auto sig = parse_armored_sshsig(theirs);
  auto refused = sshsig_check(*sig, message,
                              {"file", "alice@example.com", AllowedSignersFile{allowed, text}, {},
                               *parse_absolute_time("20280101")},
                              &diagnostics);
  EXPECT_FALSE(refused.ok());
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0], allowed + ":1: certificate not authorized: Certificate invalid: expired");
}

// ---- find-principals and match-principals over a set of files ----

TEST(SshsigPrincipalsInterop, FindAndMatchPrincipalsPrintLikeSshKeygen) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
  TempDir dir;
  PrivateKey key = *PrivateKey::generate(KeyType::kEd25519);
  PrivateKey other = *PrivateKey::generate(KeyType::kEcdsaP384);
  std::string k = format_public_key_line(key.public_key(), "me");
  std::string o = format_public_key_line(other.public_key(), "");
  std::string sig_file = dir.file("msg.sig");
  std::string armored = sign_armored({KeyOrCertificate::plain(key.public_key()), sign_with(key)}, "file",
                                     SshsigHash::kSha512);
  test::write_file(sig_file, armored);
  Sshsig sig = *parse_armored_sshsig(armored);
  std::vector<std::string> files = {
      "alice@example.com " + k + "\n",
      "bob@example.com " + o + "\nalice@example.com,al*@example.org namespaces=\"file\" " + k + "\n",
      "*@example.com,!eve@example.com " + k + "\nalice@example.com " + k + "\n",
      "carol@example.com " + o + "\n",
      "alice@example.com valid-before=\"20200101\" " + k + "\nlater@example.com " + k + "\n",
      "alice@example.com valid-after=\"20300101\" " + k + "\n",
      "broken line\nalice@example.com " + k + "\n",
      "bob@example.com broken-key\nalice@example.com " + k + "\n",
      "# only comments\n\n",
      "a,,b@example.com " + k + "\n",
      "alice@example.com " + o + "\n" + "\"alice@example.com\" " + k,
  };
  std::string path = dir.file("allowed");
  for (const std::string& text : files) {
    test::write_file(path, text);
    AllowedSignersFile file{path, text};
    auto them = keygen({"-Y", "find-principals", "-s", sig_file, "-f", path, "-O", "verify-time=" + kVerifyTime});
    Diagnostics diagnostics;
    auto ours = sshsig_find_principals(sig.signer, file, verify_time(), &diagnostics);
    ASSERT_TRUE(ours.ok()) << ours.error().message();
    std::string printed;
    for (const auto& p : *ours) printed += p + "\n";
    EXPECT_EQ(printed, them.out) << text << them.err;
    EXPECT_EQ(ours->empty(), them.exit_code != 0) << text;
    for (const std::string& d : diagnostics) EXPECT_NE(them.err.find(path + ":"), std::string::npos) << d;

    for (std::string principal :
         {"alice@example.com", "eve@example.com", "bob@example.com", "alice@example.org", "b@example.com"}) {
      auto matched = keygen({"-Y", "match-principals", "-I", principal, "-f", path});
      auto mine = sshsig_match_principals(file, principal);
      std::string mine_printed;
      if (mine.ok()) {
        for (const auto& p : *mine) mine_printed += p + "\n";
      }
      EXPECT_EQ(mine_printed, matched.out) << text << principal << matched.err;
      EXPECT_EQ(mine.ok() && !mine->empty(), matched.exit_code == 0) << text << principal << matched.err;
    }
  }
}

}  // namespace
}  // namespace tessera::key
