#include "tessera/sys/stdfd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tessera::sys {

namespace {

key::Error null_error() { return key::Error(key::Errc::kIo, std::string("open /dev/null: ") + std::strerror(errno)); }

}  // namespace

key::Status sanitise_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFL) != -1) continue;
    // open() returns the lowest free descriptor: `fd` itself, as 0..fd-1 are open.
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd < 0) return null_error();
    if (null_fd != fd) {
      ::dup2(null_fd, fd);
      ::close(null_fd);
    }
  }
  return {};
}

key::Status redirect_standard_fds_to_null() {
  int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd < 0) return null_error();
  for (int fd = 0; fd <= 2; ++fd) {
    if (fd != null_fd) ::dup2(null_fd, fd);
  }
  if (null_fd > 2) ::close(null_fd);
  return {};
}

}  // namespace tessera::sys
