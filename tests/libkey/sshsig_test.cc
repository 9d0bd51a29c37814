#include "tessera/key/sshsig.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "test_keys.h"

namespace tessera::key {
namespace {

KeyOrCertificate plain(const PrivateKey& key) { return KeyOrCertificate::plain(key.public_key()); }

const std::string kMessage = "a message\n";

Sshsig sign_message(const PrivateKey& key, std::string_view ns = "file", SshsigHash hash = kDefaultSshsigHash,
                    std::string_view message = kMessage) {
  auto sig = sshsig_sign(plain(key), sign_with(key), ns, hash, sshsig_digest(hash, as_bytes(message)));
  if (!sig.ok()) std::abort();
  return *sig;
}

Status verify_message(const Sshsig& sig, std::string_view ns, std::string_view message = kMessage) {
  std::istringstream in{std::string(message)};
  return sshsig_verify(sig, ns, in);
}

// A user certificate for `key`, signed by `ca`.
Certificate make_cert(const PrivateKey& key, const PrivateKey& ca, std::vector<std::string> principals,
                      uint64_t valid_after = 0, uint64_t valid_before = UINT64_MAX, CertType type = CertType::kUser) {
  Certificate cert{key.public_key(), Bytes(32, 7), 1, type, "id", std::move(principals), valid_after, valid_before,
                   {}, {}, {}, ca.public_key(), {}};
  cert.signature = *ca.sign(certificate_signed_data(cert));
  return cert;
}

std::string line_for(const std::string& principals, const std::string& options, const KeyOrCertificate& key) {
  return principals + " " + (options.empty() ? "" : options + " ") + key.public_line() + " comment\n";
}

class UtcTime : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

// ---- armor and the object ----

TEST(SshsigArmor, WritesSshKeygensLayout) {
  Bytes blob(300, 0xa5);
  std::string armored = sshsig_armor(blob);
  EXPECT_TRUE(armored.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
  EXPECT_TRUE(armored.ends_with("\n-----END SSH SIGNATURE-----\n"));
  std::istringstream lines(armored);
  std::string line;
  std::getline(lines, line);
  size_t body = 0;
  while (std::getline(lines, line) && !line.starts_with("-----END")) {
    EXPECT_LE(line.size(), 70u);
    body += line.size();
  }
  EXPECT_EQ(body, base64_encode(blob).size());
  EXPECT_EQ(*sshsig_dearmor(armored), blob);
}

TEST(SshsigArmor, DearmorIsStrict) {
  std::string good = sshsig_armor(Bytes(40, 1));
  auto code = [](std::string_view text) {
    auto r = sshsig_dearmor(text);
    return r.ok() ? Errc{} : r.error().code();
  };
  EXPECT_EQ(code(" " + good), Errc::kMalformed);  // must start with the header
  EXPECT_EQ(code(good.substr(0, good.find("-----END"))), Errc::kTruncated);
  EXPECT_EQ(code(good + "trailing text\n"), Errc::kTrailingData);
  EXPECT_EQ(code("-----BEGIN SSH SIGNATURE-----junk\n-----END SSH SIGNATURE-----\n"), Errc::kMalformed);
  EXPECT_EQ(code("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"), Errc::kMalformed);
  std::string bad_b64 = good;
  bad_b64[35] = '*';
  EXPECT_EQ(code(bad_b64), Errc::kMalformed);
  EXPECT_EQ(code(std::string(kMaxSshsigArmoredBytes + 1, 'A')), Errc::kTooLarge);
  // CRLF line ends (newer OpenSSH reads them too) and a blank line after the END line are fine.
  std::string crlf;
  for (char c : good) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_TRUE(sshsig_dearmor(crlf).ok());
  EXPECT_TRUE(sshsig_dearmor(good + "\n").ok());
  auto missing = sshsig_dearmor("hello");
  EXPECT_EQ(missing.error().message(), "Couldn't parse signature: missing \"-----BEGIN SSH SIGNATURE-----\"");
}

TEST(SshsigObject, RoundTripsAndRejectsEveryTruncation) {
  Sshsig sig = sign_message(test_key(KeyType::kEd25519));
  Bytes blob = sig.blob();
  auto again = Sshsig::parse(blob);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->blob(), blob);
  EXPECT_EQ(again->name_space, "file");
  EXPECT_EQ(again->hash_algorithm, "sha512");
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_FALSE(Sshsig::parse(std::span(blob).first(n)).ok()) << n;
  }
  Bytes trailing = blob;
  trailing.push_back(0);
  EXPECT_EQ(Sshsig::parse(trailing).error().code(), Errc::kTrailingData);
}

TEST(SshsigObject, RejectsOtherVersionsMagicAndNamespaces) {
  Sshsig sig = sign_message(test_key(KeyType::kEd25519));
  Bytes blob = sig.blob();
  Bytes v2 = blob;
  v2[9] = 2;
  EXPECT_EQ(Sshsig::parse(v2).error().code(), Errc::kUnsupported);
  Bytes v0 = blob;
  v0[9] = 0;
  EXPECT_FALSE(Sshsig::parse(v0).ok());
  Bytes magic = blob;
  magic[0] = 'X';
  EXPECT_EQ(Sshsig::parse(magic).error().code(), Errc::kMalformed);
  Sshsig empty_ns = sig;
  empty_ns.name_space.clear();
  EXPECT_FALSE(Sshsig::parse(empty_ns.blob()).ok());
  Sshsig nul_ns = sig;
  nul_ns.name_space = std::string("fi\0le", 5);
  EXPECT_FALSE(Sshsig::parse(nul_ns.blob()).ok());
  // A reserved field is carried, not interpreted.
  Sshsig reserved = sig;
  reserved.reserved = {1, 2, 3};
  auto parsed = Sshsig::parse(reserved.blob());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->reserved, reserved.reserved);
}

