// OpenSSH certificates between OpenSSH's ssh-keygen and tessera:
//   (a) `ssh-keygen -s` certifies every subject key type (including
//       security-key public keys built by the test) with every CA type and
//       signature algorithm; tessera parses the -cert.pub, finds the fields
//       that were asked for, verifies the CA signature, rejects tampering and
//       re-serializes the exact blob;
//   (b) `ssh-keygen -L` accepts the certificate tessera re-serializes, and a
//       certificate that tessera changes and re-signs with the CA key, and
//       refuses a changed one that is not re-signed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> parts;
  std::istringstream in(line);
  for (std::string part; in >> part;) parts.push_back(part);
  return parts;
}

// Generates a key pair with ssh-keygen; returns the private key file's path.
std::string keygen(const TempDir& dir, const std::string& name, const std::string& type, unsigned bits = 0) {
  std::string path = dir.file(name);
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type, "-N", "", "-C", name, "-f", path};
  if (bits != 0) {
    argv.push_back("-b");
    argv.push_back(std::to_string(bits));
  }
  auto r = run(argv);
  if (r.exit_code != 0) ADD_FAILURE() << "ssh-keygen -t " << type << ": " << r.err;
  return path;
}

PublicKey read_public(const std::string& pub_path) {
  auto line = parse_public_key_line(test::read_file(pub_path));
  if (!line.ok()) {
    ADD_FAILURE() << pub_path << ": " << line.error().message();
    std::abort();
  }
  return line->key;
}

struct Subject {
  std::string name;
  KeyType type;
  std::string pub_path;
};

// Test names, in the order of Keys::cas (kept apart so that listing the tests generates no keys).
constexpr std::array<const char*, 8> kCaNames = {"ed25519",     "ecdsa256",   "ecdsa384",   "ecdsa521",
                                                 "rsa_default", "rsa_sha512", "rsa_sha256", "rsa_sha1"};

struct Ca {
  std::string name;
  std::string key_path;
  std::vector<std::string> sign_args;  // e.g. -t rsa-sha2-512
  std::string expected_alg;            // in the signature blob
};

// Keys shared by all tests: generating RSA keys is slow.
class Keys {
 public:
  static Keys& get() {
    static Keys keys;
    return keys;
  }
  TempDir dir;
  std::vector<Subject> subjects;
  std::vector<Ca> cas;

 private:
  Keys() {
    const struct {
      const char* name;
      const char* type;
      unsigned bits;
      KeyType key_type;
    } plain[] = {{"ed25519", "ed25519", 0, KeyType::kEd25519},
                 {"ecdsa256", "ecdsa", 256, KeyType::kEcdsaP256},
                 {"ecdsa384", "ecdsa", 384, KeyType::kEcdsaP384},
                 {"ecdsa521", "ecdsa", 521, KeyType::kEcdsaP521},
                 {"rsa2048", "rsa", 2048, KeyType::kRsa}};
    for (const auto& p : plain) {
      std::string path = keygen(dir, std::string("subject_") + p.name, p.type, p.bits);
      subjects.push_back({p.name, p.key_type, path + ".pub"});
    }
    // Security-key subjects need no authenticator to be certified: only
    // their public halves, which the test builds around ordinary keys.
    for (KeyType sk : {KeyType::kSkEd25519, KeyType::kSkEcdsaP256}) {
      auto base = PrivateKey::generate(sk == KeyType::kSkEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256);
      auto pub = PublicKey::make_security_key(sk, base->evp(), "ssh:");
      if (!pub.ok()) std::abort();
      std::string name = std::string(key_type_info(sk).file_stem);
      std::string path = dir.file("subject_" + name + ".pub");
      test::write_file(path, format_public_key_line(*pub, name) + "\n", 0644);
      subjects.push_back({name, sk, path});
    }
    std::string ca_ed = keygen(dir, "ca_ed25519", "ed25519");
    std::string ca_ec256 = keygen(dir, "ca_ecdsa256", "ecdsa", 256);
    std::string ca_ec384 = keygen(dir, "ca_ecdsa384", "ecdsa", 384);
    std::string ca_ec521 = keygen(dir, "ca_ecdsa521", "ecdsa", 521);
    std::string ca_rsa = keygen(dir, "ca_rsa", "rsa", 2048);
    cas = {
        {"ed25519", ca_ed, {}, "ssh-ed25519"},
        {"ecdsa256", ca_ec256, {}, "ecdsa-sha2-nistp256"},
        {"ecdsa384", ca_ec384, {}, "ecdsa-sha2-nistp384"},
        {"ecdsa521", ca_ec521, {}, "ecdsa-sha2-nistp521"},
        {"rsa_default", ca_rsa, {}, "rsa-sha2-512"},  // OpenSSH 9.2's default for RSA CAs
        {"rsa_sha512", ca_rsa, {"-t", "rsa-sha2-512"}, "rsa-sha2-512"},
        {"rsa_sha256", ca_rsa, {"-t", "rsa-sha2-256"}, "rsa-sha2-256"},
        {"rsa_sha1", ca_rsa, {"-t", "ssh-rsa"}, "ssh-rsa"},
    };
    for (size_t i = 0; i < cas.size(); ++i) {
      if (i >= kCaNames.size() || cas[i].name != kCaNames[i]) std::abort();  // the two lists must agree
    }
  }
};

