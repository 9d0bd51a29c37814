// PEM/PKCS#8 and RFC 4716 files exchanged with OpenSSH 9.2's ssh-keygen and
// openssl(1), in both directions, plus libkey signatures checked by OpenSSL.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::key {
namespace {

using test::read_file;
using test::run;
using test::TempDir;
using test::write_file;

constexpr const char* kPassphrase = "interop passphrase";

SecretBytes secret(std::string_view s) { return SecretBytes::copy_of(s); }

struct Spec {
  KeyType type;
  const char* keygen_type;  // ssh-keygen -t
  const char* bits;         // ssh-keygen -b
};

const std::vector<Spec>& specs() {
  static const std::vector<Spec> s = {{KeyType::kRsa, "rsa", "2048"},
                                      {KeyType::kEcdsaP256, "ecdsa", "256"},
                                      {KeyType::kEcdsaP384, "ecdsa", "384"},
                                      {KeyType::kEcdsaP521, "ecdsa", "521"}};
  return s;
}

PrivateKey generate(KeyType type) {
  auto key = PrivateKey::generate(type, type == KeyType::kRsa ? 2048 : 0);
  EXPECT_TRUE(key.ok());
  return *key;
}

// The Comment header ssh-keygen -e writes: "%u-bit %s, converted by %s@%s from
// OpenSSH", cut to 60 bytes (its buffer is 61 bytes).
std::string sshkeygen_export_comment(const PublicKey& key) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const passwd* pw = getpwuid(getuid());
  std::string comment = std::to_string(key.bits()) + "-bit " + std::string(key.info().display_name) +
                        ", converted by " + (pw != nullptr ? pw->pw_name : "") + "@" + host + " from OpenSSH";
  return comment.substr(0, 60);
}

TEST(PemInterop, TesseraReadsSshKeygenPemAndPkcs8Keys) {
  TempDir dir;
  for (const Spec& spec : specs()) {
    for (const char* mode : {"PEM", "PKCS8"}) {
      for (const char* pass : {"", kPassphrase}) {
        SCOPED_TRACE(std::string(spec.keygen_type) + spec.bits + " -m " + mode + (*pass ? " encrypted" : ""));
        std::string path = dir.file(std::string(spec.keygen_type) + spec.bits + mode + (*pass ? "-enc" : ""));
        auto made = run({"ssh-keygen", "-q", "-t", spec.keygen_type, "-b", spec.bits, "-m", mode, "-N", pass,
                         "-C", "", "-f", path});
        ASSERT_EQ(made.exit_code, 0) << made.err;
        std::string text = read_file(path);
        auto pub = parse_public_key_line(read_file(path + ".pub"));
        ASSERT_TRUE(pub.ok()) << pub.error().message();

        PemFlavor flavor = std::string_view(mode) == "PEM" ? PemFlavor::kTraditional : PemFlavor::kPkcs8;
        auto format = detect_private_key_format(text);
        ASSERT_TRUE(format.ok()) << format.error().message();
        EXPECT_EQ(*format, flavor == PemFlavor::kPkcs8 ? PrivateKeyFormat::kPkcs8 : PrivateKeyFormat::kPem);
        EXPECT_EQ(private_key_is_encrypted(text), *pass != '\0');

        auto parsed = parse_private_key(text, secret(pass));
        ASSERT_TRUE(parsed.ok()) << parsed.error().message();
        EXPECT_EQ(parsed->key.public_key(), pub->key);
        EXPECT_EQ(parsed->key.type(), spec.type);
        if (*pass == '\0') {
          // Same OpenSSL writer, same key: the same bytes.
          auto written = format_pem_private_key(parsed->key, flavor, SecretBytes());
          ASSERT_TRUE(written.ok()) << written.error().message();
          EXPECT_EQ(*written, text);
        } else {
          EXPECT_EQ(parse_private_key(text, SecretBytes()).error().code(), Errc::kPassphraseRequired);
          EXPECT_EQ(parse_private_key(text, secret("not it")).error().code(), Errc::kWrongPassphrase);
          if (flavor == PemFlavor::kTraditional) {
            EXPECT_NE(text.find("DEK-Info: AES-128-CBC,"), std::string::npos);
          }
        }
      }
    }
  }
}

TEST(PemInterop, SshKeygenKeepsOpensshFormatForEd25519) {
  TempDir dir;
  std::string path = dir.file("ed");
  auto made = run({"ssh-keygen", "-q", "-t", "ed25519", "-m", "PEM", "-N", "", "-C", "c", "-f", path});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string text = read_file(path);
  EXPECT_EQ(*detect_private_key_format(text), PrivateKeyFormat::kOpenssh);
  auto parsed = parse_private_key(text, SecretBytes());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->comment, "c");
}