TEST(SshsigObject, SignerKeyMustBeValid) {
  Sshsig sig = sign_message(test_key(KeyType::kEd25519));
  Writer w;
  w.bytes(as_bytes("SSHSIG"));
  w.u32(1);
  w.string("ssh-dss-not-a-key");
  w.string("file");
  w.string("");
  w.string("sha512");
  w.string(sig.signature);
  EXPECT_FALSE(Sshsig::parse(w.data()).ok());
}

// ---- signing and verifying ----

TEST(Sshsig, SignsAndVerifiesEveryType) {
  for (KeyType type : {KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521,
                       KeyType::kRsa}) {
    for (SshsigHash hash : {SshsigHash::kSha256, SshsigHash::kSha512}) {
      Sshsig sig = sign_message(test_key(type), "git", hash);
      EXPECT_EQ(sig.hash_algorithm, sshsig_hash_name(hash));
      EXPECT_TRUE(verify_message(sig, "git").ok()) << key_type_info(type).ssh_name;
      EXPECT_EQ(verify_message(sig, "git", "another message").error().code(), Errc::kBadSignature);
      if (type == KeyType::kRsa) {
        EXPECT_EQ(*signature_algorithm_name(sig.signature), "rsa-sha2-512");
      }
    }
  }
}

TEST(Sshsig, NamespaceMismatchSaysSo) {
  Sshsig sig = sign_message(test_key(KeyType::kEd25519), "file");
  auto st = verify_message(sig, "git");
  EXPECT_EQ(st.error().code(), Errc::kBadSignature);
  EXPECT_NE(st.error().message().find("Couldn't verify signature: namespace does not match"), std::string::npos);
  EXPECT_NE(st.error().message().find("\"file\""), std::string::npos);
}

