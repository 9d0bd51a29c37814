// SSH signatures (PROTOCOL.sshsig), as `ssh-keygen -Y` makes and checks them,
// and the allowed_signers file (ssh-keygen(1) ALLOWED SIGNERS).
//
// Layers, from the bytes up:
//  - Sshsig: the signature object (parse / serialize), armor / dearmor;
//  - sshsig_signed_data / sshsig_sign / sshsig_verify: what is signed, with the
//    key behind a SignFunction (a key file, an agent, a PKCS#11 token);
//  - allowed_signers lines and the logic of -Y verify, find-principals,
//    match-principals and check-novalidate, returning what ssh-keygen 9.2 prints
//    so that a CLI stays a thin shell around them.
//
// The signing key of a signature may be a certificate (ssh-keygen -Y sign -f
// id-cert.pub): it is then accepted through a cert-authority line.
#ifndef TESSERA_KEY_SSHSIG_H_
#define TESSERA_KEY_SSHSIG_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::key {

// Largest armored signature tessera reads, and the largest signature object
// (an RSA-16384 certificate with many principals fits easily).
inline constexpr size_t kMaxSshsigArmoredBytes = 1024 * 1024;
inline constexpr size_t kMaxSshsigBlobBytes = 512 * 1024;
// Largest allowed_signers file and line tessera reads.
inline constexpr size_t kMaxAllowedSignersBytes = 16 * 1024 * 1024;
inline constexpr size_t kMaxAllowedSignersLineBytes = 64 * 1024;

// ---- keys that sign: a plain key or a certificate -----------------------------

struct KeyOrCertificate {
  PublicKey key;                           // the signing key (the certified key of a certificate)
  std::optional<Certificate> certificate;  // set when the key is a certificate

  static KeyOrCertificate plain(PublicKey k) { return {std::move(k), std::nullopt}; }
  static KeyOrCertificate certified(Certificate c);

  // Parses a public key or certificate blob; a certificate's CA signature
  // must verify (as OpenSSH's sshkey_froms does). Trailing bytes are an error.
  static Result<KeyOrCertificate> from_blob(std::span<const uint8_t> blob);
  // "type base64 [comment]", as sshkey_read reads it; the comment is ignored.
  static Result<KeyOrCertificate> from_line(std::string_view line);

  bool is_certificate() const { return certificate.has_value(); }
  Bytes blob() const;
  // "ssh-ed25519" or "ssh-ed25519-cert-v01@openssh.com".
  std::string_view type_name() const;
  // As ssh-keygen's sshkey_type(): "ED25519", "RSA", "ECDSA-SK", "ED25519-CERT".
  std::string display_type() const;
  // "type base64" without comment, as ssh-keygen -Y verify -O print-pubkey writes it.
  std::string public_line() const;
  // Fingerprint of the key itself (for a certificate, of the certified key, as OpenSSH).
  std::string fingerprint(FingerprintHash hash = FingerprintHash::kSha256) const;

  // sshkey_equal: same kind (key vs certificate) and same blob.
  bool operator==(const KeyOrCertificate& other) const { return blob() == other.blob(); }
};

// ---- the signature object ------------------------------------------------------

enum class SshsigHash : uint8_t { kSha256, kSha512 };
inline constexpr SshsigHash kDefaultSshsigHash = SshsigHash::kSha512;

std::string_view sshsig_hash_name(SshsigHash hash);  // "sha256" / "sha512"
// Exactly "sha256" or "sha512" (case-sensitive, as OpenSSH); kUnsupported otherwise.
Result<SshsigHash> parse_sshsig_hash(std::string_view name);

// Hashes a message for signing or verifying.
Bytes sshsig_digest(SshsigHash hash, std::span<const uint8_t> message);
// Reads the stream to its end in bounded chunks (any size of message); kIo
// if the stream fails before its end.
Result<Bytes> sshsig_digest(SshsigHash hash, std::istream& message);

struct Sshsig {
  KeyOrCertificate signer;
  std::string name_space;      // "file", "git", ...; never empty
  Bytes reserved;              // empty as OpenSSH writes it; ignored when verifying
  std::string hash_algorithm;  // as written; sshsig_verify refuses all but sha256/sha512
  Bytes signature;             // SSH signature blob over sshsig_signed_data()

