// PEM key files through OpenSSL: PKCS#1 ("RSA PRIVATE KEY", "RSA PUBLIC KEY"),
// SEC1 ("EC PRIVATE KEY"), PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
// and SubjectPublicKeyInfo ("PUBLIC KEY").
//
// Reading splits the work so that each failure gets its own error: the PEM
// armor (PEM_read_bio_ex, into OpenSSL's secure heap), the encryption layer
// (PEM_do_header / PKCS8_decrypt: a failure there is a wrong passphrase), then
// the DER key (d2i_*), then tessera's own key validation (from_evp).
// Writing uses the same OpenSSL calls as OpenSSH 9.2's ssh-keygen
// (sshkey_private_to_blob_pem_pkcs8, do_convert_to_pem/pkcs8), so the output
// is the same byte for byte apart from random salts and IVs.
//
// OpenSSL never prompts: every read that could ask for a passphrase gets a
// callback that answers from the caller's SecretBytes or refuses, and every
// encrypting write gets the passphrase itself.
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/key/ossl.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

// PEM blocks looked at before giving up on finding a key (EC PARAMETERS,
// certificates and the like are skipped, as OpenSSL's readers do).
constexpr int kMaxPemBlocks = 16;
// OpenSSL asks for a traditional PEM passphrase into a PEM_BUFSIZE buffer.
constexpr size_t kMaxTraditionalPassphraseBytes = PEM_BUFSIZE;
// Cost limits for the key derivation of an encrypted PKCS#8 file, so that a
// hostile file cannot make a reader spin: PBKDF2/PBES1 iterations (OpenSSL
// writes 2048) and scrypt N*r*p (openssl pkcs8 -scrypt writes 16384*8*1).
constexpr uint64_t kMaxPkcs8KdfIterations = 1'000'000;
constexpr uint64_t kMaxScryptWork = uint64_t{1} << 22;

// Owns what PEM_read_bio_ex returns; the body may hold a private key.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;

  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() { reset(); }
  void reset() {
    OPENSSL_secure_free(name);
    OPENSSL_secure_free(header);
    if (data != nullptr) OPENSSL_secure_clear_free(data, static_cast<size_t>(len));
    name = header = nullptr;
    data = nullptr;
    len = 0;
  }
  std::string_view label() const { return name; }
};

using P8InfoPtr = std::unique_ptr<PKCS8_PRIV_KEY_INFO, ossl::Deleter<PKCS8_PRIV_KEY_INFO_free>>;
using X509SigPtr = std::unique_ptr<X509_SIG, ossl::Deleter<X509_SIG_free>>;
using Pbe2ParamPtr = std::unique_ptr<PBE2PARAM, ossl::Deleter<PBE2PARAM_free>>;
using Pbkdf2ParamPtr = std::unique_ptr<PBKDF2PARAM, ossl::Deleter<PBKDF2PARAM_free>>;
using PbeParamPtr = std::unique_ptr<PBEPARAM, ossl::Deleter<PBEPARAM_free>>;
using ScryptParamsPtr = std::unique_ptr<SCRYPT_PARAMS, ossl::Deleter<SCRYPT_PARAMS_free>>;

// Answers OpenSSL's passphrase question from a SecretBytes (u), or refuses.
int passphrase_callback(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* passphrase = static_cast<const SecretBytes*>(u);
  if (passphrase == nullptr || passphrase->empty() || size < 0 ||
      passphrase->size() > static_cast<size_t>(size)) {
    return -1;
  }
  std::memcpy(buf, passphrase->reveal().data(), passphrase->size());
  return static_cast<int>(passphrase->size());
}

Result<ossl::BioPtr> input_bio(std::string_view text, std::string_view what) {
  if (text.size() > kMaxKeyFileBytes) {
    return Error(Errc::kTooLarge, std::string(what) + " file larger than " + std::to_string(kMaxKeyFileBytes) +
                                      " bytes");
  }
  if (text.empty()) return Error(Errc::kMalformed, std::string(what) + ": empty input");
  ossl::BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return ossl::crypto_error("BIO_new_mem_buf");
  return bio;
}

// Reads the next PEM block. false at the end of the input.
Result<bool> next_block(BIO* bio, PemBlock& block) {
  block.reset();
  if (PEM_read_bio_ex(bio, &block.name, &block.header, &block.data, &block.len,
                      PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) == 1) {
    if (block.len < 0) return Error(Errc::kMalformed, "PEM: negative length");
    return true;
  }
  unsigned long err = ERR_peek_last_error();
  ossl::clear_errors();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) return false;
  return Error(Errc::kMalformed, "PEM: bad armor or base64 body");
}

