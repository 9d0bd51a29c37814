// PEM (PKCS#1, SEC1), PKCS#8 and SubjectPublicKeyInfo files, and the
// private key format dispatcher.
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <string>

#include "tessera/key/ossl.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

SecretBytes secret(std::string_view s) { return SecretBytes::copy_of(s); }

const PrivateKey& rsa_key() {
  static const PrivateKey key = *PrivateKey::generate(KeyType::kRsa, 2048);
  return key;
}

Bytes private_bytes(const PrivateKey& key) {
  Writer w;
  key.serialize(w);
  return w.take();
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// PEM text written directly with OpenSSL, for inputs tessera does not write.
std::string openssl_pkcs8(EVP_PKEY* pkey) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_text(bio.get());
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// Wraps DER in PEM armor with the given label.
std::string armor(std::string_view label, std::span<const uint8_t> der, std::string_view headers = "") {
  std::string b64 = base64_encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n" + std::string(headers);
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END " + std::string(label) + "-----\n";
}

// The DER inside the first PEM block of text.
Bytes der_of(const std::string& text) {
  size_t start = text.find("-----\n") + 6;
  size_t end = text.find("-----END");
  auto der = base64_decode(text.substr(start, end - start));
  EXPECT_TRUE(der.ok());
  return der.ok() ? *der : Bytes();
}

struct Case {
  KeyType type;
  PemFlavor flavor;
  const char* passphrase;
};

class PemRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(PemRoundTrip, WritesAndReadsBack) {
  const Case& c = GetParam();
  PrivateKey key = c.type == KeyType::kRsa ? rsa_key() : *PrivateKey::generate(c.type);
  SecretBytes pass = secret(c.passphrase);
  auto text = format_pem_private_key(key, c.flavor, pass);
  ASSERT_TRUE(text.ok()) << text.error().message();

  bool encrypted = !pass.empty();
  std::string_view label = c.flavor == PemFlavor::kPkcs8 ? (encrypted ? "ENCRYPTED PRIVATE KEY" : "PRIVATE KEY")
                           : c.type == KeyType::kRsa     ? "RSA PRIVATE KEY"
                                                         : "EC PRIVATE KEY";
  EXPECT_TRUE(text->starts_with("-----BEGIN " + std::string(label) + "-----\n")) << *text;
  EXPECT_TRUE(text->ends_with("-----END " + std::string(label) + "-----\n")) << *text;
  if (c.flavor == PemFlavor::kTraditional) {
    EXPECT_EQ(text->find("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,") != std::string::npos, encrypted);
  }

  auto parsed = parse_pem_private_key(*text, pass);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->public_key(), key.public_key());
  EXPECT_EQ(private_bytes(*parsed), private_bytes(key));

  auto any = parse_private_key(*text, pass);
  ASSERT_TRUE(any.ok()) << any.error().message();
  EXPECT_EQ(any->comment, "");
  EXPECT_EQ(any->key.public_key(), key.public_key());
  auto format = detect_private_key_format(*text);
  ASSERT_TRUE(format.ok());
  EXPECT_EQ(*format, c.flavor == PemFlavor::kPkcs8 ? PrivateKeyFormat::kPkcs8 : PrivateKeyFormat::kPem);
  EXPECT_EQ(private_key_is_encrypted(*text), encrypted);

  if (encrypted) {
    auto no_pass = parse_pem_private_key(*text, SecretBytes());
    ASSERT_FALSE(no_pass.ok());
    EXPECT_EQ(no_pass.error().code(), Errc::kPassphraseRequired);
    auto wrong = parse_pem_private_key(*text, secret("wrong passphrase"));
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().code(), Errc::kWrongPassphrase) << wrong.error().message();
    EXPECT_EQ(parse_private_key(*text, SecretBytes()).error().code(), Errc::kPassphraseRequired);
  } else {
    // A passphrase given for an unencrypted key is ignored, as ssh-keygen does.
    EXPECT_TRUE(parse_pem_private_key(*text, secret("unused")).ok());
    // Writing is deterministic without encryption.
    EXPECT_EQ(*format_pem_private_key(*parsed, c.flavor, pass), *text);
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (KeyType t : {KeyType::kRsa, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521,
                    KeyType::kEd25519}) {
    for (PemFlavor f : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      if (t == KeyType::kEd25519 && f == PemFlavor::kTraditional) continue;
      for (const char* p : {"", "correct horse battery staple"}) cases.push_back({t, f, p});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, PemRoundTrip, ::testing::ValuesIn(all_cases()));

TEST(Pem, Ed25519HasNoTraditionalFormat) {
  auto key = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  auto text = format_pem_private_key(*key, PemFlavor::kTraditional, SecretBytes());
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().code(), Errc::kUnsupported);
  for (PemFlavor f : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
    auto pub = format_pem_public_key(key->public_key(), f);
    ASSERT_FALSE(pub.ok());
    EXPECT_EQ(pub.error().code(), Errc::kUnsupported);
  }
}

TEST(Pem, WrongTraditionalPassphrasesNeverDecodeGarbage) {
  // About one wrong passphrase in 256 leaves valid CBC padding; the DER
  // underneath is then garbage and must still read as a wrong passphrase.
  auto key = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(key.ok());
  auto text = format_pem_private_key(*key, PemFlavor::kTraditional, secret("right"));
  ASSERT_TRUE(text.ok());
  for (int i = 0; i < 1000; ++i) {
    auto parsed = parse_pem_private_key(*text, secret("wrong" + std::to_string(i)));
    ASSERT_FALSE(parsed.ok());
    ASSERT_EQ(parsed.error().code(), Errc::kWrongPassphrase) << i << ": " << parsed.error().message();
  }
}

TEST(Pem, PublicKeysRoundTrip) {
  std::vector<PrivateKey> keys = {rsa_key()};
  for (KeyType t : {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kEcdsaP521}) keys.push_back(*PrivateKey::generate(t));
  for (const auto& key : keys) {
    for (PemFlavor f : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      auto text = format_pem_public_key(key.public_key(), f);
      ASSERT_TRUE(text.ok()) << text.error().message();
      bool pkcs1 = key.type() == KeyType::kRsa && f == PemFlavor::kTraditional;
      EXPECT_TRUE(text->starts_with(pkcs1 ? "-----BEGIN RSA PUBLIC KEY-----\n" : "-----BEGIN PUBLIC KEY-----\n"));
      auto parsed = parse_pem_public_key(*text);
      ASSERT_TRUE(parsed.ok()) << parsed.error().message();
      EXPECT_EQ(*parsed, key.public_key());
    }
  }
}

TEST(Pem, ReadsOpensslEd25519AndSkipsParameterBlocks) {
  auto key = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  std::string text = "Bag Attributes: from a .p12 export\n" + openssl_pkcs8(key->evp());
  auto parsed = parse_pem_private_key(text, SecretBytes());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->public_key(), key->public_key());

  auto ec = PrivateKey::generate(KeyType::kEcdsaP384);
  auto ec_text = format_pem_private_key(*ec, PemFlavor::kTraditional, SecretBytes());
  ASSERT_TRUE(ec_text.ok());
  std::string with_params = "-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n" + *ec_text;
  auto parsed_ec = parse_pem_private_key(with_params, SecretBytes());
  ASSERT_TRUE(parsed_ec.ok()) << parsed_ec.error().message();
  EXPECT_EQ(parsed_ec->public_key(), ec->public_key());
  EXPECT_EQ(*detect_private_key_format(with_params), PrivateKeyFormat::kPem);
}