  // Parses the binary object (MAGIC "SSHSIG", version 1, ...). Strict: version
  // 1 only, a non-empty namespace without NUL bytes, no trailing data, and a
  // valid signer key (a certificate's CA signature must verify).
  static Result<Sshsig> parse(std::span<const uint8_t> blob);
  Bytes blob() const;
};

// "-----BEGIN SSH SIGNATURE-----\n", base64 in 70-column lines,
// "-----END SSH SIGNATURE-----\n": byte for byte what ssh-keygen -Y sign writes.
std::string sshsig_armor(std::span<const uint8_t> blob);
// The inverse. Accepts LF or CRLF line ends; the text must start with the
// BEGIN line, the END line must start a line, and only whitespace may follow
// it (OpenSSH ignores text after it; tessera refuses it). Bounded by
// kMaxSshsigArmoredBytes.
Result<Bytes> sshsig_dearmor(std::string_view text);
// Dearmors and parses.
Result<Sshsig> parse_armored_sshsig(std::string_view text);

// What the key signs: "SSHSIG", string namespace, string reserved (empty),
// string hash name, string H(message).
Bytes sshsig_signed_data(std::string_view name_space, SshsigHash hash, std::span<const uint8_t> digest);

// ---- signing -------------------------------------------------------------------

// Signs `data` and returns the SSH signature blob. `alg` is kRsaSha512 for RSA
// keys (as ssh-keygen 9.2 always uses) and kDefault otherwise. Back it with a
// PrivateKey, an agent or a token; its errors are passed through.
using SignFunction = std::function<Result<Bytes>(std::span<const uint8_t> data, SignatureAlgorithm alg)>;

// A SignFunction over an in-memory private key (which it keeps a reference of).
SignFunction sign_with(const PrivateKey& key);

// Makes the signature object for a message digest (from sshsig_digest with the
// same hash). The signer's answer is checked against `signer_key` before it is
// returned, so a signer holding another key fails here (kBadSignature), not
// at the verifier. kInvalidArgument for an empty namespace or a digest of the
// wrong size.
Result<Sshsig> sshsig_sign(const KeyOrCertificate& signer_key, const SignFunction& sign, std::string_view name_space,
                           SshsigHash hash, std::span<const uint8_t> digest);

// ---- verifying -----------------------------------------------------------------

// Checks the signature object against a message digest made with the
// signature's own hash algorithm (sig.hash_algorithm). Fails with the text
// ssh-keygen prints, plus details:
//   kBadSignature    "Couldn't verify signature: namespace does not match ..."
//                    "Signature verification failed: ..."
//   kUnsupported     unsupported hash algorithm, or an RSA signature other than
//                    rsa-sha2-256/512 ("Couldn't verify signature: unsupported RSA
//                    signature algorithm ssh-rsa")
//   kInvalidArgument a digest whose size does not fit the hash algorithm
// Security-key (sk-*) signatures verify like any other.
Status sshsig_verify(const Sshsig& sig, std::string_view name_space, std::span<const uint8_t> digest);
// Hashes the message stream with the signature's algorithm, then as above.
Status sshsig_verify(const Sshsig& sig, std::string_view name_space, std::istream& message);

// ---- allowed_signers -----------------------------------------------------------

struct AllowedSignerOptions {
  bool cert_authority = false;
  std::optional<std::string> namespaces;  // a pattern-list, unquoted
  std::optional<uint64_t> valid_after;    // seconds since the epoch
  std::optional<uint64_t> valid_before;
};

struct AllowedSigner {
  std::string principals;  // the pattern-list as written (quotes removed)
  AllowedSignerOptions options;
  KeyOrCertificate key;    // usually a plain key; the CA key of a cert-authority line
};

// One line: `principals [options] keytype base64 [comment]`. Blank lines and
// '#' comments give std::nullopt. Errors name the part that is wrong
// ("bad options: multiple \"namespaces\" clauses", "invalid key: ...").
Result<std::optional<AllowedSigner>> parse_allowed_signers_line(std::string_view line);
// A whole file, strictly: the first bad line fails it with "line N: ...".
Result<std::vector<AllowedSigner>> parse_allowed_signers(std::string_view text);