TEST(Sshsig, HashAlgorithmsAreChecked) {
  EXPECT_EQ(parse_sshsig_hash("SHA256").error().code(), Errc::kUnsupported);
  EXPECT_EQ(*parse_sshsig_hash("sha256"), SshsigHash::kSha256);
  Sshsig sig = sign_message(test_key(KeyType::kEd25519));
  sig.hash_algorithm = "sha1";
  auto st = verify_message(sig, "file");
  EXPECT_EQ(st.error().code(), Errc::kUnsupported);
  EXPECT_NE(st.error().message().find("unsupported hash algorithm"), std::string::npos);
  // A digest that does not fit the algorithm is a caller error.
  Sshsig good = sign_message(test_key(KeyType::kEd25519));
  EXPECT_EQ(sshsig_verify(good, "file", Bytes(32)).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(sshsig_sign(plain(test_key(KeyType::kEd25519)), sign_with(test_key(KeyType::kEd25519)), "file",
                        SshsigHash::kSha512, Bytes(32))
                .error()
                .code(),
            Errc::kInvalidArgument);
}

TEST(Sshsig, RsaSha1IsRefused) {
  const PrivateKey& rsa = test_key(KeyType::kRsa);
  Bytes digest = sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage));
  Bytes sha1 = *rsa.sign(sshsig_signed_data("file", SshsigHash::kSha512, digest), SignatureAlgorithm::kRsaSha1);
  Sshsig sig{plain(rsa), "file", {}, "sha512", sha1};
  auto st = sshsig_verify(sig, "file", digest);
  EXPECT_EQ(st.error().code(), Errc::kUnsupported);
  EXPECT_NE(st.error().message().find("unsupported RSA signature algorithm ssh-rsa"), std::string::npos);
  // rsa-sha2-256 (other implementations) is accepted.
  Bytes sha256 = *rsa.sign(sshsig_signed_data("file", SshsigHash::kSha512, digest), SignatureAlgorithm::kRsaSha256);
  EXPECT_TRUE(sshsig_verify(Sshsig{plain(rsa), "file", {}, "sha512", sha256}, "file", digest).ok());
}

TEST(Sshsig, SignerWithAnotherKeyIsCaught) {
  const PrivateKey& a = test_key(KeyType::kEd25519, 0);
  const PrivateKey& b = test_key(KeyType::kEd25519, 1);
  auto sig = sshsig_sign(plain(a), sign_with(b), "file", SshsigHash::kSha512,
                         sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage)));
  EXPECT_EQ(sig.error().code(), Errc::kBadSignature);
  SignFunction failing = [](std::span<const uint8_t>, SignatureAlgorithm) -> Result<Bytes> {
    return Error(Errc::kIo, "token 'x' is not present");
  };
  auto failed = sshsig_sign(plain(a), failing, "file", SshsigHash::kSha512, Bytes(64));
  EXPECT_EQ(failed.error().code(), Errc::kIo);
  EXPECT_NE(failed.error().message().find("token 'x' is not present"), std::string::npos);
  EXPECT_EQ(sshsig_sign(plain(a), sign_with(a), "", SshsigHash::kSha512, Bytes(64)).error().code(),
            Errc::kInvalidArgument);
}

TEST(Sshsig, StreamDigestMatchesBufferDigest) {
  std::string big(200 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  std::istringstream in(big);
  EXPECT_EQ(*sshsig_digest(SshsigHash::kSha512, in), sshsig_digest(SshsigHash::kSha512, as_bytes(big)));
  std::istringstream empty("");
  EXPECT_EQ(*sshsig_digest(SshsigHash::kSha256, empty), sshsig_digest(SshsigHash::kSha256, {}));
}

TEST(Sshsig, CertificateSignersCarryTheirCertificate) {
  const PrivateKey& user = test_key(KeyType::kEcdsaP256);
  const PrivateKey& ca = test_key(KeyType::kEd25519);
  Certificate cert = make_cert(user, ca, {"alice"});
  KeyOrCertificate signer = KeyOrCertificate::certified(cert);
  EXPECT_EQ(signer.display_type(), "ECDSA-CERT");
  EXPECT_EQ(signer.fingerprint(), fingerprint(user.public_key(), FingerprintHash::kSha256));
  auto sig = sshsig_sign(signer, sign_with(user), "file", SshsigHash::kSha512,
                         sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage)));
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  auto parsed = parse_armored_sshsig(sshsig_armor(sig->blob()));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->signer.is_certificate());
  EXPECT_TRUE(verify_message(*parsed, "file").ok());
  EXPECT_TRUE(KeyOrCertificate::from_line(signer.public_line() + " comment").ok());
  // A certificate whose CA signature does not verify is not a signer.
  Certificate forged = cert;
  forged.principals = {"root"};
  Sshsig bad = *sig;
  bad.signer = KeyOrCertificate::certified(forged);
  EXPECT_FALSE(Sshsig::parse(bad.blob()).ok());
}

