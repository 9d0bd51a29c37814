#include "tessera/key/cert.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tessera/key/wire.h"
#include "test_keys.h"
#include "test_support.h"

namespace tessera::key {
namespace {

PublicKey security_key(KeyType type) {
  KeyType base = type == KeyType::kSkEd25519 ? KeyType::kEd25519 : KeyType::kEcdsaP256;
  auto key = PublicKey::make_security_key(type, test_key(base, 7).evp(), "ssh:");
  if (!key.ok()) std::abort();
  return *key;
}

void sign(Certificate& cert, const PrivateKey& ca, SignatureAlgorithm alg = SignatureAlgorithm::kDefault) {
  cert.signature_key = ca.public_key();
  auto sig = ca.sign(certificate_signed_data(cert), alg);
  if (!sig.ok()) std::abort();
  cert.signature = *sig;
}

// A certificate with every field at its default and no signature.
Certificate blank_cert(const PublicKey& subject, const PublicKey& ca) {
  return Certificate{.key = subject, .nonce = {}, .key_id = {}, .principals = {}, .critical_options = {},
                     .extensions = {}, .reserved = {}, .signature_key = ca, .signature = {}};
}

Certificate make_cert(const PublicKey& subject, const PrivateKey& ca,
                      SignatureAlgorithm alg = SignatureAlgorithm::kDefault) {
  Certificate cert = blank_cert(subject, ca.public_key());
  cert.nonce = Bytes(32, 0x5a);
  cert.serial = 42;
  cert.type = CertType::kUser;
  cert.key_id = "alice@example.com";
  cert.principals = {"alice", "bob"};
  cert.valid_after = 1700000000;
  cert.valid_before = 1800000000;
  Writer cmd;
  cmd.string("/bin/true");
  cert.critical_options = {{"force-command", cmd.take()}};
  cert.extensions = {{"permit-X11-forwarding", {}}, {"permit-pty", {}}};
  sign(cert, ca, alg);
  return cert;
}

const char* type_label(KeyType t) {
  switch (t) {
    case KeyType::kEd25519: return "ed25519";
    case KeyType::kEcdsaP256: return "ecdsa256";
    case KeyType::kEcdsaP384: return "ecdsa384";
    case KeyType::kEcdsaP521: return "ecdsa521";
    case KeyType::kRsa: return "rsa";
    case KeyType::kSkEd25519: return "sk_ed25519";
    case KeyType::kSkEcdsaP256: return "sk_ecdsa";
  }
  return "?";
}

// ---- type names ----

TEST(CertTypeNames, EveryKeyTypeHasOne) {
  const std::map<KeyType, std::string> expected = {
      {KeyType::kEd25519, "ssh-ed25519-cert-v01@openssh.com"},
      {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256-cert-v01@openssh.com"},
      {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384-cert-v01@openssh.com"},
      {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521-cert-v01@openssh.com"},
      {KeyType::kRsa, "ssh-rsa-cert-v01@openssh.com"},
      {KeyType::kSkEd25519, "sk-ssh-ed25519-cert-v01@openssh.com"},
      {KeyType::kSkEcdsaP256, "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"},
  };
  for (const auto& info : all_key_types()) {
    EXPECT_EQ(certificate_type_name(info.type), expected.at(info.type));
    const KeyTypeInfo* found = find_certificate_type(expected.at(info.type));
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->type, info.type);
  }
  EXPECT_EQ(find_certificate_type("ssh-ed25519"), nullptr);
  EXPECT_EQ(find_certificate_type("ssh-dss-cert-v01@openssh.com"), nullptr);
  EXPECT_EQ(find_certificate_type("rsa-sha2-256-cert-v01@openssh.com"), nullptr);  // not a key type
  EXPECT_EQ(find_certificate_type(""), nullptr);
}

// ---- round trips across subject and CA types ----

struct RoundTripCase {
  KeyType subject;
  KeyType ca;
  SignatureAlgorithm alg;
};

class CertRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(CertRoundTrip, ParseSerializeVerify) {
  auto [subject_type, ca_type, alg] = GetParam();
  PublicKey subject = key_type_info(subject_type).security_key ? security_key(subject_type)
                                                               : test_key(subject_type).public_key();
  Certificate cert = make_cert(subject, test_key(ca_type, 1), alg);
  EXPECT_EQ(cert.type_name(), certificate_type_name(subject_type));
  Bytes blob = cert.blob();

  auto parsed = Certificate::from_blob(blob);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->blob(), blob);
  EXPECT_TRUE(parsed->key == subject);
  EXPECT_TRUE(parsed->signature_key == test_key(ca_type, 1).public_key());
  EXPECT_EQ(parsed->nonce, cert.nonce);
  EXPECT_EQ(parsed->serial, 42u);
  EXPECT_EQ(parsed->type, CertType::kUser);
  EXPECT_EQ(parsed->key_id, "alice@example.com");
  EXPECT_EQ(parsed->principals, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(parsed->valid_after, 1700000000u);
  EXPECT_EQ(parsed->valid_before, 1800000000u);
  ASSERT_EQ(parsed->critical_options.size(), 1u);
  EXPECT_EQ(parsed->critical_options[0].name, "force-command");
  ASSERT_EQ(parsed->extensions.size(), 2u);
  EXPECT_EQ(parsed->extensions[1].name, "permit-pty");
  EXPECT_TRUE(parsed->reserved.empty());
  EXPECT_EQ(parsed->signature, cert.signature);

  // The signed data is the blob up to the signature string.
  Bytes signed_data = certificate_signed_data(*parsed);
  ASSERT_EQ(signed_data.size() + 4 + cert.signature.size(), blob.size());
  EXPECT_TRUE(std::equal(signed_data.begin(), signed_data.end(), blob.begin()));

  EXPECT_TRUE(parsed->verify_signature().ok()) << parsed->verify_signature().error().message();

  // Parse leaves what follows the certificate in the reader.
  Bytes with_more = blob;
  with_more.push_back(0xee);
  Reader r(with_more);
  ASSERT_TRUE(Certificate::parse(r).ok());
  EXPECT_EQ(r.remaining(), 1u);
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (const auto& subject : all_key_types()) {
    cases.push_back({subject.type, KeyType::kEd25519, SignatureAlgorithm::kDefault});
  }
  for (KeyType ca : {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521}) {
    cases.push_back({KeyType::kEd25519, ca, SignatureAlgorithm::kDefault});
  }
  for (auto alg : {SignatureAlgorithm::kRsaSha1, SignatureAlgorithm::kRsaSha256, SignatureAlgorithm::kRsaSha512}) {
    cases.push_back({KeyType::kEcdsaP256, KeyType::kRsa, alg});
  }
  cases.push_back({KeyType::kRsa, KeyType::kRsa, SignatureAlgorithm::kRsaSha512});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Types, CertRoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const ::testing::TestParamInfo<RoundTripCase>& p) {
                           return std::string(type_label(p.param.subject)) + "_by_" + type_label(p.param.ca) +
                                  "_" + std::to_string(static_cast<int>(p.param.alg));
                         });

TEST(Cert, EmptySectionsAndHostType) {
  Certificate cert =
      blank_cert(test_key(KeyType::kEd25519).public_key(), test_key(KeyType::kEd25519, 1).public_key());
  cert.type = CertType::kHost;
  cert.reserved = {1, 2, 3};  // unused by the protocol, but kept byte for byte
  sign(cert, test_key(KeyType::kEd25519, 1));
  Bytes blob = cert.blob();
  auto parsed = Certificate::from_blob(blob);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->type, CertType::kHost);
  EXPECT_TRUE(parsed->nonce.empty());
  EXPECT_TRUE(parsed->principals.empty());
  EXPECT_TRUE(parsed->critical_options.empty());
  EXPECT_TRUE(parsed->extensions.empty());
  EXPECT_EQ(parsed->reserved, (Bytes{1, 2, 3}));
  EXPECT_EQ(parsed->valid_before, UINT64_MAX);
  EXPECT_EQ(parsed->blob(), blob);
  EXPECT_TRUE(parsed->verify_signature().ok());
}

// The fuzz seed corpus holds certificates written by OpenSSH 9.2's ssh-keygen
// (user and host, every subject family, ed25519/ECDSA/RSA-SHA512 CAs, options).
TEST(Cert, OpensshSeedCorpusParsesAndVerifies) {
  size_t count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TESSERA_SOURCE_DIR) + "/fuzz/corpus/certificate")) {
    SCOPED_TRACE(entry.path().string());
    std::string data = test::read_file(entry.path().string());
    Bytes blob(data.begin(), data.end());
    auto cert = Certificate::from_blob(blob);
    ASSERT_TRUE(cert.ok()) << cert.error().message();
    EXPECT_EQ(cert->blob(), blob);
    auto st = cert->verify_signature();
    EXPECT_TRUE(st.ok()) << st.error().message();
    ++count;
  }
  EXPECT_GE(count, 5u);
}

