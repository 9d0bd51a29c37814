// Loading and saving key files, and asking the user for file names and
// passphrases, the way ssh-keygen (OpenSSH 9.2) does it.
#ifndef TESSERA_KEYGEN_KEYFILE_H_
#define TESSERA_KEYGEN_KEYFILE_H_

#include <sys/types.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "options.h"
#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

namespace tessera::keygen {

// ---- the user ------------------------------------------------------------------

// The login name and home directory from the password database (not $HOME,
// as ssh-keygen), and the host name. kIo if the uid has no entry.
struct UserInfo {
  std::string name;
  std::string home;
  std::string host;
};
key::Result<UserInfo> current_user();

// "user@host", ssh-keygen's default comment.
std::string default_comment(const UserInfo& user);

// ---- key type names -------------------------------------------------------------

// What -t names, as OpenSSH's sshkey_type_from_name(): a short name in any
// case ("ed25519", "ECDSA", "rsa", "dsa", "ecdsa-sk", "ed25519-sk") or an SSH
// key type name ("ssh-ed25519", "ecdsa-sha2-nistp384", "rsa-sha2-512", ...).
struct NamedKeyType {
  std::string_view file_stem;        // default file id_<stem>: "rsa", "ecdsa", "ed25519_sk", "dsa", ...
  std::optional<key::KeyType> type;  // nullopt for DSA, which tessera does not have
  unsigned curve_bits = 0;           // an ECDSA SSH name's curve size; 0 otherwise
};
std::optional<NamedKeyType> parse_key_type_name(std::string_view name);

// ---- reading files ----------------------------------------------------------------

// ssh-keygen's stat() check before a mode reads its file: on failure prints
// "[tessera-keygen: ]FILE: <strerror>" and returns false.
bool file_exists(const std::string& path, bool with_program_name);

// Reads a whole key file (at most key::kMaxKeyFileBytes) into wiped memory.
// kIo with "<strerror>" on failure; kTooLarge for a larger file.
// If check_permissions is set, a file owned by the user that others may read
// or write is refused as OpenSSH's sshkey_perm_ok() refuses it: the error
// says so and *bad_permissions (if given) is set.
key::Result<key::SecretBytes> read_key_file(const std::string& path, bool check_permissions,
                                            bool* bad_permissions = nullptr);

// The file a mode that reads lines (-l, -L) reads: -f FILE (asked for when
// not given), "-" for standard input, named "(stdin)" in messages. nullopt,
// after printing "tessera-keygen: FILE: <strerror>", when it cannot be opened;
// *status is then the exit status.
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != stdin) std::fclose(f);
  }
};
struct TextInput {
  std::unique_ptr<std::FILE, FileCloser> file;
  std::string name;
  bool from_stdin;
};
key::Result<TextInput> open_text_input(const Options& options);

// ---- public keys in text ------------------------------------------------------------

// A key read from the start of text as OpenSSH's sshkey_read() reads it:
// a type name and a blank, the base64 blob, then blanks. `rest` is what
// follows (the comment, if any).
struct KeyText {
  key::PublicKey key;
  std::string_view rest;
};
std::optional<KeyText> read_key_text(std::string_view text);

// A line holding a plain key or a certificate, as OpenSSH's sshkey_read()
// reads it: a certificate's signature is verified. The error's detail is
// OpenSSH's words ("invalid format", "incorrect signature", ...).
struct AnyKeyText {
  std::optional<key::PublicKey> key;           // a plain key, or
  std::optional<key::Certificate> certificate;  // a certificate
  std::string_view rest;
};
key::Result<AnyKeyText> read_any_key_text(std::string_view text);

struct PublicKeyWithComment {
  key::PublicKey key;
  std::optional<std::string> comment;  // nullopt: the file had none to offer
};

// sshkey_try_load_public(): the first key line of a public key file. The
// comment is the rest of the line, or the file name when the line has none.
std::optional<PublicKeyWithComment> try_load_public_file(const std::string& path);

// sshkey_load_public(): path as a public key file, then path.pub, then the
// unencrypted header of an openssh-key-v1 file at path (no comment).
std::optional<PublicKeyWithComment> load_public_key(const std::string& path);

// A public key file that may hold a certificate (ssh-keygen -Q's
// sshkey_load_public()): path, then path.pub (the first key or certificate
// line, a certificate's signature verified), then the unencrypted header of
// an openssh-key-v1 file at path. Exactly one of key and certificate is set.
struct KeyOrCertificateWithComment {
  std::optional<key::PublicKey> key;
  std::optional<key::Certificate> certificate;
  std::optional<std::string> comment;  // nullopt: the file had none to offer
};
std::optional<KeyOrCertificateWithComment> load_key_or_certificate(const std::string& path);

