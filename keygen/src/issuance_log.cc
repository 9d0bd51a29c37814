#include "issuance_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "tessera/key/fingerprint.h"

namespace tessera::keygen {
namespace {

key::Error log_error(const std::string& path, const std::string& problem) {
  return key::Error(key::Errc::kIo, "issuance log " + path + ": " + problem);
}

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  size_t len = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead <= 0xdf ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  unsigned char second = byte(i + 1);
  if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f) ||  // overlong, surrogates
      (lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second > 0x8f)) {  // overlong, > U+10FFFF
    return 0;
  }
  return len;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
  return out;
}

key::Result<IssuanceLog> IssuanceLog::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
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
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return log_error(path_, n < 0 ? std::strerror(errno) : "short write");
    done += static_cast<size_t>(n);
  }
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

}  // namespace tessera::keygen
