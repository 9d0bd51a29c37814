// --issuance-log: one JSON object per line for every certificate issued,
// appended to a file a CA keeps (and may ship to its audit system):
//   {"serial":7,"key_id":"alice","principals":["alice"],"type":"user",
//    "valid_after":0,"valid_before":18446744073709551615,
//    "key_fingerprint":"SHA256:...","ca_fingerprint":"SHA256:...",
//    "certificate":"/path/id_ed25519-cert.pub","issued_at":1767225600}
// A record is written whole or not at all: under an exclusive flock(2) of the
// log, with one write(2) to a file opened O_APPEND (so lines of concurrent
// runs do not interleave), and a failed or short write (a full disk) is cut
// back off the file. A record that follows a fragment left by a crash starts
// on a line of its own. sync() makes the records written so far durable: the
// signer calls it before the certificates they record are written.
#ifndef TESSERA_KEYGEN_ISSUANCE_LOG_H_
#define TESSERA_KEYGEN_ISSUANCE_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/error.h"

namespace tessera::keygen {

class IssuanceLog {
 public:
  // Opens (creating with mode 0600) the log for appending. Errors name the file.
  static key::Result<IssuanceLog> open(const std::string& path);

  IssuanceLog(IssuanceLog&& other) noexcept;
  IssuanceLog& operator=(IssuanceLog&&) = delete;
  IssuanceLog(const IssuanceLog&) = delete;
  ~IssuanceLog();

  // Appends the line for one certificate; ca_fingerprint is the CA's SHA256 fingerprint.
  key::Status append(const key::Certificate& cert, std::string_view ca_fingerprint, std::string_view cert_path);
  // Appends one line (which ends in a newline), whole or not at all.
  key::Status append_line(std::string_view line);
  // Makes what was appended durable (fsync).
  key::Status sync();
  // Syncs and closes the log.
  key::Status close();

 private:
  IssuanceLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

using key::json_string;

// ---- reading a log back (tessera-keygen -k --revoke-from-log) -----------------------

// What revocation needs from one line of the log.
struct IssuedCertificate {
  uint64_t serial = 0;
  std::string key_id;
  std::string ca_fingerprint;  // "SHA256:..."
  // The rest of the record (--import-log moves it into the CA database);
  // absent when the line lacks the member.
  std::vector<std::string> principals;
  std::optional<std::string> type;  // "user" or "host"
  std::optional<uint64_t> valid_after, valid_before, issued_at;
  std::optional<std::string> key_fingerprint, certificate;
};

// Longest log line read: far beyond any certificate's (principals included).
inline constexpr size_t kMaxIssuanceLogLineBytes = 1 << 20;

struct IssuanceLogContents {
  std::vector<IssuedCertificate> records;
  // One message per line that is not a record, "<path>:<line>: ..." (saying
  // when the line looks cut short by a failed write or a crash); those lines
  // are skipped and the rest of the log is read.
  std::vector<std::string> problems;
};

// Reads every line of a log written by IssuanceLog (flat JSON objects; other
// members are skipped). Blank lines are skipped. kIo if the file cannot be
// read.
key::Result<IssuanceLogContents> read_issuance_log(const std::string& path);

// Parses one line of the log; nullopt if it is not a certificate record.
std::optional<IssuedCertificate> parse_issuance_record(std::string_view line);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_ISSUANCE_LOG_H_
