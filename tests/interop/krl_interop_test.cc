// KRLs between OpenSSH's ssh-keygen (9.2) and tessera:
//   parity: one random revocation spec (over 10,000 serials as singles,
//   clusters and ranges, key ids, keys by blob and by hash, certificates)
//   built by `ssh-keygen -k` (then -k -u with -s none) and by libkey. The two
//   files are byte for byte the same (tessera takes ssh-keygen's generated
//   date), and for nearly 900 keys and certificates `ssh-keygen -Q` on either
//   file, libkey on either file and a plain set model all give one answer.
//   `ssh-keygen -Q -l` prints what krl_dump() prints, for both files.
//   dense runs: ssh-keygen writes bitmaps it cannot read back; tessera's
//   file for the same serials is read by ssh-keygen, and libkey reads both.
//   signing: ssh-keygen -Q accepts KRLs tessera signed with Ed25519, ECDSA
//   and RSA keys (alone and together) and refuses one with a broken signature.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/krl.h"
#include "tessera/key/secret.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::run;
using test::TempDir;

const std::vector<std::string> kEnv = {"TZ=UTC", "LC_ALL=C"};

Bytes read_bytes(const std::string& path) {
  std::string s = test::read_file(path);
  return Bytes(s.begin(), s.end());
}
void write_bytes(const std::string& path, const Bytes& data) {
  test::write_file(path, std::string(data.begin(), data.end()), 0644);
}

struct CaPair {
  std::string path;  // private key file; the public key is path + ".pub"
  PrivateKey key;
};

CaPair make_ca(const TempDir& dir, const std::string& name, const std::string& type) {
  const std::string path = dir.file(name);
  auto r = run({"ssh-keygen", "-q", "-t", type, "-N", "", "-C", name, "-f", path});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "ssh-keygen -t " << type << ": " << r.err;
    std::abort();
  }
  auto key = parse_private_key(test::read_file(path), SecretBytes());
  if (!key.ok()) std::abort();
  return {path, std::move(key->key)};
}

Certificate make_cert(const PublicKey& subject, const PrivateKey& ca, uint64_t serial, std::string id) {
  Certificate cert{.key = subject, .nonce = Bytes(32, 3), .serial = serial, .key_id = std::move(id),
                   .principals = {"user"}, .critical_options = {}, .extensions = {}, .reserved = {},
                   .signature_key = ca.public_key(), .signature = {}};
  auto sig = ca.sign(certificate_signed_data(cert), ca.type() == KeyType::kRsa ? SignatureAlgorithm::kRsaSha512
                                                                                : SignatureAlgorithm::kDefault);
  if (!sig.ok()) std::abort();
  cert.signature = *sig;
  return cert;
}

std::string cert_line(const Certificate& cert) {
  return std::string(cert.type_name()) + " " + base64_encode(cert.blob());
}

// One thing to ask a KRL about: a key or a certificate, in a file.
struct Query {
  std::string path;
  std::optional<PublicKey> key;
  std::optional<Certificate> cert;
};

// The answers of `ssh-keygen -Q -f krl` for every query, in order.
std::vector<std::string> keygen_answers(const std::string& krl, const std::vector<Query>& queries) {
  std::vector<std::string> argv = {"ssh-keygen", "-Q", "-f", krl};
  for (const auto& q : queries) argv.push_back(q.path);
  auto r = run(argv, {}, kEnv);
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
  std::vector<std::string> answers;
  size_t start = 0;
  while (start < r.out.size()) {
    size_t nl = r.out.find('\n', start);
    std::string line = r.out.substr(start, nl - start);
    start = nl == std::string::npos ? r.out.size() : nl + 1;
    answers.push_back(line.substr(line.rfind(": ") + 2));
  }
  EXPECT_EQ(answers.size(), queries.size()) << r.out.substr(0, 300) << r.err;
  return answers;
}

