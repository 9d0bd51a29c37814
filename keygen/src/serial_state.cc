#include "serial_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>

#include "keyfile.h"
#include "output.h"

namespace tessera::keygen {
namespace {

constexpr std::string_view kHeader = "# tessera-keygen serial state: the next serial to issue\n";
constexpr std::string_view kNextField = "next";
// A state file is one short header and one number.
constexpr size_t kMaxStateFileBytes = 4096;
constexpr int kMaxSymbolicLinks = 40;
// How long a run waits for the lock before it says that it waits.
constexpr std::chrono::seconds kQuietWait{1};

key::Error state_error(const std::string& path, const std::string& problem) {
  return key::Error(key::Errc::kIo, "serial state " + path + ": " + problem);
}

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The file `path` names once symbolic links are followed (it may not exist).
key::Result<std::string> follow_links(const std::string& path) {
  std::string current = path;
  for (int i = 0; i < kMaxSymbolicLinks; ++i) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) return current;
      return state_error(path, current + ": " + std::strerror(errno));
    }
    if (!S_ISLNK(st.st_mode)) return current;
    char buf[PATH_MAX];
    ssize_t n = ::readlink(current.c_str(), buf, sizeof buf);
    if (n < 0 || static_cast<size_t>(n) >= sizeof buf) {
      return state_error(path, "cannot read the symbolic link " + current + ": " + std::strerror(errno));
    }
    std::string target(buf, static_cast<size_t>(n));
    if (target.empty() || target.front() != '/') target = directory_of(current) + "/" + target;
    current = std::move(target);
  }
  return state_error(path, "too many levels of symbolic links");
}

// Takes the lock, saying after a while that it waits and for whom.
key::Status take_lock(int fd, const std::string& lock_path) {
  const auto quiet_until = std::chrono::steady_clock::now() + kQuietWait;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return {};
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return key::Error(key::Errc::kIo, "cannot lock " + lock_path + ": " + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= quiet_until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  char holder[32] = {};
  ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
  std::string pid(holder, n > 0 ? static_cast<size_t>(n) : 0);
  pid.erase(std::remove_if(pid.begin(), pid.end(), [](char c) { return c < '0' || c > '9'; }), pid.end());
  print_error("tessera-keygen: waiting for " + lock_path + (pid.empty() ? "" : ", held by PID " + pid) + " ...");
  int rc;
  while ((rc = ::flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
  }
  if (rc != 0) return key::Error(key::Errc::kIo, "cannot lock " + lock_path + ": " + std::strerror(errno));
  return {};
}

// Temporary files of earlier runs that were killed while writing the state.
void remove_stale_temporaries(const std::string& state_path) {
  const std::string dir = directory_of(state_path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* entry = ::readdir(d)) {
    if (is_temporary_file_for(state_path, entry->d_name)) ::unlinkat(::dirfd(d), entry->d_name, 0);
  }
  ::closedir(d);
}

}  // namespace

key::Result<uint64_t> parse_serial_state(std::string_view text) {
  auto malformed = [](const std::string& why) {
    return key::Error(key::Errc::kMalformed,
                      why + ": the file must hold \"next <number>\", the next serial to issue, above every serial "
                            "this CA has issued (see its issuance log)");
  };
  // Comment lines first; then the one line that matters.
  while (text.starts_with('#')) {
    size_t end = text.find('\n');
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  if (!text.starts_with(kNextField)) return malformed("no \"next\" line");
  text.remove_prefix(kNextField.size());
  if (text.empty() || (text.front() != ' ' && text.front() != '\t')) return malformed("no number after \"next\"");
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  uint64_t next = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), next);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return malformed("\"" + std::string(text.substr(0, 40)) + "\" is not a serial number");
  }
  if (next == 0) {
    return key::Error(key::Errc::kMalformed,
                      "next 0: serial 0 cannot be revoked by serial in a KRL; the first serial is 1");
  }
  return next;
}