// True if any queued OpenSSL error says an algorithm is not available.
bool queued_error_is_unsupported() {
  bool unsupported = false;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    int reason = ERR_GET_REASON(e);
    if (reason == ERR_R_UNSUPPORTED || reason == ERR_R_FETCH_FAILED) unsupported = true;
    if (ERR_GET_LIB(e) == ERR_LIB_EVP &&
        (reason == EVP_R_UNKNOWN_PBE_ALGORITHM || reason == EVP_R_UNSUPPORTED_CIPHER ||
         reason == EVP_R_UNKNOWN_CIPHER || reason == EVP_R_UNSUPPORTED_PRF ||
         reason == EVP_R_UNSUPPORTED_KEY_DERIVATION_FUNCTION || reason == EVP_R_UNSUPPORTED_KEYLENGTH ||
         reason == EVP_R_UNSUPPORTED_ALGORITHM)) {
      unsupported = true;
    }
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && reason == PEM_R_UNSUPPORTED_ENCRYPTION) unsupported = true;
  }
  return unsupported;
}

Status check_iterations(const ASN1_INTEGER* iter) {
  uint64_t n = 0;
  if (iter == nullptr || ASN1_INTEGER_get_uint64(&n, iter) != 1) {
    ossl::clear_errors();
    return Error(Errc::kMalformed, "PKCS#8: bad key derivation iteration count");
  }
  if (n > kMaxPkcs8KdfIterations) {
    return Error(Errc::kUnsupported, "PKCS#8: key derivation iteration count " + std::to_string(n) +
                                         " is above tessera's limit of " + std::to_string(kMaxPkcs8KdfIterations));
  }
  return {};
}

// Refuses encrypted PKCS#8 files whose key derivation would take unreasonably
// long. Parameters it cannot read are left to OpenSSL, which rejects them.
Status check_pkcs8_kdf_cost(const X509_SIG* sig) {
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(sig, &alg, nullptr);
  if (alg == nullptr) return {};
  int nid = OBJ_obj2nid(alg->algorithm);
  if (nid == NID_pbes2) {
    Pbe2ParamPtr pbe2(static_cast<PBE2PARAM*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter)));
    if (!pbe2 || pbe2->keyfunc == nullptr) {
      ossl::clear_errors();
      return Error(Errc::kMalformed, "PKCS#8: bad PBES2 parameters");
    }
    int kdf = OBJ_obj2nid(pbe2->keyfunc->algorithm);
    if (kdf == NID_id_pbkdf2) {
      Pbkdf2ParamPtr kdf_params(static_cast<PBKDF2PARAM*>(
          ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter)));
      if (!kdf_params) {
        ossl::clear_errors();
        return Error(Errc::kMalformed, "PKCS#8: bad PBKDF2 parameters");
      }
      return check_iterations(kdf_params->iter);
    }
    if (kdf == NID_id_scrypt) {
      ScryptParamsPtr scrypt(static_cast<SCRYPT_PARAMS*>(
          ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(SCRYPT_PARAMS), pbe2->keyfunc->parameter)));
      uint64_t n = 0, r = 0, p = 0;
      if (!scrypt || ASN1_INTEGER_get_uint64(&n, scrypt->costParameter) != 1 ||
          ASN1_INTEGER_get_uint64(&r, scrypt->blockSize) != 1 ||
          ASN1_INTEGER_get_uint64(&p, scrypt->parallelizationParameter) != 1) {
        ossl::clear_errors();
        return Error(Errc::kMalformed, "PKCS#8: bad scrypt parameters");
      }
      if (n > kMaxScryptWork || r > kMaxScryptWork || p > kMaxScryptWork || n * r > kMaxScryptWork ||
          n * r * p > kMaxScryptWork) {
        return Error(Errc::kUnsupported, "PKCS#8: scrypt cost is above tessera's limit");
      }
      return {};
    }
    return {};
  }
  // PBES1 schemes (PKCS#5 v1.5 and PKCS#12 PBE) carry a PBEPARAM.
  PbeParamPtr pbe(static_cast<PBEPARAM*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter)));
  ossl::clear_errors();
  if (pbe) return check_iterations(pbe->iter);
  return {};
}

