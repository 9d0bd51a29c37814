// The publickey decision (server/user_keys.h) with real files in a temporary
// home directory: keys and certificates made by libkey (and by ssh-keygen),
// KRLs from libkey and ssh-keygen -k, StrictModes refusing what sshd 9.2
// refuses, every option that decides, principals files, and the cache.
#include "server/user_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/krl.h"

namespace tessera::ssh::server {
namespace {

using key::Certificate;
using key::CertOption;
using key::KeyOrCertificate;
using key::KeyType;
using key::PrivateKey;

// 2023-11-14T22:13:20Z.
constexpr uint64_t kNow = 1700000000;
constexpr uid_t kUid = 1234;

const PrivateKey& test_key(KeyType type, int which = 0) {
  static std::map<std::pair<KeyType, int>, PrivateKey> keys;
  auto it = keys.find({type, which});
  if (it == keys.end()) {
    auto k = PrivateKey::generate(type, type == KeyType::kRsa ? 2048 : 0);
    if (!k.ok()) std::abort();
    it = keys.emplace(std::make_pair(type, which), std::move(k).value()).first;
  }
  return it->second;
}

const PrivateKey& alice_key() { return test_key(KeyType::kEd25519, 0); }
const PrivateKey& ca_key() { return test_key(KeyType::kEd25519, 9); }

std::string line_of(const key::PublicKey& k) { return key::format_public_key_line(k, "comment") + "\n"; }

struct CertSpec {
  std::vector<std::string> principals{"alice"};
  std::vector<CertOption> critical;
  std::vector<CertOption> extensions{{"permit-pty", {}}, {"permit-port-forwarding", {}}};
  uint64_t valid_after = 0;
  uint64_t valid_before = UINT64_MAX;
  key::CertType type = key::CertType::kUser;
  uint64_t serial = 7;
  std::string algorithm;  // the CA's signature algorithm; default for the CA key
};

Certificate make_cert(const key::PublicKey& subject, const PrivateKey& ca, const CertSpec& spec = {}) {
  Certificate c{.key = subject, .nonce = {}, .serial = spec.serial, .type = spec.type, .key_id = "alice@example",
                .principals = spec.principals, .valid_after = spec.valid_after, .valid_before = spec.valid_before,
                .critical_options = spec.critical, .extensions = spec.extensions, .reserved = {},
                .signature_key = ca.public_key(), .signature = {}};
  key::PrivateKeySigner signer(ca);
  const std::string alg =
      spec.algorithm.empty() ? std::string(key::default_certificate_algorithm(ca.public_key())) : spec.algorithm;
  if (!key::sign_certificate(c, signer, alg).ok()) std::abort();
  return c;
}

key::Bytes string_data(std::string_view s) {
  key::Writer w;
  w.string(s);
  return w.take();
}

bool has_line(const UserKeyDecision& d, std::string_view text) {
  for (const LogLine& l : d.log) {
    if (l.text == text) return true;
  }
  return false;
}

std::string dump(const UserKeyDecision& d) {
  std::string out = "reason: " + d.reason + "\n";
  for (const LogLine& l : d.log) out += "  [" + std::to_string(static_cast<int>(l.level)) + "] " + l.text + "\n";
  return out;
}

class UserKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::weakly_canonical(dir_.path() / "home").string();
    ASSERT_EQ(::mkdir(home_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((home_ + "/.ssh").c_str(), 0700), 0);
    user_ = TargetUser{"alice", kUid, kUid, home_};
    keys_file_ = home_ + "/.ssh/authorized_keys";
  }

