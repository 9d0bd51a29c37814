// The server embedding API in one process: host keys from files
// (load_host_key_files, shared with tessera-sshd), and a Server driven by
// the library's own Client.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/host_keys_file.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "test_support.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh {
namespace {

using key::KeyType;
using key::PrivateKey;
using test::TempDir;
using test::write_file;

std::string private_key_file(const TempDir& dir, const std::string& name, const PrivateKey& k) {
  const std::string path = dir.file(name);
  write_file(path, *key::format_openssh_private_key(k, "test", key::SecretBytes()));
  return path;
}

key::Certificate certify(const PrivateKey& ca, const PrivateKey& subject, key::CertType type) {
  key::Certificate cert{subject.public_key(), {}, 0, type, {}, {}, 0, UINT64_MAX, {}, {}, {}, ca.public_key(), {}};
  cert.key_id = "test-cert";
  cert.principals = {"localhost"};
  key::PrivateKeySigner signer(ca);
  EXPECT_TRUE(key::sign_certificate(cert, signer, key::default_certificate_algorithm(ca.public_key())).ok());
  return cert;
}

std::string certificate_file(const TempDir& dir, const std::string& name, const key::Certificate& cert) {
  const std::string path = dir.file(name);
  write_file(path, std::string(cert.type_name()) + " " + key::base64_encode(cert.blob()) + " comment\n", 0644);
  return path;
}

bool has(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

TEST(HostKeyFiles, OffersEachKeysAlgorithmsAndCertificateForms) {
  TempDir dir;
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey p384 = *PrivateKey::generate(KeyType::kEcdsaP384);
  const PrivateKey rsa = *PrivateKey::generate(KeyType::kRsa, 2048);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  auto loaded = io::load_host_key_files(
      {private_key_file(dir, "ed", ed), private_key_file(dir, "p384", p384), private_key_file(dir, "rsa", rsa)},
      {certificate_file(dir, "rsa-cert.pub", certify(ca, rsa, key::CertType::kHost))});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_TRUE(loaded->warnings.empty());
  io::HostKeys& keys = *loaded->keys;
  const std::vector<std::string> algorithms = keys.algorithms();
  for (const char* name : {"ssh-ed25519", "ecdsa-sha2-nistp384", "rsa-sha2-512", "rsa-sha2-256",
                           "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com"}) {
    EXPECT_TRUE(has(algorithms, name)) << name;
  }
  for (const char* name : {"ssh-rsa", "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256"}) {
    EXPECT_FALSE(has(algorithms, name)) << name;
  }
  // Every offered algorithm signs as the exchange check expects, with the
  // key or certificate blob it names.
  const key::Bytes hash(32, 0x5a);
  for (const std::string& name : algorithms) {
    const transport::HostKeyAlgorithm* alg = transport::find_host_key_algorithm(name);
    ASSERT_NE(alg, nullptr) << name;
    auto parsed = transport::parse_server_host_key(*alg, keys.host_key_blob(name));
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message();
    EXPECT_EQ(parsed->certificate.has_value(), alg->certificate) << name;
    auto signature = keys.sign(name, hash);
    ASSERT_TRUE(signature.ok()) << name;
    EXPECT_TRUE(transport::verify_exchange_signature(*alg, parsed->key, *signature, hash).ok()) << name;
  }
  EXPECT_FALSE(keys.sign("ssh-ed25519-cert-v01@openssh.com", hash).ok());
  EXPECT_TRUE(keys.host_key_blob("ecdsa-sha2-nistp256").empty());
  const std::vector<key::Bytes> blobs = keys.public_key_blobs();
  ASSERT_EQ(blobs.size(), 3u);
  EXPECT_EQ(blobs[0], ed.public_key().blob());
  EXPECT_EQ(blobs[2], rsa.public_key().blob());
}

TEST(HostKeyFiles, SkipsWhatCannotServeWithAWarningNamingTheFile) {
  TempDir dir;
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey ed2 = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey p256 = *PrivateKey::generate(KeyType::kEcdsaP256);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEcdsaP256);
  const std::string encrypted = dir.file("encrypted");
  write_file(encrypted, *key::format_openssh_private_key(p256, "", key::SecretBytes::copy_of("secret")));
  write_file(dir.file("garbage"), "not a key\n");
  auto loaded = io::load_host_key_files(
      {private_key_file(dir, "ed", ed), dir.file("missing"), encrypted, dir.file("garbage"),
       private_key_file(dir, "ed2", ed2)},
      {certificate_file(dir, "user-cert.pub", certify(ca, ed, key::CertType::kUser)),
       certificate_file(dir, "other-cert.pub", certify(ca, p256, key::CertType::kHost)),
       certificate_file(dir, "ed-cert.pub", certify(ca, ed, key::CertType::kHost))});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const std::vector<std::string>& w = loaded->warnings;
  ASSERT_EQ(w.size(), 6u);
  EXPECT_NE(w[0].find(dir.file("missing") + ": No such file"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("encrypted"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find(dir.file("garbage")), std::string::npos) << w[2];
  EXPECT_NE(w[3].find("earlier ssh-ed25519"), std::string::npos) << w[3];
  EXPECT_NE(w[4].find("user certificate"), std::string::npos) << w[4];
  EXPECT_NE(w[5].find("no matching private key"), std::string::npos) << w[5];
  EXPECT_EQ(loaded->keys->algorithms(),
            (std::vector<std::string>{"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"}));
  EXPECT_EQ(loaded->keys->host_key_blob("ssh-ed25519"), ed.public_key().blob());
}

TEST(HostKeyFiles, FailsWhenNoKeyLoads) {
  TempDir dir;
  auto loaded = io::load_host_key_files({dir.file("missing")}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message().find("no host key could be loaded"), std::string::npos);
  EXPECT_NE(loaded.error().message().find("missing"), std::string::npos);
  EXPECT_FALSE(io::load_host_key_files({}, {}).ok());
}

TEST(HostKeyFiles, CertificateFileParsingRejectsMismatchesAndBadSignatures) {
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey host = *PrivateKey::generate(KeyType::kEd25519);
  key::Certificate cert = certify(ca, host, key::CertType::kHost);
  const std::string b64 = key::base64_encode(cert.blob());
  EXPECT_TRUE(io::parse_certificate_file("# comment\n\nssh-ed25519-cert-v01@openssh.com " + b64 + "\n").ok());
  EXPECT_FALSE(io::parse_certificate_file("ecdsa-sha2-nistp256-cert-v01@openssh.com " + b64).ok());
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519 " + b64).ok());
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519-cert-v01@openssh.com !!!").ok());
  EXPECT_FALSE(io::parse_certificate_file("").ok());
  cert.key_id = "changed after signing";
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519-cert-v01@openssh.com " + key::base64_encode(cert.blob())).ok());
}

}  // namespace
}  // namespace tessera::ssh