struct CertFile {
  std::string type_name;
  Bytes blob;
  std::string comment;
  std::string path;
};

// Certifies subject with ca: `ssh-keygen -s ca -I id -z 42 ... extra subject.pub`.
CertFile certify(const TempDir& dir, const Subject& subject, const Ca& ca, const std::string& tag,
                 const std::vector<std::string>& extra) {
  std::string pub = dir.file(subject.name + "_" + tag + ".pub");
  test::write_file(pub, test::read_file(subject.pub_path), 0644);
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-s", ca.key_path, "-I", "id-" + subject.name, "-z", "42"};
  argv.insert(argv.end(), ca.sign_args.begin(), ca.sign_args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(pub);
  auto r = run(argv, {}, {"TZ=UTC"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string cert_path = dir.file(subject.name + "_" + tag + "-cert.pub");
  auto parts = split_spaces(test::read_file(cert_path));
  EXPECT_EQ(parts.size(), 3u);
  auto blob = base64_decode(parts.at(1));
  EXPECT_TRUE(blob.ok());
  return {parts.at(0), *blob, parts.at(2), cert_path};
}

Bytes option_string(std::string_view value) {
  Writer w;
  w.string(value);
  return w.take();
}

const CertOption* find_option(const std::vector<CertOption>& options, std::string_view name) {
  for (const auto& o : options) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

std::vector<std::string> names_of(const std::vector<CertOption>& options) {
  std::vector<std::string> names;
  for (const auto& o : options) names.push_back(o.name);
  return names;
}

// ssh-keygen -L on a certificate line: it parses the blob and checks the CA signature.
test::CommandResult list_cert(const TempDir& dir, const std::string& name, const Certificate& cert) {
  std::string path = dir.file(name + "-cert.pub");
  test::write_file(path, std::string(cert.type_name()) + " " + base64_encode(cert.blob()) + " tessera\n", 0644);
  return run({"ssh-keygen", "-L", "-f", path});
}

// Checks what every certificate from ssh-keygen must satisfy, and returns it.
Certificate check_common(const CertFile& file, const Subject& subject, const Ca& ca, CertType type) {
  EXPECT_EQ(file.type_name, certificate_type_name(subject.type));
  auto cert = Certificate::from_blob(file.blob);
  if (!cert.ok()) {
    ADD_FAILURE() << file.path << ": " << cert.error().message();
    std::abort();
  }
  EXPECT_EQ(cert->type_name(), file.type_name);
  EXPECT_EQ(cert->blob(), file.blob);  // byte-exact round trip
  EXPECT_TRUE(cert->key == read_public(subject.pub_path));
  EXPECT_TRUE(cert->signature_key == read_public(ca.key_path + ".pub"));
  EXPECT_EQ(cert->serial, 42u);
  EXPECT_EQ(cert->type, type);
  EXPECT_EQ(cert->key_id, "id-" + subject.name);
  EXPECT_EQ(cert->nonce.size(), 32u);  // ssh-keygen's nonce
  EXPECT_TRUE(cert->reserved.empty());
  auto alg = signature_algorithm_name(cert->signature);
  EXPECT_TRUE(alg.ok());
  if (alg.ok()) {
    EXPECT_EQ(*alg, ca.expected_alg);
  }
  auto st = cert->verify_signature();
  EXPECT_TRUE(st.ok()) << st.error().message();

  // Tampering: a changed field in the struct, and a changed byte of the blob.
  Certificate changed = *cert;
  changed.serial = 43;
  EXPECT_EQ(changed.verify_signature().error().code(), Errc::kBadSignature);
  Bytes tampered = file.blob;
  std::string id = "id-" + subject.name;
  auto at = std::search(tampered.begin(), tampered.end(), id.begin(), id.end());
  EXPECT_NE(at, tampered.end());
  if (at != tampered.end()) {
    at[0] = 'I';
    auto reparsed = Certificate::from_blob(tampered);
    EXPECT_TRUE(reparsed.ok()) << reparsed.error().message();
    if (reparsed.ok()) {
      EXPECT_EQ(reparsed->key_id[0], 'I');
      EXPECT_EQ(reparsed->verify_signature().error().code(), Errc::kBadSignature);
    }
  }
  return *cert;
}

class CertInterop : public ::testing::TestWithParam<size_t> {
 protected:
  const Ca& ca() const { return Keys::get().cas[GetParam()]; }
  TempDir dir;
};

TEST_P(CertInterop, UserCertificatesWithDefaultExtensions) {
  for (const auto& subject : Keys::get().subjects) {
    SCOPED_TRACE(subject.name);
    auto before = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    CertFile file = certify(dir, subject, ca(), "user", {"-n", "alice,bob", "-V", "+1d"});
    Certificate cert = check_common(file, subject, ca(), CertType::kUser);
    EXPECT_EQ(cert.principals, (std::vector<std::string>{"alice", "bob"}));
    // -V +1d: from about now to a day later.
    EXPECT_LE(cert.valid_after, static_cast<uint64_t>(before) + 1);
    EXPECT_GE(cert.valid_after + 120, static_cast<uint64_t>(before));
    EXPECT_GE(cert.valid_before - cert.valid_after, 86400u);
    EXPECT_LE(cert.valid_before - cert.valid_after, 86400u + 120);
    EXPECT_TRUE(cert.critical_options.empty());
    EXPECT_EQ(names_of(cert.extensions),
              (std::vector<std::string>{"permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
                                        "permit-pty", "permit-user-rc"}));
    for (const auto& e : cert.extensions) EXPECT_TRUE(e.data.empty()) << e.name;

    auto listed = list_cert(dir, subject.name + "_user_again", cert);
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("Serial: 42"), std::string::npos) << listed.out;
  }
}

TEST_P(CertInterop, UserCertificatesWithOptions) {
  for (const auto& subject : Keys::get().subjects) {
    SCOPED_TRACE(subject.name);
    CertFile file = certify(dir, subject, ca(), "opts",
                            {"-n", "carol", "-V", "always:forever", "-O", "clear", "-O", "permit-pty", "-O",
                             "force-command=/usr/bin/uptime", "-O", "source-address=10.0.0.0/8,::1/128", "-O",
                             "verify-required", "-O", "no-touch-required", "-O",
                             "extension:custom@example.com=value", "-O", "critical:zz@example.com=crit"});
    Certificate cert = check_common(file, subject, ca(), CertType::kUser);
    EXPECT_EQ(cert.principals, (std::vector<std::string>{"carol"}));
    EXPECT_EQ(cert.valid_after, 0u);
    EXPECT_EQ(cert.valid_before, UINT64_MAX);
    EXPECT_EQ(names_of(cert.critical_options),
              (std::vector<std::string>{"force-command", "source-address", "verify-required", "zz@example.com"}));
    const CertOption* cmd = find_option(cert.critical_options, "force-command");
    ASSERT_NE(cmd, nullptr);
    EXPECT_EQ(cmd->data, option_string("/usr/bin/uptime"));
    const CertOption* from = find_option(cert.critical_options, "source-address");
    ASSERT_NE(from, nullptr);
    EXPECT_EQ(from->data, option_string("10.0.0.0/8,::1/128"));
    EXPECT_TRUE(find_option(cert.critical_options, "verify-required")->data.empty());
    EXPECT_EQ(find_option(cert.critical_options, "zz@example.com")->data, option_string("crit"));
    EXPECT_EQ(names_of(cert.extensions),
              (std::vector<std::string>{"custom@example.com", "no-touch-required", "permit-pty"}));
    EXPECT_EQ(find_option(cert.extensions, "custom@example.com")->data, option_string("value"));

    auto listed = list_cert(dir, subject.name + "_opts_again", cert);
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("force-command /usr/bin/uptime"), std::string::npos) << listed.out;
  }
}

TEST_P(CertInterop, HostCertificates) {
  for (const auto& subject : Keys::get().subjects) {
    SCOPED_TRACE(subject.name);
    // -V dates are local time; TZ=UTC makes them exact.
    CertFile file = certify(dir, subject, ca(), "host",
                            {"-h", "-n", "host.example.com,*.example.org", "-V", "20200101:20300101"});
    Certificate cert = check_common(file, subject, ca(), CertType::kHost);
    EXPECT_EQ(cert.principals, (std::vector<std::string>{"host.example.com", "*.example.org"}));
    EXPECT_EQ(cert.valid_after, 1577836800u);
    EXPECT_EQ(cert.valid_before, 1893456000u);
    EXPECT_TRUE(cert.critical_options.empty());
    EXPECT_TRUE(cert.extensions.empty());

    auto listed = list_cert(dir, subject.name + "_host_again", cert);
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("host certificate"), std::string::npos) << listed.out;
  }
}

// ssh-keygen -L checks the CA signature: a certificate tessera changes is
// refused until tessera re-signs it with the CA's private key.
TEST_P(CertInterop, ChangedAndResignedByTessera) {
  const Subject& subject = Keys::get().subjects.front();
  CertFile file = certify(dir, subject, ca(), "resign", {"-n", "alice"});
  Certificate cert = check_common(file, subject, ca(), CertType::kUser);

  cert.serial = 4242;
  cert.principals.push_back("root");
  auto refused = list_cert(dir, "changed", cert);
  EXPECT_NE(refused.exit_code, 0) << refused.out;

  auto ca_key = parse_openssh_private_key(test::read_file(ca().key_path), SecretBytes());
  ASSERT_TRUE(ca_key.ok()) << ca_key.error().message();
  SignatureAlgorithm alg = SignatureAlgorithm::kDefault;
  if (ca().expected_alg == "rsa-sha2-512") alg = SignatureAlgorithm::kRsaSha512;
  if (ca().expected_alg == "rsa-sha2-256") alg = SignatureAlgorithm::kRsaSha256;
  auto sig = ca_key->key.sign(certificate_signed_data(cert), alg);
  ASSERT_TRUE(sig.ok()) << sig.error().message();
  cert.signature = *sig;
  ASSERT_TRUE(cert.verify_signature().ok());
  auto accepted = list_cert(dir, "resigned", cert);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_NE(accepted.out.find("Serial: 4242"), std::string::npos) << accepted.out;
  EXPECT_NE(accepted.out.find("root"), std::string::npos) << accepted.out;
}

INSTANTIATE_TEST_SUITE_P(Cas, CertInterop, ::testing::Range<size_t>(0, kCaNames.size()),
                         [](const ::testing::TestParamInfo<size_t>& p) { return std::string(kCaNames[p.param]); });

}  // namespace
}  // namespace tessera::key