  void write(const std::string& path, const std::string& contents, unsigned mode = 0600) {
    test::write_file(path, contents, mode);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  UserKeyDecision check(const KeyOrCertificate& k, std::string_view algorithm = {}, uint64_t now = kNow) {
    const key::Bytes blob = k.blob();
    const std::string alg = algorithm.empty() ? std::string(k.type_name()) : std::string(algorithm);
    return check_user_key(user_, config_, client_, UserKeyRequest{alg, blob, now});
  }
  UserKeyDecision check(const key::PublicKey& k, std::string_view algorithm = {}, uint64_t now = kNow) {
    return check(KeyOrCertificate::plain(k), algorithm, now);
  }
  UserKeyDecision check(const Certificate& c, std::string_view algorithm = {}, uint64_t now = kNow) {
    return check(KeyOrCertificate::certified(c), algorithm, now);
  }

  std::string fp(const key::PublicKey& k) { return key::fingerprint(k, key::FingerprintHash::kSha256); }

  test::TempDir dir_;
  std::string home_;
  std::string keys_file_;
  TargetUser user_;
  UserKeysConfig config_;
  RemoteClient client_{"192.0.2.7", "client.example.org"};
};

// ---- plain keys ----

TEST_F(UserKeys, ListedKeyIsAccepted) {
  write(keys_file_, "# my keys\n\n" + line_of(test_key(KeyType::kEcdsaP256).public_key()) +
                        line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, keys_file_ + ":4");
  EXPECT_EQ(d.key_description, "ED25519 " + fp(alice_key().public_key()));
  EXPECT_TRUE(has_line(d, "Accepted key ED25519 " + fp(alice_key().public_key()) + " found at " + keys_file_ + ":4"))
      << dump(d);
  EXPECT_EQ(d.options, AuthOptions{});
  ASSERT_TRUE(d.key.has_value());
  EXPECT_EQ(d.key->key, alice_key().public_key());
  EXPECT_EQ(d.valid_until, UINT64_MAX);
  EXPECT_TRUE(d.reason.empty());
}

TEST_F(UserKeys, EveryKeyType) {
  std::string file;
  for (KeyType t : {KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521, KeyType::kRsa}) {
    file += line_of(test_key(t, 3).public_key());
  }
  write(keys_file_, file);
  for (KeyType t : {KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521}) {
    EXPECT_TRUE(check(test_key(t, 3).public_key()).accepted);
  }
  EXPECT_TRUE(check(test_key(KeyType::kRsa, 3).public_key(), "rsa-sha2-512").accepted);
  EXPECT_TRUE(check(test_key(KeyType::kRsa, 3).public_key(), "rsa-sha2-256").accepted);
  // ssh-rsa (SHA-1) is not in sshd 9.2's PubkeyAcceptedAlgorithms.
  auto d = check(test_key(KeyType::kRsa, 3).public_key(), "ssh-rsa");
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms");
  config_.pubkey_accepted_algorithms = "ssh-rsa,ssh-ed25519";
  EXPECT_TRUE(check(test_key(KeyType::kRsa, 3).public_key(), "ssh-rsa").accepted);
  EXPECT_FALSE(check(test_key(KeyType::kEcdsaP256, 3).public_key()).accepted);
}

TEST_F(UserKeys, SecurityKeys) {
  auto sk = key::PublicKey::make_security_key(KeyType::kSkEd25519, test_key(KeyType::kEd25519, 4).evp(), "ssh:");
  auto sk_ecdsa =
      key::PublicKey::make_security_key(KeyType::kSkEcdsaP256, test_key(KeyType::kEcdsaP256, 4).evp(), "ssh:");
  ASSERT_TRUE(sk.ok() && sk_ecdsa.ok());
  write(keys_file_, "no-touch-required " + line_of(*sk) + "verify-required " + line_of(*sk_ecdsa));
  auto d = check(*sk);
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.key_description, "ED25519-SK " + fp(*sk));
  EXPECT_TRUE(d.options.no_require_user_presence);
  d = check(*sk_ecdsa);
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_TRUE(d.options.require_verify);
  EXPECT_FALSE(d.options.no_require_user_presence);
  // The same key material as a plain key is another key.
  EXPECT_FALSE(check(test_key(KeyType::kEd25519, 4).public_key()).accepted);
}

TEST_F(UserKeys, UnlistedKeyIsRefused) {
  write(keys_file_, line_of(alice_key().public_key()));
  auto d = check(test_key(KeyType::kEd25519, 1).public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_FALSE(d.reason.empty());
  EXPECT_EQ(d.options, AuthOptions{});
}

TEST_F(UserKeys, CertAuthorityLineDoesNotAdmitThePlainKey) {
  write(keys_file_, "cert-authority " + line_of(alice_key().public_key()));
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
}

TEST_F(UserKeys, SecondFileTokensAndNone) {
  write(home_ + "/.ssh/authorized_keys2", line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, home_ + "/.ssh/authorized_keys2:1");

  write(home_ + "/keys-alice-1234%", line_of(alice_key().public_key()));
  config_.authorized_keys_files = {"none", home_ + "/keys-%u-%U%%"};
  d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, home_ + "/keys-alice-1234%:1");

  config_.authorized_keys_files = {"%h/.ssh/authorized_keys2"};
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  config_.authorized_keys_files = {"NONE"};
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
  // An unknown token is an error for that file only.
  config_.authorized_keys_files = {".ssh/%x", ".ssh/authorized_keys2"};
  d = check(alice_key().public_key());
  EXPECT_TRUE(d.accepted);
  EXPECT_TRUE(has_line(d, "AuthorizedKeysFile .ssh/%x: unknown token %x in \".ssh/%x\"")) << dump(d);
}

TEST_F(UserKeys, ExpandUserFile) {
  EXPECT_EQ(*expand_user_file(".ssh/authorized_keys", user_), home_ + "/.ssh/authorized_keys");
  EXPECT_EQ(*expand_user_file("/etc/ssh/keys/%u", user_), "/etc/ssh/keys/alice");
  EXPECT_EQ(*expand_user_file("%h/%U/%%", user_), home_ + "/1234/%");
  EXPECT_FALSE(expand_user_file("keys%", user_).ok());
  EXPECT_FALSE(expand_user_file("%d/keys", user_).ok());
}

TEST_F(UserKeys, OptionsComeBack) {
  write(keys_file_, "restrict,pty,command=\"/usr/bin/uptime\",environment=\"A=b\",permitopen=\"db:5432\","
                    "permitlisten=\"8080\",tunnel=\"1\",no-touch-required,verify-required " +
                        line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_TRUE(d.options.restricted);
  EXPECT_TRUE(d.options.permit_pty);
  EXPECT_FALSE(d.options.permit_port_forwarding || d.options.permit_agent_forwarding ||
               d.options.permit_x11_forwarding || d.options.permit_user_rc);
  EXPECT_EQ(d.options.force_command, "/usr/bin/uptime");
  EXPECT_EQ(d.options.environment, (std::vector<std::string>{"A=b"}));
  EXPECT_EQ(d.options.permit_open, (std::vector<std::string>{"db:5432"}));
  EXPECT_EQ(d.options.permit_listen, (std::vector<std::string>{"*:8080"}));
  EXPECT_EQ(d.options.force_tun_device, 1u);
  EXPECT_TRUE(d.options.no_require_user_presence);
  EXPECT_TRUE(d.options.require_verify);
}

TEST_F(UserKeys, BadLinesAreSkippedAndLaterLinesStillCount) {
  const std::string k = line_of(alice_key().public_key());
  write(keys_file_, "frobnicate " + k + "command=\"open " + k + "garbage\n" + "no-pty " + k);
  auto d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, keys_file_ + ":4");
  EXPECT_FALSE(d.options.permit_pty);
  EXPECT_TRUE(has_line(d, keys_file_ + ":1: bad key options: unknown key option")) << dump(d);
  EXPECT_TRUE(has_line(d, "invalid key option string")) << dump(d);
}

TEST_F(UserKeys, ExpiryTime) {
  write(keys_file_, "expiry-time=\"20230101Z\" " + line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, "Refused by key options")) << dump(d);
  EXPECT_TRUE(has_line(d, keys_file_ + ":1: entry expired at " + key::format_absolute_time(1672531200))) << dump(d);
  write(keys_file_, "expiry-time=\"20301231Z\" " + line_of(alice_key().public_key()));
  d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.valid_until, 1924905600u + 1);
  EXPECT_FALSE(check(alice_key().public_key(), {}, 1924905601).accepted);
}