// ---- signature verification ----

TEST(CertSignature, TamperedFieldsFail) {
  Certificate good = make_cert(test_key(KeyType::kEcdsaP256).public_key(), test_key(KeyType::kEd25519, 1));
  ASSERT_TRUE(good.verify_signature().ok());
  std::vector<Certificate> bad(9, good);
  bad[0].serial++;
  bad[1].type = CertType::kHost;
  bad[2].key_id += "x";
  bad[3].principals.push_back("root");
  bad[4].valid_before++;
  bad[5].critical_options.clear();
  bad[6].extensions.push_back({"permit-user-rc", {}});
  bad[7].nonce[0] ^= 1;
  bad[8].key = test_key(KeyType::kEcdsaP256, 1).public_key();
  for (const auto& cert : bad) {
    auto st = cert.verify_signature();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code(), Errc::kBadSignature) << st.error().message();
  }
}

TEST(CertSignature, FlippedBlobBitsNeverVerify) {
  Certificate cert = make_cert(test_key(KeyType::kEd25519).public_key(), test_key(KeyType::kEd25519, 1));
  Bytes blob = cert.blob();
  size_t parsed_count = 0;
  for (size_t i = 0; i < blob.size(); ++i) {
    Bytes bad = blob;
    bad[i] ^= 0x01;
    auto parsed = Certificate::from_blob(bad);
    if (!parsed.ok()) continue;
    ++parsed_count;
    EXPECT_EQ(parsed->blob(), bad);
    EXPECT_FALSE(parsed->verify_signature().ok()) << "byte " << i;
  }
  EXPECT_GT(parsed_count, 0u);
}