std::vector<std::string> libkey_answers(const Bytes& data, const std::vector<Query>& queries,
                                        const KrlParseOptions& options = {}) {
  auto krl = Krl::parse(std::span<const uint8_t>(data), options);
  EXPECT_TRUE(krl.ok()) << krl.error().message();
  std::vector<std::string> answers;
  if (!krl.ok()) return answers;
  for (const auto& q : queries) {
    bool revoked = q.cert ? krl->is_revoked(*q.cert) : krl->is_revoked(*q.key);
    answers.push_back(revoked ? "REVOKED" : "ok");
  }
  return answers;
}

// The revocations the spec says, as plain sets: the model both tools must match.
struct Model {
  std::map<std::string, std::vector<SerialRange>> serials;  // by CA blob ("" = any CA)
  std::map<std::string, std::set<std::string>> ids;
  std::set<Bytes> keys;  // revoked by blob or hash: the same thing for a query

  static std::string ca_name(const std::optional<PublicKey>& ca) {
    if (!ca) return {};
    Bytes b = ca->blob();
    return std::string(b.begin(), b.end());
  }
  bool serial_in(const std::string& ca, uint64_t serial) const {
    auto it = serials.find(ca);
    if (it == serials.end() || serial == 0) return false;
    for (const auto& r : it->second) {
      if (serial >= r.first && serial <= r.last) return true;
    }
    return false;
  }
  bool id_in(const std::string& ca, const std::string& id) const {
    auto it = ids.find(ca);
    return it != ids.end() && it->second.count(id) != 0;
  }
  bool revoked(const Query& q) const {
    if (!q.cert) return keys.count(q.key->blob()) != 0;
    const Certificate& c = *q.cert;
    std::string ca = ca_name(c.signature_key);
    return keys.count(c.key.blob()) != 0 || keys.count(c.signature_key.blob()) != 0 || serial_in(ca, c.serial) ||
           serial_in("", c.serial) || id_in(ca, c.key_id) || id_in("", c.key_id);
  }
};

class KrlInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_program("ssh-keygen")) return;
    setenv("TZ", "UTC", 1);
    tzset();
    shared_ = std::make_unique<Shared>();
  }
  static void TearDownTestSuite() { shared_.reset(); }
  void SetUp() override {
    if (!shared_) GTEST_SKIP() << "ssh-keygen is not installed";
  }

  struct Shared {
    TempDir dir;
    CaPair ca_ed = make_ca(dir, "ca_ed", "ed25519");
    CaPair ca_ec = make_ca(dir, "ca_ec", "ecdsa");
    CaPair ca_rsa = make_ca(dir, "ca_rsa", "rsa");
    CaPair ca_revoked = make_ca(dir, "ca_revoked", "ed25519");
  };
  static std::unique_ptr<Shared> shared_;

  static std::string write_query(const std::string& name, const std::string& line) {
    std::string path = shared_->dir.file("q_" + name);
    test::write_file(path, line + "\n", 0644);
    return path;
  }
};
std::unique_ptr<KrlInterop::Shared> KrlInterop::shared_;

