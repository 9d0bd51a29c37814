// openssh-key-v1 private key files (OpenSSH PROTOCOL.key; sshkey.c's
// sshkey_private_to_blob2 and private2_decrypt for the details).
//
//   "-----BEGIN OPENSSH PRIVATE KEY-----" / base64 in 70-column lines / "-----END ...-----"
//   byte[15] "openssh-key-v1\0"  string cipher  string kdf  string kdfoptions
//   uint32 number of keys (1)  string public key  uint32 length  byte[length] encrypted
//   byte[authlen] tag
// decrypting to
//   uint32 checkint  uint32 checkint  private key fields  string comment  byte 1, 2, 3, ...
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "crypto/bcrypt_pbkdf.h"
#include "crypto/key_cipher.h"
#include "tessera/key/ossl.h"
#include "tessera/key/encoding.h"
#include "format/armor.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

constexpr std::string_view kBeginMarker = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kEndMarker = "-----END OPENSSH PRIVATE KEY-----";
constexpr std::string_view kAuthMagic{"openssh-key-v1\0", 15};
constexpr std::string_view kNoCipher = "none";
constexpr std::string_view kKdfNone = "none";
constexpr std::string_view kKdfBcrypt = "bcrypt";
// Salt length tessera writes, as OpenSSH.
constexpr size_t kWriteSaltBytes = 16;
// Limits on what a file may ask for. OpenSSH has none: a file asking for
// billions of rounds would keep a reader busy for years. 65536 rounds take
// about seven minutes here (OpenSSH's default is 16, about 0.1 s); more is
// taken as hostile.
constexpr uint32_t kMinKdfRounds = 1;
constexpr uint32_t kMaxKdfRounds = 1u << 16;
// OpenSSH writes 16-byte salts; anything over 1 KiB is not a real file.
constexpr size_t kMaxKdfSaltBytes = 1024;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim_leading_space(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  return text;
}