TEST(CertSignature, WrongCaKeyFails) {
  Certificate cert = make_cert(test_key(KeyType::kEd25519).public_key(), test_key(KeyType::kEd25519, 1));
  cert.signature_key = test_key(KeyType::kEd25519, 2).public_key();
  EXPECT_EQ(cert.verify_signature().error().code(), Errc::kBadSignature);
}

TEST(CertSignature, AlgorithmMustBelongToTheCa) {
  // An ed25519 signature presented with an RSA CA, and vice versa.
  Certificate cert = make_cert(test_key(KeyType::kEd25519).public_key(), test_key(KeyType::kEd25519, 1));
  Bytes ed_sig = cert.signature;
  cert.signature_key = test_key(KeyType::kRsa, 1).public_key();
  cert.signature = ed_sig;
  auto st = cert.verify_signature();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Errc::kBadSignature);
  EXPECT_NE(st.error().message().find("not allowed"), std::string::npos) << st.error().message();

  // An RSA CA accepts rsa-sha2-256/512 and ssh-rsa; an RSA signature renamed
  // to an algorithm outside that set fails.
  Certificate rsa = make_cert(test_key(KeyType::kEd25519).public_key(), test_key(KeyType::kRsa, 1),
                              SignatureAlgorithm::kRsaSha256);
  ASSERT_TRUE(rsa.verify_signature().ok());
  Reader r(rsa.signature);
  ASSERT_TRUE(r.text().ok());
  auto body = r.string();
  ASSERT_TRUE(body.ok());
  for (std::string_view alg : {"rsa-sha2-512", "ssh-rsa", "ssh-ed25519", "rsa-sha2-256-cert-v01@openssh.com"}) {
    Writer w;
    w.string(alg);
    w.string(*body);
    rsa.signature = w.take();
    EXPECT_FALSE(rsa.verify_signature().ok()) << alg;
  }

  // Structurally broken signatures fail cleanly.
  for (Bytes sig : {Bytes{}, Bytes{0, 0, 0}, Bytes{0, 0, 0, 9, 'x'}}) {
    rsa.signature = sig;
    EXPECT_FALSE(rsa.verify_signature().ok());
  }
}

