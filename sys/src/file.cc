#include "tessera/sys/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tessera/sys/fd.h"

namespace tessera::sys {

namespace {

key::Error system_error(int error) { return key::Error(key::Errc::kIo, std::strerror(error)); }

key::Error too_large(size_t limit) {
  return key::Error(key::Errc::kTooLarge, "file larger than " + std::to_string(limit) + " bytes");
}

}  // namespace

key::Result<key::SecretBytes> read_all_secret(int fd, size_t limit) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return system_error(errno);
  if (S_ISDIR(st.st_mode)) return system_error(EISDIR);
  if (S_ISREG(st.st_mode) && st.st_size > static_cast<off_t>(limit)) return too_large(limit);
  // Sized to the file (one byte more, to see it end), grown to the limit only
  // for inputs whose size stat does not tell (pipes, /proc).
  size_t first = S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : std::min<size_t>(limit + 1, 4096);
  key::SecretBytes contents(first);
  size_t used = 0;
  for (;;) {
    if (used == contents.size()) {
      if (contents.size() > limit) break;
      contents.resize(std::min(limit + 1, contents.size() * 2 + 4096));
    }
    ssize_t n = ::read(fd, contents.reveal_mutable().data() + used, contents.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error(errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > limit) return too_large(limit);
  contents.resize(used);
  return contents;
}

key::Result<key::SecretBytes> read_file_secret(const std::string& path, size_t limit) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return system_error(errno);
  return read_all_secret(fd.get(), limit);
}

key::Result<std::string> read_file(const std::string& path, size_t limit) {
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes contents, read_file_secret(path, limit));
  return std::string(contents.reveal_text());
}

}  // namespace tessera::sys
