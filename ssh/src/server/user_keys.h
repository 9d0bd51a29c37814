// The server's publickey decision: may this key (or certificate) log in this
// user, and with which restrictions? OpenSSH 9.2's userauth_pubkey() checks
// before the signature, and user_key_allowed() with what it calls
// (auth2-pubkey.c, auth2-pubkeyfile.c, auth.c, misc.c safe_path):
//
//   1. the request: a known algorithm whose key type is the blob's, in
//      PubkeyAcceptedAlgorithms; for a certificate a valid CA signature made
//      with an algorithm in CASignatureAlgorithms; RSA keys of at least
//      RequiredRSASize bits;
//   2. RevokedKeys (a KRL, or a file of public keys; unreadable: every key is
//      refused): the key, and a certificate's CA key;
//   3. each AuthorizedKeysFile in turn: a plain key on a line without
//      cert-authority, or a certificate whose CA is on a cert-authority line
//      (its principals must hold the user name, or a name of principals=);
//      the line's options (expiry-time=, from=) and the certificate's
//      (source-address) must admit the connection;
//   4. TrustedUserCAKeys: the certificate's CA listed there, and its
//      principals holding the user name, or with AuthorizedPrincipalsFile a
//      principal on a line of that file;
//   with StrictModes, every file of the user and each directory above it up
//   to the home directory (and that one) must be owned by root or the user and
//   writable by nobody else.
//
// Not checked here: the signature (the caller verifies it over the data it
// builds itself, with the algorithm of the request: key::PublicKey::verify on
// decision.key->key, and the signature blob's algorithm equal to the request's),
// and, for security keys, user presence and verification against
// options.no_require_user_presence / options.require_verify and sshd's
// PubkeyAuthOptions. Files are opened with the process's current credentials,
// but for open_user_files_as_user (below).
#ifndef TESSERA_SSH_SERVER_USER_KEYS_H_
#define TESSERA_SSH_SERVER_USER_KEYS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/authorized_keys.h"
#include "tessera/key/error.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/sshsig.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::server {

// sshd 9.2's defaults (sshd -T).
inline constexpr std::string_view kDefaultPubkeyAcceptedAlgorithms =
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"
    "sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,"
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
inline constexpr std::string_view kDefaultCaSignatureAlgorithms =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256";
inline constexpr unsigned kDefaultRequiredRsaSize = 1024;

// Largest authorized_keys, principals or TrustedUserCAKeys file read; a
// larger one is skipped with a log line (a CA file: no CA trusted).
inline constexpr size_t kMaxUserFileBytes = 16 * 1024 * 1024;

// The account a key is tried for.
struct TargetUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // pw_dir
  bool operator==(const TargetUser&) const = default;
};

// The sshd_config values the decision reads (after Match), with sshd 9.2's
// defaults. A file of "none" (any case) or "" is not used.
struct UserKeysConfig {
  // Tokens %%, %h, %u, %U; relative paths are taken from the home directory.
  std::vector<std::string> authorized_keys_files{".ssh/authorized_keys", ".ssh/authorized_keys2"};
  std::string authorized_principals_file;  // same tokens
  std::string trusted_user_ca_keys;        // a path, read as is
  std::string revoked_keys;                // a path, read as is
  bool strict_modes = true;
  std::string pubkey_accepted_algorithms{kDefaultPubkeyAcceptedAlgorithms};
  std::string ca_signature_algorithms{kDefaultCaSignatureAlgorithms};
  unsigned required_rsa_size = kDefaultRequiredRsaSize;
  key::FingerprintHash fingerprint_hash = key::FingerprintHash::kSha256;  // FingerprintHash
  // A root caller (sshd's monitor) sets this: the user's own files
  // (AuthorizedKeysFile, AuthorizedPrincipalsFile) are then opened with the
  // user's uid, gid and groups as effective credentials, as sshd's
  // temporarily_use_uid() does, and TrustedUserCAKeys and RevokedKeys with
  // root's (they are the administrator's, often readable by root alone).
  // Credentials that cannot be switched back end the process (abort).
  bool open_user_files_as_user = false;
  bool operator==(const UserKeysConfig&) const = default;
};