// ---- malformed blobs ----

// A certificate as raw sections, so tests can break any one of them.
struct RawCert {
  std::string type_name = "ssh-ed25519-cert-v01@openssh.com";
  Bytes nonce = Bytes(16, 1);
  Bytes key_fields;
  uint64_t serial = 1;
  uint32_t type = 1;
  std::string key_id = "id";
  Bytes principals;
  uint64_t valid_after = 0;
  uint64_t valid_before = UINT64_MAX;
  Bytes critical;
  Bytes extensions;
  Bytes reserved;
  Bytes ca_blob;
  Bytes signature = {0, 0, 0, 1, 'x'};

  RawCert() {
    Bytes pk = test_key(KeyType::kEd25519).public_key().blob();
    Reader r(pk);
    (void)r.string();
    key_fields.assign(r.rest().begin(), r.rest().end());
    ca_blob = test_key(KeyType::kEd25519, 1).public_key().blob();
  }

  Bytes encode() const {
    Writer w;
    w.string(type_name);
    w.string(nonce);
    w.bytes(key_fields);
    w.u64(serial);
    w.u32(type);
    w.string(key_id);
    w.string(principals);
    w.u64(valid_after);
    w.u64(valid_before);
    w.string(critical);
    w.string(extensions);
    w.string(reserved);
    w.string(ca_blob);
    w.string(signature);
    return w.take();
  }
};

Bytes strings(const std::vector<std::string>& items) {
  Writer w;
  for (const auto& s : items) w.string(s);
  return w.take();
}

Errc parse_error(const RawCert& raw) {
  auto cert = Certificate::from_blob(raw.encode());
  if (cert.ok()) return Errc{};
  return cert.error().code();
}

TEST(CertMalformed, BaselineParses) {
  RawCert raw;
  raw.principals = strings({"a", "b"});
  raw.critical = strings({"force-command", "", "source-address", ""});
  raw.extensions = strings({"permit-X11-forwarding", "", "permit-agent-forwarding", ""});
  auto cert = Certificate::from_blob(raw.encode());
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  EXPECT_EQ(cert->blob(), raw.encode());
}

TEST(CertMalformed, EveryTruncationFails) {
  Bytes blob = make_cert(test_key(KeyType::kRsa).public_key(), test_key(KeyType::kEcdsaP384, 1)).blob();
  for (size_t n = 0; n < blob.size(); ++n) {
    auto cert = Certificate::from_blob(std::span(blob.data(), n));
    ASSERT_FALSE(cert.ok()) << n;
    EXPECT_EQ(cert.error().code(), Errc::kTruncated) << n << ": " << cert.error().message();
    Reader r(std::span(blob.data(), n));
    EXPECT_FALSE(Certificate::parse(r).ok());
    EXPECT_EQ(r.remaining(), n);  // nothing consumed on failure
  }
}