// ---- allowed_signers lines ----

TEST(AllowedSigners, ParsesOptionsAndQuotes) {
  KeyOrCertificate key = plain(test_key(KeyType::kEd25519));
  auto entry = parse_allowed_signers_line(
      line_for("\"alice smith@example.com\"", "CERT-AUTHORITY,namespaces=\"git,fi\\\"le\",valid-after=\"20260101Z\"",
               key));
  ASSERT_TRUE(entry.ok()) << entry.error().message();
  ASSERT_TRUE(entry->has_value());
  EXPECT_EQ((*entry)->principals, "alice smith@example.com");
  EXPECT_TRUE((*entry)->options.cert_authority);
  EXPECT_EQ((*entry)->options.namespaces, "git,fi\"le");
  EXPECT_EQ((*entry)->options.valid_after, 1767225600u);
  EXPECT_FALSE((*entry)->options.valid_before);
  EXPECT_EQ((*entry)->key, key);

  auto bare = parse_allowed_signers_line("a@b,c@d\t" + key.public_line());
  ASSERT_TRUE(bare.ok() && bare->has_value());
  EXPECT_EQ((*bare)->principals, "a@b,c@d");
  // Empty options between commas are skipped, as OpenSSH does.
  EXPECT_TRUE(parse_allowed_signers_line(line_for("a", ",cert-authority,,namespaces=\"x\"", key)).ok());
  for (std::string skip : {"", "\n", "   \t\r\n", "# comment", "  # indented comment"}) {
    auto r = parse_allowed_signers_line(skip);
    ASSERT_TRUE(r.ok()) << skip;
    EXPECT_FALSE(r->has_value()) << skip;
  }
}

TEST(AllowedSigners, BadLinesSayWhatIsWrong) {
  KeyOrCertificate key = plain(test_key(KeyType::kEd25519));
  std::string k = key.public_line();
  struct Case {
    std::string line, expect;
  };
  std::vector<Case> cases = {
      {"alice", "invalid line"},
      {"\"alice " + k, "end quote"},
      {"\"alice\"x " + k, "end quote"},
      {"alice\n", "missing key"},
      {"alice cert-authority", "missing key"},
      {"alice cert-authority   \r\n", "missing key"},
      {"alice bogus " + k, "unknown key option \"bogus\""},
      {"alice cert-authorityx " + k, "unknown key option"},
      {"alice cert-authority, " + k, "unexpected end-of-options"},
      {"alice namespaces=git " + k, "missing start quote"},
      {"alice namespaces=\"git " + k, "missing end quote"},
      {"alice namespaces=\"a\",namespaces=\"b\" " + k, "multiple \"namespaces\" clauses"},
      {"alice valid-after=\"1\" " + k, "invalid \"valid-after\" time"},
      {"alice valid-after=\"19700101Z\" " + k, "invalid \"valid-after\" time"},
      {"alice valid-before=\"20261301\" " + k, "invalid \"valid-before\" time"},
      {"alice valid-after=\"2026\",valid-after=\"2027\" " + k, "invalid \"valid-after\" time"},
      {"alice valid-after=\"20260101\",valid-after=\"20270101\" " + k, "multiple \"valid-after\" clauses"},
      {"alice valid-after=\"20270101\",valid-before=\"20260101\" " + k, "\"valid-before\" time is before"},
      {"alice ssh-ed25519 AAAA", "invalid key"},
      {"alice ssh-ed25519", "invalid key"},
      {"alice ssh-dss AAAAB3NzaC1kc3M=", "unknown key option"},
      {"alice " + std::string("ssh-ed25519-cert-v01@openssh.com ") + k.substr(12), "invalid key"},
      {std::string("alice\0 ", 7) + k, "NUL"},
      {"alice " + std::string(kMaxAllowedSignersLineBytes, 'x'), "longer than"},
  };
  for (const auto& c : cases) {
    auto r = parse_allowed_signers_line(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos)
        << c.line.substr(0, 80) << " -> " << r.error().message();
  }
}

