// known_hosts files (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT), read as OpenSSH
// 9.2's hostfile.c reads them:
//
//   [@cert-authority | @revoked] hosts keytype base64 [comment]
//
// hosts is a comma-separated list of patterns ('*', '?', a leading '!'
// negates, "[host]:port" for a host on another port than 22) or one hashed
// name "|1|base64(salt)|base64(HMAC-SHA1(salt, name))". Blank lines and lines
// starting with '#' are comments. A bad line is reported with its number and
// the rest of the file is still read.
//
// Three layers, each usable on its own:
//  - lines: parse_known_hosts_line() splits a line into marker, hosts and key
//    text without decoding the key (what ssh-keygen -F/-H/-R need);
//  - names: match_known_hosts_hosts(), hash_known_host_name(), known_hosts_name();
//  - HostKeys: the keys one host has in one or more files and the verdict for
//    a key the host presented (what ssh's StrictHostKeyChecking needs).
// libkey reads no file on its own: read_known_hosts_file() is a thin, bounded
// helper for callers that want one.
#ifndef TESSERA_KEY_KNOWN_HOSTS_H_
#define TESSERA_KEY_KNOWN_HOSTS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/sshsig.h"

namespace tessera::key {

// Largest known_hosts file read_known_hosts_file() reads.
inline constexpr size_t kMaxKnownHostsFileBytes = 64 * 1024 * 1024;
// Longest line parsed; a longer one is an invalid line (OpenSSH has no limit;
// the longest real entry, an RSA-16384 key with a comment, is under 4 KiB).
inline constexpr size_t kMaxKnownHostsLineBytes = 64 * 1024;
// Longest marker ("@cert-authority"), as OpenSSH's marker[32].
inline constexpr size_t kMaxKnownHostsMarkerBytes = 31;
// Longest key type name, as OpenSSH's ktype[128].
inline constexpr size_t kMaxKnownHostsKeyTypeBytes = 127;
// Longest pattern in a hosts list that can match (OpenSSH's sub[1024]); a
// list holding a longer one matches nothing.
inline constexpr size_t kMaxHostPatternBytes = 1022;
// Longest host name looked up (NI_MAXHOST less the NUL); a longer one matches nothing.
inline constexpr size_t kMaxKnownHostsNameBytes = 1024;
// A hashed name's salt: the HMAC-SHA1 key, 20 bytes; its base64 text may be
// at most 1024 characters (OpenSSH's sanity check) before it is decoded.
inline constexpr size_t kHashedHostSaltBytes = 20;
inline constexpr size_t kMaxHashedSaltBase64Bytes = 1024;
// Most problems a HostKeys keeps word for word (all are counted).
inline constexpr size_t kMaxKnownHostsProblems = 100;

// ---- lines --------------------------------------------------------------------

enum class KnownHostsMarker : uint8_t { kNone, kCertAuthority, kRevoked };

struct KnownHostsLine {
  enum class Kind : uint8_t {
    kComment,  // blank, or the first non-blank is '#'
    kEntry,    // marker, hosts and a known key type followed by more text
    kInvalid,  // see problem
  };
  Kind kind = Kind::kComment;
  KnownHostsMarker marker = KnownHostsMarker::kNone;
  std::string_view hosts;     // the hosts field (set for kEntry, and for kInvalid once read)
  std::string_view key_type;  // kEntry: the key type name as written
  // kEntry: from the key type to the end of the line, blanks and comment
  // included (OpenSSH's "rawkey", what ssh-keygen -H writes after a hashed name).
  std::string_view key_text;
  std::string problem;  // kInvalid: what is wrong, e.g. "unknown key type \"ssh-foo\""
};

// Splits one line, given without its '\n' (a trailing '\r' stays part of the
// last field, as in OpenSSH; base64 decoding skips it). The views point into
// `line`. Checks what OpenSSH checks without decoding the key: the marker, a
// key type OpenSSH 9.2 knows (DSA included) and text after it. Never fails:
// a bad line is a kInvalid result.
KnownHostsLine parse_known_hosts_line(std::string_view line);

// The lines of a file's contents, split at '\n' and cut at a NUL (where
// OpenSSH's C strings end), numbered from 1.
class KnownHostsLineReader {
 public:
  explicit KnownHostsLineReader(std::string_view contents) : rest_(contents) {}
  // The next line; false at the end (a final line without '\n' still counts).
  bool next(std::string_view& line);
  size_t line_number() const { return line_number_; }