TEST(CertMalformed, TrailingData) {
  RawCert raw;
  Bytes blob = raw.encode();
  blob.push_back(0);
  EXPECT_EQ(Certificate::from_blob(blob).error().code(), Errc::kTrailingData);

  RawCert in_ca;
  in_ca.ca_blob.push_back(0);
  EXPECT_EQ(parse_error(in_ca), Errc::kTrailingData);

  RawCert in_principals;
  in_principals.principals = strings({"a"});
  in_principals.principals.push_back(0);
  EXPECT_EQ(parse_error(in_principals), Errc::kTruncated);

  RawCert in_critical;
  in_critical.critical = strings({"force-command", "x"});
  in_critical.critical.push_back(0);
  EXPECT_EQ(parse_error(in_critical), Errc::kTruncated);

  RawCert name_without_data;
  name_without_data.extensions = strings({"permit-pty"});
  EXPECT_EQ(parse_error(name_without_data), Errc::kTruncated);
}

TEST(CertMalformed, OptionsMustBeSortedAndUnique) {
  for (bool critical : {true, false}) {
    for (const auto& names : std::vector<std::vector<std::string>>{
             {"source-address", "", "force-command", ""},
             {"permit-pty", "", "permit-pty", ""},
             {"b", "", "a", "", "c", ""},
             {"permit-pty", "", "permit-X11-forwarding", ""}}) {  // 'X' sorts before 'p'
      RawCert raw;
      (critical ? raw.critical : raw.extensions) = strings(names);
      EXPECT_EQ(parse_error(raw), Errc::kMalformed) << names[0] << "," << names[2];
    }
  }
  // Byte order, not locale order: "Z" < "a".
  RawCert raw;
  raw.extensions = strings({"Z", "", "a", ""});
  EXPECT_EQ(parse_error(raw), Errc{});
}

TEST(CertMalformed, BadCertType) {
  for (uint32_t type : {0u, 3u, 0xffffffffu}) {
    RawCert raw;
    raw.type = type;
    EXPECT_EQ(parse_error(raw), Errc::kMalformed) << type;
  }
}

TEST(CertMalformed, BadTypeName) {
  RawCert plain;
  plain.type_name = "ssh-ed25519";
  EXPECT_EQ(parse_error(plain), Errc::kMalformed);
  RawCert unknown;
  unknown.type_name = "ssh-dss-cert-v01@openssh.com";
  EXPECT_EQ(parse_error(unknown), Errc::kUnsupported);
  // The name decides the key fields: an ed25519 body under an ECDSA name fails.
  RawCert mismatched;
  mismatched.type_name = "ecdsa-sha2-nistp256-cert-v01@openssh.com";
  EXPECT_NE(parse_error(mismatched), Errc{});
}

TEST(CertMalformed, CaKeyThatIsACertificate) {
  RawCert inner;
  RawCert outer;
  outer.ca_blob = inner.encode();
  auto cert = Certificate::from_blob(outer.encode());
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code(), Errc::kMalformed);
  EXPECT_NE(cert.error().message().find("certificate"), std::string::npos);

  RawCert dss;
  Writer w;
  w.string("ssh-dss-cert-v01@openssh.com");
  dss.ca_blob = w.take();
  EXPECT_EQ(parse_error(dss), Errc::kMalformed);

  RawCert unknown;
  Writer u;
  u.string("ssh-dss");
  unknown.ca_blob = u.take();
  EXPECT_EQ(parse_error(unknown), Errc::kUnsupported);
}

TEST(CertMalformed, PrincipalsCap) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kMaxCertPrincipals; ++i) names.push_back("user" + std::to_string(i));
  RawCert at_cap;
  at_cap.principals = strings(names);
  auto cert = Certificate::from_blob(at_cap.encode());
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  EXPECT_EQ(cert->principals.size(), kMaxCertPrincipals);

  names.push_back("one-too-many");
  RawCert over;
  over.principals = strings(names);
  EXPECT_EQ(parse_error(over), Errc::kTooLarge);
}