TEST_F(UserKeys, FromAddressesNetworksNegationAndHostNames) {
  struct Case {
    const char* from;
    bool accepted;
  };
  const Case cases[] = {
      {"192.0.2.7", true},
      {"192.0.2.0/24", true},
      {"10.0.0.0/8,192.0.2.0/25", true},
      {"192.0.2.128/25", false},
      {"192.0.2.*", true},
      {"!192.0.2.7,192.0.2.0/24", false},
      {"192.0.2.0/24,!192.0.2.7", false},
      {"*.example.org", true},
      {"*.example.org,!client.example.org", false},
      {"other.example.org", false},
      {"192.0.2.1/24", false},  // invalid: host bits set
  };
  for (const Case& c : cases) {
    write(keys_file_, "from=\"" + std::string(c.from) + "\" " + line_of(alice_key().public_key()));
    auto d = check(alice_key().public_key());
    EXPECT_EQ(d.accepted, c.accepted) << c.from << "\n" << dump(d);
    if (c.accepted) {
      EXPECT_EQ(d.options.required_from_host_keys, c.from);
    }
  }
  write(keys_file_, "from=\"10.0.0.0/8\" " + line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  EXPECT_TRUE(has_line(d, keys_file_ + ":1: Authentication tried for alice with correct key but not from a permitted "
                                       "host (host=client.example.org, ip=192.0.2.7, required=10.0.0.0/8)."))
      << dump(d);
  // IPv6 clients.
  client_ = {"2001:db8::7", "2001:db8::7"};
  write(keys_file_, "from=\"2001:db8::/64\" " + line_of(alice_key().public_key()));
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  write(keys_file_, "from=\"2001:db9::/64\" " + line_of(alice_key().public_key()));
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
}

TEST_F(UserKeys, MismatchedAlgorithmAndUnknownAlgorithm) {
  write(keys_file_, line_of(test_key(KeyType::kEcdsaP256).public_key()));
  auto d = check(test_key(KeyType::kEcdsaP256).public_key(), "ssh-ed25519");
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "type mismatch for decoded key (received ecdsa-sha2-nistp256, expected ssh-ed25519)");
  d = check(test_key(KeyType::kEcdsaP256).public_key(), "ecdsa-sha2-nistp384");
  EXPECT_FALSE(d.accepted);
  d = check(test_key(KeyType::kEcdsaP256).public_key(), "ssh-dss");
  EXPECT_EQ(d.reason, "unsupported public key algorithm: ssh-dss");
  const key::Bytes junk = {0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 1, 0};
  d = check_user_key(user_, config_, client_, UserKeyRequest{"ssh-ed25519", junk, kNow});
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason.rfind("parse key: ", 0), 0u) << d.reason;
  EXPECT_FALSE(d.key.has_value());
}

TEST_F(UserKeys, RequiredRsaSize) {
  write(keys_file_, line_of(test_key(KeyType::kRsa).public_key()));
  EXPECT_TRUE(check(test_key(KeyType::kRsa).public_key(), "rsa-sha2-256").accepted);
  config_.required_rsa_size = 3072;
  auto d = check(test_key(KeyType::kRsa).public_key(), "rsa-sha2-256");
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "refusing RSA key: Invalid key length");
}