// ---- private keys ---------------------------------------------------------------------

struct LoadedPrivateKey {
  key::PrivateKey key;
  std::optional<std::string> comment;  // nullopt for PEM and PKCS#8 files, which have none
  key::SecretBytes passphrase;         // the passphrase that opened it (empty: not encrypted)
};

// ssh-keygen's load_identity(): reads the file (checking its permissions),
// tries it without a passphrase, and if it is encrypted tries `passphrase`
// or else asks with `prompt`. Errors say what went wrong, without the file name.
key::Result<LoadedPrivateKey> load_private_key(const std::string& path, const key::SecretBytes* passphrase,
                                               std::string_view prompt);

// The private key file as ssh-keygen writes it for -m: PEM and PKCS#8 for
// RSA and ECDSA keys (their passphrases need five characters or more, as
// OpenSSL's), openssh-key-v1 otherwise and for Ed25519 keys.
key::Result<std::string> encode_private_key(const key::PrivateKey& key, std::string_view comment,
                                            const key::SecretBytes& passphrase, const Options& options);

// How far write_file_atomically() goes to make the new file survive a crash.
enum class Durability : uint8_t {
  kRename,     // only the rename: a killed process leaves the old file or the new one, never a torn one
  kFile,       // fsync the file before the rename
  kDirectory,  // also fsync the directory after the rename: the new file is on disk
};

// Writes data to path through a new file in the same directory that is
// renamed over path: the file is never seen half-written, and it is created
// with the given mode (never wider while it is written).
// An owner (when given) is set on the new file before it replaces the old
// one. Errors name the directory when no file can be made there.
struct FileOwner {
  uid_t uid;
  gid_t gid;
};
key::Status write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                                  Durability durability = Durability::kFile,
                                  std::optional<FileOwner> owner = std::nullopt);
// The temporary files write_file_atomically() makes for `path` are named
// "<dir>/.<base>.XXXXXX": whether `name` (a name in that directory) is one.
bool is_temporary_file_for(const std::string& path, std::string_view name);

// Encodes and writes a private key file, mode 0600.
key::Status save_private_key(const std::string& path, const key::PrivateKey& key, std::string_view comment,
                             const key::SecretBytes& passphrase, const Options& options);
// Writes "type base64 comment\n" (with the blank even when the comment is
// empty, as ssh-keygen), mode 0644 less the umask.
key::Status save_public_key(const std::string& path, const key::PublicKey& key, std::string_view comment);

// Writes a certificate as ssh-keygen does: "type base64[ comment]\n", mode
// 0644 less the umask for a new file, rewritten in place (not through a
// temporary file, not synced) as ssh-keygen's.
key::Status save_certificate(const std::string& path, const key::Certificate& cert,
                             const std::optional<std::string>& comment);

// ---- asking the user ---------------------------------------------------------------------

// As OpenSSH's read_passphrase(prompt, RP_ALLOW_STDIN): prompts on and reads
// from /dev/tty with echo off when there is a terminal, else prompts on
// stderr and reads a line from stdin. Returns an empty passphrase at end of
// input.
key::SecretBytes read_passphrase(std::string_view prompt);

// ssh-keygen's private_key_passphrase() for a new key file: -P, -N, or asked
// twice until both agree.
key::SecretBytes new_key_passphrase(const Options& options);

// Reads one line from stdin without buffering ahead (so later passphrase
// reads see the rest of the input). nullopt at end of input before any byte.
std::optional<std::string> read_stdin_line();

// ssh-keygen's confirm_overwrite(): true if the file does not exist, else
// asks "FILE already exists.\nOverwrite (y/n)? " on stdout and reads stdin:
// true if the answer starts with y or Y.
bool confirm_overwrite(const std::string& file);

// ~/.ssh/id_<stem> for -t (id_rsa without -t), as ssh-keygen's ask_filename().
// kInvalidArgument for a -t that names no key type.
key::Result<std::string> default_key_path(const Options& options, const UserInfo& user);

// ssh-keygen's ask_filename(): prints "<prompt> (<default>): " on stdout and
// reads a name; an empty line takes the default. nullopt at end of input.
std::optional<std::string> ask_filename(const std::string& default_path, std::string_view prompt);

// ssh-keygen's tilde_expand_filename(): "~/x" and "~user/x". nullopt (after
// printing the error) for an unknown user; *status is then the exit status.
key::Result<std::string> expanded_path(const std::string& path);

// The key file for a mode that reads one: -f, or asked for. nullopt (after
// printing any message) when the run must end; *status is then its exit status.
key::Result<std::string> input_file(const Options& options);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_KEYFILE_H_
