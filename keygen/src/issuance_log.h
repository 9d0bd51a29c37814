// --issuance-log: one JSON object per line for every certificate issued,
// appended to a file a CA keeps (and may ship to its audit system):
//   {"serial":7,"key_id":"alice","principals":["alice"],"type":"user",
//    "valid_after":0,"valid_before":18446744073709551615,
//    "key_fingerprint":"SHA256:...","ca_fingerprint":"SHA256:...",
//    "certificate":"/path/id_ed25519-cert.pub","issued_at":1767225600}
// Each line is written with one write(2) to a file opened O_APPEND, so lines
// of concurrent runs do not interleave; the file is fsync'ed when the run ends.
#ifndef TESSERA_KEYGEN_ISSUANCE_LOG_H_
#define TESSERA_KEYGEN_ISSUANCE_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
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
  // Flushes the log to disk.
  key::Status close();

 private:
  IssuanceLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// A JSON string literal (with the quotes) for arbitrary bytes: invalid UTF-8
// becomes U+FFFD, control characters are escaped.
std::string json_string(std::string_view bytes);

// ---- reading a log back (tessera-keygen -k --revoke-from-log) -----------------------

// What revocation needs from one line of the log.
struct IssuedCertificate {
  uint64_t serial = 0;
  std::string key_id;
  std::string ca_fingerprint;  // "SHA256:..."
};

// Longest log line read: far beyond any certificate's (principals included).
inline constexpr size_t kMaxIssuanceLogLineBytes = 1 << 20;

// Reads every line of a log written by IssuanceLog (flat JSON objects; other
// members are skipped). Blank lines are skipped. kIo if the file cannot be
// read; kMalformed, naming "<path>:<line>", for a line that is not such an
// object or lacks serial, key_id or ca_fingerprint.
key::Result<std::vector<IssuedCertificate>> read_issuance_log(const std::string& path);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_ISSUANCE_LOG_H_