TEST(AllowedSigners, FileErrorsHaveLineNumbers) {
  std::string k = plain(test_key(KeyType::kEd25519)).public_line();
  auto ok = parse_allowed_signers("# signers\n\nalice " + k + "\nbob " + k);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->size(), 2u);
  auto bad = parse_allowed_signers("alice " + k + "\n\nbob frobnicate " + k + "\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().message().starts_with("line 3: bad options: unknown key option")) << bad.error().message();
}

TEST_F(UtcTime, AbsoluteTimes) {
  EXPECT_EQ(*parse_absolute_time("20260101"), 1767225600u);
  EXPECT_EQ(*parse_absolute_time("20260101Z"), 1767225600u);
  EXPECT_EQ(*parse_absolute_time("20260101utc"), 1767225600u);
  EXPECT_EQ(*parse_absolute_time("202601011230"), 1767225600u + 12 * 3600 + 30 * 60);
  EXPECT_EQ(*parse_absolute_time("20260101123059Z"), 1767225600u + 12 * 3600 + 30 * 60 + 59);
  for (std::string bad : {"", "Z", "2026", "2026010", "202601011", "2026-01-01", "20260001", "20260132",
                          "20261301", "202601012400", "202601011260", "20260101120061", " 20260101", "19600101Z",
                          "2026010112305Z"}) {
    EXPECT_FALSE(parse_absolute_time(bad).ok()) << bad;
  }
  EXPECT_EQ(format_absolute_time(1767225600u + 59), "2026-01-01T00:00:59");
  EXPECT_FALSE(format_absolute_time(UINT64_MAX).empty());
}

// ---- -Y verify, find-principals, match-principals ----

class SshsigChecks : public UtcTime {
 protected:
  Result<SshsigVerified> check(const Sshsig& sig, const std::string& allowed, std::optional<std::string> principal,
                               uint64_t when, RevocationCheck revoked = {}) {
    diagnostics_.clear();
    SshsigVerifyRequest request{"file", principal, std::nullopt, std::move(revoked), when};
    if (principal) request.allowed_signers = AllowedSignersFile{"as", allowed};
    std::istringstream in(kMessage);
    return sshsig_check(sig, in, request, &diagnostics_);
  }
  Diagnostics diagnostics_;
  const uint64_t now_ = 1780000000;  // 2026-05-28
};

TEST_F(SshsigChecks, PlainKeys) {
  const PrivateKey& key = test_key(KeyType::kEd25519);
  const PrivateKey& other = test_key(KeyType::kEcdsaP256);
  Sshsig sig = sign_message(key);
  std::string file = line_for("bob", "", plain(key)) + line_for("alice", "", plain(other)) +
                     line_for("alice,carol", "namespaces=\"git\"", plain(key)) + line_for("*", "", plain(key));
  auto verified = check(sig, file, "alice", now_);
  ASSERT_TRUE(verified.ok()) << verified.error().message();
  EXPECT_EQ(sshsig_good_message("file", *verified),
            "Good \"file\" signature for alice with ED25519 key " + plain(key).fingerprint());
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0], "as:3: key is not permitted for use in signature namespace \"file\"");
  // check-novalidate: no file, no principal.
  auto novalidate = check(sig, "", std::nullopt, now_);
  ASSERT_TRUE(novalidate.ok());
  EXPECT_EQ(sshsig_good_message("file", *novalidate),
            "Good \"file\" signature with ED25519 key " + plain(key).fingerprint());
  // No line for this principal and key.
  auto refused = check(sig, line_for("alice", "", plain(other)), "alice", now_);
  EXPECT_EQ(refused.error().code(), Errc::kBadSignature);
  EXPECT_TRUE(diagnostics_.empty());
  // Lines whose principals do not match are not even parsed.
  EXPECT_TRUE(check(sig, "bob total garbage\n" + line_for("alice", "", plain(key)), "alice", now_).ok());
  EXPECT_TRUE(diagnostics_.empty());
  // ...but matching malformed lines are reported and skipped.
  EXPECT_TRUE(check(sig, "alice garbage\n" + line_for("alice", "", plain(key)), "alice", now_).ok());
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0], "as:1: missing key");
}