void expect_private_error(const std::string& text, Errc code, const char* passphrase = "") {
  auto parsed = parse_pem_private_key(text, secret(passphrase));
  ASSERT_FALSE(parsed.ok()) << "accepted:\n" << text;
  EXPECT_EQ(parsed.error().code(), code) << text << "\n" << parsed.error().message();
  EXPECT_FALSE(parsed.error().message().empty());
}

void expect_public_error(const std::string& text, Errc code) {
  auto parsed = parse_pem_public_key(text);
  ASSERT_FALSE(parsed.ok()) << "accepted:\n" << text;
  EXPECT_EQ(parsed.error().code(), code) << text << "\n" << parsed.error().message();
}

TEST(Pem, RejectsMalformedPrivateKeys) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  std::string sec1 = *format_pem_private_key(*ec, PemFlavor::kTraditional, SecretBytes());
  std::string pkcs8 = *format_pem_private_key(*ec, PemFlavor::kPkcs8, SecretBytes());
  Bytes sec1_der = der_of(sec1);
  Bytes pkcs8_der = der_of(pkcs8);

  expect_private_error("", Errc::kMalformed);
  expect_private_error("just some text\n", Errc::kMalformed);
  expect_private_error(sec1.substr(0, sec1.size() / 2), Errc::kMalformed);       // no END line
  expect_private_error(replace_all(sec1, "M", "!"), Errc::kMalformed);           // bad base64
  expect_private_error(armor("EC PRIVATE KEY", Bytes{0x30, 0x03, 0x02, 0x01, 0x01}), Errc::kMalformed);
  expect_private_error(armor("RSA PRIVATE KEY", sec1_der), Errc::kMalformed);    // EC key under an RSA label
  expect_private_error(armor("PRIVATE KEY", sec1_der), Errc::kMalformed);        // SEC1 is no PKCS#8
  expect_private_error(armor("ENCRYPTED PRIVATE KEY", pkcs8_der), Errc::kMalformed, "x");
  Bytes trailing = sec1_der;
  trailing.push_back(0);
  expect_private_error(armor("EC PRIVATE KEY", trailing), Errc::kTrailingData);
  trailing = pkcs8_der;
  trailing.push_back(0);
  expect_private_error(armor("PRIVATE KEY", trailing), Errc::kTrailingData);
  expect_private_error(armor("EC PRIVATE KEY", sec1_der, "Proc-Type: 4,ENCRYPTED\nDEK-Info: NO-SUCH-CIPHER,00\n\n"),
                       Errc::kUnsupported, "pass");
  expect_private_error(armor("EC PRIVATE KEY", sec1_der, "Garbage: header\n\n"), Errc::kMalformed);
  expect_private_error(armor("DSA PRIVATE KEY", sec1_der), Errc::kUnsupported);
  expect_private_error("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
                       Errc::kMalformed);
  expect_private_error(armor("CERTIFICATE", sec1_der), Errc::kMalformed);
  expect_private_error(std::string(kMaxKeyFileBytes + 1, 'a'), Errc::kTooLarge);
}