// The base64 body between the armor lines, decoded. The decoded blob holds
// the private key in clear when the file is not encrypted, so it is a secret.
Result<SecretBytes> unarmor(std::string_view text) {
  if (text.size() > kMaxKeyFileBytes) {
    return Error(Errc::kTooLarge, "key file larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  text = trim_leading_space(text);
  if (!text.starts_with(kBeginMarker)) {
    return Error(Errc::kMalformed, "not an OpenSSH private key: missing \"" + std::string(kBeginMarker) + "\"");
  }
  auto body = armor::body(text, kBeginMarker, kEndMarker);
  if (!body.ok()) return body.error().with_context("OpenSSH private key");
  auto decoded = base64_decode_secret(*body);
  if (!decoded.ok()) return decoded.error().with_context("OpenSSH private key");
  return std::move(decoded).value();
}

// The unencrypted part of a file; spans point into the decoded blob.
struct Container {
  explicit Container(PublicKey key) : public_key(std::move(key)) {}

  const crypto::KeyCipherInfo* cipher = nullptr;
  std::string_view kdf;
  std::span<const uint8_t> salt;
  uint32_t rounds = 0;
  PublicKey public_key;
  std::span<const uint8_t> encrypted;  // ciphertext followed by the tag

  bool is_encrypted() const { return cipher->mode != crypto::KeyCipherMode::kNone; }
};

Status parse_kdf_options(Reader options, Container& c) {
  if (c.kdf == kKdfNone) {
    if (c.is_encrypted()) {
      return Error(Errc::kMalformed, "cipher \"" + std::string(c.cipher->name) + "\" with kdf \"none\"");
    }
    if (!options.empty()) return Error(Errc::kMalformed, "kdf \"none\" with options");
    return {};
  }
  if (c.kdf != kKdfBcrypt) return Error(Errc::kUnsupported, "unknown kdf \"" + std::string(c.kdf) + "\"");
  TESSERA_ASSIGN_OR_RETURN(c.salt, options.string());
  TESSERA_ASSIGN_OR_RETURN(c.rounds, options.u32());
  TESSERA_TRY(options.expect_end());
  if (c.salt.empty()) return Error(Errc::kMalformed, "bcrypt kdf with an empty salt");
  if (c.salt.size() > kMaxKdfSaltBytes) {
    return Error(Errc::kTooLarge, "bcrypt salt of " + std::to_string(c.salt.size()) + " bytes exceeds " +
                                      std::to_string(kMaxKdfSaltBytes));
  }
  if (c.rounds < kMinKdfRounds) return Error(Errc::kMalformed, "bcrypt kdf with 0 rounds");
  if (c.rounds > kMaxKdfRounds) {
    return Error(Errc::kTooLarge, "bcrypt kdf asks for " + std::to_string(c.rounds) +
                                      " rounds; tessera reads at most " + std::to_string(kMaxKdfRounds));
  }
  return {};
}

Result<Container> parse_container_inner(std::span<const uint8_t> decoded) {
  Reader r(decoded);
  auto magic = r.bytes(kAuthMagic.size());
  if (!magic.ok() || as_text(*magic) != kAuthMagic) {
    return Error(Errc::kMalformed, "not an openssh-key-v1 blob (bad magic)");
  }
  TESSERA_ASSIGN_OR_RETURN(std::string_view cipher_name, r.text());
  TESSERA_ASSIGN_OR_RETURN(std::string_view kdf_name, r.text());
  TESSERA_ASSIGN_OR_RETURN(Reader kdf_options, r.child());
  TESSERA_ASSIGN_OR_RETURN(uint32_t key_count, r.u32());
  if (key_count == 0) return Error(Errc::kMalformed, "file holds no key");
  if (key_count != 1) {
    return Error(Errc::kUnsupported, "file holds " + std::to_string(key_count) +
                                         " keys; tessera reads files with exactly one");
  }
  TESSERA_ASSIGN_OR_RETURN(auto public_blob, r.string());
  auto public_key = PublicKey::from_blob(public_blob);
  if (!public_key.ok()) return public_key.error().with_context("public key");
  TESSERA_ASSIGN_OR_RETURN(uint32_t encrypted_len, r.u32());

  Container c(std::move(public_key).value());
  c.cipher = crypto::find_key_cipher(cipher_name);
  if (c.cipher == nullptr) return Error(Errc::kUnsupported, "unknown cipher \"" + std::string(cipher_name) + "\"");
  c.kdf = kdf_name;
  TESSERA_TRY(parse_kdf_options(kdf_options, c));

  if (encrypted_len < c.cipher->block_size || encrypted_len % c.cipher->block_size != 0) {
    return Error(Errc::kMalformed, "private section of " + std::to_string(encrypted_len) +
                                       " bytes is not a whole number of " +
                                       std::to_string(c.cipher->block_size) + "-byte blocks");
  }
  TESSERA_ASSIGN_OR_RETURN(c.encrypted, r.bytes(size_t{encrypted_len} + c.cipher->auth_len));
  TESSERA_TRY(r.expect_end());
  return c;
}

Result<Container> parse_container(std::span<const uint8_t> decoded) {
  auto c = parse_container_inner(decoded);
  if (!c.ok()) return c.error().with_context("OpenSSH private key");
  return c;
}

// The private section: check-ints, key, comment, padding.
Result<PrivateKeyWithComment> parse_private_section(const Container& c, std::span<const uint8_t> plain) {
  Reader r(plain);
  TESSERA_ASSIGN_OR_RETURN(uint32_t check1, r.u32());
  TESSERA_ASSIGN_OR_RETURN(uint32_t check2, r.u32());
  if (check1 != check2) {
    if (c.is_encrypted()) return Error(Errc::kWrongPassphrase, "incorrect passphrase (check bytes differ)");
    return Error(Errc::kMalformed, "check bytes differ in an unencrypted key");
  }
  auto key = PrivateKey::parse(r);
  if (!key.ok()) return key.error().with_context("private key");
  auto comment = r.text();
  if (!comment.ok()) return comment.error().with_context("comment");
  // Deterministic padding 1, 2, 3, ... (OpenSSH checks the pattern, not its length).
  for (size_t i = 1; !r.empty(); ++i) {
    uint8_t pad = *r.u8();
    if (pad != static_cast<uint8_t>(i & 0xff)) return Error(Errc::kMalformed, "bad padding after the private key");
  }
  if (!(key->public_key() == c.public_key)) {
    return Error(Errc::kMalformed, "private key does not match the public key in the file header");
  }
  return PrivateKeyWithComment{std::move(key).value(), std::string(*comment)};
}


Status random_bytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) return ossl::crypto_error("RAND_bytes failed");
  return {};
}

}  // namespace

std::vector<std::string_view> supported_key_ciphers() {
  std::vector<std::string_view> names;
  for (const auto& c : crypto::key_ciphers()) {
    if (c.mode != crypto::KeyCipherMode::kNone) names.push_back(c.name);
  }
  return names;
}

bool is_openssh_private_key(std::string_view text) {
  return trim_leading_space(text).starts_with(kBeginMarker);
}

Result<OpensshKeyInfo> inspect_openssh_private_key(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(SecretBytes decoded, unarmor(text));
  TESSERA_ASSIGN_OR_RETURN(Container c, parse_container(decoded.reveal()));
  bool encrypted = c.is_encrypted();
  return OpensshKeyInfo{
      .public_key = std::move(c.public_key),
      .encrypted = encrypted,
      .cipher = std::string(c.cipher->name),
      .kdf = std::string(c.kdf),
      .kdf_rounds = encrypted ? c.rounds : 0,
  };
}

