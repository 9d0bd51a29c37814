// Key file formats: public key lines and authorized_keys lines, RFC 4716,
// PEM (PKCS#1 / SEC1) and PKCS#8, and OpenSSH's openssh-key-v1 private keys.
//
// Parsers take untrusted text and fail with a clear Error; writers produce
// exactly what OpenSSH's tools produce. A passphrase is a SecretBytes; an
// empty one means "not encrypted".
#ifndef TESSERA_KEY_FORMAT_H_
#define TESSERA_KEY_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

namespace tessera::key {

// Largest key file tessera reads (public or private), in bytes.
inline constexpr size_t kMaxKeyFileBytes = 1024 * 1024;

// ---- public key lines: "ssh-ed25519 AAAA... comment" ------------------------

struct PublicKeyLine {
  PublicKey key;
  std::string comment;  // may be empty; inner whitespace kept
};

// Parses one line (leading/trailing whitespace and a trailing newline are allowed).
// The type name before the base64 must match the blob's type.
Result<PublicKeyLine> parse_public_key_line(std::string_view line);
// "type base64[ comment]" with no newline.
std::string format_public_key_line(const PublicKey& key, std::string_view comment);

// ---- authorized_keys (sshd(8) AUTHORIZED_KEYS FILE FORMAT) ------------------

struct AuthorizedKeyOption {
  std::string name;                  // as written, e.g. "command", "no-pty", "from"
  std::optional<std::string> value;  // for name="value" options, unquoted and unescaped
};

struct AuthorizedKeysEntry {
  std::vector<AuthorizedKeyOption> options;
  PublicKey key;
  std::string comment;
};

// Parses one authorized_keys line. Blank lines and '#' comments give
// std::nullopt. Malformed option strings (unterminated quote, bad syntax) and
// bad keys are errors.
Result<std::optional<AuthorizedKeysEntry>> parse_authorized_keys_line(std::string_view line);

// ---- RFC 4716 (SSH2 public key file) -----------------------------------------

struct Rfc4716Key {
  PublicKey key;
  std::vector<std::pair<std::string, std::string>> headers;  // in file order, values unquoted
  std::string comment;  // the Comment header's value, if any
};

Result<Rfc4716Key> parse_rfc4716(std::string_view text);
// As ssh-keygen -e: BEGIN line, "Comment: \"...\"" header (when comment is not
// empty), base64 in 70-column lines, END line; ends with a newline.
std::string format_rfc4716(const PublicKey& key, std::string_view comment);

// ---- PEM (PKCS#1, SEC1) and PKCS#8 ---------------------------------------------

enum class PemFlavor : uint8_t {
  kTraditional,  // ssh-keygen -m PEM: "RSA PRIVATE KEY" / "EC PRIVATE KEY"; public: "RSA PUBLIC KEY" / "PUBLIC KEY"
  kPkcs8,        // ssh-keygen -m PKCS8: "PRIVATE KEY" / "ENCRYPTED PRIVATE KEY"; public: "PUBLIC KEY"
};

// Reads PKCS#1, SEC1 and PKCS#8 private keys, encrypted ("Proc-Type: 4,ENCRYPTED"
// or "ENCRYPTED PRIVATE KEY") or not. kPassphraseRequired when encrypted and
// the passphrase is empty; kWrongPassphrase when it does not decrypt.
Result<PrivateKey> parse_pem_private_key(std::string_view text, const SecretBytes& passphrase);
// Writes a private key; a non-empty passphrase encrypts it (AES-128-CBC for
// traditional PEM; PBES2 with PBKDF2-HMAC-SHA256 and AES-128-CBC for PKCS#8,
// both as OpenSSH 9.2's ssh-keygen writes them).
// Ed25519 keys are kUnsupported for kTraditional (no such format).
Result<std::string> format_pem_private_key(const PrivateKey& key, PemFlavor flavor,
                                           const SecretBytes& passphrase);
// Reads "PUBLIC KEY" (SubjectPublicKeyInfo) and "RSA PUBLIC KEY" (PKCS#1).
Result<PublicKey> parse_pem_public_key(std::string_view text);
// As ssh-keygen -e -m PEM|PKCS8. OpenSSH 9.2 refuses Ed25519 and security keys
// here; so does tessera (kUnsupported).
Result<std::string> format_pem_public_key(const PublicKey& key, PemFlavor flavor);

// ---- openssh-key-v1 (PROTOCOL.key) --------------------------------------------

inline constexpr std::string_view kDefaultKeyCipher = "aes256-ctr";
inline constexpr uint32_t kDefaultKdfRounds = 16;

struct OpensshKeyEncryption {
  std::string cipher{kDefaultKeyCipher};  // any name from supported_key_ciphers()
  uint32_t kdf_rounds = kDefaultKdfRounds;
};

// Cipher names tessera reads and writes in openssh-key-v1 files.
std::vector<std::string_view> supported_key_ciphers();

struct OpensshKeyInfo {
  PublicKey public_key;  // from the unencrypted header
  bool encrypted;
  std::string cipher;    // "none" when not encrypted
  std::string kdf;       // "none" or "bcrypt"
  uint32_t kdf_rounds;   // 0 when not encrypted
};

struct PrivateKeyWithComment {
  PrivateKey key;
  std::string comment;
};

// True if text looks like an openssh-key-v1 file (its armor line).
bool is_openssh_private_key(std::string_view text);
// Reads the unencrypted part of a file: no passphrase needed.
Result<OpensshKeyInfo> inspect_openssh_private_key(std::string_view text);
// kPassphraseRequired / kWrongPassphrase as for PEM. Checks check-ints,
// padding, and that the private key matches the header's public key.
Result<PrivateKeyWithComment> parse_openssh_private_key(std::string_view text,
                                                        const SecretBytes& passphrase);
// PEM-armored text with 70-column base64 lines, ending in a newline. An empty
// passphrase writes cipher/kdf "none".
Result<std::string> format_openssh_private_key(const PrivateKey& key, std::string_view comment,
                                               const SecretBytes& passphrase,
                                               const OpensshKeyEncryption& encryption = {});

// ---- any private key file --------------------------------------------------------

enum class PrivateKeyFormat : uint8_t { kOpenssh, kPem, kPkcs8 };

// Detects the format from the armor line; kUnsupported / kMalformed if none fits.
Result<PrivateKeyFormat> detect_private_key_format(std::string_view text);
// Reads any private key file tessera understands. The comment is empty for PEM/PKCS#8.
Result<PrivateKeyWithComment> parse_private_key(std::string_view text, const SecretBytes& passphrase);
// True when parse_private_key needs a passphrase for this text.
bool private_key_is_encrypted(std::string_view text);

}  // namespace tessera::key

#endif  // TESSERA_KEY_FORMAT_H_