// The options' times, as ssh-keygen's parse_absolute_time: YYYYMMDD,
// YYYYMMDDHHMM or YYYYMMDDHHMMSS, in local time, or UTC with a "Z" (or "UTC")
// suffix. kMalformed for anything else, and for times before the epoch.
Result<uint64_t> parse_absolute_time(std::string_view text);
// "2030-01-01T00:00:00" in local time, as ssh-keygen prints times.
std::string format_absolute_time(uint64_t seconds);

// ---- ssh-keygen -Y verify / check-novalidate / find-principals / match-principals

// An allowed_signers file: its name (used only in messages, as ssh-keygen
// prints "name:line: ...") and its contents.
struct AllowedSignersFile {
  std::string_view path;
  std::string_view text;
};

// Messages ssh-keygen writes to stderr while it reads an allowed_signers file
// ("allowed_signers:3: key has expired: verify time ... > valid-before ...").
// They do not decide the outcome; the CLI prints them, one per line, as they come.
using Diagnostics = std::vector<std::string>;

// Answers "is this key revoked?" for -r (a KRL or a key list behind it).
// An error fails the verification as a revocation would.
using RevocationCheck = std::function<Result<bool>(const KeyOrCertificate& key)>;

struct SshsigVerifyRequest {
  std::string_view name_space;                       // -n, required
  std::optional<std::string> principal;              // -I: verify; nullopt: check-novalidate
  std::optional<AllowedSignersFile> allowed_signers;  // -f: verify; nullopt: check-novalidate
  RevocationCheck is_revoked;                        // -r, optional
  uint64_t verify_time = 0;                          // -O verify-time=, else the current time
};

struct SshsigVerified {
  KeyOrCertificate key;                  // the key that made the signature
  std::optional<std::string> principal;  // the -I principal it was accepted for
};

// ssh-keygen -Y verify (with principal and allowed_signers) or -Y
// check-novalidate (without): the signature must verify over the message;
// then the key must not be revoked (kInvalidKey, "... is revoked") and must be
// allowed for the principal, namespace and time by a line of the file
// (kBadSignature, "no allowed signer ...": ssh-keygen prints nothing more
// than the diagnostics then). Lines are read as ssh-keygen does: a line whose
// principals do not match is skipped unparsed, a malformed matching line adds
// a diagnostic and is skipped.
Result<SshsigVerified> sshsig_check(const Sshsig& sig, std::istream& message, const SshsigVerifyRequest& request,
                                    Diagnostics* diagnostics);

// The stdout line of a good verification, without newline:
// Good "file" signature for alice@example.com with ED25519 key SHA256:...
// (or "Good "file" signature with ..." without a principal).
std::string sshsig_good_message(std::string_view name_space, const SshsigVerified& verified,
                                FingerprintHash hash = FingerprintHash::kSha256);
// The stdout line of a failed -Y verify / check-novalidate.
inline constexpr std::string_view kSshsigBadMessage = "Could not verify signature.";
// The stderr line when find-principals / match-principals find nothing.
inline constexpr std::string_view kSshsigNoPrincipalMessage = "No principal matched.";

// ssh-keygen -Y find-principals: the principals that the first line allowing
// the signer's key at verify_time lists (for a certificate under a
// cert-authority line: the certificate's principals that the line's patterns
// match), one per element, in the order ssh-keygen prints them. The
// signature itself is not verified. Empty when nothing matches.
Result<std::vector<std::string>> sshsig_find_principals(const KeyOrCertificate& signer, const AllowedSignersFile& file,
                                                        uint64_t verify_time, Diagnostics* diagnostics);

// ssh-keygen -Y match-principals: the principals field of every line whose
// patterns match `principal`, as written (one element per line). A malformed
// matching line fails the whole search with "path:line: ...", as in
// ssh-keygen. Empty when nothing matches.
Result<std::vector<std::string>> sshsig_match_principals(const AllowedSignersFile& file, std::string_view principal);

}  // namespace tessera::key

#endif  // TESSERA_KEY_SSHSIG_H_