TEST_F(UserKeys, NotARegularFile) {
  ASSERT_EQ(::mkdir(keys_file_.c_str(), 0700), 0);
  auto d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, "User 'alice' authorized keys '" + keys_file_ + "' is not a regular file")) << dump(d);
}

TEST_F(UserKeys, OverlongLinesAreSkipped) {
  write(keys_file_, "command=\"" + std::string(kMaxAuthorizedKeysLineBytes, 'x') + "\" " +
                        line_of(alice_key().public_key()) + line_of(alice_key().public_key()));
  auto d = check(alice_key().public_key());
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, keys_file_ + ":2");
  EXPECT_TRUE(has_line(d, keys_file_ + ":1: line longer than " + std::to_string(kMaxAuthorizedKeysLineBytes) +
                              " bytes ignored"));
}

// ---- StrictModes ----

TEST_F(UserKeys, StrictModesRefusesWritableFilesAndDirectories) {
  write(keys_file_, line_of(alice_key().public_key()));
  ASSERT_TRUE(check(alice_key().public_key()).accepted);

  ASSERT_EQ(::chmod(keys_file_.c_str(), 0620), 0);
  auto d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for file " + keys_file_) << dump(d);
  ASSERT_EQ(::chmod(keys_file_.c_str(), 0600), 0);

  ASSERT_EQ(::chmod((home_ + "/.ssh").c_str(), 0777), 0);
  d = check(alice_key().public_key());
  EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for directory " + home_ + "/.ssh");
  ASSERT_EQ(::chmod((home_ + "/.ssh").c_str(), 0700), 0);

  ASSERT_EQ(::chmod(home_.c_str(), 0775), 0);
  d = check(alice_key().public_key());
  EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for directory " + home_);
  ASSERT_EQ(::chmod(home_.c_str(), 0755), 0);

  // Without StrictModes none of it matters.
  ASSERT_EQ(::chmod(keys_file_.c_str(), 0666), 0);
  config_.strict_modes = false;
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
}

TEST_F(UserKeys, StrictModesOwnership) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  write(keys_file_, line_of(alice_key().public_key()));
  // The user's own files are fine, and so are root's.
  ASSERT_EQ(::chown(keys_file_.c_str(), kUid, kUid), 0);
  ASSERT_EQ(::chown((home_ + "/.ssh").c_str(), kUid, kUid), 0);
  ASSERT_EQ(::chown(home_.c_str(), kUid, kUid), 0);
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  // Anyone else's are not.
  ASSERT_EQ(::chown(keys_file_.c_str(), kUid + 1, kUid), 0);
  auto d = check(alice_key().public_key());
  EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for file " + keys_file_);
  ASSERT_EQ(::chown(keys_file_.c_str(), kUid, kUid), 0);
  ASSERT_EQ(::chown((home_ + "/.ssh").c_str(), kUid + 1, kUid), 0);
  d = check(alice_key().public_key());
  EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for directory " + home_ + "/.ssh");
}

TEST_F(UserKeys, StrictModesFollowsSymlinksToTheRealFile) {
  const std::string elsewhere = dir_.file("elsewhere");
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0755), 0);
  write(elsewhere + "/keys", line_of(alice_key().public_key()));
  ASSERT_EQ(::symlink((elsewhere + "/keys").c_str(), keys_file_.c_str()), 0);
  auto d = check(alice_key().public_key());
  // The walk goes from the real file up to "/": through the temporary
  // directory's parent, which is usually world-writable (/tmp).
  struct stat parent {};
  const std::string parent_dir = std::filesystem::canonical(dir_.path()).parent_path().string();
  ASSERT_EQ(::stat(parent_dir.c_str(), &parent), 0);
  if ((parent.st_mode & 022) != 0) {
    EXPECT_EQ(d.reason, "Authentication refused: bad ownership or modes for directory " + parent_dir) << dump(d);
  } else {
    EXPECT_TRUE(d.accepted) << dump(d);
  }
}

TEST_F(UserKeys, CheckSecurePathDirectly) {
  write(keys_file_, "x");
  struct stat st {};
  ASSERT_EQ(::stat(keys_file_.c_str(), &st), 0);
  EXPECT_TRUE(check_secure_path(keys_file_, st, user_).ok());
  auto missing = check_secure_path(home_ + "/nope", st, user_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().detail().rfind("realpath " + home_ + "/nope failed: ", 0), 0u);
  struct stat dir {};
  ASSERT_EQ(::stat(home_.c_str(), &dir), 0);
  auto not_file = check_secure_path(home_, dir, user_);
  ASSERT_FALSE(not_file.ok());
  EXPECT_EQ(not_file.error().detail(), home_ + " is not a regular file");
}

// ---- certificates through authorized_keys ----

