// The audit trail (off unless --audit-log or --audit-syslog is given): one
// JSON object per line for every sign request, saying who asked (peer pid,
// uid, executable), for which key, with which algorithm, through which
// session binding, and how it ended. Never the data signed, never a secret.
//
// Written by the event loop's thread, one write(2) per record on a file
// opened O_APPEND, so workers never wait for it.
#ifndef TESSERA_AGENT_DAEMON_AUDIT_H_
#define TESSERA_AGENT_DAEMON_AUDIT_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "daemon/peer.h"
#include "tessera/key/error.h"

namespace tessera::agent::daemon {

struct AuditRecord {
  std::chrono::system_clock::time_point time;
  PeerInfo peer;
  std::string key_fingerprint;     // empty if the request named no valid key
  std::optional<std::string> key_comment;  // absent if the agent does not hold the key
  std::string algorithm;           // signature algorithm asked for ("rsa-sha2-512"); may be empty
  std::optional<std::string> bound_host_key;  // fingerprint of the connection's last session binding
  bool bound_forwarded = false;
  std::string result;              // "ok", "refused: REASON" or "error: REASON"
};

// The record as one line of JSON (without the newline).
std::string audit_json(const AuditRecord& record);
// RFC 3339 in UTC with milliseconds: "2024-05-01T12:34:56.789Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point time);

class AuditLog {
 public:
  // Opens (creating with mode 0600) the file for appending, if path is set,
  // and/or sends records to syslog (LOG_AUTH). kIo if the file cannot be opened.
  static key::Result<std::unique_ptr<AuditLog>> open(const std::optional<std::string>& path, bool to_syslog);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void write(const AuditRecord& record);

 private:
  AuditLog(int fd, bool to_syslog) : fd_(fd), syslog_(to_syslog) {}
  int fd_;
  bool syslog_;
  bool reported_error_ = false;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_AUDIT_H_
