// Key files as ssh-add reads them: public keys and certificates (a key file,
// FILE.pub, or the public half of a private key file), private keys with
// passphrase prompts, and the permission check on private key files.
#ifndef TESSERA_AGENT_ADD_KEYFILE_H_
#define TESSERA_AGENT_ADD_KEYFILE_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

namespace tessera::add {

// A public key or a certificate, as an agent lists them.
struct AnyPublic {
  key::Bytes blob;                          // the key or certificate blob
  key::PublicKey key;                       // the key (the certified key of a certificate)
  std::optional<key::Certificate> cert;

  static key::Result<AnyPublic> from_blob(std::span<const uint8_t> blob);
  static AnyPublic of(const key::PublicKey& k) { return AnyPublic{k.blob(), k, std::nullopt}; }
  static AnyPublic of(const key::Certificate& c) { return AnyPublic{c.blob(), c.key, c}; }

  // "ssh-ed25519" or "ssh-ed25519-cert-v01@openssh.com".
  std::string_view ssh_name() const { return cert ? cert->type_name() : key.ssh_name(); }
  // As sshkey_type(): "ED25519", "RSA", "ECDSA", "ED25519-CERT", ...
  std::string type_label() const;
  // As sshkey_write(): "ssh-ed25519 AAAA..." (no comment).
  std::string line() const;
  // As sshkey_fingerprint(): certificates print their key's fingerprint.
  std::string fingerprint(key::FingerprintHash hash) const { return key::fingerprint(key, hash); }
};

struct LoadedPublic {
  AnyPublic pub;
  std::optional<std::string> comment;  // none when read from a private key file
};

// One "type base64 [comment]" line; the comment is the rest of the line.
key::Result<LoadedPublic> parse_public_line(std::string_view line);

// As OpenSSH's sshkey_load_public(): the first key line of `path`, else of
// `path`.pub, else the public half of the private key file `path`. A file
// that is none of these gives kIo "No such file or directory", as OpenSSH.
key::Result<LoadedPublic> load_public(const std::string& path);

// Reads a whole file (at most key::kMaxKeyFileBytes) into a secret buffer.
key::Result<key::SecretBytes> read_key_file(int fd);

// As OpenSSH's sshkey_perm_ok(): a private key file owned by the user must
// not be readable by others. Prints OpenSSH's warning and returns false.
bool private_key_permissions_ok(int fd, const std::string& path);

// The home directory of the user running the program (the password
// database's, as ssh-add; TESSERA_ADD_HOME overrides it for tests).
std::string home_dir();
// "~/x" and "~user/x" as OpenSSH's tilde_expand_filename().
key::Result<std::string> expand_tilde(const std::string& path);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_KEYFILE_H_
