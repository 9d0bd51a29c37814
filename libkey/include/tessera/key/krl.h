// OpenSSH key revocation lists (PROTOCOL.krl): building, writing, signing,
// reading, querying and printing them, and the revocation spec files that
// ssh-keygen -k reads.
//
//   KrlBuilder   collects revocations (certificate serials and key ids per CA
//                or for any CA, whole keys, SHA1 and SHA256 key hashes) and
//                writes them in the encoding OpenSSH's krl.c chooses, so the
//                file is byte for byte what ssh-keygen -k writes for the same
//                content (except the generated date); optionally signed.
//   Krl          a parsed KRL, held as sorted flat arrays that are searched
//                in place: loading does no per-entry allocation and builds no
//                trees. Answers "is this key / certificate revoked" exactly
//                as OpenSSH's ssh_krl_check_key() (ssh-keygen -Q, sshd's
//                RevokedKeys).
//   krl_dump     the text ssh-keygen -Q -l prints.
//   add_krl_spec the lines of an ssh-keygen -k revocation spec file.
//
// One deliberate difference from ssh-keygen 9.2: a serial bitmap never holds
// more than kMaxKrlBitmapBits bits. OpenSSH writes longer bitmaps but refuses
// to read them back ("bignum is too large"), so its KRLs with long dense runs
// of serials are unreadable by ssh-keygen -Q and sshd; tessera's are not.
#ifndef TESSERA_KEY_KRL_H_
#define TESSERA_KEY_KRL_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::key {

// ---- the format -------------------------------------------------------------------

// "SSHKRL\n\0", then uint32 format version 1.
inline constexpr std::string_view kKrlMagic{"SSHKRL\n\0", 8};
inline constexpr uint32_t kKrlFormatVersion = 1;

// Largest KRL tessera reads: OpenSSH's largest buffer (SSHBUF_SIZE_MAX).
inline constexpr size_t kMaxKrlBytes = 0x10000000;
// Most bits in a serial bitmap that OpenSSH reads: its bitmap is an mpint of
// at most SSHBUF_MAX_BIGNUM (2048) bytes.
inline constexpr uint64_t kMaxKrlBitmapBits = 2048 * 8;

enum class KrlSectionType : uint8_t {
  kCertificates = 1,
  kExplicitKey = 2,
  kFingerprintSha1 = 3,
  kSignature = 4,
  kFingerprintSha256 = 5,
};

// Subsections of a kCertificates section.
enum class KrlCertSectionType : uint8_t {
  kSerialList = 0x20,
  kSerialRange = 0x21,
  kSerialBitmap = 0x22,
  kKeyId = 0x23,
};

using Sha1Digest = std::array<uint8_t, 20>;
using Sha256Digest = std::array<uint8_t, 32>;

// A closed range of certificate serials: first <= last, and first >= 1
// (serial 0 means "no serial" and cannot be revoked).
struct SerialRange {
  uint64_t first = 0;
  uint64_t last = 0;
  bool operator==(const SerialRange&) const = default;
};

// ---- what a KRL says ----------------------------------------------------------------

// Certificates revoked under one CA key.
struct KrlCaRevocations {
  Bytes ca_blob;                     // the CA's public key blob; empty: certificates of any CA
  std::vector<SerialRange> serials;  // sorted; disjoint and never adjacent (merged)
  std::vector<std::string> key_ids;  // sorted (byte order), unique, no NUL
  bool operator==(const KrlCaRevocations&) const = default;
};

// A KRL's whole content in canonical form: what ssh-keygen -k and tessera
// write for it is a function of this alone.
struct KrlContents {
  uint64_t version = 0;
  uint64_t generated_date = 0;  // seconds since the epoch; 0 when writing: now
  uint64_t flags = 0;           // no flags are defined; kept as read
  std::string comment;          // no NUL
  std::vector<KrlCaRevocations> certificates;  // in the order their CAs were first used
  std::vector<Bytes> keys;                     // plain public key blobs, sorted, unique
  std::vector<Sha1Digest> sha1;                // SHA1 of key blobs, sorted, unique
  std::vector<Sha256Digest> sha256;            // SHA256 of key blobs, sorted, unique
  bool operator==(const KrlContents&) const = default;
};

// ---- signing ------------------------------------------------------------------------

// Signs a KRL with a CA key that may live anywhere (in-process, an agent, a
// token): `sign` returns an SSH signature blob by `key` over `data`.
struct KrlSigner {
  PublicKey key;
  std::function<Result<Bytes>(std::span<const uint8_t> data)> sign;
};

// A signer over an in-process private key. RSA keys sign with rsa_algorithm
// (rsa-sha2-512 unless told); other keys ignore it.
KrlSigner make_krl_signer(PrivateKey key, SignatureAlgorithm rsa_algorithm = SignatureAlgorithm::kRsaSha512);

// ---- building and writing -----------------------------------------------------------

class KrlBuilder {
 public:
  KrlBuilder() = default;
  // Starts from existing content (ssh-keygen -k -u: read the KRL, then add).
  explicit KrlBuilder(KrlContents contents);

