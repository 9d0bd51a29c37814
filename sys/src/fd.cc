#include "tessera/sys/fd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tessera::sys {

void Fd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

key::Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return key::Error(key::Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

key::Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return key::Error(key::Errc::kIo, std::strerror(errno));
    if (n == 0) return key::Error(key::Errc::kIo, "write made no progress");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

key::Result<SocketPair> make_socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return key::Error(key::Errc::kIo, std::string("socketpair: ") + std::strerror(errno));
  }
  return SocketPair{Fd(fds[0]), Fd(fds[1])};
}

key::Status send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return key::Error(key::Errc::kIo, std::strerror(errno));
    if (n == 0) return key::Error(key::Errc::kIo, "send made no progress");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

void set_nonblocking(int fd, bool on) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return;
  fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

}  // namespace tessera::sys