bool supported_pkcs8_algorithm(const PKCS8_PRIV_KEY_INFO* info, std::string& name) {
  const ASN1_OBJECT* oid = nullptr;
  if (PKCS8_pkey_get0(&oid, nullptr, nullptr, nullptr, info) != 1 || oid == nullptr) return false;
  int nid = OBJ_obj2nid(oid);
  char buf[80];
  OBJ_obj2txt(buf, sizeof buf, oid, 0);
  name = buf;
  return nid == NID_rsaEncryption || nid == NID_X9_62_id_ecPublicKey || nid == NID_ED25519;
}

Result<ossl::PkeyPtr> pkey_from_pkcs8_info(const PKCS8_PRIV_KEY_INFO* info) {
  std::string algorithm;
  if (!supported_pkcs8_algorithm(info, algorithm)) {
    ossl::clear_errors();
    return Error(Errc::kUnsupported, "PKCS#8 key algorithm " + algorithm + " is not supported");
  }
  ossl::PkeyPtr pkey(EVP_PKCS82PKEY(info));
  if (!pkey) {
    ossl::clear_errors();
    return Error(Errc::kMalformed, "PKCS#8: invalid private key");
  }
  return pkey;
}

// Undoes RFC 1421 encryption ("Proc-Type: 4,ENCRYPTED" / "DEK-Info:") of a
// block in place, as OpenSSL's readers do for any label. True if the block
// was encrypted.
Result<bool> decrypt_pem_body(PemBlock& block, const SecretBytes& passphrase) {
  EVP_CIPHER_INFO cipher;
  if (PEM_get_EVP_CIPHER_INFO(block.header, &cipher) != 1) {
    if (queued_error_is_unsupported()) return Error(Errc::kUnsupported, "PEM: unsupported encryption");
    return Error(Errc::kMalformed, "PEM: bad Proc-Type or DEK-Info header");
  }
  if (cipher.cipher == nullptr) return false;
  if (passphrase.empty()) return Error(Errc::kPassphraseRequired, "PEM private key is encrypted");
  if (passphrase.size() > kMaxTraditionalPassphraseBytes) {
    return Error(Errc::kInvalidArgument, "passphrase longer than " +
                                             std::to_string(kMaxTraditionalPassphraseBytes) + " bytes");
  }
  long len = block.len;
  // Decrypts in place and removes the padding.
  if (PEM_do_header(&cipher, block.data, &len, passphrase_callback, const_cast<SecretBytes*>(&passphrase)) != 1) {
    if (queued_error_is_unsupported()) return Error(Errc::kUnsupported, "PEM: unsupported cipher");
    return Error(Errc::kWrongPassphrase);
  }
  // The tail beyond len still holds decrypted bytes; clear it now.
  OPENSSL_cleanse(block.data + len, static_cast<size_t>(block.len - len));
  block.len = len;
  return true;
}

// After a decryption, undecodable DER means a wrong passphrase: about one
// wrong passphrase in 256 still leaves valid CBC padding over garbage.
Error decode_error(bool encrypted, Errc code, std::string detail) {
  if (encrypted) return Error(Errc::kWrongPassphrase);
  return Error(code, std::move(detail));
}

Result<ossl::PkeyPtr> decode_traditional(const PemBlock& block, const char* key_name, int evp_type,
                                         bool encrypted) {
  const unsigned char* p = block.data;
  ossl::PkeyPtr pkey(d2i_PrivateKey(evp_type, nullptr, &p, block.len));
  ossl::clear_errors();
  if (!pkey) return decode_error(encrypted, Errc::kMalformed, std::string("PEM: invalid ") + key_name + " private key");
  if (p != block.data + block.len) {
    return decode_error(encrypted, Errc::kTrailingData, std::string("PEM: data after the ") + key_name + " private key");
  }
  if (!EVP_PKEY_is_a(pkey.get(), key_name)) {
    return Error(Errc::kMalformed, std::string("PEM: ") + key_name + " block holds another key type");
  }
  return pkey;
}

Result<ossl::PkeyPtr> decode_pkcs8(const PemBlock& block, bool encrypted) {
  const unsigned char* p = block.data;
  P8InfoPtr info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, block.len));
  if (!info) {
    ossl::clear_errors();
    return decode_error(encrypted, Errc::kMalformed, "PKCS#8: invalid PrivateKeyInfo");
  }
  if (p != block.data + block.len) return decode_error(encrypted, Errc::kTrailingData, "PKCS#8: data after the key");
  return pkey_from_pkcs8_info(info.get());
}

