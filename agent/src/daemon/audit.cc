#include "daemon/audit.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "daemon/log.h"

namespace tessera::agent::daemon {

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          // Bytes >= 0x80 pass through; comments are UTF-8 in practice, and
          // a reader that insists on valid UTF-8 sees at worst one bad string.
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  auto since_epoch = time.time_since_epoch();
  auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

std::string audit_json(const AuditRecord& r) {
  std::string out = "{\"time\":";
  append_json_string(out, rfc3339_utc(r.time));
  out += ",\"peer\":{\"pid\":" + std::to_string(r.peer.pid) + ",\"uid\":" + std::to_string(r.peer.uid) + ",\"exe\":";
  append_json_string(out, r.peer.exe);
  out += "},\"key\":{\"fingerprint\":";
  append_json_string(out, r.key_fingerprint);
  out += ",\"comment\":";
  if (r.key_comment) append_json_string(out, *r.key_comment);
  else out += "null";
  out += "},\"algorithm\":";
  append_json_string(out, r.algorithm);
  out += ",\"session_bind\":";
  if (r.bound_host_key) {
    out += "{\"host_key\":";
    append_json_string(out, *r.bound_host_key);
    out += std::string(",\"forwarded\":") + (r.bound_forwarded ? "true" : "false") + "}";
  } else {
    out += "null";
  }
  out += ",\"result\":";
  append_json_string(out, r.result);
  out += "}";
  return out;
}

key::Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::optional<std::string>& path, bool to_syslog) {
  int fd = -1;
  if (path) {
    fd = ::open(path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return key::Error(key::Errc::kIo, "cannot open audit log " + *path + ": " + std::strerror(errno));
    }
  }
  if (to_syslog) ::openlog("tessera-agent", LOG_PID, LOG_AUTH);
  return std::unique_ptr<AuditLog>(new AuditLog(fd, to_syslog));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::write(const AuditRecord& record) {
  std::string line = audit_json(record);
  if (syslog_) ::syslog(LOG_AUTH | LOG_INFO, "audit: %s", line.c_str());
  if (fd_ < 0) return;
  line.push_back('\n');
  // One write: with O_APPEND the record lands whole even if several agents share the file.
  ssize_t n = ::write(fd_, line.data(), line.size());
  if ((n < 0 || static_cast<size_t>(n) != line.size()) && !reported_error_) {
    reported_error_ = true;
    log_error(std::string("cannot write the audit log: ") + (n < 0 ? std::strerror(errno) : "short write"));
  }
}

}  // namespace tessera::agent::daemon