// The publickey request's key, as the client sent it.
struct UserKeyRequest {
  std::string_view algorithm;         // "ssh-ed25519", "rsa-sha2-512-cert-v01@openssh.com", ...
  std::span<const uint8_t> key_blob;  // the public key or certificate blob
  uint64_t now = 0;                   // seconds since the epoch
};

struct UserKeyDecision {
  bool accepted = false;
  // What the session may do (only meaningful when accepted).
  AuthOptions options;
  // The client's key as parsed: the key to verify the signature with is key->key.
  // Set whenever the blob parsed, accepted or not.
  std::optional<key::KeyOrCertificate> key;
  // As sshd's "Accepted publickey for USER from ADDR port N ssh2: " line
  // ends: "ED25519 SHA256:..." or, for a certificate,
  // "ED25519-CERT SHA256:... ID alice (serial 7) CA ED25519 SHA256:...".
  // Empty when the blob did not parse.
  std::string key_description;
  // Where the key was accepted: "/home/u/.ssh/authorized_keys:3", or the
  // TrustedUserCAKeys file.
  std::string accepted_by;
  // Why it was refused, in OpenSSH's words where sshd logs one
  // ("Authentication refused: bad ownership or modes for directory /home/u/.ssh").
  std::string reason;
  // Everything sshd would log on the way, at its levels.
  LogLines log;
  // The decision holds only before this time (a certificate's valid-before,
  // an entry's expiry-time); UINT64_MAX if no time limits it.
  uint64_t valid_until = UINT64_MAX;
  // Set by UserKeyChecker when it answered from its cache.
  bool cached = false;
};

// The whole decision, reading the files each time. Never fails: every
// problem is a refusal with its reason and log lines.
UserKeyDecision check_user_key(const TargetUser& user, const UserKeysConfig& config, const RemoteClient& client,
                               const UserKeyRequest& request);

// check_user_key with a small memory: an accepted decision is reused for the
// same user, configuration, client, algorithm and key blob for up to
// kCacheSeconds (and never past its valid_until), so the query (no signature)
// and the signed request that follows cost one reading of the files. Refusals
// are not kept. One per connection; not thread-safe.
class UserKeyChecker {
 public:
  static constexpr uint64_t kCacheSeconds = 60;
  static constexpr size_t kCacheEntries = 4;

  UserKeyDecision check(const TargetUser& user, const UserKeysConfig& config, const RemoteClient& client,
                        const UserKeyRequest& request);

 private:
  struct Entry {
    TargetUser user;
    UserKeysConfig config;
    RemoteClient client;
    std::string algorithm;
    key::Bytes blob;
    uint64_t decided_at = 0;
    UserKeyDecision decision;
  };
  std::deque<Entry> cache_;
};

// ---- pieces, for the caller and for tests ------------------------------------

// expand_authorized_keys(): %% %h %u %U replaced, then made absolute from the
// home directory. kInvalidArgument for any other token or a trailing '%'.
key::Result<std::string> expand_user_file(std::string_view pattern, const TargetUser& user);

// safe_path(): StrictModes' check of an opened file (`st` from fstat of it)
// and of every directory above its canonical path up to the user's home
// directory (inclusive) or "/". kInvalidArgument with sshd's text:
// "bad ownership or modes for file F", "bad ownership or modes for directory D",
// "F is not a regular file", "realpath F failed: ...".
key::Status check_secure_path(std::string_view path, const struct stat& st, const TargetUser& user);

// What sshd's log calls the key: see UserKeyDecision::key_description.
std::string describe_user_key(const key::KeyOrCertificate& key,
                              key::FingerprintHash hash = key::FingerprintHash::kSha256);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_USER_KEYS_H_