  void set_version(uint64_t version) { contents_.version = version; }
  // kInvalidArgument if the comment holds a NUL byte.
  Status set_comment(std::string_view comment);
  // 0 (the default, and what a new KRL has) means "the time of writing".
  void set_generated_date(uint64_t seconds) { contents_.generated_date = seconds; }

  // Certificate revocations. `ca` is the CA key whose certificates are
  // revoked, or std::nullopt for certificates of any CA (ssh-keygen -s none).
  // kInvalidArgument for serial 0 or a range with first > last.
  Status revoke_serial(const std::optional<PublicKey>& ca, uint64_t serial);
  Status revoke_serial_range(const std::optional<PublicKey>& ca, uint64_t first, uint64_t last);
  // kInvalidArgument if the id holds a NUL byte.
  Status revoke_key_id(const std::optional<PublicKey>& ca, std::string_view key_id);

  // The key itself, in any form: as a plain key and under any certificate.
  void revoke_key(const PublicKey& key);
  void revoke_sha1(const Sha1Digest& digest);
  void revoke_sha256(const Sha256Digest& digest);
  // Shortcuts: the digest of the key's blob.
  void revoke_key_sha1(const PublicKey& key);
  void revoke_key_sha256(const PublicKey& key);
  // As ssh-keygen -k does for a certificate it is given: by serial under the
  // certificate's CA, or by key id when the serial is 0.
  void revoke_certificate(const Certificate& cert);

  // The revocations so far, in canonical form (sorted, merged, deduplicated).
  KrlContents contents() const;

  // The KRL file. A generated date of 0 becomes the current time.
  Bytes serialize() const;
  // The KRL signed by each signer in turn (PROTOCOL.krl signature sections).
  // Each signature is checked against its key before it is written. Fails if
  // a signer fails, if two signers share a key, or if the KRL revokes every
  // signer's key (OpenSSH would refuse it).
  Result<Bytes> serialize_signed(std::span<const KrlSigner> signers) const;

 private:
  struct CaEntry {
    std::optional<PublicKey> key;      // for a cheap comparison; absent for "any CA" and foreign blobs
    Bytes blob;                        // empty: any CA
    std::vector<SerialRange> serials;  // unsorted, possibly overlapping
    std::vector<std::string> key_ids;  // unsorted, possibly repeated
  };
  CaEntry& ca_entry(const std::optional<PublicKey>& ca);

  KrlContents contents_;  // header fields and key revocations (unsorted while building)
  std::vector<CaEntry> cas_;
  size_t last_ca_ = 0;  // index of the last CA used: most revocations come in runs
};

// Writes canonical content as a KRL (what KrlBuilder::serialize does). The
// content must be canonical (as contents() returns it); generated_date 0 is
// written as the current time.
Bytes serialize_krl(const KrlContents& contents);

// ---- reading and querying ---------------------------------------------------------

struct KrlParseOptions {
  // Longest serial bitmap accepted. OpenSSH's limit by default, so tessera
  // accepts exactly the KRLs sshd does; raise it to read the over-long
  // bitmaps ssh-keygen 9.2 writes but cannot read.
  uint64_t max_bitmap_bits = kMaxKrlBitmapBits;
};

// Why a key is revoked.
enum class KrlReason : uint8_t {
  kKeySha1,        // the key's SHA1 hash is listed
  kKeySha256,      // the key's SHA256 hash is listed
  kExplicitKey,    // the key itself is listed
  kCertKeyId,      // the certificate's key id is revoked under its CA (or any CA)
  kCertSerial,     // the certificate's serial is revoked under its CA (or any CA)
  kCaKeyRevoked,   // the certificate's CA key is itself revoked (by hash or as a key)
};
std::string_view krl_reason_text(KrlReason reason);

class Krl {
 public:
  // Parses a KRL as OpenSSH's ssh_krl_from_blob() does: every section
  // checked, signatures verified (a bad one fails the whole KRL), and a KRL
  // whose every signing key it revokes refused. kTooLarge beyond
  // kMaxKrlBytes; kMalformed / kTruncated / kTrailingData / kBadSignature
  // otherwise, with the section at fault named. Takes the bytes (no copy).
  static Result<Krl> parse(Bytes data, const KrlParseOptions& options = {});
  static Result<Krl> parse(std::span<const uint8_t> data, const KrlParseOptions& options = {});

  uint64_t version() const { return version_; }
  uint64_t generated_date() const { return generated_date_; }
  uint64_t flags() const { return flags_; }
  std::string_view comment() const { return comment_; }
  // Keys whose signatures verified and that this KRL does not revoke.
  const std::vector<PublicKey>& signers() const { return signers_; }
  bool is_signed() const { return !signers_.empty(); }
  // kBadSignature unless `ca` signed this KRL (with a verified signature).
  // Unlike OpenSSH's ssh_krl_from_blob(), an unsigned KRL fails.
  Status verify_signed_by(const PublicKey& ca) const;