TEST(CertMalformed, OptionsCap) {
  std::vector<std::string> pairs;
  for (size_t i = 0; i <= kMaxCertPrincipals; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "opt%05zu", i);
    pairs.push_back(name);
    pairs.push_back("");
  }
  RawCert over;
  over.extensions = strings(pairs);
  EXPECT_EQ(parse_error(over), Errc::kTooLarge);
  pairs.resize(2 * kMaxCertPrincipals);
  RawCert at_cap;
  at_cap.extensions = strings(pairs);
  EXPECT_EQ(parse_error(at_cap), Errc{});
}

TEST(CertMalformed, TextFieldsRejectNul) {
  RawCert key_id;
  key_id.key_id = std::string("a\0b", 3);
  EXPECT_EQ(parse_error(key_id), Errc::kMalformed);
  RawCert principal;
  principal.principals = strings({std::string("a\0b", 3)});
  EXPECT_EQ(parse_error(principal), Errc::kMalformed);
  RawCert option;
  option.critical = strings({std::string("a\0b", 3), ""});
  EXPECT_EQ(parse_error(option), Errc::kMalformed);
}

TEST(CertMalformed, BadCertifiedKey) {
  RawCert short_pk;
  short_pk.key_fields = strings({std::string(31, 'k')});
  EXPECT_EQ(parse_error(short_pk), Errc::kInvalidKey);

  // An RSA exponent with a needless leading zero is not canonical.
  RawCert rsa;
  rsa.type_name = "ssh-rsa-cert-v01@openssh.com";
  Bytes pk = test_key(KeyType::kRsa).public_key().blob();
  Reader r(pk);
  (void)r.string();
  auto e = r.string();
  ASSERT_TRUE(e.ok());
  Writer fields;
  Writer padded_e;
  padded_e.u8(0);
  padded_e.bytes(*e);
  fields.string(padded_e);
  fields.bytes(r.rest());
  rsa.key_fields = fields.take();
  EXPECT_EQ(parse_error(rsa), Errc::kMalformed);

  // The wrong curve for the type name.
  RawCert curve;
  curve.type_name = "ecdsa-sha2-nistp384-cert-v01@openssh.com";
  Bytes ec = test_key(KeyType::kEcdsaP256).public_key().blob();
  Reader er(ec);
  (void)er.string();
  curve.key_fields.assign(er.rest().begin(), er.rest().end());
  EXPECT_EQ(parse_error(curve), Errc::kInvalidKey);
}

// ---- certified private keys ----

class CertifiedPrivateKeyTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(CertifiedPrivateKeyTest, RoundTripAndLayout) {
  const PrivateKey& key = test_key(GetParam());
  Certificate cert = make_cert(key.public_key(), test_key(KeyType::kEd25519, 1));
  Writer w;
  serialize_certified_private_key(key, cert, w);

  // Layout: string cert type, string certificate, then the private fields
  // that follow the public ones (OpenSSH 9.x sshkey_private_serialize).
  Reader layout(w.data());
  auto name = layout.text();
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, certificate_type_name(GetParam()));
  auto cert_blob = layout.string();
  ASSERT_TRUE(cert_blob.ok());
  EXPECT_EQ(Bytes(cert_blob->begin(), cert_blob->end()), cert.blob());
  size_t expected_fields = GetParam() == KeyType::kEd25519 ? 2 : GetParam() == KeyType::kRsa ? 4 : 1;
  for (size_t i = 0; i < expected_fields; ++i) ASSERT_TRUE(layout.string().ok()) << i;
  EXPECT_TRUE(layout.empty());

  Bytes encoded(w.data().begin(), w.data().end());
  encoded.push_back(0x77);  // parse does not require the end
  Reader r(encoded);
  auto parsed = parse_certified_private_key(r);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(r.remaining(), 1u);
  EXPECT_TRUE(parsed->key.public_key() == key.public_key());
  EXPECT_EQ(parsed->certificate.blob(), cert.blob());
  auto sig = parsed->key.sign(as_bytes("data"));
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key.public_key().verify(*sig, as_bytes("data")).ok());

  Writer again;
  serialize_certified_private_key(parsed->key, parsed->certificate, again);
  EXPECT_TRUE(std::equal(w.data().begin(), w.data().end(), again.data().begin(), again.data().end()));

  // Every truncation fails and consumes nothing.
  for (size_t n = 0; n < w.size(); ++n) {
    Reader t(w.data().first(n));
    EXPECT_FALSE(parse_certified_private_key(t).ok()) << n;
    EXPECT_EQ(t.remaining(), n);
  }
}

