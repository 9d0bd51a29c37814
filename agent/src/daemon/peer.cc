#include "daemon/peer.h"

#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tessera::agent::daemon {

key::Result<PeerInfo> peer_info(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return key::Error(key::Errc::kIo, std::string("SO_PEERCRED: ") + std::strerror(errno));
  }
  PeerInfo info;
  info.pid = cred.pid;
  info.uid = cred.uid;
  info.gid = cred.gid;
  if (cred.pid > 0) info.exe = process_executable(cred.pid);
  return info;
}

std::string process_executable(pid_t pid) {
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char buf[PATH_MAX];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return {};
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace tessera::agent::daemon
