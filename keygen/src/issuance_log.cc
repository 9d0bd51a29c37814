#include "issuance_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <utility>

#include "tessera/key/fingerprint.h"

namespace tessera::keygen {
namespace {

key::Error log_error(const std::string& path, const std::string& problem) {
  return key::Error(key::Errc::kIo, "issuance log " + path + ": " + problem);
}

}  // namespace

key::Result<IssuanceLog> IssuanceLog::open(const std::string& path) {
  // Read as well as appended to: append_line() looks at the last byte.
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return log_error(path, std::strerror(errno));
  return IssuanceLog(path, fd);
}

IssuanceLog::IssuanceLog(IssuanceLog&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

IssuanceLog::~IssuanceLog() {
  if (fd_ >= 0) ::close(fd_);
}

key::Status IssuanceLog::append(const key::Certificate& cert, std::string_view ca_fingerprint,
                                std::string_view cert_path) {
  std::string line = "{\"serial\":" + std::to_string(cert.serial) + ",\"key_id\":" + json_string(cert.key_id) +
                     ",\"principals\":[";
  for (size_t i = 0; i < cert.principals.size(); ++i) {
    if (i > 0) line += ',';
    line += json_string(cert.principals[i]);
  }
  line += "],\"type\":\"";
  line += cert.type == key::CertType::kHost ? "host" : "user";
  line += "\",\"valid_after\":" + std::to_string(cert.valid_after) +
          ",\"valid_before\":" + std::to_string(cert.valid_before) +
          ",\"key_fingerprint\":" + json_string(key::fingerprint(cert.key, key::FingerprintHash::kSha256)) +
          ",\"ca_fingerprint\":" + json_string(ca_fingerprint) + ",\"certificate\":" + json_string(cert_path) +
          ",\"issued_at\":" + std::to_string(static_cast<long long>(std::time(nullptr))) + "}\n";
  return append_line(line);
}

key::Status IssuanceLog::append_line(std::string_view line) {
  // Other runs append to the same log: the end of the file is ours while
  // the lock is held, so a failed write can be cut off without harm.
  int rc;
  while ((rc = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
  }
  if (rc != 0) return log_error(path_, std::string("cannot lock: ") + std::strerror(errno));
  struct Unlock {
    int fd;
    ~Unlock() { ::flock(fd, LOCK_UN); }
  } unlock{fd_};
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return log_error(path_, std::strerror(errno));
  const off_t end = st.st_size;
  std::string record;
  if (end > 0) {
    // A fragment left by a crash keeps its own line: the record starts afresh.
    char last = '\n';
    if (::pread(fd_, &last, 1, end - 1) == 1 && last != '\n') record += '\n';
  }
  record += line;
  size_t done = 0;
  while (done < record.size()) {
    ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // Whole or not at all: what was written of the record goes.
      const bool cut = ::ftruncate(fd_, end) == 0;
      return log_error(path_, std::string("cannot append a record: ") + std::strerror(err) +
                                  (cut ? " (nothing of it was kept)"
                                       : "; the record could not be cut off again and is torn"));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

key::Status IssuanceLog::sync() {
  if (fd_ >= 0 && ::fsync(fd_) != 0) return log_error(path_, std::string("cannot sync: ") + std::strerror(errno));
  return {};
}

key::Status IssuanceLog::close() {
  if (fd_ < 0) return {};
  int fd = std::exchange(fd_, -1);
  bool synced = ::fsync(fd) == 0;
  int err = errno;
  if (::close(fd) != 0 || !synced) return log_error(path_, std::strerror(synced ? errno : err));
  return {};
}

// ---- reading a log back --------------------------------------------------------------

namespace {

// A cursor over one log line: the subset of JSON that IssuanceLog writes
// (objects of strings, unsigned numbers and arrays of strings).
class JsonLine {
 public:
  explicit JsonLine(std::string_view text) : s_(text) {}

  bool take(char c) {
    skip_space();
    if (s_.empty() || s_.front() != c) return false;
    s_.remove_prefix(1);
    return true;
  }
  bool at_end() {
    skip_space();
    return s_.empty();
  }

  std::optional<std::string> string() {
    if (!take('"')) return std::nullopt;
    std::string out;
    while (!s_.empty()) {
      char c = s_.front();
      s_.remove_prefix(1);
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (s_.empty()) return std::nullopt;
      char e = s_.front();
      s_.remove_prefix(1);
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (s_.size() < 4) return std::nullopt;
          unsigned code = 0;
          for (char h : s_.substr(0, 4)) {
            int v = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
            if (v < 0) return std::nullopt;
            code = code * 16 + static_cast<unsigned>(v);
          }
          s_.remove_prefix(4);
          if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;  // the writer never pairs surrogates
          append_utf8(out, code);
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::optional<uint64_t> number() {
    skip_space();
    size_t digits = 0;
    while (digits < s_.size() && s_[digits] >= '0' && s_[digits] <= '9') ++digits;
    if (digits == 0 || digits > 20) return std::nullopt;
    std::string text(s_.substr(0, digits));
    errno = 0;
    unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    s_.remove_prefix(digits);
    return value;
  }

  std::optional<std::vector<std::string>> string_array() {
    if (!take('[')) return std::nullopt;
    std::vector<std::string> out;
    if (take(']')) return out;
    do {
      std::optional<std::string> item = string();
      if (!item) return std::nullopt;
      out.push_back(std::move(*item));
    } while (take(','));
    if (!take(']')) return std::nullopt;
    return out;
  }

  // Any value IssuanceLog writes, discarded.
  bool skip_value() {
    skip_space();
    if (s_.empty()) return false;
    if (s_.front() == '"') return string().has_value();
    if (s_.front() != '[') return number().has_value();
    take('[');
    if (take(']')) return true;
    do {
      if (!string()) return false;
    } while (take(','));
    return take(']');
  }

 private:
  void skip_space() {
    while (!s_.empty() && (s_.front() == ' ' || s_.front() == '\t' || s_.front() == '\r')) s_.remove_prefix(1);
  }
  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }
  std::string_view s_;
};

}  // namespace

std::optional<IssuedCertificate> parse_issuance_record(std::string_view line) {
  JsonLine json(line);
  IssuedCertificate issued;
  bool have_serial = false, have_id = false, have_ca = false;
  if (!json.take('{')) return std::nullopt;
  if (!json.take('}')) {
    do {
      std::optional<std::string> name = json.string();
      if (!name || !json.take(':')) return std::nullopt;
      if (*name == "serial") {
        auto serial = json.number();
        if (!serial) return std::nullopt;
        issued.serial = *serial;
        have_serial = true;
      } else if (*name == "key_id" || *name == "ca_fingerprint") {
        auto value = json.string();
        if (!value) return std::nullopt;
        (*name == "key_id" ? issued.key_id : issued.ca_fingerprint) = std::move(*value);
        (*name == "key_id" ? have_id : have_ca) = true;
      } else if (*name == "principals") {
        auto principals = json.string_array();
        if (!principals) return std::nullopt;
        issued.principals = std::move(*principals);
      } else if (*name == "type" || *name == "key_fingerprint" || *name == "certificate") {
        auto value = json.string();
        if (!value) return std::nullopt;
        (*name == "type" ? issued.type : *name == "certificate" ? issued.certificate : issued.key_fingerprint) =
            std::move(*value);
      } else if (*name == "valid_after" || *name == "valid_before" || *name == "issued_at") {
        auto value = json.number();
        if (!value) return std::nullopt;
        (*name == "valid_after" ? issued.valid_after : *name == "valid_before" ? issued.valid_before
                                                                                : issued.issued_at) = *value;
      } else if (!json.skip_value()) {
        return std::nullopt;
      }
    } while (json.take(','));
    if (!json.take('}')) return std::nullopt;
  }
  if (!json.at_end() || !have_serial || !have_id || !have_ca) return std::nullopt;
  return issued;
}

key::Result<IssuanceLogContents> read_issuance_log(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return log_error(path, std::strerror(errno));
  IssuanceLogContents contents;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    const std::string where = "issuance log " + path + ":" + std::to_string(number) + ": ";
    // A line that stops before its newline is the last one, cut short.
    const bool unterminated = in.eof();
    if (line.size() > kMaxIssuanceLogLineBytes) {
      contents.problems.push_back(where + "line too long, skipped");
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::optional<IssuedCertificate> issued = parse_issuance_record(line);
    if (issued) {
      contents.records.push_back(std::move(*issued));
      continue;
    }
    const bool torn = unterminated || (line.front() == '{' && line.back() != '}');
    contents.problems.push_back(
        where + (torn ? "a record cut short (a write that failed, on a full disk, or a crash), skipped"
                      : "not a certificate record (serial, key_id, ca_fingerprint), skipped"));
  }
  if (in.bad()) return log_error(path, std::strerror(errno));
  return contents;
}

}  // namespace tessera::keygen
