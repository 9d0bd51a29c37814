#include "crypto/key_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <climits>
#include <cstring>
#include <memory>

#include "tessera/key/ossl.h"

namespace tessera::key::crypto {
namespace {

// OpenSSH cipher.c: name, block size, key length, IV length (0 = block size,
// except for chacha20-poly1305), tag length.
constexpr std::array<KeyCipherInfo, 11> kKeyCiphers = {{
    {"3des-cbc", KeyCipherMode::kCbc, 24, 8, 8, 0},
    {"aes128-cbc", KeyCipherMode::kCbc, 16, 16, 16, 0},
    {"aes192-cbc", KeyCipherMode::kCbc, 24, 16, 16, 0},
    {"aes256-cbc", KeyCipherMode::kCbc, 32, 16, 16, 0},
    {"aes128-ctr", KeyCipherMode::kCtr, 16, 16, 16, 0},
    {"aes192-ctr", KeyCipherMode::kCtr, 24, 16, 16, 0},
    {"aes256-ctr", KeyCipherMode::kCtr, 32, 16, 16, 0},
    {"aes128-gcm@openssh.com", KeyCipherMode::kGcm, 16, 12, 16, 16},
    {"aes256-gcm@openssh.com", KeyCipherMode::kGcm, 32, 12, 16, 16},
    {"chacha20-poly1305@openssh.com", KeyCipherMode::kChaCha20Poly1305, 64, 0, 8, 16},
    {"none", KeyCipherMode::kNone, 0, 0, 8, 0},
}};

// chacha20-poly1305@openssh.com: the first 32 key bytes key the payload
// stream; the other 32 key the packet-length stream, which key files never use.
constexpr size_t kChaChaKeyBytes = 32;
constexpr size_t kPoly1305KeyBytes = 32;
constexpr size_t kPoly1305TagBytes = 16;
// OpenSSL's ChaCha20 IV: 64-bit little-endian block counter, then OpenSSH's
// 64-bit big-endian sequence number (always 0 for key files).
constexpr size_t kChaChaIvBytes = 16;

using MacPtr = std::unique_ptr<EVP_MAC, ossl::Deleter<EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, ossl::Deleter<EVP_MAC_CTX_free>>;

const EVP_CIPHER* evp_cipher(std::string_view name) {
  if (name == "3des-cbc") return EVP_des_ede3_cbc();
  if (name == "aes128-cbc") return EVP_aes_128_cbc();
  if (name == "aes192-cbc") return EVP_aes_192_cbc();
  if (name == "aes256-cbc") return EVP_aes_256_cbc();
  if (name == "aes128-ctr") return EVP_aes_128_ctr();
  if (name == "aes192-ctr") return EVP_aes_192_ctr();
  if (name == "aes256-ctr") return EVP_aes_256_ctr();
  if (name == "aes128-gcm@openssh.com") return EVP_aes_128_gcm();
  if (name == "aes256-gcm@openssh.com") return EVP_aes_256_gcm();
  return nullptr;
}

Status check_key_iv(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                    std::span<const uint8_t> iv) {
  if (key.size() != cipher.key_len || iv.size() != cipher.iv_len) {
    return Error(Errc::kInvalidArgument, std::string(cipher.name) + ": expected a " +
                                             std::to_string(cipher.key_len) + "-byte key and " +
                                             std::to_string(cipher.iv_len) + "-byte IV");
  }
  return {};
}

int int_len(size_t n) { return static_cast<int>(n); }

// Runs an OpenSSL cipher over in (same length as out). For GCM, tag is
// written (encrypt) or checked (decrypt).
Status evp_crypt(const KeyCipherInfo& cipher, bool encrypt, std::span<const uint8_t> key,
                 std::span<const uint8_t> iv, std::span<const uint8_t> in, std::span<uint8_t> out,
                 std::span<uint8_t> tag) {
  const EVP_CIPHER* evp = evp_cipher(cipher.name);
  if (evp == nullptr) return Error(Errc::kUnsupported, std::string(cipher.name) + ": no OpenSSL cipher");
  ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return ossl::crypto_error("EVP_CIPHER_CTX_new");
  const int enc = encrypt ? 1 : 0;
  if (EVP_CipherInit_ex(ctx.get(), evp, nullptr, nullptr, nullptr, enc) != 1) {
    return ossl::crypto_error(std::string(cipher.name) + ": cipher init failed");
  }
  if (cipher.mode == KeyCipherMode::kGcm &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, int_len(iv.size()), nullptr) != 1) {
    return ossl::crypto_error(std::string(cipher.name) + ": setting the IV length failed");
  }
  if (EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data(), enc) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1) {
    return ossl::crypto_error(std::string(cipher.name) + ": setting key and IV failed");
  }
  if (cipher.mode == KeyCipherMode::kGcm && !encrypt &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int_len(tag.size()), tag.data()) != 1) {
    return ossl::crypto_error(std::string(cipher.name) + ": setting the tag failed");
  }
  int len = 0;
  if (!in.empty() &&
      (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), int_len(in.size())) != 1 ||
       static_cast<size_t>(len) != in.size())) {
    return ossl::crypto_error(std::string(cipher.name) + ": cipher update failed");
  }
  int final_len = 0;
  std::array<uint8_t, EVP_MAX_BLOCK_LENGTH> final_block{};
  if (EVP_CipherFinal_ex(ctx.get(), final_block.data(), &final_len) != 1) {
    if (cipher.mode == KeyCipherMode::kGcm && !encrypt) {
      ossl::clear_errors();
      return Error(Errc::kBadSignature, "authentication tag mismatch");
    }
    return ossl::crypto_error(std::string(cipher.name) + ": cipher final failed");
  }
  if (final_len != 0) return Error(Errc::kCrypto, std::string(cipher.name) + ": unexpected final block");
  if (cipher.mode == KeyCipherMode::kGcm && encrypt &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int_len(tag.size()), tag.data()) != 1) {
    return ossl::crypto_error(std::string(cipher.name) + ": reading the tag failed");
  }
  return {};
}