TEST_P(CertifiedPrivateKeyTest, KeyMustMatchCertificate) {
  const PrivateKey& key = test_key(GetParam());
  const PrivateKey& other = test_key(GetParam(), 1);
  Certificate cert = make_cert(other.public_key(), test_key(KeyType::kEd25519, 1));
  Writer w;
  serialize_certified_private_key(key, cert, w);
  Reader r(w.data());
  auto parsed = parse_certified_private_key(r);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code(), Errc::kInvalidKey) << parsed.error().message();
}

INSTANTIATE_TEST_SUITE_P(Types, CertifiedPrivateKeyTest,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                           KeyType::kEcdsaP521, KeyType::kRsa),
                         [](const ::testing::TestParamInfo<KeyType>& p) { return type_label(p.param); });

TEST(CertifiedPrivateKey, TypeNameMustMatchCertificate) {
  const PrivateKey& key = test_key(KeyType::kEd25519);
  Certificate cert = make_cert(key.public_key(), test_key(KeyType::kEd25519, 1));
  Writer w;
  serialize_certified_private_key(key, cert, w);
  Reader orig(w.data());
  (void)orig.text();
  Writer renamed;
  renamed.string("ecdsa-sha2-nistp256-cert-v01@openssh.com");
  renamed.bytes(orig.rest());
  Reader r(renamed.data());
  auto parsed = parse_certified_private_key(r);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code(), Errc::kMalformed);

  Writer plain_name;
  plain_name.string("ssh-ed25519");
  plain_name.bytes(orig.rest());
  Reader p(plain_name.data());
  EXPECT_EQ(parse_certified_private_key(p).error().code(), Errc::kUnsupported);
}

// OpenSSH repeats an sk-ed25519 key's pk after the certificate (as for
// ed25519); the form without it (PROTOCOL.u2f's wording) is not what it writes.
TEST(CertifiedPrivateKey, SecurityKeyEd25519WithoutItsPublicKeyIsRefused) {
  Certificate cert = make_cert(security_key(KeyType::kSkEd25519), test_key(KeyType::kEd25519, 1));
  Writer w;
  w.string(cert.type_name());
  w.string(cert.blob());
  w.string("ssh:");
  w.u8(0x01);
  w.string(Bytes(32, 1));
  w.string("");
  Reader r(w.data());
  auto parsed = parse_certified_private_key(r);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(r.remaining(), w.size());
}

TEST(CertifiedPrivateKey, BadCertificateInside) {
  const PrivateKey& key = test_key(KeyType::kEcdsaP256);
  Certificate cert = make_cert(key.public_key(), test_key(KeyType::kEd25519, 1));
  Bytes blob = cert.blob();
  blob.push_back(0);  // trailing byte inside the certificate string
  Writer plain;
  key.serialize(plain);
  Reader pr(plain.data());
  (void)pr.string();
  (void)pr.string();
  (void)pr.string();
  Writer w;
  w.string(cert.type_name());
  w.string(blob);
  w.bytes(pr.rest());
  Reader r(w.data());
  EXPECT_EQ(parse_certified_private_key(r).error().code(), Errc::kTrailingData);
}

}  // namespace
}  // namespace tessera::key
