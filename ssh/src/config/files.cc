// How resolve() reads config files: the real file system (with readconf.c's
// ownership and mode check) or files held in memory.
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "config/internal.h"

namespace tessera::ssh::config {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

class SystemFiles : public ConfigFiles {
 public:
  key::Result<std::optional<std::string>> read(const std::string& path, bool check_permissions) override {
    if (path.find('\0') != std::string::npos) {
      return key::Error(key::Errc::kIo, "Can't open user config file " + path.substr(0, 100) + ": bad name");
    }
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() < 0) {
      if (errno == ENOENT) return std::optional<std::string>();
      return key::Error(key::Errc::kIo, "Can't open user config file " + path + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return key::Error(key::Errc::kIo, "fstat " + path + ": " + std::strerror(errno));
    }
    if (check_permissions && ((st.st_uid != 0 && st.st_uid != ::getuid()) || (st.st_mode & 022) != 0)) {
      return key::Error(key::Errc::kInvalidArgument, "Bad owner or permissions on " + path);
    }
    // A directory reads as empty, as getline() on it does for OpenSSH.
    if (S_ISDIR(st.st_mode)) return std::optional<std::string>(std::string());
    std::string contents;
    // Not zeroed: read() fills what it returns, and every process of
    // tessera-sshd reads its configuration, so untouched stack stays out
    // of its resident memory.
    char buffer[16384];
    while (true) {
      ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        return key::Error(key::Errc::kIo, "read " + path + ": " + std::strerror(errno));
      }
      if (n == 0) break;
      if (contents.size() + static_cast<size_t>(n) > kMaxFileBytes) {
        return key::Error(key::Errc::kTooLarge,
                          path + " is larger than " + std::to_string(kMaxFileBytes) + " bytes");
      }
      contents.append(buffer, static_cast<size_t>(n));
    }
    return std::optional<std::string>(std::move(contents));
  }

  key::Result<std::vector<std::string>> glob(const std::string& pattern) override {
    if (pattern.find('\0') != std::string::npos) return key::Error(key::Errc::kMalformed, "bad pattern");
    glob_t found{};
    int r = ::glob(pattern.c_str(), 0, nullptr, &found);
    std::unique_ptr<glob_t, decltype(&::globfree)> guard(&found, ::globfree);
    if (r == GLOB_NOMATCH) return std::vector<std::string>();
    if (r != 0) return key::Error(key::Errc::kIo, r == GLOB_NOSPACE ? "out of memory" : "read error");
    if (found.gl_pathc > kMaxGlobMatches) {
      return key::Error(key::Errc::kTooLarge, "more than " + std::to_string(kMaxGlobMatches) + " files match");
    }
    std::vector<std::string> paths;
    for (size_t i = 0; i < found.gl_pathc; ++i) paths.emplace_back(found.gl_pathv[i]);
    return paths;
  }
};

}  // namespace

ConfigFiles& system_files() {
  static SystemFiles files;
  return files;
}

key::Result<std::optional<std::string>> MemoryFiles::read(const std::string& path, bool /*check_permissions*/) {
  auto it = files_.find(path);
  if (it == files_.end()) return std::optional<std::string>();
  if (it->second.size() > kMaxFileBytes) {
    return key::Error(key::Errc::kTooLarge, path + " is larger than " + std::to_string(kMaxFileBytes) + " bytes");
  }
  return std::optional<std::string>(it->second);
}

key::Result<std::vector<std::string>> MemoryFiles::glob(const std::string& pattern) {
  std::vector<std::string> paths;
  if (pattern.find('\0') != std::string::npos) return paths;
  for (const auto& [path, contents] : files_) {
    if (path.find('\0') != std::string::npos) continue;
    if (::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0) paths.push_back(path);
    if (paths.size() > kMaxGlobMatches) break;
  }
  return paths;
}

}  // namespace tessera::ssh::config