// Raw ChaCha20 (djb's 64-bit nonce variant) from the given block counter, nonce 0.
Status chacha20(std::span<const uint8_t> key, uint8_t counter, std::span<const uint8_t> in,
                std::span<uint8_t> out) {
  std::array<uint8_t, kChaChaIvBytes> iv{};
  iv[0] = counter;
  ossl::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return ossl::crypto_error("EVP_CIPHER_CTX_new");
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, key.data(), iv.data()) != 1 ||
      (!in.empty() && (EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), int_len(in.size())) != 1 ||
                       static_cast<size_t>(len) != in.size()))) {
    return ossl::crypto_error("chacha20 failed");
  }
  return {};
}

Status poly1305(std::span<const uint8_t> key, std::span<const uint8_t> data,
                std::span<uint8_t, kPoly1305TagBytes> tag) {
  MacPtr mac(EVP_MAC_fetch(nullptr, "POLY1305", nullptr));
  if (!mac) return ossl::crypto_error("poly1305 is not available");
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
  size_t tag_len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), tag.data(), &tag_len, tag.size()) != 1 || tag_len != tag.size()) {
    return ossl::crypto_error("poly1305 failed");
  }
  return {};
}

// The Poly1305 key: the first 32 bytes of ChaCha20 block 0.
Status chachapoly_mac(std::span<const uint8_t> main_key, std::span<const uint8_t> ciphertext,
                      std::span<uint8_t, kPoly1305TagBytes> tag) {
  std::array<uint8_t, kPoly1305KeyBytes> poly_key{};
  Status status = chacha20(main_key, 0, poly_key, poly_key);
  if (status.ok()) status = poly1305(poly_key, ciphertext, tag);
  secure_wipe(poly_key.data(), poly_key.size());
  return status;
}