Result<ossl::PkeyPtr> decode_encrypted_pkcs8(const PemBlock& block, const SecretBytes& passphrase) {
  const unsigned char* p = block.data;
  X509SigPtr sig(d2i_X509_SIG(nullptr, &p, block.len));
  if (!sig) {
    ossl::clear_errors();
    return Error(Errc::kMalformed, "PKCS#8: invalid EncryptedPrivateKeyInfo");
  }
  if (p != block.data + block.len) return Error(Errc::kTrailingData, "PKCS#8: data after the key");
  if (passphrase.empty()) return Error(Errc::kPassphraseRequired, "PKCS#8 private key is encrypted");
  if (passphrase.size() > INT_MAX) return Error(Errc::kInvalidArgument, "passphrase too long");
  TESSERA_TRY(check_pkcs8_kdf_cost(sig.get()));
  P8InfoPtr info(PKCS8_decrypt(sig.get(), reinterpret_cast<const char*>(passphrase.reveal().data()),
                               static_cast<int>(passphrase.size())));
  if (!info) {
    if (queued_error_is_unsupported()) return Error(Errc::kUnsupported, "PKCS#8: unsupported encryption scheme");
    return Error(Errc::kWrongPassphrase);
  }
  return pkey_from_pkcs8_info(info.get());
}

// Copies a memory BIO's contents out and lets the BIO wipe its own buffer.
std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

Result<PrivateKey> parse_pem_private_key(std::string_view text, const SecretBytes& passphrase) {
  TESSERA_ASSIGN_OR_RETURN(ossl::BioPtr bio, input_bio(text, "PEM private key"));
  PemBlock block;
  for (int i = 0; i < kMaxPemBlocks; ++i) {
    TESSERA_ASSIGN_OR_RETURN(bool found, next_block(bio.get(), block));
    if (!found) break;
    std::string_view label = block.label();
    if (label == "DSA PRIVATE KEY") return Error(Errc::kUnsupported, "DSA keys are not supported");
    if (label == "OPENSSH PRIVATE KEY") {
      return Error(Errc::kMalformed, "this is an OpenSSH private key, not a PEM one");
    }
    bool traditional_rsa = label == "RSA PRIVATE KEY";
    bool traditional_ec = label == "EC PRIVATE KEY";
    bool pkcs8 = label == "PRIVATE KEY";
    bool encrypted_pkcs8 = label == "ENCRYPTED PRIVATE KEY";
    if (!traditional_rsa && !traditional_ec && !pkcs8 && !encrypted_pkcs8) continue;  // EC PARAMETERS, ...
    auto encrypted = decrypt_pem_body(block, passphrase);
    if (!encrypted.ok()) return encrypted.error().with_context("PEM private key");
    Result<ossl::PkeyPtr> pkey = traditional_rsa ? decode_traditional(block, "RSA", EVP_PKEY_RSA, *encrypted)
                                 : traditional_ec ? decode_traditional(block, "EC", EVP_PKEY_EC, *encrypted)
                                 : pkcs8          ? decode_pkcs8(block, *encrypted)
                                                  : decode_encrypted_pkcs8(block, passphrase);
    if (!pkey.ok()) return pkey.error().with_context("PEM private key");
    auto key = PrivateKey::from_evp(pkey->get());
    if (!key.ok()) return key.error().with_context("PEM private key");
    return key;
  }
  return Error(Errc::kMalformed, "no PEM private key found (expected -----BEGIN ... PRIVATE KEY-----)");
}