TEST(PemInterop, OpensslAndSshKeygenReadTesseraPrivateKeys) {
  TempDir dir;
  std::vector<PrivateKey> keys;
  for (const Spec& spec : specs()) keys.push_back(generate(spec.type));
  keys.push_back(generate(KeyType::kEd25519));
  int n = 0;
  for (const PrivateKey& key : keys) {
    bool ed25519 = key.type() == KeyType::kEd25519;
    for (PemFlavor flavor : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      if (ed25519 && flavor == PemFlavor::kTraditional) continue;
      for (const char* pass : {"", kPassphrase}) {
        SCOPED_TRACE(std::string(key.public_key().ssh_name()) +
                     (flavor == PemFlavor::kPkcs8 ? " PKCS8" : " PEM") + (*pass ? " encrypted" : ""));
        auto text = format_pem_private_key(key, flavor, secret(pass));
        ASSERT_TRUE(text.ok()) << text.error().message();
        std::string path = dir.file("key" + std::to_string(n++));
        write_file(path, *text, 0600);

        // openssl(1) decrypts it and derives the same public key.
        auto pkey = run({"openssl", "pkey", "-in", path, "-passin", std::string("pass:") + pass, "-pubout"});
        ASSERT_EQ(pkey.exit_code, 0) << pkey.err;
        auto pub = parse_pem_public_key(pkey.out);
        ASSERT_TRUE(pub.ok()) << pub.error().message();
        EXPECT_EQ(*pub, key.public_key());
        if (!ed25519) {
          EXPECT_EQ(pkey.out, *format_pem_public_key(key.public_key(), PemFlavor::kPkcs8));
        }

        // ssh-keygen 9.2 reads PEM and PKCS#8 RSA/ECDSA keys (not ed25519 ones).
        if (ed25519) continue;
        auto derived = run({"ssh-keygen", "-y", "-f", path, "-P", pass});
        ASSERT_EQ(derived.exit_code, 0) << derived.err;
        EXPECT_EQ(derived.out, format_public_key_line(key.public_key(), "") + "\n");
        if (*pass != '\0') {
          auto wrong = run({"ssh-keygen", "-y", "-f", path, "-P", "wrong"}, "", {"SSH_ASKPASS=/bin/false"});
          EXPECT_NE(wrong.exit_code, 0);
        }
      }
    }
  }
}

TEST(PemInterop, ReadsKeysWrittenByOpenssl) {
  TempDir dir;
  struct Gen {
    std::vector<std::string> argv;
    KeyType type;
    const char* pass;
  };
  std::string f = dir.file("k");
  std::vector<Gen> gens = {
      {{"openssl", "genpkey", "-algorithm", "ed25519", "-out", f}, KeyType::kEd25519, ""},
      {{"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-aes-256-cbc", "-pass",
        "pass:openssl-pass", "-out", f},
       KeyType::kEcdsaP384, "openssl-pass"},
      {{"openssl", "ecparam", "-genkey", "-name", "prime256v1", "-out", f}, KeyType::kEcdsaP256, ""},
      {{"openssl", "genrsa", "-traditional", "-des3", "-passout", "pass:openssl-pass", "-out", f, "2048"},
       KeyType::kRsa, "openssl-pass"},
  };
  for (const Gen& gen : gens) {
    SCOPED_TRACE(gen.argv[1] + " " + gen.argv[3]);
    auto made = run(gen.argv);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    std::string text = read_file(f);
    auto parsed = parse_private_key(text, secret(gen.pass));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message() << "\n" << text.substr(0, 80);
    EXPECT_EQ(parsed->key.type(), gen.type);
    auto pub = run({"openssl", "pkey", "-in", f, "-passin", std::string("pass:") + gen.pass, "-pubout"});
    ASSERT_EQ(pub.exit_code, 0) << pub.err;
    EXPECT_EQ(*parse_pem_public_key(pub.out), parsed->key.public_key());
  }
}