Status check_input(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                   std::span<const uint8_t> iv, size_t data_len, Errc block_error) {
  TESSERA_TRY(check_key_iv(cipher, key, iv));
  if (data_len > static_cast<size_t>(INT_MAX)) return Error(Errc::kTooLarge, "key file data too large");
  if (data_len % cipher.block_size != 0) {
    return Error(block_error, std::string(cipher.name) + ": data is not a whole number of " +
                                  std::to_string(cipher.block_size) + "-byte blocks");
  }
  return {};
}

}  // namespace

std::span<const KeyCipherInfo> key_ciphers() { return kKeyCiphers; }

const KeyCipherInfo* find_key_cipher(std::string_view name) {
  for (const auto& c : kKeyCiphers) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Result<Bytes> key_cipher_encrypt(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                                 std::span<const uint8_t> iv, std::span<const uint8_t> plaintext) {
  TESSERA_TRY(check_input(cipher, key, iv, plaintext.size(), Errc::kInvalidArgument));
  Bytes out(plaintext.size() + cipher.auth_len);
  auto body = std::span(out).first(plaintext.size());
  auto tag = std::span(out).subspan(plaintext.size());
  switch (cipher.mode) {
    case KeyCipherMode::kNone:
      std::copy(plaintext.begin(), plaintext.end(), body.begin());
      break;
    case KeyCipherMode::kCbc:
    case KeyCipherMode::kCtr:
    case KeyCipherMode::kGcm:
      TESSERA_TRY(evp_crypt(cipher, true, key, iv, plaintext, body, tag));
      break;
    case KeyCipherMode::kChaCha20Poly1305: {
      auto main_key = key.first(kChaChaKeyBytes);
      TESSERA_TRY(chacha20(main_key, 1, plaintext, body));
      TESSERA_TRY(chachapoly_mac(main_key, body, tag.first<kPoly1305TagBytes>()));
      break;
    }
  }
  return out;
}

Result<SecretBytes> key_cipher_decrypt(const KeyCipherInfo& cipher, std::span<const uint8_t> key,
                                       std::span<const uint8_t> iv,
                                       std::span<const uint8_t> ciphertext_and_tag) {
  if (ciphertext_and_tag.size() < cipher.auth_len) {
    return Error(Errc::kTruncated, std::string(cipher.name) + ": authentication tag missing");
  }
  const size_t body_len = ciphertext_and_tag.size() - cipher.auth_len;
  TESSERA_TRY(check_input(cipher, key, iv, body_len, Errc::kMalformed));
  auto body = ciphertext_and_tag.first(body_len);
  // The tag is copied because OpenSSL's GCM wants a writable buffer.
  std::array<uint8_t, kPoly1305TagBytes> tag{};
  std::copy(ciphertext_and_tag.begin() + static_cast<ptrdiff_t>(body_len), ciphertext_and_tag.end(),
            tag.begin());
  SecretBytes out(body_len);
  switch (cipher.mode) {
    case KeyCipherMode::kNone:
      std::copy(body.begin(), body.end(), out.reveal_mutable().begin());
      break;
    case KeyCipherMode::kCbc:
    case KeyCipherMode::kCtr:
    case KeyCipherMode::kGcm:
      TESSERA_TRY(evp_crypt(cipher, false, key, iv, body, out.reveal_mutable(),
                            std::span(tag).first(cipher.auth_len)));
      break;
    case KeyCipherMode::kChaCha20Poly1305: {
      // Check the tag before decrypting anything, as OpenSSH does.
      auto main_key = key.first(kChaChaKeyBytes);
      std::array<uint8_t, kPoly1305TagBytes> expected{};
      TESSERA_TRY(chachapoly_mac(main_key, body, expected));
      if (CRYPTO_memcmp(expected.data(), tag.data(), tag.size()) != 0) {
        return Error(Errc::kBadSignature, "authentication tag mismatch");
      }
      TESSERA_TRY(chacha20(main_key, 1, body, out.reveal_mutable()));
      break;
    }
  }
  return out;
}

}  // namespace tessera::key::crypto