TEST_F(SshsigChecks, ValidityWindows) {
  const PrivateKey& key = test_key(KeyType::kEd25519);
  Sshsig sig = sign_message(key);
  std::string file = line_for("alice", "valid-after=\"20260601Z\",valid-before=\"20260701Z\"", plain(key));
  EXPECT_FALSE(check(sig, file, "alice", now_).ok());
  ASSERT_EQ(diagnostics_.size(), 1u);
  EXPECT_EQ(diagnostics_[0],
            "as:1: key is not yet valid: verify time 2026-05-28T20:26:40 < valid-after 2026-06-01T00:00:00");
  EXPECT_TRUE(check(sig, file, "alice", *parse_absolute_time("20260615")).ok());
  EXPECT_TRUE(check(sig, file, "alice", *parse_absolute_time("20260701")).ok());  // valid-before is inclusive
  EXPECT_FALSE(check(sig, file, "alice", *parse_absolute_time("20260701000001")).ok());
  EXPECT_EQ(diagnostics_[0],
            "as:1: key has expired: verify time 2026-07-01T00:00:01 > valid-before 2026-07-01T00:00:00");
}

TEST_F(SshsigChecks, Revocation) {
  const PrivateKey& key = test_key(KeyType::kEd25519);
  Sshsig sig = sign_message(key);
  std::string file = line_for("alice", "", plain(key));
  auto revoked = check(sig, file, "alice", now_, [](const KeyOrCertificate&) -> Result<bool> { return true; });
  EXPECT_EQ(revoked.error().code(), Errc::kInvalidKey);
  EXPECT_NE(revoked.error().message().find("is revoked"), std::string::npos);
  auto failing = check(sig, file, "alice", now_,
                       [](const KeyOrCertificate&) -> Result<bool> { return Error(Errc::kMalformed, "bad KRL"); });
  EXPECT_NE(failing.error().message().find("bad KRL"), std::string::npos);
  EXPECT_TRUE(check(sig, file, "alice", now_, [](const KeyOrCertificate&) -> Result<bool> { return false; }).ok());
  // Revocation is checked for check-novalidate too, and before the file.
  EXPECT_FALSE(check(sig, "", std::nullopt, now_, [](const KeyOrCertificate&) -> Result<bool> { return true; }).ok());
}