  // ssh_krl_check_key(): a plain key is revoked by its hashes or as an
  // explicit key. A certificate is revoked if its key is; if its key id, or
  // its serial (unless 0), is revoked under its CA or under any CA; or if its
  // CA key is revoked as a key.
  std::optional<KrlReason> find_revocation(const PublicKey& key) const;
  std::optional<KrlReason> find_revocation(const Certificate& cert) const;
  bool is_revoked(const PublicKey& key) const { return find_revocation(key).has_value(); }
  bool is_revoked(const Certificate& cert) const { return find_revocation(cert).has_value(); }

  // The content in canonical form (merges every section's serials), e.g. to
  // extend it with KrlBuilder(krl.contents()) as ssh-keygen -k -u does.
  KrlContents contents() const;

 private:
  struct Bitmap {
    uint64_t first;                  // serial of bit 0
    uint64_t last;                   // serial of the highest set bit
    std::span<const uint8_t> bytes;  // big-endian magnitude; bit i is serial first + i
  };
  struct CaSet {
    std::span<const uint8_t> ca_blob;           // empty: any CA
    std::vector<uint64_t> serials;              // from serial lists; sorted
    std::vector<SerialRange> ranges;            // from range sections; sorted, merged
    std::vector<Bitmap> bitmaps;                // sorted by first
    std::vector<uint64_t> bitmap_last_max;      // running maximum of bitmaps[i].last
    std::vector<std::span<const uint8_t>> key_ids;  // sorted
  };
  friend class KrlReader;

  bool serial_revoked(const CaSet& set, uint64_t serial) const;
  std::optional<KrlReason> key_revocation(const PublicKey& key) const;
  std::optional<KrlReason> cert_revocation(const CaSet& set, const Certificate& cert) const;

  std::shared_ptr<const Bytes> data_;  // every span below points into it
  uint64_t version_ = 0;
  uint64_t generated_date_ = 0;
  uint64_t flags_ = 0;
  std::string comment_;
  std::vector<CaSet> cas_;                       // in the order their CAs were first used
  std::vector<std::span<const uint8_t>> keys_;   // sorted
  std::vector<std::span<const uint8_t>> sha1_;   // sorted
  std::vector<std::span<const uint8_t>> sha256_; // sorted
  std::vector<PublicKey> signers_;
};

// ---- printing ---------------------------------------------------------------------------

// Makes text from the KRL (its comment, key ids) safe to print, as OpenSSH's
// asmprintf(). The default escapes every byte outside printable ASCII as
// "\ooo", which is what ssh-keygen does in the C locale; a caller in a UTF-8
// locale passes its own (keeping printable multibyte characters, escaping
// control characters including TAB).
using KrlTextEscaper = std::function<std::string(std::string_view)>;
std::string krl_escape_ascii(std::string_view text);

struct KrlDump {
  std::string text;                   // exactly what ssh-keygen -Q -l prints on stdout
  std::vector<std::string> problems;  // entries it could not print (ssh-keygen logs these to stderr)
};
// The "generated at" time is local time (TZ), as ssh-keygen prints it.
KrlDump krl_dump(const Krl& krl, const KrlTextEscaper& escape = krl_escape_ascii);

// ---- ssh-keygen -k revocation specs --------------------------------------------------------

// What ssh-keygen -k's -s option said: nothing, "none" (any CA), or a CA key.
// "serial:" and "id:" lines need one of the last two.
struct KrlSpecCa {
  enum class Kind : uint8_t { kNone, kAnyCa, kKey };
  Kind kind = Kind::kNone;
  std::optional<PublicKey> key;  // for kKey

  static KrlSpecCa none() { return {}; }
  static KrlSpecCa any_ca() { return {Kind::kAnyCa, std::nullopt}; }
  static KrlSpecCa ca_key(PublicKey key) { return {Kind::kKey, std::move(key)}; }
};

// One line of a spec file, as ssh-keygen 9.2's update_krl_from_file() reads
// it (leading blanks skipped; '#' starts a comment anywhere; trailing blanks
// dropped; keywords case-insensitive):
//   serial: N | serial: N-M     (strtoull base 0: decimal, 0x.., 0..; M > N)
//   id: KEY_ID                  (the rest of the line, possibly empty)
//   key: PUBLIC_KEY_LINE        (the plain key, also under any certificate)
//   sha1: PUBLIC_KEY_LINE       (its SHA1 hash)
//   sha256: PUBLIC_KEY_LINE     (its SHA256 hash)
//   hash: SHA256:BASE64         (a SHA256 fingerprint as ssh-keygen -l prints it)
//   PUBLIC_KEY_LINE             (a plain key: as "key:"; a certificate: its
//                                serial, or its key id if the serial is 0,
//                                under its own CA whatever -s says)
// Beyond ssh-keygen 9.2, "sha256:" also takes a SHA256:... fingerprint and
// "sha1:" a SHA1:... fingerprint (OpenSSH rejects those lines).
// Blank and comment-only lines change nothing. Errors carry no location.
Status add_krl_spec_line(KrlBuilder& krl, std::string_view line, const KrlSpecCa& ca);

// A whole spec file; errors say "<source>:<line number>: <problem>".
Status add_krl_spec(KrlBuilder& krl, std::string_view text, std::string_view source, const KrlSpecCa& ca);

}  // namespace tessera::key

#endif  // TESSERA_KEY_KRL_H_