TEST(Rfc4716Interop, ExportsMatchSshKeygenByteForByte) {
  TempDir dir;
  std::vector<PrivateKey> keys;
  for (const Spec& spec : specs()) keys.push_back(generate(spec.type));
  keys.push_back(generate(KeyType::kEd25519));
  for (const PrivateKey& key : keys) {
    const PublicKey& pub = key.public_key();
    SCOPED_TRACE(std::string(pub.ssh_name()));
    std::string path = dir.file(std::string(pub.info().file_stem) + std::to_string(pub.bits()) + ".pub");
    write_file(path, format_public_key_line(pub, "user@example") + "\n", 0644);

    auto rfc = run({"ssh-keygen", "-e", "-f", path});
    ASSERT_EQ(rfc.exit_code, 0) << rfc.err;
    std::string comment = sshkeygen_export_comment(pub);
    EXPECT_EQ(rfc.out, format_rfc4716(pub, comment));
    auto parsed = parse_rfc4716(rfc.out);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->key, pub);
    EXPECT_EQ(parsed->comment, comment);

    for (PemFlavor flavor : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      const char* mode = flavor == PemFlavor::kTraditional ? "PEM" : "PKCS8";
      auto exported = run({"ssh-keygen", "-e", "-m", mode, "-f", path});
      auto ours = format_pem_public_key(pub, flavor);
      if (pub.type() == KeyType::kEd25519) {
        EXPECT_NE(exported.exit_code, 0);
        ASSERT_FALSE(ours.ok());
        EXPECT_EQ(ours.error().code(), Errc::kUnsupported);
        continue;
      }
      ASSERT_EQ(exported.exit_code, 0) << exported.err;
      ASSERT_TRUE(ours.ok()) << ours.error().message();
      EXPECT_EQ(exported.out, *ours) << mode;
      auto back = parse_pem_public_key(exported.out);
      ASSERT_TRUE(back.ok()) << back.error().message();
      EXPECT_EQ(*back, pub);
    }
  }
}

TEST(Rfc4716Interop, SshKeygenImportsTesseraExports) {
  TempDir dir;
  std::vector<PrivateKey> keys;
  for (const Spec& spec : specs()) keys.push_back(generate(spec.type));
  keys.push_back(generate(KeyType::kEd25519));
  for (const PrivateKey& key : keys) {
    const PublicKey& pub = key.public_key();
    SCOPED_TRACE(std::string(pub.ssh_name()));
    std::string expected = format_public_key_line(pub, "") + "\n";
    for (std::string comment : {std::string("tessera key"), std::string(150, 'c'), std::string()}) {
      std::string path = dir.file("rfc");
      write_file(path, format_rfc4716(pub, comment), 0644);
      auto imported = run({"ssh-keygen", "-i", "-m", "RFC4716", "-f", path});
      ASSERT_EQ(imported.exit_code, 0) << imported.err << "\n" << read_file(path);
      EXPECT_EQ(imported.out, expected);
    }
    for (PemFlavor flavor : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      auto text = format_pem_public_key(pub, flavor);
      if (!text.ok()) continue;  // ed25519
      std::string path = dir.file("pem");
      write_file(path, *text, 0644);
      // ssh-keygen -i -m PEM reads only "RSA PUBLIC KEY"; SubjectPublicKeyInfo
      // (what -e -m PEM writes for ECDSA, too) is -m PKCS8.
      bool pkcs1 = flavor == PemFlavor::kTraditional && pub.type() == KeyType::kRsa;
      auto imported = run({"ssh-keygen", "-i", "-m", pkcs1 ? "PEM" : "PKCS8", "-f", path});
      ASSERT_EQ(imported.exit_code, 0) << imported.err;
      EXPECT_EQ(imported.out, expected);
    }
  }
}

// ---- libkey signatures verified by OpenSSL ----------------------------------

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

PkeyPtr read_spki(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return PkeyPtr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
}

