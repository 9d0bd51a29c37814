#include "io/connect.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tessera/sys/spawn.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

std::string numeric_address(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST] = "";
  if (getnameinfo(addr, len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) return "?";
  return host;
}

// Connects one socket, waiting at most timeout_ms (-1: the system's own).
int connect_one(const addrinfo* ai, int timeout_ms, const std::optional<std::string>& bind_address, int& err) {
  sys::Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) {
    err = errno;
    return -1;
  }
  if (bind_address) {
    addrinfo hints{};
    hints.ai_family = ai->ai_family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    addrinfo* local = nullptr;
    if (getaddrinfo(bind_address->c_str(), nullptr, &hints, &local) != 0 || local == nullptr) {
      err = EADDRNOTAVAIL;
      return -1;
    }
    const int b = bind(fd.get(), local->ai_addr, local->ai_addrlen);
    freeaddrinfo(local);
    if (b != 0) {
      err = errno;
      return -1;
    }
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
  if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      err = errno;
      return -1;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      err = ETIMEDOUT;
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      err = so_error;
      return -1;
    }
  }
  fcntl(fd.get(), F_SETFL, flags);
  return fd.release();
}

}  // namespace

key::Result<Endpoint> connect_tcp(const TcpSettings& s, const std::function<void(const std::string&)>& debug) {
  addrinfo hints{};
  hints.ai_family = s.family == config::AddressFamily::kInet    ? AF_INET
                    : s.family == config::AddressFamily::kInet6 ? AF_INET6
                                                                : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(s.port);
  const int gai = getaddrinfo(s.host.c_str(), port.c_str(), &hints, &list);
  if (gai != 0) {
    return Error(Errc::kIo, "Could not resolve hostname " + s.host + ": " + gai_strerror(gai));
  }
  int err = 0;
  int fd = -1;
  std::string address;
  const int timeout_ms = s.timeout_seconds ? *s.timeout_seconds * 1000 : -1;
  for (int attempt = 0; attempt < std::max(1, s.attempts) && fd < 0; ++attempt) {
    if (attempt > 0) sleep(1);
    for (const addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
      address = numeric_address(ai->ai_addr, ai->ai_addrlen);
      debug("Connecting to " + s.host + " [" + address + "] port " + port + ".");
      fd = connect_one(ai, timeout_ms, s.bind_address, err);
      if (fd < 0) debug("connect to address " + address + " port " + port + ": " + std::strerror(err));
    }
  }
  freeaddrinfo(list);
  if (fd < 0) {
    return Error(Errc::kIo, "connect to host " + s.host + " port " + port + ": " +
                                (err == ETIMEDOUT ? std::string("Connection timed out") : std::strerror(err)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (s.keepalive) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  Endpoint e;
  e.out.reset(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  e.in.reset(fd);
  e.peer_address = address;
  if (!e.out) return Error(Errc::kIo, std::string("dup: ") + std::strerror(errno));
  return e;
}

key::Result<Endpoint> connect_proxy_command(const std::string& command) {
  TESSERA_ASSIGN_OR_RETURN(sys::SocketPair pair, sys::make_socket_pair());
  sys::SpawnOptions options;
  options.hand_over = {{pair.theirs.get(), 0}, {pair.theirs.get(), 1}};
  const char* shell = "/bin/sh";
  TESSERA_ASSIGN_OR_RETURN(const pid_t pid, sys::spawn({shell, "-c", "exec " + command}, options));
  Endpoint e;
  e.proxy_pid = pid;
  e.out.reset(fcntl(pair.ours.get(), F_DUPFD_CLOEXEC, 3));
  e.in = std::move(pair.ours);
  if (!e.out) return Error(Errc::kIo, std::string("dup: ") + std::strerror(errno));
  return e;
}

}  // namespace tessera::ssh::io