TEST_F(UserKeys, CertificateThroughCertAuthorityLine) {
  write(keys_file_, line_of(alice_key().public_key()) + "cert-authority " + line_of(ca_key().public_key()));
  const Certificate cert = make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key());
  auto d = check(cert);
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, keys_file_ + ":2");
  EXPECT_EQ(d.key_description, "ECDSA-CERT " + fp(cert.key) + " ID alice@example (serial 7) CA ED25519 " +
                                   fp(ca_key().public_key()));
  EXPECT_TRUE(has_line(d, "Accepted certificate ID \"alice@example\" (serial 7) signed by CA ED25519 " +
                              fp(ca_key().public_key()) + " found at " + keys_file_ + ":2"))
      << dump(d);
  // The certificate's extensions are all it gets.
  EXPECT_TRUE(d.options.permit_pty);
  EXPECT_TRUE(d.options.permit_port_forwarding);
  EXPECT_FALSE(d.options.permit_agent_forwarding || d.options.permit_x11_forwarding || d.options.permit_user_rc);
  EXPECT_FALSE(d.options.cert_authority);
  ASSERT_TRUE(d.key && d.key->certificate);
  EXPECT_EQ(d.key->key, cert.key);
}

TEST_F(UserKeys, CertificateNeedsCertAuthorityAndTheUsersName) {
  const Certificate cert = make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key());
  // The CA key without cert-authority does not sign for anyone.
  write(keys_file_, line_of(ca_key().public_key()));
  EXPECT_FALSE(check(cert).accepted);
  // The certified key itself listed does not admit the certificate.
  write(keys_file_, line_of(cert.key));
  EXPECT_FALSE(check(cert).accepted);

  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  CertSpec spec;
  spec.principals = {"bob", "carol"};
  auto d = check(make_cert(cert.key, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Certificate invalid: name is not a listed principal");
  // principals= names the principals that may log in instead of the user name.
  write(keys_file_, "cert-authority,principals=\"carol,dave\" " + line_of(ca_key().public_key()));
  EXPECT_TRUE(check(make_cert(cert.key, ca_key(), spec)).accepted);
  write(keys_file_, "cert-authority,principals=\"alice\" " + line_of(ca_key().public_key()));
  d = check(make_cert(cert.key, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Certificate does not contain an authorized principal");
  // A certificate without principals is good for anyone under cert-authority
  // (PROTOCOL.certkeys), but not where principals= asks for one.
  spec.principals = {};
  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  EXPECT_TRUE(check(make_cert(cert.key, ca_key(), spec)).accepted);
  write(keys_file_, "cert-authority,principals=\"alice\" " + line_of(ca_key().public_key()));
  EXPECT_FALSE(check(make_cert(cert.key, ca_key(), spec)).accepted);
  // principals= without cert-authority is refused.
  write(keys_file_, "principals=\"alice\" " + line_of(alice_key().public_key()));
  d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, keys_file_ + ":1: principals on non-CA key")) << dump(d);
}

TEST_F(UserKeys, CertificateValidityAndType) {
  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  const key::PublicKey& subject = test_key(KeyType::kEcdsaP256, 5).public_key();
  CertSpec spec;
  spec.valid_after = kNow - 100;
  spec.valid_before = kNow + 100;
  auto d = check(make_cert(subject, ca_key(), spec));
  ASSERT_TRUE(d.accepted);
  EXPECT_EQ(d.valid_until, kNow + 100);
  d = check(make_cert(subject, ca_key(), spec), {}, kNow + 100);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Certificate invalid: expired");
  d = check(make_cert(subject, ca_key(), spec), {}, kNow - 101);
  EXPECT_EQ(d.reason, "Certificate invalid: not yet valid");
  spec = {};
  spec.type = key::CertType::kHost;
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Invalid certificate options");
}

TEST_F(UserKeys, CertificateOptionsMeetLineOptions) {
  const key::PublicKey& subject = test_key(KeyType::kEcdsaP256, 5).public_key();
  CertSpec spec;
  spec.critical = {{"force-command", string_data("/bin/date")}};
  spec.extensions = {{"permit-agent-forwarding", {}}, {"permit-pty", {}}};
  write(keys_file_, "cert-authority,no-pty " + line_of(ca_key().public_key()));
  auto d = check(make_cert(subject, ca_key(), spec));
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.options.force_command, "/bin/date");
  EXPECT_FALSE(d.options.permit_pty);  // the line refuses what the certificate grants
  EXPECT_TRUE(d.options.permit_agent_forwarding);

  write(keys_file_, "cert-authority,command=\"/bin/true\" " + line_of(ca_key().public_key()));
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "forced command options do not match");
  write(keys_file_, "cert-authority,command=\"/bin/date\" " + line_of(ca_key().public_key()));
  EXPECT_TRUE(check(make_cert(subject, ca_key(), spec)).accepted);

  // source-address decides by the client's address.
  spec.critical = {{"source-address", string_data("198.51.100.0/24")}};
  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Refused by certificate options");
  spec.critical = {{"source-address", string_data("192.0.2.0/24")}};
  d = check(make_cert(subject, ca_key(), spec));
  ASSERT_TRUE(d.accepted);
  EXPECT_EQ(d.options.required_from_host_cert, "192.0.2.0/24");

  // Unknown critical options refuse; unknown extensions do not.
  spec.critical = {{"frobnicate", {}}};
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, "Certificate critical option \"frobnicate\" is not supported")) << dump(d);
  spec.critical = {{"verify-required", {}}};
  spec.extensions = {{"custom@example.com", {}}};
  d = check(make_cert(subject, ca_key(), spec));
  ASSERT_TRUE(d.accepted);
  EXPECT_TRUE(d.options.require_verify);
  EXPECT_FALSE(d.options.permit_pty);
  EXPECT_TRUE(has_line(d, "Certificate extension \"custom@example.com\" is not supported"));
}

