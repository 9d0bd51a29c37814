#include "socket_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>

#include "middleware.h"

namespace tessera::fido2 {
namespace {

using Clock = std::chrono::steady_clock;

thread_local int t_open_timeout_ms = kDefaultProbeTimeoutMs;

struct SocketHandle {
  int fd = -1;
  Clock::time_point deadline;
  int default_timeout_ms = kDefaultOperationTimeoutMs;
};

void* socket_open(const char* path) {
  if (path == nullptr) return nullptr;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if (len == 0 || len >= sizeof(addr.sun_path)) return nullptr;
  std::memcpy(addr.sun_path, path, len);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto* handle = new (std::nothrow) SocketHandle;
  if (handle == nullptr) {
    ::close(fd);
    return nullptr;
  }
  handle->fd = fd;
  handle->default_timeout_ms = t_open_timeout_ms;
  handle->deadline = Clock::now() + std::chrono::milliseconds(t_open_timeout_ms);
  return handle;
}

void socket_close(void* opaque) {
  auto* handle = static_cast<SocketHandle*>(opaque);
  if (handle == nullptr) return;
  ::close(handle->fd);
  delete handle;
}

// Reads one report. libfido2 asks for exactly kHidReportLen bytes; anything
// else from the peer (a longer or shorter message) is an I/O error.
int socket_read(void* opaque, unsigned char* buf, size_t len, int ms) {
  auto* handle = static_cast<SocketHandle*>(opaque);
  if (handle == nullptr || buf == nullptr || len != kHidReportLen) return -1;
  const auto now = Clock::now();
  if (now >= handle->deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(handle->deadline - now).count() + 1;
  if (ms >= 0 && ms < left) left = ms;
  pollfd pfd{handle->fd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, static_cast<int>(left));
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return -1;
  unsigned char report[kHidReportLen + 1];
  ssize_t n;
  do {
    n = ::recv(handle->fd, report, sizeof(report), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kHidReportLen)) return -1;
  std::memcpy(buf, report, kHidReportLen);
  return static_cast<int>(kHidReportLen);
}

// libfido2 writes a report-ID byte (0) and then the report.
int socket_write(void* opaque, const unsigned char* buf, size_t len) {
  auto* handle = static_cast<SocketHandle*>(opaque);
  if (handle == nullptr || buf == nullptr || len != kHidReportLen + 1) return -1;
  ssize_t n;
  do {
    n = ::send(handle->fd, buf + 1, kHidReportLen, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(kHidReportLen)) return -1;
  return static_cast<int>(len);
}

const fido_dev_io_t kSocketIo = {socket_open, socket_close, socket_read, socket_write};

}  // namespace

const fido_dev_io_t& socket_io_functions() { return kSocketIo; }

void arm_socket_deadline(void* io_handle, int timeout_ms) {
  auto* handle = static_cast<SocketHandle*>(io_handle);
  if (handle == nullptr) return;
  handle->default_timeout_ms = timeout_ms;
  handle->deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
}

void set_socket_open_timeout(int timeout_ms) { t_open_timeout_ms = timeout_ms; }

}  // namespace tessera::fido2