Result<PrivateKeyWithComment> parse_openssh_private_key(std::string_view text,
                                                        const SecretBytes& passphrase) {
  TESSERA_ASSIGN_OR_RETURN(SecretBytes decoded, unarmor(text));
  TESSERA_ASSIGN_OR_RETURN(Container c, parse_container(decoded.reveal()));
  const crypto::KeyCipherInfo& cipher = *c.cipher;

  // With cipher "none" the kdf (if any) derives nothing: the section is in clear.
  SecretBytes key_iv(cipher.key_len + cipher.iv_len);
  if (c.is_encrypted()) {
    if (passphrase.empty()) {
      return Error(Errc::kPassphraseRequired, "the private key is encrypted: a passphrase is needed");
    }
    TESSERA_TRY(crypto::bcrypt_pbkdf(passphrase.reveal(), c.salt, c.rounds, key_iv.reveal_mutable()));
  }
  auto key = key_iv.reveal().first(cipher.key_len);
  auto iv = key_iv.reveal().subspan(cipher.key_len);
  auto plain = crypto::key_cipher_decrypt(cipher, key, iv, c.encrypted);
  if (!plain.ok()) {
    if (plain.error().code() == Errc::kBadSignature) {
      return Error(Errc::kWrongPassphrase, "incorrect passphrase (authentication tag mismatch)");
    }
    return plain.error();
  }
  auto result = parse_private_section(c, plain->reveal());
  if (!result.ok()) return result.error().with_context("OpenSSH private key");
  return result;
}

Result<std::string> format_openssh_private_key(const PrivateKey& key, std::string_view comment,
                                               const SecretBytes& passphrase,
                                               const OpensshKeyEncryption& encryption) {
  if (comment.find('\0') != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "a key comment cannot contain a NUL character");
  }
  const bool encrypt = !passphrase.empty();
  const crypto::KeyCipherInfo* cipher = crypto::find_key_cipher(encrypt ? encryption.cipher : kNoCipher);
  if (cipher == nullptr) {
    return Error(Errc::kUnsupported, "unknown cipher \"" + encryption.cipher +
                                         "\" (ssh -Q cipher lists the names)");
  }
  if (encrypt && cipher->mode == crypto::KeyCipherMode::kNone) {
    return Error(Errc::kInvalidArgument, "cipher \"none\" cannot protect a passphrase: pick a cipher or "
                                         "give an empty passphrase");
  }
  if (encrypt && (encryption.kdf_rounds < kMinKdfRounds || encryption.kdf_rounds > kMaxKdfRounds)) {
    return Error(Errc::kInvalidArgument, "kdf rounds must be " + std::to_string(kMinKdfRounds) + ".." +
                                             std::to_string(kMaxKdfRounds) + ", not " +
                                             std::to_string(encryption.kdf_rounds));
  }

  Writer kdf_options;
  SecretBytes key_iv(cipher->key_len + cipher->iv_len);
  if (encrypt) {
    std::array<uint8_t, kWriteSaltBytes> salt{};
    TESSERA_TRY(random_bytes(salt));
    TESSERA_TRY(crypto::bcrypt_pbkdf(passphrase.reveal(), salt, encryption.kdf_rounds, key_iv.reveal_mutable()));
    kdf_options.string(salt);
    kdf_options.u32(encryption.kdf_rounds);
  }

  // The private section; Writer wipes its buffer.
  Writer section;
  std::array<uint8_t, 4> check{};
  TESSERA_TRY(random_bytes(check));
  section.bytes(check);
  section.bytes(check);
  key.serialize(section);
  section.string(comment);
  for (uint8_t pad = 1; section.size() % cipher->block_size != 0; ++pad) section.u8(pad);

  auto sealed = crypto::key_cipher_encrypt(*cipher, key_iv.reveal().first(cipher->key_len),
                                           key_iv.reveal().subspan(cipher->key_len), section.data());
  if (!sealed.ok()) return sealed.error().with_context("OpenSSH private key");

  Writer file;
  file.bytes(as_bytes(kAuthMagic));
  file.string(cipher->name);
  file.string(encrypt ? kKdfBcrypt : kKdfNone);
  file.string(kdf_options);
  file.u32(1);
  file.string(key.public_key().blob());
  file.u32(static_cast<uint32_t>(section.size()));
  file.bytes(*sealed);
  // Unencrypted, sealed is the private key in clear.
  secure_wipe(sealed->data(), sealed->size());
  return armor::wrap(file.data(), kBeginMarker, kEndMarker);
}

}  // namespace tessera::key
