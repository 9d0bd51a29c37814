#include "serial_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <utility>

#include "keyfile.h"

namespace tessera::keygen {
namespace {

constexpr std::string_view kHeader = "# tessera-keygen serial state: the next serial to issue\n";
constexpr std::string_view kNextField = "next ";
// A state file is one short header and one number.
constexpr size_t kMaxStateFileBytes = 4096;

key::Error state_error(const std::string& path, const std::string& problem) {
  return key::Error(key::Errc::kIo, "serial state " + path + ": " + problem);
}

key::Result<uint64_t> parse_state(const std::string& path, std::string_view text) {
  auto malformed = [&] {
    return state_error(path, "not a tessera-keygen serial state file (expected \"" +
                                 std::string(kNextField) + "<number>\"); fix or remove it");
  };
  if (!text.starts_with(kHeader)) return malformed();
  text.remove_prefix(kHeader.size());
  if (!text.starts_with(kNextField) || !text.ends_with('\n')) return malformed();
  std::string_view digits = text.substr(kNextField.size(), text.size() - kNextField.size() - 1);
  uint64_t next = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), next);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return malformed();
  return next;
}

}  // namespace

key::Result<SerialState> SerialState::open(const std::string& path, uint64_t expected) {
  const std::string lock_path = path + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return state_error(path, "cannot open lock file " + lock_path + ": " + std::strerror(errno));
  int rc;
  do {
    rc = ::flock(lock_fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(lock_fd);
    return state_error(path, "cannot lock " + lock_path + ": " + std::strerror(err));
  }
  // From here on the state is ours until the lock is released.
  uint64_t next = kFirstSerial;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) {
    int err = errno;
    ::close(lock_fd);
    return state_error(path, std::strerror(err));
  }
  if (fd >= 0) {
    char buf[kMaxStateFileBytes + 1];
    size_t used = 0;
    ssize_t n = 0;
    while (used < sizeof buf && ((n = ::read(fd, buf + used, sizeof buf - used)) > 0 || (n < 0 && errno == EINTR))) {
      if (n > 0) used += static_cast<size_t>(n);
    }
    int err = errno;
    ::close(fd);
    if (n < 0) {
      ::close(lock_fd);
      return state_error(path, std::strerror(err));
    }
    auto parsed = parse_state(path, std::string_view(buf, used));
    if (!parsed.ok()) {
      ::close(lock_fd);
      return parsed.error();
    }
    next = *parsed;
  }
  return SerialState(path, lock_fd, next, std::max<uint64_t>(expected, 1));
}

SerialState::SerialState(SerialState&& other) noexcept
    : path_(std::move(other.path_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      next_(other.next_),
      reserved_end_(other.reserved_end_),
      expected_(other.expected_) {}

SerialState::~SerialState() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

key::Status SerialState::write(uint64_t next_free) {
  std::string text(kHeader);
  text += kNextField;
  text += std::to_string(next_free);
  text += '\n';
  auto written = write_file_atomically(path_, text, 0600, Durability::kDirectory);
  if (!written.ok()) return state_error(path_, "cannot write: " + written.error().message());
  return {};
}

key::Result<uint64_t> SerialState::next() {
  if (next_ == reserved_end_) {
    uint64_t block = std::clamp<uint64_t>(expected_, 1, kMaxSerialBlock);
    if (UINT64_MAX - next_ < block) {
      if (next_ == UINT64_MAX) return state_error(path_, "every serial number has been issued");
      block = UINT64_MAX - next_;
    }
    TESSERA_TRY(write(next_ + block));
    reserved_end_ = next_ + block;
  }
  if (expected_ > 0) --expected_;
  return next_++;
}

key::Status SerialState::finish() {
  if (next_ == reserved_end_) return {};
  TESSERA_TRY(write(next_));
  reserved_end_ = next_;
  return {};
}

}  // namespace tessera::keygen