TEST_F(UserKeys, CaSignatureAlgorithms) {
  const PrivateKey& rsa_ca = test_key(KeyType::kRsa, 9);
  write(keys_file_, "cert-authority " + line_of(rsa_ca.public_key()));
  CertSpec spec;
  spec.algorithm = "ssh-rsa";
  const Certificate sha1 = make_cert(alice_key().public_key(), rsa_ca, spec);
  auto d = check(sha1);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "certificate signature algorithm ssh-rsa: signature algorithm not supported");
  config_.ca_signature_algorithms += ",ssh-rsa";
  EXPECT_TRUE(check(sha1).accepted);
  spec.algorithm = "rsa-sha2-256";
  config_ = {};
  EXPECT_TRUE(check(make_cert(alice_key().public_key(), rsa_ca, spec)).accepted);
  write(keys_file_, "cert-authority " + line_of(rsa_ca.public_key()) + "cert-authority " +
                        line_of(ca_key().public_key()));
  // An RSA certificate is offered under its rsa-sha2 names too.
  const Certificate rsa_cert = make_cert(test_key(KeyType::kRsa, 4).public_key(), ca_key());
  EXPECT_TRUE(check(rsa_cert, "rsa-sha2-512-cert-v01@openssh.com").accepted);
  EXPECT_FALSE(check(rsa_cert, "rsa-sha2-512").accepted);
}

TEST_F(UserKeys, ForgedCertificateIsRefused) {
  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  Certificate cert = make_cert(alice_key().public_key(), ca_key());
  cert.principals = {"alice", "root"};
  auto d = check(cert);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason.rfind("parse key: ", 0), 0u) << d.reason;
}

// ---- TrustedUserCAKeys and AuthorizedPrincipalsFile ----

TEST_F(UserKeys, TrustedUserCaKeys) {
  const std::string ca_file = dir_.file("trusted_ca.pub");
  write(ca_file, "# CAs\n" + line_of(test_key(KeyType::kEcdsaP256, 9).public_key()) + line_of(ca_key().public_key()),
        0644);
  config_.trusted_user_ca_keys = ca_file;
  const key::PublicKey& subject = test_key(KeyType::kEcdsaP256, 5).public_key();
  auto d = check(make_cert(subject, ca_key()));
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.accepted_by, ca_file);
  EXPECT_TRUE(has_line(d, "Accepted certificate ID \"alice@example\" (serial 7) signed by ED25519 CA " +
                              fp(ca_key().public_key()) + " via " + ca_file))
      << dump(d);
  EXPECT_TRUE(d.options.permit_pty);
  EXPECT_FALSE(d.options.permit_agent_forwarding);

  CertSpec spec;
  spec.principals = {"bob"};
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Certificate invalid: name is not a listed principal");
  spec.principals = {};
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_EQ(d.reason, "Certificate lacks principal list");
  // Another CA is not trusted; neither is a plain key.
  EXPECT_FALSE(check(make_cert(subject, test_key(KeyType::kEd25519, 8))).accepted);
  EXPECT_FALSE(check(subject).accepted);
  // A line sshd cannot read ends the file: a CA listed after it is not trusted.
  write(ca_file, "not a key\n" + line_of(ca_key().public_key()), 0644);
  EXPECT_FALSE(check(make_cert(subject, ca_key())).accepted);
  // A missing file trusts nobody.
  config_.trusted_user_ca_keys = dir_.file("missing");
  EXPECT_FALSE(check(make_cert(subject, ca_key())).accepted);
}

TEST_F(UserKeys, AuthorizedPrincipalsFile) {
  const std::string ca_file = dir_.file("trusted_ca.pub");
  write(ca_file, line_of(ca_key().public_key()), 0644);
  config_.trusted_user_ca_keys = ca_file;
  config_.authorized_principals_file = "%h/.ssh/principals_%u";
  const std::string principals = home_ + "/.ssh/principals_alice";
  const key::PublicKey& subject = test_key(KeyType::kEcdsaP256, 5).public_key();
  CertSpec spec;
  spec.principals = {"alice", "ops"};

  // No file: no principal is authorized, not even the user's name.
  auto d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Certificate does not contain an authorized principal");

  write(principals, "# who may log in as alice\nbackup\ncommand=\"/usr/bin/rsync --server\",from=\"192.0.2.0/24\" ops\n");
  d = check(make_cert(subject, ca_key(), spec));
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_EQ(d.options.force_command, "/usr/bin/rsync --server");
  EXPECT_EQ(d.options.required_from_host_keys, "192.0.2.0/24");
  EXPECT_TRUE(d.options.permit_pty);  // from the certificate's extensions

  client_.address = "198.51.100.1";
  client_.host = "198.51.100.1";
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Refused by certificate principals options");

  // cert-authority has no place in a principals file.
  write(principals, "cert-authority ops\n");
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, "principals: cert-authority flag invalid here")) << dump(d);

  // StrictModes applies to it too.
  client_ = {"192.0.2.7", "client.example.org"};
  write(principals, "ops\n", 0666);
  d = check(make_cert(subject, ca_key(), spec));
  EXPECT_FALSE(d.accepted);
  EXPECT_TRUE(has_line(d, "Authentication refused: bad ownership or modes for file " + principals)) << dump(d);
  config_.strict_modes = false;
  EXPECT_TRUE(check(make_cert(subject, ca_key(), spec)).accepted);
}