key::Result<SerialState> SerialState::open(const std::string& path, uint64_t expected, Mode mode,
                                           uint64_t issued_at_least) {
  TESSERA_ASSIGN_OR_RETURN(const std::string target, follow_links(path));
  const std::string shown = target == path ? path : path + " (" + target + ")";
  const std::string lock_path = target + ".lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return state_error(shown, "cannot open the lock file " + lock_path + " (in directory " + directory_of(target) +
                                  "): " + std::strerror(errno));
  }
  auto fail = [&](key::Error error) {
    ::close(lock_fd);
    return error;
  };
  if (auto locked = take_lock(lock_fd, lock_path); !locked.ok()) return fail(state_error(shown, locked.error().message()));
  // From here on the state is ours until the lock is released.
  // Our PID, for the waiting message of another run (harmless if it fails).
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd, 0) == 0) (void)!::pwrite(lock_fd, pid.data(), pid.size(), 0);
  remove_stale_temporaries(target);

  uint64_t next = kFirstSerial;
  bool creating = false;
  struct stat st {};
  int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return fail(state_error(shown, std::strerror(errno)));
  if (fd < 0) {
    if (mode == Mode::kExisting) {
      return fail(state_error(
          shown, std::string(target == path ? "does not exist" : "is a symbolic link to a file that does not exist") +
                     " (a mistyped path, or a state that was lost?). A CA must never issue a serial twice: to start "
                     "a new serial space, use --new-serial-file once, or write \"next N\" into the file with N above "
                     "every serial the CA issued"));
    }
    creating = true;
  } else {
    if (mode == Mode::kCreate) {
      ::close(fd);
      return fail(state_error(shown, "already exists: use --serial-file to go on with its serials"));
    }
    char buf[kMaxStateFileBytes + 1];
    size_t used = 0;
    ssize_t n = 0;
    while (used < sizeof buf && ((n = ::read(fd, buf + used, sizeof buf - used)) > 0 || (n < 0 && errno == EINTR))) {
      if (n > 0) used += static_cast<size_t>(n);
    }
    int err = errno;
    bool stat_ok = ::fstat(fd, &st) == 0;
    ::close(fd);
    if (n < 0) return fail(state_error(shown, std::strerror(err)));
    if (used > kMaxStateFileBytes) return fail(state_error(shown, "too large for a serial state file"));
    auto parsed = parse_serial_state(std::string_view(buf, used));
    if (!parsed.ok()) return fail(state_error(shown, parsed.error().message()));
    next = *parsed;
    if (!stat_ok || !S_ISREG(st.st_mode)) return fail(state_error(shown, "not a regular file"));
    if (::access(target.c_str(), W_OK) != 0) {
      char mode_text[8];
      std::snprintf(mode_text, sizeof mode_text, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return fail(state_error(shown, std::string("cannot be written (mode ") + mode_text + ", owner uid " +
                                         std::to_string(st.st_uid) +
                                         "): give write permission to the account that runs the CA"));
    }
    if (st.st_uid != ::geteuid() && ::geteuid() != 0) {
      return fail(state_error(shown, "belongs to uid " + std::to_string(st.st_uid) +
                                         ": run the CA as that account (replacing the file would change its owner)"));
    }
  }
  if (next <= issued_at_least) {
    if (issued_at_least == UINT64_MAX) return fail(state_error(shown, "every serial number has been issued"));
    print_error("tessera-keygen: serial state " + shown + " says next " + std::to_string(next) +
                ", but the issuance log records serial " + std::to_string(issued_at_least) + ": going on from " +
                std::to_string(issued_at_least + 1));
    next = issued_at_least + 1;
  }
  SerialState state(target, lock_fd, next, next, std::max<uint64_t>(expected, 1));
  if (!creating) {
    state.file_mode_ = st.st_mode & 07777;
    if (st.st_uid != ::geteuid()) {
      state.file_uid_ = st.st_uid;
      state.file_gid_ = st.st_gid;
    }
  } else {
    TESSERA_TRY(state.write(next));
    print_error("tessera-keygen: starting a new serial space in " + shown + " at serial " + std::to_string(next));
  }
  return state;
}

SerialState::SerialState(SerialState&& other) noexcept
    : path_(std::move(other.path_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      next_(other.next_),
      reserved_end_(other.reserved_end_),
      expected_(other.expected_),
      file_mode_(other.file_mode_),
      file_uid_(other.file_uid_),
      file_gid_(other.file_gid_) {}

SerialState::~SerialState() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

key::Status SerialState::write(uint64_t next_free) {
  std::string text(kHeader);
  text += kNextField;
  text += ' ';
  text += std::to_string(next_free);
  text += '\n';
  std::optional<FileOwner> owner;
  if (file_uid_) owner = FileOwner{*file_uid_, file_gid_};
  auto written = write_file_atomically(path_, text, file_mode_, Durability::kDirectory, owner);
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