 private:
  std::string_view rest_;
  size_t line_number_ = 0;
};

// The key of an entry, as OpenSSH's sshkey_read(): the key (or certificate,
// whose CA signature must verify) and, after it, the comment (blanks
// skipped; a trailing '\r' kept). Errors start with "invalid key".
struct KnownHostsKey {
  KeyOrCertificate key;
  std::string_view comment;
};
Result<KnownHostsKey> parse_known_hosts_key(std::string_view key_text);

// ---- host names ---------------------------------------------------------------

enum class HostMatch : uint8_t {
  kNoMatch,  // also: a negated pattern matched
  kMatch,
  kBadHash,  // a hashed name whose salt cannot be read: the line is invalid
};

// Whether a hosts field names `host`. Patterns compare case-insensitively; a
// hashed name is the HMAC of `host` exactly as given (ssh lowercases host
// names before it looks them up; ssh-keygen -F does not).
HostMatch match_known_hosts_hosts(std::string_view hosts, std::string_view host);

// "|1|base64(salt)|base64(HMAC-SHA1(salt, host))", as ssh-keygen -H and
// HashKnownHosts write a name; the first form draws a random salt. The name
// is hashed as given: ssh-keygen -H lowercases it first. kCrypto only if
// OpenSSL fails.
Result<std::string> hash_known_host_name(std::string_view host);
Result<std::string> hash_known_host_name(std::string_view host,
                                         std::span<const uint8_t, kHashedHostSaltBytes> salt);

// How known_hosts names a host: "host" for port 22 (or 0), "[host]:port"
// otherwise (OpenSSH's put_host_port()).
std::string known_hosts_name(std::string_view host, uint16_t port);

// The line(s) ssh appends for a new host key (OpenSSH's write_host_entry()):
// "host[,ip] keytype base64\n" with the names lowercased, or with `hash`
// (HashKnownHosts) one line per name, each hashed with a fresh salt. `ip` may
// be empty. kCrypto only if OpenSSL fails.
Result<std::string> format_known_hosts_entry(std::string_view host, std::string_view ip, const PublicKey& key,
                                             bool hash);

// ---- the keys of one host ------------------------------------------------------

struct KnownHostsEntry {
  KnownHostsMarker marker = KnownHostsMarker::kNone;
  KeyOrCertificate key;  // a certificate on a line counts as its certified key
  std::string comment;
  std::string file;  // the name the file was added under
  size_t line = 0;
};

struct KnownHostsProblem {
  std::string file;
  size_t line = 0;
  std::string message;
  // "file:line: message"
  std::string describe() const;
};

enum class HostKeyStatus : uint8_t {
  kKnown,     // a line for the host holds this key (HOST_OK)
  kCaSigned,  // the certificate's CA is an @cert-authority of the host (HOST_OK)
  kChanged,   // the host is listed with other keys, not this one (HOST_CHANGED)
  kRevoked,   // an @revoked line for the host holds the key or its CA (HOST_REVOKED)
  kUnknown,   // nothing applies: a new host (HOST_NEW)
};

struct HostKeyCheck {
  HostKeyStatus status = HostKeyStatus::kUnknown;
  // Indexes into HostKeys::entries(): kKnown and kCaSigned: the line that
  // matched; kRevoked: the @revoked line; kChanged: every line of the host
  // with another key (ssh's "Offending key in file:line"); else empty. A
  // line with a DSA key, which tessera cannot decode, is only in problems(),
  // but it still makes another key kChanged, as it does in OpenSSH.
  std::vector<size_t> entries;
};

// The known_hosts entries of one host (OpenSSH's struct hostkeys and
// load_hostkeys()): add the user's files or the system's, then check the
// key the host presented. The host name is looked up as given: pass
// known_hosts_name(host, port), or HostKeyAlias, already lowercased.
class HostKeys {
 public:
  explicit HostKeys(std::string host) : host_(std::move(host)) {}

  // Adds the entries of one file for the host. `file` names it in entries
  // and problems. Lines that match the host but hold a bad key, and lines
  // that are bad whatever the host, become problems; the rest is still read.
  void add(std::string_view file, std::string_view contents);
  // read_known_hosts_file() then add(). A missing file adds nothing and is no
  // error (as OpenSSH); any other read error is returned (kIo, kTooLarge).
  Status add_file(const std::string& path);

  const std::string& host() const { return host_; }
  // Every matching entry, in file order: plain, @cert-authority and @revoked.
  const std::vector<KnownHostsEntry>& entries() const { return entries_; }
  // The first kMaxKnownHostsProblems problems, and how many there were.
  const std::vector<KnownHostsProblem>& problems() const { return problems_; }
  size_t problem_count() const { return problem_count_; }

  // check_key_in_hostkeys(): a plain key against the host's plain lines, then
  // against its @revoked lines.
  HostKeyCheck check(const PublicKey& key) const;
  // A host certificate against the host's @cert-authority lines (its own
  // plain lines are not consulted: check cert.key for that), then its
  // certified key and its CA against the @revoked lines. The certificate's
  // validity, principals and signature are the caller's to check.
  HostKeyCheck check(const Certificate& cert) const;

 private:
  void add_problem(std::string_view file, size_t line, std::string message);
  bool revoked(const PublicKey& key, HostKeyCheck& out) const;

  std::string host_;
  std::vector<KnownHostsEntry> entries_;
  std::vector<KnownHostsProblem> problems_;
  size_t problem_count_ = 0;
  size_t undecodable_ = 0;  // plain lines of the host with a key tessera cannot decode (DSA)
};

// Reads a whole known_hosts file of at most kMaxKnownHostsFileBytes.
// nullopt if it does not exist; kIo ("<path>: <strerror>") if it cannot be
// read (a directory included); kTooLarge if it is larger.
Result<std::optional<std::string>> read_known_hosts_file(const std::string& path);

}  // namespace tessera::key

#endif  // TESSERA_KEY_KNOWN_HOSTS_H_