TEST_F(SshsigChecks, CertificatesThroughCertAuthorityLines) {
  const PrivateKey& user = test_key(KeyType::kEd25519, 2);
  const PrivateKey& ca = test_key(KeyType::kEcdsaP384);
  const PrivateKey& other_ca = test_key(KeyType::kEd25519, 3);
  auto sign_cert = [&](const Certificate& cert) {
    return *sshsig_sign(KeyOrCertificate::certified(cert), sign_with(user), "file", SshsigHash::kSha512,
                        sshsig_digest(SshsigHash::kSha512, as_bytes(kMessage)));
  };
  Sshsig sig = sign_cert(make_cert(user, ca, {"alice@example.com", "ops@example.com"}, now_ - 100, now_ + 100));
  std::string ca_line = line_for("*@example.com", "cert-authority", plain(ca));
  auto good = check(sig, ca_line, "alice@example.com", now_);
  ASSERT_TRUE(good.ok()) << good.error().message();
  EXPECT_NE(sshsig_good_message("file", *good).find("with ED25519-CERT key"), std::string::npos);
  // The principal must be in the certificate, exactly.
  EXPECT_FALSE(check(sig, ca_line, "bob@example.com", now_).ok());
  EXPECT_EQ(diagnostics_.at(0), "as:1: certificate not authorized: Certificate invalid: name is not a listed principal");
  // Not without cert-authority, not under another CA, not outside its validity.
  EXPECT_FALSE(check(sig, line_for("*@example.com", "", plain(ca)), "alice@example.com", now_).ok());
  EXPECT_FALSE(check(sig, line_for("*", "cert-authority", plain(other_ca)), "alice@example.com", now_).ok());
  EXPECT_FALSE(check(sig, ca_line, "alice@example.com", now_ + 100).ok());
  EXPECT_EQ(diagnostics_.at(0), "as:1: certificate not authorized: Certificate invalid: expired");
  // A plain line with the user key does not accept its certificate (sshkey_equal).
  EXPECT_FALSE(check(sig, line_for("*", "", plain(user)), "alice@example.com", now_).ok());
  // A line holding the very certificate does.
  EXPECT_TRUE(check(sig, line_for("*", "", sig.signer), "alice@example.com", now_).ok());
  // Host certificates and certificates without principals are refused.
  Sshsig host = sign_cert(make_cert(user, ca, {"alice@example.com"}, 0, UINT64_MAX, CertType::kHost));
  EXPECT_FALSE(check(host, ca_line, "alice@example.com", now_).ok());
  EXPECT_EQ(diagnostics_.at(0), "as:1: certificate not authorized: Certificate invalid: not a user certificate");

  // find-principals: the certificate's principals that the line's patterns match.
  std::string text = line_for("ops@*,alice@example.com,nobody", "cert-authority", plain(ca));
  AllowedSignersFile file{"as", text};
  Diagnostics diagnostics;
  auto found = sshsig_find_principals(sig.signer, file, now_, &diagnostics);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, (std::vector<std::string>{"ops@example.com", "alice@example.com"}));
  auto none = sshsig_find_principals(sig.signer, file, now_ + 1000, &diagnostics);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(diagnostics.back(), "as:1: no valid principals found");
}

TEST_F(SshsigChecks, FindAndMatchPrincipals) {
  const PrivateKey& key = test_key(KeyType::kEd25519);
  const PrivateKey& other = test_key(KeyType::kEcdsaP256);
  std::string text = "# signers\n" + line_for("bob@example.com", "", plain(other)) +
                     line_for("alice@example.com,*@example.org", "namespaces=\"git\"", plain(key)) +
                     line_for("carol@example.com", "", plain(key));
  AllowedSignersFile file{"as", text};
  Diagnostics diagnostics;
  auto found = sshsig_find_principals(plain(key), file, now_, &diagnostics);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, (std::vector<std::string>{"alice@example.com", "*@example.org"}));
  auto nobody = sshsig_find_principals(plain(test_key(KeyType::kEcdsaP384)), file, now_, &diagnostics);
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(nobody->empty());

  auto matched = sshsig_match_principals(file, "x@example.org");
  ASSERT_TRUE(matched.ok());
  EXPECT_EQ(*matched, (std::vector<std::string>{"alice@example.com,*@example.org"}));
  EXPECT_TRUE(sshsig_match_principals(file, "dave@example.com")->empty());
  // A malformed matching line stops the search, with its line number.
  std::string broken_text = text + "dave@example.com bogus-option " + plain(key).public_line() + "\n";
  AllowedSignersFile broken{"as", broken_text};
  auto error = sshsig_match_principals(broken, "dave@example.com");
  ASSERT_FALSE(error.ok());
  EXPECT_TRUE(error.error().message().starts_with("as:5: bad options")) << error.error().message();
  EXPECT_TRUE(sshsig_match_principals(broken, "bob@example.com").ok());
  // Bounded input.
  std::string huge(kMaxAllowedSignersBytes + 1, '#');
  EXPECT_EQ(sshsig_match_principals({"as", huge}, "x").error().code(), Errc::kTooLarge);
}

}  // namespace
}  // namespace tessera::key