TEST_F(UserKeys, AuthorizedKeysComeBeforeTrustedCa) {
  const std::string ca_file = dir_.file("trusted_ca.pub");
  write(ca_file, line_of(ca_key().public_key()), 0644);
  config_.trusted_user_ca_keys = ca_file;
  write(keys_file_, "cert-authority,no-pty " + line_of(ca_key().public_key()));
  auto d = check(make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key()));
  ASSERT_TRUE(d.accepted);
  EXPECT_EQ(d.accepted_by, keys_file_ + ":1");
  EXPECT_FALSE(d.options.permit_pty);
}

// ---- RevokedKeys ----

TEST_F(UserKeys, RevokedKeysKrl) {
  write(keys_file_, line_of(alice_key().public_key()) + "cert-authority " + line_of(ca_key().public_key()));
  const Certificate cert = make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key());
  const std::string krl_file = dir_.file("revoked.krl");
  config_.revoked_keys = krl_file;

  key::KrlBuilder empty;
  write(krl_file, std::string(key::as_text(empty.serialize())), 0644);
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  EXPECT_TRUE(check(cert).accepted);

  key::KrlBuilder keys;
  keys.revoke_key_sha256(alice_key().public_key());
  ASSERT_TRUE(keys.revoke_serial(ca_key().public_key(), 7).ok());
  write(krl_file, std::string(key::as_text(keys.serialize())), 0644);
  auto d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Authentication key ED25519 " + fp(alice_key().public_key()) + " revoked by file " + krl_file);
  d = check(cert);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Authentication key ECDSA-CERT " + fp(cert.key) + " revoked by file " + krl_file);
  CertSpec other_serial;
  other_serial.serial = 8;
  EXPECT_TRUE(check(make_cert(cert.key, ca_key(), other_serial)).accepted);

  // Revoking the CA key revokes every certificate it signed.
  key::KrlBuilder ca;
  ca.revoke_key(ca_key().public_key());
  write(krl_file, std::string(key::as_text(ca.serialize())), 0644);
  EXPECT_FALSE(check(make_cert(cert.key, ca_key(), other_serial)).accepted);
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
}

TEST_F(UserKeys, RevokedKeysAsAListOfKeys) {
  write(keys_file_, line_of(alice_key().public_key()) + "cert-authority " + line_of(ca_key().public_key()));
  const std::string list = dir_.file("revoked.keys");
  config_.revoked_keys = list;
  const Certificate cert = make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key());

  write(list, "", 0644);  // empty: nothing revoked
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  write(list, "# revoked\n" + line_of(test_key(KeyType::kEd25519, 1).public_key()), 0644);
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  write(list, line_of(alice_key().public_key()), 0644);
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
  // The certified key listed plain revokes its certificate; so does the CA.
  write(list, line_of(cert.key), 0644);
  EXPECT_FALSE(check(cert).accepted);
  write(list, line_of(ca_key().public_key()), 0644);
  auto d = check(cert);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "Authentication key ECDSA-CERT " + fp(cert.key) + " revoked by file " + list);
  // A line sshd cannot read makes the file unusable: everything is refused.
  write(list, "this is not a key\n", 0644);
  d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason.rfind("Error checking authentication key ED25519 " + fp(alice_key().public_key()) +
                               " in revoked keys file " + list + ": ",
                           0),
            0u)
      << d.reason;
}

TEST_F(UserKeys, UnreadableRevokedKeysRefusesEverything) {
  write(keys_file_, line_of(alice_key().public_key()));
  config_.revoked_keys = dir_.file("no-such-file");
  auto d = check(alice_key().public_key());
  EXPECT_FALSE(d.accepted);
  EXPECT_NE(d.reason.find("in revoked keys file " + config_.revoked_keys), std::string::npos) << d.reason;
  config_.revoked_keys = "none";
  EXPECT_TRUE(check(alice_key().public_key()).accepted);
  // A corrupt KRL is as bad as a missing one.
  write(dir_.file("bad.krl"), std::string(key::kKrlMagic) + "junk", 0644);
  config_.revoked_keys = dir_.file("bad.krl");
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
}