// The raw signature inside an SSH signature blob, in the form OpenSSL
// verifies: PKCS#1 v1.5 and Ed25519 as they are, ECDSA (r, s) as DER.
Bytes openssl_signature(KeyType type, std::span<const uint8_t> blob, std::string& algorithm) {
  Reader r(blob);
  auto alg = r.text();
  auto sig = r.string();
  EXPECT_TRUE(alg.ok() && sig.ok() && r.expect_end().ok());
  if (!alg.ok() || !sig.ok()) return {};
  algorithm = std::string(*alg);
  if (type != KeyType::kEcdsaP256 && type != KeyType::kEcdsaP384 && type != KeyType::kEcdsaP521) {
    return Bytes(sig->begin(), sig->end());
  }
  Reader rs(*sig);
  auto r_mag = rs.mpint();
  auto s_mag = rs.mpint();
  EXPECT_TRUE(r_mag.ok() && s_mag.ok() && rs.expect_end().ok());
  if (!r_mag.ok() || !s_mag.ok()) return {};
  ECDSA_SIG* ecdsa = ECDSA_SIG_new();
  ECDSA_SIG_set0(ecdsa, BN_bin2bn(r_mag->data(), static_cast<int>(r_mag->size()), nullptr),
                 BN_bin2bn(s_mag->data(), static_cast<int>(s_mag->size()), nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(ecdsa, &der);
  ECDSA_SIG_free(ecdsa);
  EXPECT_GT(len, 0);
  Bytes out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  return out;
}

const EVP_MD* digest_for(std::string_view algorithm) {
  if (algorithm == "ssh-rsa") return EVP_sha1();
  if (algorithm == "rsa-sha2-256" || algorithm == "ecdsa-sha2-nistp256") return EVP_sha256();
  if (algorithm == "rsa-sha2-512" || algorithm == "ecdsa-sha2-nistp521") return EVP_sha512();
  if (algorithm == "ecdsa-sha2-nistp384") return EVP_sha384();
  return nullptr;  // ssh-ed25519: no separate digest
}

const char* digest_flag(std::string_view algorithm) {
  if (algorithm == "ssh-rsa") return "-sha1";
  if (algorithm == "rsa-sha2-256" || algorithm == "ecdsa-sha2-nistp256") return "-sha256";
  if (algorithm == "rsa-sha2-512" || algorithm == "ecdsa-sha2-nistp521") return "-sha512";
  return "-sha384";
}

TEST(SignatureInterop, LibkeySignaturesVerifyUnderOpenssl) {
  TempDir dir;
  const std::string data = "data signed by libkey, checked by OpenSSL\n";
  write_file(dir.file("data"), data, 0644);
  PrivateKey rsa = generate(KeyType::kRsa);
  std::vector<std::pair<PrivateKey, SignatureAlgorithm>> cases = {
      {rsa, SignatureAlgorithm::kRsaSha256},
      {rsa, SignatureAlgorithm::kRsaSha512},
      {rsa, SignatureAlgorithm::kRsaSha1},
      {generate(KeyType::kEcdsaP256), SignatureAlgorithm::kDefault},
      {generate(KeyType::kEcdsaP384), SignatureAlgorithm::kDefault},
      {generate(KeyType::kEcdsaP521), SignatureAlgorithm::kDefault},
      {generate(KeyType::kEd25519), SignatureAlgorithm::kDefault},
  };
  for (const auto& [key, alg] : cases) {
    bool ed25519 = key.type() == KeyType::kEd25519;
    // Ed25519 has no PEM export in OpenSSH 9.2 (nor in format_pem_public_key):
    // write its SubjectPublicKeyInfo with OpenSSL directly.
    std::string spki;
    if (ed25519) {
      BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
      ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key.public_key().evp()), 1);
      char* p = nullptr;
      long n = BIO_get_mem_data(bio.get(), &p);
      spki.assign(p, static_cast<size_t>(n));
    } else {
      auto pem = format_pem_public_key(key.public_key(), PemFlavor::kPkcs8);
      ASSERT_TRUE(pem.ok()) << pem.error().message();
      spki = *pem;
    }
    auto blob = key.sign(as_bytes(data), alg);
    ASSERT_TRUE(blob.ok()) << blob.error().message();
    std::string algorithm;
    Bytes sig = openssl_signature(key.type(), *blob, algorithm);
    SCOPED_TRACE(algorithm);

    // In process.
    PkeyPtr pkey = read_spki(spki);
    ASSERT_TRUE(pkey);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, digest_for(algorithm), nullptr, pkey.get()), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const uint8_t*>(data.data()),
                               data.size()),
              1);

    // And with openssl(1).
    write_file(dir.file("pub.pem"), spki, 0644);
    write_file(dir.file("sig"), std::string(sig.begin(), sig.end()), 0644);
    auto verified = ed25519 ? run({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", dir.file("pub.pem"),
                                   "-rawin", "-in", dir.file("data"), "-sigfile", dir.file("sig")})
                            : run({"openssl", "dgst", digest_flag(algorithm), "-verify", dir.file("pub.pem"),
                                   "-signature", dir.file("sig"), dir.file("data")});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("Verified"), std::string::npos) << verified.out;

    // A changed message does not verify.
    write_file(dir.file("other"), data + "x", 0644);
    auto rejected = ed25519 ? run({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", dir.file("pub.pem"),
                                   "-rawin", "-in", dir.file("other"), "-sigfile", dir.file("sig")})
                            : run({"openssl", "dgst", digest_flag(algorithm), "-verify", dir.file("pub.pem"),
                                   "-signature", dir.file("sig"), dir.file("other")});
    EXPECT_NE(rejected.exit_code, 0);
  }
}

}  // namespace
}  // namespace tessera::key