Result<std::string> format_pem_private_key(const PrivateKey& key, PemFlavor flavor, const SecretBytes& passphrase) {
  KeyType type = key.type();
  if (type != KeyType::kRsa && type != KeyType::kEcdsaP256 && type != KeyType::kEcdsaP384 &&
      type != KeyType::kEcdsaP521 && type != KeyType::kEd25519) {
    return Error(Errc::kUnsupported, std::string(key.public_key().ssh_name()) + " keys cannot be written as PEM");
  }
  if (flavor == PemFlavor::kTraditional && type == KeyType::kEd25519) {
    return Error(Errc::kUnsupported, "ed25519 keys have no traditional PEM format (use PKCS#8 or OpenSSH format)");
  }
  if (flavor == PemFlavor::kTraditional && passphrase.size() > kMaxTraditionalPassphraseBytes) {
    return Error(Errc::kInvalidArgument, "passphrase longer than " +
                                             std::to_string(kMaxTraditionalPassphraseBytes) + " bytes");
  }
  if (passphrase.size() > INT_MAX) return Error(Errc::kInvalidArgument, "passphrase too long");
  // As ssh-keygen 9.2: AES-128-CBC for both; for PKCS#8 OpenSSL wraps it in
  // PBES2 with PBKDF2-HMAC-SHA256.
  const EVP_CIPHER* cipher = passphrase.empty() ? nullptr : EVP_aes_128_cbc();
  auto* kstr = passphrase.empty() ? nullptr : const_cast<unsigned char*>(passphrase.reveal().data());
  int klen = static_cast<int>(passphrase.size());
  // The PEM text of an unencrypted key is a secret: keep it in secure memory
  // that is wiped when freed.
  ossl::BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return ossl::crypto_error("BIO_new");
  // OpenSSL asks for a passphrase only when it has a cipher but no kstr, which
  // cannot happen here; no callback is given, because OpenSSL's PKCS#8 writer
  // would let a callback override kstr.
  int ok = 0;
  if (flavor == PemFlavor::kTraditional) {
    ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key.evp(), cipher, kstr, klen, nullptr, nullptr);
  } else {
    ok = PEM_write_bio_PrivateKey(bio.get(), key.evp(), cipher, kstr, klen, nullptr, nullptr);
  }
  if (ok != 1) return ossl::crypto_error("writing PEM private key");
  return bio_contents(bio.get());
}

Result<PublicKey> parse_pem_public_key(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(ossl::BioPtr bio, input_bio(text, "PEM public key"));
  PemBlock block;
  for (int i = 0; i < kMaxPemBlocks; ++i) {
    TESSERA_ASSIGN_OR_RETURN(bool found, next_block(bio.get(), block));
    if (!found) break;
    std::string_view label = block.label();
    if (label != "PUBLIC KEY" && label != "RSA PUBLIC KEY") continue;
    if (block.header != nullptr && block.header[0] != '\0') {
      return Error(Errc::kMalformed, "PEM public key: unexpected headers");
    }
    const unsigned char* p = block.data;
    ossl::PkeyPtr pkey(label == "PUBLIC KEY" ? d2i_PUBKEY(nullptr, &p, block.len)
                                             : d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, block.len));
    ossl::clear_errors();
    if (!pkey) return Error(Errc::kMalformed, "PEM public key: invalid " + std::string(label));
    if (p != block.data + block.len) return Error(Errc::kTrailingData, "PEM public key: data after the key");
    auto key = PublicKey::from_evp(pkey.get());
    if (!key.ok()) return key.error().with_context("PEM public key");
    return key;
  }
  return Error(Errc::kMalformed, "no PEM public key found (expected -----BEGIN PUBLIC KEY-----)");
}

Result<std::string> format_pem_public_key(const PublicKey& key, PemFlavor flavor) {
  KeyType type = key.type();
  if (type != KeyType::kRsa && type != KeyType::kEcdsaP256 && type != KeyType::kEcdsaP384 &&
      type != KeyType::kEcdsaP521) {
    // As OpenSSH 9.2, which refuses ed25519 and security keys here.
    return Error(Errc::kUnsupported, std::string(key.ssh_name()) + " keys cannot be exported as PEM/PKCS#8");
  }
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return ossl::crypto_error("BIO_new");
  if (flavor == PemFlavor::kTraditional && type == KeyType::kRsa) {
    // PKCS#1 RSAPublicKey, as PEM_write_RSAPublicKey.
    unsigned char* der = nullptr;
    int len = i2d_PublicKey(key.evp(), &der);
    if (len <= 0) return ossl::crypto_error("encoding RSA public key");
    int ok = PEM_write_bio(bio.get(), "RSA PUBLIC KEY", "", der, len);
    OPENSSL_free(der);
    if (ok <= 0) return ossl::crypto_error("writing PEM public key");
  } else if (PEM_write_bio_PUBKEY(bio.get(), key.evp()) != 1) {
    return ossl::crypto_error("writing PEM public key");
  }
  return bio_contents(bio.get());
}

}  // namespace tessera::key
