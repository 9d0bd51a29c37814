// The tessera-keygen command line: ssh-keygen's flags (OpenSSH 9.2) for the
// modes tessera implements, parsed the way ssh-keygen's getopt does (options
// end at the first non-option argument).
#ifndef TESSERA_KEYGEN_OPTIONS_H_
#define TESSERA_KEYGEN_OPTIONS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cert_options.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/secret.h"

namespace tessera::keygen {

// What one run does. When several mode flags are given, the first in this
// order wins, as in ssh-keygen's main().
enum class Operation : uint8_t {
  kSignature,         // -Y: SSH signatures (sign, verify, find-principals, ...)
  kGenerateKrl,       // -k: write (-u: update) a key revocation list
  kQueryKrl,          // -Q: check keys and certificates against a KRL
  kCertify,           // -s: sign public keys with a CA key
  kImportLog,         // --import-log: an issuance log (and serial state) into the --ca-store database
  kShowCertificate,   // -L
  kKnownHosts,        // -F, -H, -R: find, hash, remove known_hosts entries
  kListTokenKeys,     // -D without -s
  kDownloadResidentKeys,  // -K: resident keys from a FIDO authenticator
  kFingerprint,       // -l / -B
  kChangePassphrase,  // -p
  kChangeComment,     // -c
  kExport,            // -e
  kImport,            // -i (also -X)
  kPrintPublic,       // -y
  kPrintResourceRecord,  // -r without -Y: SSHFP records
  kGenerate,          // no mode flag
};

// -m: the conversion format for -e/-i, and the private key format for
// generation and -p/-c (RFC4716 there means OpenSSH's own format).
enum class KeyFormat : uint8_t { kRfc4716, kPkcs8, kPem };

struct Options {
  Operation operation = Operation::kGenerate;
  bool show_help = false;   // --help
  bool quiet = false;       // -q
  unsigned verbosity = 0;   // -v, repeatable
  bool bubblebabble = false;  // -B (with -l or alone)
  key::FingerprintHash fingerprint_hash = key::FingerprintHash::kSha256;  // -E
  std::optional<std::string> key_type_name;  // -t, as typed
  uint32_t bits = 0;                         // -b; 0 = the type's default
  std::optional<std::string> comment;        // -C
  std::optional<key::SecretBytes> passphrase;      // -P (old passphrase)
  std::optional<key::SecretBytes> new_passphrase;  // -N
  std::optional<std::string> file;           // -f
  uint32_t kdf_rounds = 0;                   // -a; 0 = libkey's default
  std::optional<std::string> cipher;         // -Z
  KeyFormat format = KeyFormat::kRfc4716;    // -m
  bool format_given = false;

  // Certificates (-s ... file ...).
  std::optional<std::string> ca_key;           // -s: the CA private key (with -U, its public key)
  std::optional<std::string> key_id;           // -I
  bool host_certificate = false;               // -h
  std::optional<std::string> principals;       // -n, as typed (comma-separated)
  Validity validity;                           // -V
  uint64_t serial = 0;                         // -z
  bool serial_increments = false;              // -z +N: one more for each certificate
  bool serial_given = false;
  CertificateSections sections;                // -h and -O
  bool ca_in_agent = false;                    // -U
  std::optional<std::string> pkcs11_provider;  // -D
  std::optional<std::string> sk_provider;      // -w (else $SSH_SK_PROVIDER, else "internal")
  std::optional<std::string> serial_file;      // --serial-file or --new-serial-file
  bool new_serial_file = false;                // --new-serial-file: the state file starts a new serial space
  std::optional<std::string> issuance_log;     // --issuance-log
  // --ca-store: a libpq connection string (postgresql://... or key=value
  // pairs; "env" reads it from $TESSERA_CA_STORE). Serials, issuance records
  // and revocations then live in that database (ca_store_pg.h).
  std::optional<std::string> ca_store;
  // -z FIRST-LAST with --ca-store: this run takes the CA's serials only
  // within this range.
  uint64_t serial_range_first = 1;
  uint64_t serial_range_last = UINT64_MAX;
  bool serial_range_given = false;
  std::optional<std::string> import_log;       // --import-log: with --ca-store, the log to import
  std::vector<std::string> files;              // the public keys to certify; -k: spec files; -Q: keys; -Y sign: the files to sign

  // -O, as typed and in order: certificate options with -s, signature options with -Y.
  std::vector<std::string> extra_options;

  // Key revocation lists (-k, -Q; the KRL is -f, -s its CA public key).
  bool update_krl = false;                      // -u
  bool print_krl = false;                       // -l with -Q
  std::optional<std::string> krl_signing_key;   // --sign-krl: CA private key that signs the KRL
  std::optional<std::string> krl_verify_key;    // --verify-krl: CA public key that must have signed it
  std::optional<std::string> revoke_from_log;   // --revoke-from-log: an --issuance-log file
  std::vector<std::string> revoke_ids;          // --revoke-id, repeatable
  std::vector<uint64_t> revoke_serials;         // --revoke-serial, repeatable
  // With --ca-store, revocations recorded in the database (with who and why).
  std::vector<std::string> revoke_keys;          // --revoke-key: public key files, repeatable
  std::vector<std::string> revoke_fingerprints;  // --revoke-fingerprint SHA256:..., repeatable
  std::optional<std::string> revoked_by;         // --revoked-by (default: user@host)
  std::optional<std::string> revoke_reason;      // --reason

  // SSH signatures (-Y). -f, -I, -n and -s keep their letters but mean the
  // key or allowed_signers file, the signer identity, the namespace and the
  // signature file, as in ssh-keygen.
  std::optional<std::string> signature_operation;  // -Y: sign, verify, find-principals, ...
  std::optional<std::string> revocation_file;      // -r: a KRL or a file of public keys (-Y verify)

  // known_hosts (-F, -H, -R; -f is the file) and SSHFP records (-r, -g).
  std::optional<std::string> host_name;  // the last of -F, -R and -r (ssh-keygen's rr_hostname)
  bool find_host = false;                // -F
  bool delete_host = false;              // -R
  bool hash_hosts = false;               // -H
  bool print_fingerprint = false;        // -l with -F
  bool print_generic = false;            // -g

  // The openssh-key-v1 encryption settings from -Z and -a.
  key::OpensshKeyEncryption encryption() const;
};

// A command line that cannot run: the message (one line, may be empty), the
// exit status, and whether the usage text follows the message.
struct CommandLineError {
  std::string message;
  int exit_status;
  bool show_usage;
};

// Parses argv. Copies -N/-P values into SecretBytes and overwrites them in
// argv so that they no longer show in ps(1).
std::variant<Options, CommandLineError> parse_command_line(int argc, char** argv);

// ssh-keygen's usage text for the modes tessera-keygen implements.
void print_usage(std::FILE* out);
// --help: the usage plus what every flag does.
void print_help(std::FILE* out);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_OPTIONS_H_