TEST(Pem, RejectsKeysTesseraDoesNotHandle) {
  for (const char* algorithm : {"X25519", "ED448"}) {
    ossl::PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm));
    ASSERT_TRUE(pkey);
    expect_private_error(openssl_pkcs8(pkey.get()), Errc::kUnsupported);
  }
  // secp256k1 is an EC curve SSH does not use.
  ossl::PkeyPtr k1(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  ASSERT_TRUE(k1);
  expect_private_error(openssl_pkcs8(k1.get()), Errc::kUnsupported);
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), k1.get()), 1);
  expect_public_error(bio_text(bio.get()), Errc::kUnsupported);
}

TEST(Pem, RefusesExcessiveKeyDerivationCost) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  auto text = format_pem_private_key(*ec, PemFlavor::kPkcs8, SecretBytes());
  ASSERT_TRUE(text.ok());
  Bytes der = der_of(*text);
  const unsigned char* p = der.data();
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO_free>> info(
      d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(info);
  // 100 million PBKDF2 iterations would take minutes: refused before deriving.
  // The EncryptedPrivateKeyInfo is assembled by hand, since encrypting would
  // run the derivation.
  std::unique_ptr<X509_ALGOR, ossl::Deleter<X509_ALGOR_free>> alg(
      PKCS5_pbe2_set_iv(EVP_aes_128_cbc(), 100'000'000, nullptr, 0, nullptr, NID_hmacWithSHA256));
  ASSERT_TRUE(alg);
  std::unique_ptr<X509_SIG, ossl::Deleter<X509_SIG_free>> sig(X509_SIG_new());
  X509_ALGOR* sig_alg = nullptr;
  ASN1_OCTET_STRING* sig_data = nullptr;
  X509_SIG_getm(sig.get(), &sig_alg, &sig_data);
  ASSERT_EQ(X509_ALGOR_copy(sig_alg, alg.get()), 1);
  ASSERT_EQ(ASN1_OCTET_STRING_set(sig_data, der.data(), static_cast<int>(der.size())), 1);
  unsigned char* out = nullptr;
  int len = i2d_X509_SIG(sig.get(), &out);
  ASSERT_GT(len, 0);
  Bytes sig_der(out, out + len);
  OPENSSL_free(out);
  expect_private_error(armor("ENCRYPTED PRIVATE KEY", sig_der), Errc::kUnsupported, "pass");

  // A PBES1 scheme with an ordinary count still works.
  sig.reset(PKCS8_encrypt(NID_pbe_WithSHA1And3_Key_TripleDES_CBC, nullptr, "pass", 4, nullptr, 0, 2048,
                          info.get()));
  ASSERT_TRUE(sig);
  out = nullptr;
  len = i2d_X509_SIG(sig.get(), &out);
  ASSERT_GT(len, 0);
  Bytes pbes1(out, out + len);
  OPENSSL_free(out);
  auto parsed = parse_pem_private_key(armor("ENCRYPTED PRIVATE KEY", pbes1), secret("pass"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->public_key(), ec->public_key());
  EXPECT_EQ(parse_pem_private_key(armor("ENCRYPTED PRIVATE KEY", pbes1), secret("nope")).error().code(),
            Errc::kWrongPassphrase);
}

TEST(Pem, ReadsPkcs8WithRfc1421Encryption) {
  // OpenSSL's readers undo "Proc-Type: 4,ENCRYPTED" for any label, PKCS#8 included.
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  Bytes der = der_of(*format_pem_private_key(*ec, PemFlavor::kPkcs8, SecretBytes()));
  const unsigned char* p = der.data();
  std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO_free>> info(
      d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(info);
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  const unsigned char pass[] = "legacy";
  ASSERT_EQ(PEM_ASN1_write_bio(reinterpret_cast<i2d_of_void*>(i2d_PKCS8_PRIV_KEY_INFO), "PRIVATE KEY", bio.get(),
                               info.get(), EVP_aes_128_cbc(), pass, 6, nullptr, nullptr),
            1);
  std::string text = bio_text(bio.get());
  ASSERT_NE(text.find("Proc-Type: 4,ENCRYPTED"), std::string::npos);
  auto parsed = parse_pem_private_key(text, secret("legacy"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->public_key(), ec->public_key());
  EXPECT_EQ(parse_pem_private_key(text, SecretBytes()).error().code(), Errc::kPassphraseRequired);
  EXPECT_EQ(parse_pem_private_key(text, secret("wrong")).error().code(), Errc::kWrongPassphrase);
}

TEST(Pem, RejectsMalformedPublicKeys) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  std::string spki = *format_pem_public_key(ec->public_key(), PemFlavor::kPkcs8);
  Bytes der = der_of(spki);
  expect_public_error("", Errc::kMalformed);
  expect_public_error("no pem here", Errc::kMalformed);
  expect_public_error(armor("PUBLIC KEY", Bytes{0x30, 0x00}), Errc::kMalformed);
  expect_public_error(armor("RSA PUBLIC KEY", der), Errc::kMalformed);
  Bytes trailing = der;
  trailing.push_back(0);
  expect_public_error(armor("PUBLIC KEY", trailing), Errc::kTrailingData);
  expect_public_error(armor("PUBLIC KEY", der, "Comment: x\n\n"), Errc::kMalformed);
  expect_public_error(replace_all(spki, "PUBLIC KEY", "CERTIFICATE"), Errc::kMalformed);
  // A point off the curve.
  Bytes bad = der;
  bad.back() ^= 1;
  auto parsed = parse_pem_public_key(armor("PUBLIC KEY", bad));
  EXPECT_FALSE(parsed.ok());
  expect_public_error(std::string(kMaxKeyFileBytes + 1, 'a'), Errc::kTooLarge);
}

TEST(Pem, CorruptedFilesFailCleanly) {
  auto ec = PrivateKey::generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(ec.ok());
  for (const char* pass : {"", "pw"}) {
    for (PemFlavor f : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
      std::string text = *format_pem_private_key(*ec, f, secret(pass));
      for (size_t i = 0; i < text.size(); i += 3) {
        std::string bad = text;
        bad[i] = static_cast<char>(bad[i] ^ 0x21);
        auto parsed = parse_pem_private_key(bad, secret(pass));
        if (parsed.ok()) {
          EXPECT_EQ(parsed->public_key(), ec->public_key());
        } else {
          EXPECT_FALSE(parsed.error().message().empty());
        }
      }
    }
  }
}

TEST(PrivateKeyFormat, DetectsByArmor) {
  auto detect = [](std::string_view text) { return detect_private_key_format(text); };
  EXPECT_EQ(*detect("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n"),
            PrivateKeyFormat::kOpenssh);
  EXPECT_EQ(*detect("\n-----BEGIN RSA PRIVATE KEY-----\r\n"), PrivateKeyFormat::kPem);
  EXPECT_EQ(*detect("-----BEGIN EC PRIVATE KEY-----\n"), PrivateKeyFormat::kPem);
  EXPECT_EQ(*detect("-----BEGIN PRIVATE KEY-----\n"), PrivateKeyFormat::kPkcs8);
  EXPECT_EQ(*detect("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), PrivateKeyFormat::kPkcs8);
  EXPECT_EQ(detect("-----BEGIN DSA PRIVATE KEY-----\n").error().code(), Errc::kUnsupported);
  EXPECT_EQ(detect("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n").error().code(), Errc::kUnsupported);
  EXPECT_EQ(detect("PuTTY-User-Key-File-3: ssh-ed25519\n").error().code(), Errc::kUnsupported);
  EXPECT_EQ(detect("ssh-ed25519 AAAA comment\n").error().code(), Errc::kMalformed);
  EXPECT_EQ(detect("---- BEGIN SSH2 PUBLIC KEY ----\n").error().code(), Errc::kMalformed);
  EXPECT_EQ(detect("-----BEGIN PUBLIC KEY-----\n").error().code(), Errc::kMalformed);
  EXPECT_EQ(detect("").error().code(), Errc::kMalformed);
  EXPECT_EQ(detect("random text\n").error().code(), Errc::kMalformed);
  EXPECT_EQ(detect(std::string(kMaxKeyFileBytes + 1, '\n')).error().code(), Errc::kTooLarge);
  EXPECT_FALSE(private_key_is_encrypted("garbage"));
  EXPECT_TRUE(private_key_is_encrypted("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: x\n"));
  EXPECT_FALSE(private_key_is_encrypted("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"));
}

TEST(PrivateKeyFormat, DispatchesOpensshKeys) {
  auto key = PrivateKey::generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  for (const char* pass : {"", "secret words"}) {
    auto text = format_openssh_private_key(*key, "me@host", secret(pass));
    ASSERT_TRUE(text.ok()) << text.error().message();
    EXPECT_EQ(*detect_private_key_format(*text), PrivateKeyFormat::kOpenssh);
    EXPECT_EQ(private_key_is_encrypted(*text), *pass != '\0');
    auto parsed = parse_private_key(*text, secret(pass));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->comment, "me@host");
    EXPECT_EQ(parsed->key.public_key(), key->public_key());
  }
}

}  // namespace
}  // namespace tessera::key