TEST_F(KrlInterop, ParityWithSshKeygen) {
  Shared& s = *shared_;
  std::mt19937_64 rng(20240601);
  Model model;
  const std::string ed = Model::ca_name(s.ca_ed.key.public_key());
  const std::string ec = Model::ca_name(s.ca_ec.key.public_key());
  std::vector<uint64_t> sparse, dense;
  std::vector<SerialRange> ranges;
  std::vector<std::string> ids;

  // ---- spec 1, under -s ca_ed.pub ----
  std::string spec1 = "# tessera KRL parity spec\n";
  auto serial_text = [&rng](uint64_t v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, rng() % 4 == 0 ? "0x%llx" : "%llu", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  for (int i = 0; i < 10000; ++i) {
    uint64_t v = (rng() & ((1ull << 40) - 1)) + 1;
    sparse.push_back(v);
    spec1 += (i % 7 == 0 ? "Serial:\t" : "serial: ") + serial_text(v) + "\n";
    model.serials[ed].push_back({v, v});
  }
  // Clusters short enough that ssh-keygen's bitmaps stay readable by ssh-keygen.
  for (int c = 0; c < 40; ++c) {
    uint64_t base = (rng() % (1ull << 30)) + 1;
    for (uint64_t k = 0; k < 1500; ++k) {
      if (rng() % 10 < 3) {
        dense.push_back(base + k);
        spec1 += "serial: " + std::to_string(base + k) + "\n";
        model.serials[ed].push_back({base + k, base + k});
      }
    }
  }
  for (int i = 0; i < 300; ++i) {
    uint64_t first = (rng() % (1ull << 32)) + 1;
    uint64_t last = first + 1 + rng() % (i % 3 == 0 ? 20 : 5000);
    ranges.push_back({first, last});
    spec1 += "serial: " + serial_text(first) + "-" + serial_text(last) + "   # a range\n";
    model.serials[ed].push_back({first, last});
  }
  for (int i = 0; i < 2000; ++i) {
    std::string id = "user-" + std::to_string(rng() % 100000) + (i % 50 == 0 ? " with spaces" : "");
    if (i % 400 == 0) id = "caf\xc3\xa9-" + std::to_string(i);
    ids.push_back(id);
    spec1 += "id: " + id + "\n";
    model.ids[ed].insert(id);
  }

  // Keys: revoked in every way the spec allows, and some not revoked at all.
  std::vector<PublicKey> keys;
  for (int i = 0; i < 500; ++i) {
    auto k = PrivateKey::generate(i % 10 == 0 ? KeyType::kEcdsaP256 : KeyType::kEd25519);
    ASSERT_TRUE(k.ok());
    keys.push_back(k->public_key());
  }
  for (int i = 0; i < 300; ++i) {
    const PublicKey& k = keys[static_cast<size_t>(i)];
    const std::string line = format_public_key_line(k, "key" + std::to_string(i));
    switch (i % 5) {
      case 0: spec1 += "key: " + line + "\n"; break;
      case 1: spec1 += "sha1: " + line + "\n"; break;
      case 2: spec1 += "sha256: " + line + "\n"; break;
      case 3: spec1 += "hash: " + fingerprint(k, FingerprintHash::kSha256) + "\n"; break;
      case 4: spec1 += line + "\n"; break;
    }
    model.keys.insert(k.blob());
  }
  spec1 += "key: " + test::read_file(s.ca_revoked.path + ".pub");
  model.keys.insert(s.ca_revoked.key.public_key().blob());
  // Certificates by another CA: revoked by their serial, or their id when the serial is 0.
  std::vector<Certificate> listed_certs;
  for (int i = 0; i < 100; ++i) {
    uint64_t serial = i % 4 == 0 ? 0 : rng() % 1000000 + 1;
    Certificate c = make_cert(keys[400 + static_cast<size_t>(i % 100)], s.ca_ec.key, serial,
                              "ec-cert-" + std::to_string(i));
    listed_certs.push_back(c);
    spec1 += cert_line(c) + " cert" + std::to_string(i) + "\n";
    if (serial == 0) {
      model.ids[ec].insert(c.key_id);
    } else {
      model.serials[ec].push_back({serial, serial});
    }
  }
  // ---- spec 2, under -s none (any CA) ----
  std::string spec2;
  std::vector<uint64_t> any_serials;
  for (int i = 0; i < 500; ++i) {
    uint64_t v = rng() % 5000000 + 1;
    any_serials.push_back(v);
    spec2 += "serial: " + std::to_string(v) + "\n";
    model.serials[""].push_back({v, v});
  }
  for (int i = 0; i < 200; ++i) {
    spec2 += "id: anyca-" + std::to_string(i) + "\n";
    model.ids[""].insert("anyca-" + std::to_string(i));
  }

  const std::string spec1_path = s.dir.file("spec1");
  const std::string spec2_path = s.dir.file("spec2");
  test::write_file(spec1_path, spec1, 0644);
  test::write_file(spec2_path, spec2, 0644);
  const std::string theirs_path = s.dir.file("theirs.krl");
  auto made = run({"ssh-keygen", "-k", "-f", theirs_path, "-s", s.ca_ed.path + ".pub", "-z", "123", spec1_path},
                  {}, kEnv);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  made = run({"ssh-keygen", "-k", "-u", "-f", theirs_path, "-s", "none", spec2_path}, {}, kEnv);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const Bytes theirs = read_bytes(theirs_path);

  auto theirs_krl = Krl::parse(std::span<const uint8_t>(theirs));
  ASSERT_TRUE(theirs_krl.ok()) << theirs_krl.error().message();
  KrlBuilder builder;
  builder.set_version(123);
  builder.set_generated_date(theirs_krl->generated_date());
  ASSERT_TRUE(add_krl_spec(builder, spec1, "spec1", KrlSpecCa::ca_key(s.ca_ed.key.public_key())).ok());
  ASSERT_TRUE(add_krl_spec(builder, spec2, "spec2", KrlSpecCa::any_ca()).ok());
  const Bytes ours = builder.serialize();
  const std::string ours_path = s.dir.file("ours.krl");
  write_bytes(ours_path, ours);

  // Same bytes (and so the same size).
  EXPECT_LE(ours.size(), theirs.size());
  EXPECT_EQ(ours.size(), theirs.size());
  EXPECT_TRUE(ours == theirs) << "tessera's KRL differs from ssh-keygen's";
  EXPECT_EQ(theirs_krl->contents(), builder.contents());

  // ---- queries ----
  std::vector<Query> queries;
  auto add_cert = [&](const Certificate& c) {
    queries.push_back({write_query(std::to_string(queries.size()), cert_line(c)), std::nullopt, c});
  };
  auto add_key = [&](const PublicKey& k) {
    queries.push_back({write_query(std::to_string(queries.size()), format_public_key_line(k, "")), k, std::nullopt});
  };
  const PublicKey& subject = keys[450];
  auto pick = [&rng](const auto& v) { return v[rng() % v.size()]; };
  for (int i = 0; i < 120; ++i) add_cert(make_cert(subject, s.ca_ed.key, pick(sparse) + (i % 3) - 1, "q"));
  for (int i = 0; i < 120; ++i) add_cert(make_cert(subject, s.ca_ed.key, pick(dense) + (i % 3) - 1, "q"));
  for (int i = 0; i < 120; ++i) {
    SerialRange r = pick(ranges);
    uint64_t serials[] = {r.first - 1, r.first, r.first + 1, (r.first + r.last) / 2, r.last, r.last + 1};
    add_cert(make_cert(subject, s.ca_ed.key, serials[i % 6], "q"));
  }
  for (int i = 0; i < 60; ++i) add_cert(make_cert(subject, s.ca_ed.key, (rng() & ((1ull << 40) - 1)) + 1, "q"));
  for (int i = 0; i < 60; ++i) add_cert(make_cert(subject, s.ca_ed.key, i % 5, i % 2 ? pick(ids) : "not-revoked"));
  // Another CA: the listed certificates, and others with their serials or ids.
  for (int i = 0; i < 40; ++i) add_cert(listed_certs[static_cast<size_t>(i)]);
  for (int i = 0; i < 40; ++i) {
    const Certificate& c = listed_certs[static_cast<size_t>(i)];
    add_cert(make_cert(keys[490], i % 2 ? s.ca_ec.key : s.ca_rsa.key, c.serial, c.key_id));
  }
  // Any CA: serials and ids revoked for everyone.
  for (int i = 0; i < 60; ++i) {
    add_cert(make_cert(subject, i % 2 ? s.ca_rsa.key : s.ca_ec.key, pick(any_serials) + (i % 3 == 0), "q"));
  }
  for (int i = 0; i < 20; ++i) add_cert(make_cert(subject, s.ca_rsa.key, 0, "anyca-" + std::to_string(i * 15)));
  // A revoked CA key; revoked subject keys under a good CA.
  for (int i = 0; i < 10; ++i) add_cert(make_cert(subject, s.ca_revoked.key, 1000000 + i, "q"));
  for (int i = 0; i < 60; ++i) add_cert(make_cert(keys[static_cast<size_t>(i * 5 + (i % 5))], s.ca_rsa.key, 3, "q"));
  // Plain keys: every way of revoking them, and keys never listed.
  for (size_t i = 0; i < 500; i += 3) add_key(keys[i]);
  add_key(s.ca_revoked.key.public_key());
  add_key(s.ca_ed.key.public_key());
  ASSERT_GT(queries.size(), 850u);

  std::vector<std::string> expected;
  size_t revoked_count = 0;
  for (const auto& q : queries) {
    expected.push_back(model.revoked(q) ? "REVOKED" : "ok");
    revoked_count += expected.back() == "REVOKED";
  }
  EXPECT_GT(revoked_count, queries.size() / 4);
  EXPECT_LT(revoked_count, queries.size() * 3 / 4);
  EXPECT_EQ(keygen_answers(theirs_path, queries), expected);
  EXPECT_EQ(keygen_answers(ours_path, queries), expected);
  EXPECT_EQ(libkey_answers(theirs, queries), expected);
  EXPECT_EQ(libkey_answers(ours, queries), expected);

  // ---- dumps ----
  auto dump = run({"ssh-keygen", "-Q", "-l", "-f", theirs_path}, {}, kEnv);
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  auto ours_krl = Krl::parse(std::span<const uint8_t>(ours));
  ASSERT_TRUE(ours_krl.ok());
  EXPECT_EQ(krl_dump(*theirs_krl).text, dump.out);
  EXPECT_EQ(krl_dump(*ours_krl).text, dump.out);
  auto dump_ours = run({"ssh-keygen", "-Q", "-l", "-f", ours_path}, {}, kEnv);
  EXPECT_EQ(dump_ours.out, dump.out);

  // ---- -k -u through libkey: read ssh-keygen's KRL, add, write ----
  KrlBuilder updated(theirs_krl->contents());
  ASSERT_TRUE(add_krl_spec_line(updated, "serial: 424242", KrlSpecCa::ca_key(s.ca_ed.key.public_key())).ok());
  const std::string updated_path = s.dir.file("updated.krl");
  test::write_file(spec2_path, "serial: 424242\n", 0644);
  made = run({"ssh-keygen", "-k", "-u", "-f", theirs_path, "-s", s.ca_ed.path + ".pub", spec2_path}, {}, kEnv);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_TRUE(updated.serialize() == read_bytes(theirs_path));
}

TEST_F(KrlInterop, DenseSerialsThatSshKeygenCannotReadBack) {
  Shared& s = *shared_;
  std::string spec;
  KrlBuilder builder;
  for (uint64_t v = 1; v <= 200000; v += 2) {
    spec += "serial: " + std::to_string(v) + "\n";
    ASSERT_TRUE(builder.revoke_serial(s.ca_ed.key.public_key(), v).ok());
  }
  const std::string spec_path = s.dir.file("dense_spec");
  test::write_file(spec_path, spec, 0644);
  const std::string theirs_path = s.dir.file("dense_theirs.krl");
  auto made = run({"ssh-keygen", "-k", "-f", theirs_path, "-s", s.ca_ed.path + ".pub", spec_path}, {}, kEnv);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string ours_path = s.dir.file("dense_ours.krl");
  const Bytes ours = builder.serialize();
  write_bytes(ours_path, ours);
  const Bytes theirs = read_bytes(theirs_path);

  std::vector<Query> queries;
  for (uint64_t serial : {1ull, 2ull, 16383ull, 16384ull, 16385ull, 99999ull, 150000ull, 199999ull, 200001ull}) {
    Certificate c = make_cert(s.ca_ec.key.public_key(), s.ca_ed.key, serial, "q");
    queries.push_back({write_query("dense" + std::to_string(serial), cert_line(c)), std::nullopt, c});
  }
  // ssh-keygen refuses its own file; it reads tessera's.
  auto refused = run({"ssh-keygen", "-Q", "-f", theirs_path, queries[0].path}, {}, kEnv);
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_NE(refused.err.find("bignum is too large"), std::string::npos) << refused.err;
  EXPECT_EQ(Krl::parse(std::span<const uint8_t>(theirs)).error().code(), Errc::kTooLarge);

  const std::vector<std::string> expected = {"REVOKED", "ok", "REVOKED", "ok", "REVOKED",
                                             "REVOKED", "ok", "REVOKED", "ok"};
  EXPECT_EQ(keygen_answers(ours_path, queries), expected);
  EXPECT_EQ(libkey_answers(ours, queries), expected);
  const KrlParseOptions lenient{.max_bitmap_bits = 1 << 20};
  EXPECT_EQ(libkey_answers(theirs, queries, lenient), expected);
  auto theirs_krl = Krl::parse(std::span<const uint8_t>(theirs), lenient);
  ASSERT_TRUE(theirs_krl.ok());
  KrlContents theirs_contents = theirs_krl->contents();
  theirs_contents.generated_date = 0;
  KrlContents ours_contents = builder.contents();
  EXPECT_EQ(theirs_contents, ours_contents);
  // The price of staying readable: a few bytes of framing per 2 KiB bitmap.
  std::printf("dense 100,000 serials: ssh-keygen %zu bytes (unreadable), tessera %zu bytes\n", theirs.size(),
              ours.size());
  EXPECT_LT(ours.size(), theirs.size() + theirs.size() / 100);
}

TEST_F(KrlInterop, SshKeygenAcceptsSignedKrls) {
  Shared& s = *shared_;
  KrlBuilder builder;
  builder.set_version(9);
  ASSERT_TRUE(builder.set_comment("signed by tessera").ok());
  for (uint64_t v = 10; v < 200; v += 3) ASSERT_TRUE(builder.revoke_serial(s.ca_ed.key.public_key(), v).ok());
  ASSERT_TRUE(builder.revoke_key_id(std::nullopt, "gone").ok());

  std::vector<Query> queries;
  for (uint64_t serial : {10ull, 11ull, 13ull, 198ull}) {
    Certificate c = make_cert(s.ca_ec.key.public_key(), s.ca_ed.key, serial, "q");
    queries.push_back({write_query("signed" + std::to_string(serial), cert_line(c)), std::nullopt, c});
  }
  Certificate gone = make_cert(s.ca_ec.key.public_key(), s.ca_rsa.key, 5, "gone");
  queries.push_back({write_query("signed_gone", cert_line(gone)), std::nullopt, gone});
  const std::vector<std::string> expected = {"REVOKED", "ok", "REVOKED", "ok", "REVOKED"};

  const std::vector<std::vector<const CaPair*>> signer_sets = {
      {&s.ca_ed}, {&s.ca_ec}, {&s.ca_rsa}, {&s.ca_ed, &s.ca_ec, &s.ca_rsa}};
  for (const auto& set : signer_sets) {
    std::vector<KrlSigner> signers;
    for (const CaPair* ca : set) signers.push_back(make_krl_signer(ca->key));
    auto data = builder.serialize_signed(signers);
    ASSERT_TRUE(data.ok()) << data.error().message();
    const std::string path = s.dir.file("signed.krl");
    write_bytes(path, *data);
    EXPECT_EQ(keygen_answers(path, queries), expected) << set.size() << " signers";
    auto krl = Krl::parse(std::span<const uint8_t>(*data));
    ASSERT_TRUE(krl.ok());
    for (const CaPair* ca : set) EXPECT_TRUE(krl->verify_signed_by(ca->key.public_key()).ok());
    EXPECT_EQ(krl->signers().size(), set.size());

    // A broken signature: ssh-keygen refuses the KRL, and so does libkey.
    Bytes broken = *data;
    broken[broken.size() - 5] ^= 0x01;
    write_bytes(path, broken);
    auto refused = run({"ssh-keygen", "-Q", "-f", path, queries[0].path}, {}, kEnv);
    EXPECT_EQ(refused.exit_code, 255) << refused.out;
    EXPECT_FALSE(Krl::parse(std::span<const uint8_t>(broken)).ok());
  }
}

}  // namespace
}  // namespace tessera::key
