// Internal: a key written as text ("type base64"), read as OpenSSH 9.2's
// sshkey_read() reads it. Shared by the KRL spec reader and known_hosts.
#ifndef TESSERA_KEY_SRC_FORMAT_KEY_TEXT_H_
#define TESSERA_KEY_SRC_FORMAT_KEY_TEXT_H_

#include <optional>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/sshsig.h"

namespace tessera::key::key_text {

// What a key type name on a line stands for, as OpenSSH's
// sshkey_type_from_name(): the full names of keys and certificates (with the
// rsa-sha2-* and webauthn aliases), or the short name of a plain key type in
// any case ("ed25519", "RSA", "ECDSA-SK"). nullopt for a type tessera cannot
// decode (DSA among them).
struct KeyName {
  KeyType type;
  bool certificate;
  bool short_ecdsa;  // "ECDSA" names no curve: OpenSSH reports a type mismatch
};
std::optional<KeyName> key_name(std::string_view name);

// Whether OpenSSH 9.2 (built without XMSS, as Debian's) knows the name at all:
// key_name()'s names plus DSA ("ssh-dss", "ssh-dss-cert-v01@openssh.com", "dsa").
// Files that OpenSSH only rewrites (known_hosts -H and -R) keep such lines.
bool openssh_key_type(std::string_view name);

// A key or certificate at the start of text: the type name, blanks, the
// base64 blob up to the next blank (other whitespace inside it is skipped, as
// OpenSSH's base64 decoder does). A certificate's CA signature must verify.
// `rest` is what follows the blob and the blanks after it: the comment.
// Errors start with "invalid key".
struct ReadKey {
  KeyOrCertificate key;
  std::string_view rest;
};
Result<ReadKey> read_key(std::string_view text);

}  // namespace tessera::key::key_text

#endif  // TESSERA_KEY_SRC_FORMAT_KEY_TEXT_H_