TEST_F(UserKeys, RevokedKeysFromSshKeygen) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen is not installed";
  const std::string pub = dir_.file("alice.pub");
  const std::string ca_pub = dir_.file("ca.pub");
  write(pub, line_of(alice_key().public_key()), 0644);
  write(ca_pub, line_of(ca_key().public_key()), 0644);
  const std::string spec = dir_.file("spec");
  write(spec, "serial: 5-9\n", 0644);
  const std::string krl = dir_.file("ssh-keygen.krl");
  auto r = test::run({"ssh-keygen", "-k", "-f", krl, pub});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run({"ssh-keygen", "-k", "-u", "-f", krl, "-s", ca_pub, spec});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  write(keys_file_, line_of(alice_key().public_key()) + "cert-authority " + line_of(ca_key().public_key()) +
                        line_of(test_key(KeyType::kEd25519, 1).public_key()));
  config_.revoked_keys = krl;
  EXPECT_FALSE(check(alice_key().public_key()).accepted);
  EXPECT_TRUE(check(test_key(KeyType::kEd25519, 1).public_key()).accepted);
  EXPECT_FALSE(check(make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key())).accepted);
  CertSpec spec10;
  spec10.serial = 10;
  EXPECT_TRUE(check(make_cert(test_key(KeyType::kEcdsaP256, 5).public_key(), ca_key(), spec10)).accepted);
}

// ---- keys and certificates ssh-keygen made ----

TEST_F(UserKeys, SshKeygenCertificate) {
  if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen is not installed";
  const std::string ca = dir_.file("ca"), id = dir_.file("id");
  ASSERT_EQ(test::run({"ssh-keygen", "-q", "-N", "", "-t", "rsa", "-b", "2048", "-f", ca}).exit_code, 0);
  ASSERT_EQ(test::run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", id}).exit_code, 0);
  auto r = test::run({"ssh-keygen", "-q", "-s", ca, "-I", "kg", "-n", "alice", "-V", "always:forever", "-O",
                      "no-pty", id + ".pub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  write(keys_file_, "cert-authority " + test::read_file(ca + ".pub"));
  auto cert = KeyOrCertificate::from_line(test::read_file(id + "-cert.pub"));
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  auto d = check(*cert);
  ASSERT_TRUE(d.accepted) << dump(d);
  EXPECT_FALSE(d.options.permit_pty);
  EXPECT_TRUE(d.options.permit_agent_forwarding);
  EXPECT_EQ(d.key_description.rfind("ED25519-CERT SHA256:", 0), 0u);
  EXPECT_NE(d.key_description.find(" ID kg (serial 0) CA RSA SHA256:"), std::string::npos) << d.key_description;
}

// ---- the cache ----

TEST_F(UserKeys, CheckerRemembersAcceptedKeysForAShortWhile) {
  write(keys_file_, line_of(alice_key().public_key()));
  UserKeyChecker checker;
  const key::Bytes blob = alice_key().public_key().blob();
  const UserKeyRequest request{"ssh-ed25519", blob, kNow};
  auto first = checker.check(user_, config_, client_, request);
  ASSERT_TRUE(first.accepted);
  EXPECT_FALSE(first.cached);
  // The file changes, but the signed request right after the query is answered from memory.
  write(keys_file_, "");
  auto second = checker.check(user_, config_, client_, UserKeyRequest{"ssh-ed25519", blob, kNow + 1});
  EXPECT_TRUE(second.accepted);
  EXPECT_TRUE(second.cached);
  EXPECT_EQ(second.accepted_by, first.accepted_by);
  // Anything different is decided afresh: another client, user, config, or later.
  RemoteClient other = client_;
  other.address = "192.0.2.8";
  EXPECT_FALSE(checker.check(user_, config_, other, request).accepted);
  UserKeysConfig strict = config_;
  strict.strict_modes = false;
  EXPECT_FALSE(checker.check(user_, strict, client_, request).accepted);
  EXPECT_FALSE(checker.check(user_, config_, client_,
                             UserKeyRequest{"ssh-ed25519", blob, kNow + UserKeyChecker::kCacheSeconds})
                   .accepted);
  // Refusals are not remembered.
  write(keys_file_, line_of(alice_key().public_key()));
  auto later = checker.check(user_, config_, client_, UserKeyRequest{"ssh-ed25519", blob, kNow + 200});
  EXPECT_TRUE(later.accepted);
  EXPECT_FALSE(later.cached);
}

TEST_F(UserKeys, CheckerNeverOutlivesTheDecision) {
  write(keys_file_, "cert-authority " + line_of(ca_key().public_key()));
  CertSpec spec;
  spec.valid_before = kNow + 5;
  const Certificate cert = make_cert(alice_key().public_key(), ca_key(), spec);
  const key::Bytes blob = cert.blob();
  UserKeyChecker checker;
  const std::string alg(cert.type_name());
  ASSERT_TRUE(checker.check(user_, config_, client_, UserKeyRequest{alg, blob, kNow}).accepted);
  EXPECT_TRUE(checker.check(user_, config_, client_, UserKeyRequest{alg, blob, kNow + 4}).cached);
  auto expired = checker.check(user_, config_, client_, UserKeyRequest{alg, blob, kNow + 5});
  EXPECT_FALSE(expired.accepted);
  EXPECT_FALSE(expired.cached);
}

}  // namespace
}  // namespace tessera::ssh::server
