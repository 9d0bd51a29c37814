// The server's host key sources (io/host_key_sources.h, host_keys_agent.h,
// host_keys_token.h) without a server: HostKeySet's order, types and
// certificates; the check of signatures made outside the process; key
// files mixed with an agent's keys (a real ssh-agent) as sshd mixes them;
// the public halves HostKeyAgent reads; pin-source files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/host_key_sources.h"
#include "io/host_keys_agent.h"
#include "io/host_keys_token.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "test_support.h"

namespace tessera::ssh::io {
namespace {

using key::KeyType;
using key::PrivateKey;
using test::TempDir;
using test::write_file;

const std::vector<uint8_t> kData = {1, 2, 3, 4, 5, 6, 7, 8};

key::SignatureAlgorithm signature_of(std::string_view name) {
  if (name == "rsa-sha2-512") return key::SignatureAlgorithm::kRsaSha512;
  if (name == "rsa-sha2-256") return key::SignatureAlgorithm::kRsaSha256;
  return key::SignatureAlgorithm::kDefault;
}

HostKeySet::SignFunction signer_of(const PrivateKey& k) {
  return [k](std::string_view algorithm, std::span<const uint8_t> data) { return k.sign(data, signature_of(algorithm)); };
}

key::Certificate certify(const PrivateKey& ca, const PrivateKey& subject, key::CertType type) {
  key::Certificate cert{subject.public_key(), {}, 0, type, {}, {}, 0, UINT64_MAX, {}, {}, {}, ca.public_key(), {}};
  cert.key_id = "test-cert";
  cert.principals = {"localhost"};
  key::PrivateKeySigner signer(ca);
  EXPECT_TRUE(key::sign_certificate(cert, signer, key::default_certificate_algorithm(ca.public_key())).ok());
  return cert;
}

std::string line_of(const key::Certificate& cert) {
  return std::string(cert.type_name()) + " " + key::base64_encode(cert.blob()) + " comment\n";
}

bool has(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

TEST(HostKeySet, TheFirstKeyOfEachTypeAnswersAndCertificatesAddTheirAlgorithms) {
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey ed2 = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey rsa = *PrivateKey::generate(KeyType::kRsa, 2048);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  HostKeySet set;
  ASSERT_TRUE(set.add(ed.public_key(), signer_of(ed), "first").ok());
  auto second = set.add(ed2.public_key(), signer_of(ed2), "second");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message(), "not used: the ssh-ed25519 key first answers for its type");
  ASSERT_TRUE(set.add(rsa.public_key(), signer_of(rsa), "rsa").ok());
  EXPECT_EQ(set.algorithms(), (std::vector<std::string>{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"}));
  EXPECT_EQ(set.public_key_blobs(), (std::vector<key::Bytes>{ed.public_key().blob(), rsa.public_key().blob()}));

  // Certificates: only a host certificate of one of the keys, once.
  EXPECT_FALSE(set.add_certificate(certify(ca, rsa, key::CertType::kUser)).ok());
  auto stranger = set.add_certificate(certify(ca, ed2, key::CertType::kHost));
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.error().message(), "certifies none of the host keys");
  const key::Certificate cert = certify(ca, rsa, key::CertType::kHost);
  ASSERT_TRUE(set.add_certificate(cert).ok());
  EXPECT_FALSE(set.add_certificate(certify(ca, rsa, key::CertType::kHost)).ok());
  EXPECT_TRUE(has(set.algorithms(), "rsa-sha2-512-cert-v01@openssh.com"));
  EXPECT_FALSE(has(set.algorithms(), "ssh-ed25519-cert-v01@openssh.com"));
  EXPECT_EQ(set.host_key_blob("rsa-sha2-256-cert-v01@openssh.com"), cert.blob());
  EXPECT_EQ(set.host_key_blob("rsa-sha2-256"), rsa.public_key().blob());
  EXPECT_TRUE(set.host_key_blob("ecdsa-sha2-nistp256").empty());

  // A certificate algorithm signs as the key's plain one.
  for (const char* algorithm : {"rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512", "ssh-ed25519"}) {
    auto signature = set.sign(algorithm, kData);
    ASSERT_TRUE(signature.ok()) << algorithm;
    const std::string plain = std::string(algorithm).substr(0, std::string(algorithm).find("-cert"));
    EXPECT_TRUE(check_external_signature(std::string(algorithm).starts_with("ssh-ed") ? ed.public_key()
                                                                                      : rsa.public_key(),
                                         plain, *signature, kData)
                    .ok())
        << algorithm;
  }
  EXPECT_EQ(set.sign("ecdsa-sha2-nistp256", kData).error().code(), key::Errc::kUnsupported);
}

TEST(HostKeySet, AFailedSignatureIsReportedWithItsKey) {
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  std::vector<std::string> reported;
  HostKeySet set([&](const std::string& text) { reported.push_back(text); });
  ASSERT_TRUE(set.add(
                     ed.public_key(),
                     [](std::string_view, std::span<const uint8_t>) -> key::Result<key::Bytes> {
                       return key::Error(key::Errc::kIo, "token not present");
                     },
                     "'ed' on token 'main'")
                  .ok());
  auto signature = set.sign("ssh-ed25519", kData);
  ASSERT_FALSE(signature.ok());
  EXPECT_EQ(reported, std::vector<std::string>{"host key 'ed' on token 'main': token not present"});
}

TEST(HostKeySources, ExternalSignaturesAreChecked) {
  const PrivateKey rsa = *PrivateKey::generate(KeyType::kRsa, 2048);
  const PrivateKey other = *PrivateKey::generate(KeyType::kRsa, 2048);
  const key::Bytes sha256 = *rsa.sign(kData, key::SignatureAlgorithm::kRsaSha256);
  EXPECT_TRUE(check_external_signature(rsa.public_key(), "rsa-sha2-256", sha256, kData).ok());
  // An agent that ignores the flags and answers with another hash.
  auto wrong_hash = check_external_signature(rsa.public_key(), "rsa-sha2-512", sha256, kData);
  ASSERT_FALSE(wrong_hash.ok());
  EXPECT_EQ(wrong_hash.error().message(), "signed with rsa-sha2-256 instead of rsa-sha2-512");
  const key::Bytes by_other = *other.sign(kData, key::SignatureAlgorithm::kRsaSha256);
  EXPECT_EQ(check_external_signature(rsa.public_key(), "rsa-sha2-256", by_other, kData).error().code(),
            key::Errc::kBadSignature);
  EXPECT_EQ(check_external_signature(rsa.public_key(), "rsa-sha2-256", key::Bytes{0, 0, 1}, kData).error().code(),
            key::Errc::kBadSignature);
}

class HostKeySourceFiles : public ::testing::Test {
 protected:
  std::string private_file(const std::string& name, const PrivateKey& k, const std::string& passphrase = "") {
    write_file(dir_.file(name), *key::format_openssh_private_key(k, name, key::SecretBytes::copy_of(passphrase)));
    write_file(dir_.file(name + ".pub"), key::format_public_key_line(k.public_key(), name) + "\n", 0644);
    return dir_.file(name);
  }
  TempDir dir_;
};

TEST_F(HostKeySourceFiles, FilesLoadInOrderAndProblemsAreWarnings) {
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey p256 = *PrivateKey::generate(KeyType::kEcdsaP256);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  write_file(dir_.file("p256-cert.pub"), line_of(certify(ca, p256, key::CertType::kHost)), 0644);
  HostKeySources sources;
  sources.host_keys = {private_file("ed", ed), dir_.file("missing"), private_file("p256", p256),
                       private_file("encrypted", *PrivateKey::generate(KeyType::kEcdsaP384), "secret"),
                       dir_.file("ed.pub")};
  sources.certificates = {dir_.file("p256-cert.pub"), dir_.file("ed.pub")};
  auto loaded = load_host_key_set(sources);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->keys->public_keys(), (std::vector<key::PublicKey>{ed.public_key(), p256.public_key()}));
  EXPECT_TRUE(has(loaded->keys->algorithms(), "ecdsa-sha2-nistp256-cert-v01@openssh.com"));
  const std::vector<std::string>& w = loaded->warnings;
  ASSERT_EQ(w.size(), 4u) << ::testing::PrintToString(w);
  EXPECT_EQ(w[0], "host key " + dir_.file("missing") + ": No such file or directory");
  EXPECT_EQ(w[1], "host key " + dir_.file("encrypted") +
                      ": the key is encrypted (a server has nobody to ask for its passphrase)");
  EXPECT_EQ(w[2].rfind("host key " + dir_.file("ed.pub") + ": ", 0), 0u) << w[2];  // no agent to hold it
  EXPECT_EQ(w[3].rfind("host certificate " + dir_.file("ed.pub") + ": not a certificate", 0), 0u) << w[3];

  HostKeySources nothing;
  nothing.host_keys = {dir_.file("missing")};
  auto none = load_host_key_set(nothing);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(),
            "no host key could be loaded; host key " + dir_.file("missing") + ": No such file or directory");
}

TEST_F(HostKeySourceFiles, TheAgentsPublicHalfComesFromTheFileOrItsPub) {
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  // FILE is a public key.
  private_file("a", ed);
  auto from_pub = read_agent_key_file(dir_.file("a.pub"));
  ASSERT_TRUE(from_pub.ok()) << from_pub.error().message();
  EXPECT_EQ(from_pub->key, ed.public_key());
  EXPECT_EQ(from_pub->path, dir_.file("a.pub"));
  // FILE is gone, or encrypted: FILE.pub.
  ::unlink(dir_.file("a").c_str());
  auto beside = read_agent_key_file(dir_.file("a"));
  ASSERT_TRUE(beside.ok()) << beside.error().message();
  EXPECT_EQ(beside->path, dir_.file("a.pub"));
  private_file("b", ed, "secret");
  auto encrypted = read_agent_key_file(dir_.file("b"));
  ASSERT_TRUE(encrypted.ok()) << encrypted.error().message();
  EXPECT_EQ(encrypted->key, ed.public_key());
  // A host certificate: its key, and the certificate with it.
  write_file(dir_.file("c-cert.pub"), line_of(certify(ca, ed, key::CertType::kHost)), 0644);
  auto cert = read_agent_key_file(dir_.file("c-cert.pub"));
  ASSERT_TRUE(cert.ok()) << cert.error().message();
  EXPECT_EQ(cert->key, ed.public_key());
  ASSERT_TRUE(cert->certificate.has_value());
  write_file(dir_.file("u-cert.pub"), line_of(certify(ca, ed, key::CertType::kUser)), 0644);
  EXPECT_FALSE(read_agent_key_file(dir_.file("u-cert.pub")).ok());
  // Neither.
  write_file(dir_.file("junk"), "not a key\n");
  auto junk = read_agent_key_file(dir_.file("junk"));
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().message().find(dir_.file("junk.pub") + ": No such file or directory"),
            junk.error().message().size() - (dir_.file("junk.pub") + ": No such file or directory").size())
      << junk.error().message();
}

// A real ssh-agent: files and agent keys mixed in HostKey order; RSA asked
// for with the rsa-sha2 flags; a key the agent lacks; a gone agent.
TEST_F(HostKeySourceFiles, AgentKeysMixWithFilesAsSshdMixesThem) {
  if (!test::have_program("ssh-agent") || !test::have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent";
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey rsa = *PrivateKey::generate(KeyType::kRsa, 2048);
  const PrivateKey p256 = *PrivateKey::generate(KeyType::kEcdsaP256);
  const PrivateKey lacking = *PrivateKey::generate(KeyType::kEcdsaP384);
  const std::string sock = dir_.file("agent.sock");
  auto agent = std::make_unique<test::BackgroundProcess>(std::vector<std::string>{"ssh-agent", "-D", "-a", sock},
                                                         dir_.file("agent.log"));
  ASSERT_TRUE(test::wait_for_unix_socket(sock));
  private_file("rsa", rsa);
  private_file("p256", p256, "secret");  // encrypted: the agent's, by its .pub
  private_file("lacking", lacking);
  ASSERT_EQ(test::run({"ssh-add", "-q", dir_.file("rsa")}, {}, {"SSH_AUTH_SOCK=" + sock}).exit_code, 0);
  ASSERT_EQ(test::run({"ssh-add", "-q", dir_.file("p256")}, "secret\n",
                      {"SSH_AUTH_SOCK=" + sock, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="})
                .exit_code,
            0);
  ::unlink(dir_.file("rsa").c_str());

  HostKeySources sources;
  sources.agent = sock;
  sources.host_keys = {dir_.file("rsa"), private_file("ed", ed), dir_.file("p256"), dir_.file("lacking.pub")};
  std::vector<std::string> failures;
  auto loaded = load_host_key_set(sources, [&](const std::string& text) { failures.push_back(text); });
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  HostKeySet& set = *loaded->keys;
  EXPECT_EQ(set.public_keys(),
            (std::vector<key::PublicKey>{rsa.public_key(), ed.public_key(), p256.public_key()}));
  EXPECT_EQ(loaded->warnings,
            std::vector<std::string>{"host key " + dir_.file("lacking.pub") + ": the agent at " + sock +
                                     " does not hold it"});
  EXPECT_EQ(loaded->notes, (std::vector<std::string>{"will rely on agent for host key " + dir_.file("rsa"),
                                                     "will rely on agent for host key " + dir_.file("p256")}));
  for (const char* algorithm : {"rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519", "ecdsa-sha2-nistp256"}) {
    auto signature = set.sign(algorithm, kData);
    ASSERT_TRUE(signature.ok()) << algorithm << ": " << signature.error().message();
    const key::PublicKey& k = std::string_view(algorithm).starts_with("rsa") ? rsa.public_key()
                              : std::string_view(algorithm) == "ssh-ed25519" ? ed.public_key()
                                                                              : p256.public_key();
    EXPECT_TRUE(check_external_signature(k, algorithm, *signature, kData).ok()) << algorithm;
  }
  // The agent gone: its keys fail, the file key still signs.
  agent.reset();
  EXPECT_FALSE(set.sign("rsa-sha2-512", kData).ok());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].rfind("host key " + dir_.file("rsa") + " (agent " + sock + "): the agent at " + sock, 0), 0u)
      << failures[0];
  EXPECT_TRUE(set.sign("ssh-ed25519", kData).ok());

  // No agent at all: said, and the files still load.
  auto without = load_host_key_set(sources);
  ASSERT_TRUE(without.ok()) << without.error().message();
  EXPECT_EQ(without->keys->public_keys(), std::vector<key::PublicKey>{ed.public_key()});
  EXPECT_EQ(without->warnings.front().rfind("HostKeyAgent " + sock + ": cannot connect to agent at " + sock, 0), 0u)
      << without->warnings.front();
}

TEST(PinSource, OnlyAFileNoOneElseMayReadGivesItsFirstLine) {
  TempDir dir;
  write_file(dir.file("pin"), "1234\r\nsecond line\n", 0600);
  for (const std::string& source : {dir.file("pin"), "file:" + dir.file("pin"), "file://" + dir.file("pin")}) {
    auto pin = read_pin_source(source);
    ASSERT_TRUE(pin.ok()) << source << ": " << pin.error().message();
    EXPECT_EQ(pin->reveal_text(), "1234") << source;
  }
  write_file(dir.file("bare"), "5678", 0600);
  EXPECT_EQ(read_pin_source(dir.file("bare"))->reveal_text(), "5678");
  write_file(dir.file("readable"), "1234\n", 0640);
  auto readable = read_pin_source(dir.file("readable"));
  ASSERT_FALSE(readable.ok());
  EXPECT_NE(readable.error().message().find("may be read or written by others than"), std::string::npos);
  write_file(dir.file("empty"), "\n", 0600);
  EXPECT_EQ(read_pin_source(dir.file("empty")).error().message(), "pin-source " + dir.file("empty") + " is empty");
  write_file(dir.file("long"), std::string(300, '1'), 0600);
  EXPECT_FALSE(read_pin_source(dir.file("long")).ok());
  EXPECT_EQ(read_pin_source("pin").error().code(), key::Errc::kInvalidArgument);
  EXPECT_EQ(read_pin_source("|/bin/echo 1234").error().code(), key::Errc::kInvalidArgument);
  EXPECT_EQ(read_pin_source(dir.path().string()).error().code(), key::Errc::kInvalidArgument);
  EXPECT_EQ(read_pin_source(dir.file("missing")).error().code(), key::Errc::kIo);
}

}  // namespace
}  // namespace tessera::ssh::io
