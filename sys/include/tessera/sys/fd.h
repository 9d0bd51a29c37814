// One owner for a file descriptor: closed when the owner goes, moved never
// copied.
#ifndef TESSERA_SYS_FD_H_
#define TESSERA_SYS_FD_H_

#include "tessera/key/error.h"

namespace tessera::sys {

class Fd {
 public:
  Fd() = default;
  // Takes ownership of `fd` (a negative value owns nothing).
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives the descriptor up without closing it.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes what is owned and takes `fd`.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Both ends of a pipe, close-on-exec. kIo with the system's reason.
struct Pipe {
  Fd read;
  Fd write;
};
key::Result<Pipe> make_pipe();

// Sets or clears O_NONBLOCK on fd (best effort: a descriptor that refuses
// keeps its mode, and the caller's reads and writes say so).
void set_nonblocking(int fd, bool on = true);

// Writes all of `data`, retrying after signals. kIo with the system's reason.
key::Status write_all(int fd, std::string_view data);

// Both ends of a connected stream socket pair, close-on-exec: a two-way
// channel to a child (its stdin and stdout may be the same end).
struct SocketPair {
  Fd ours;
  Fd theirs;
};
key::Result<SocketPair> make_socket_pair();

// As write_all, on a socket, without SIGPIPE: a peer that has gone is kIo
// ("Broken pipe"), never a signal that would end the process.
key::Status send_all(int fd, std::string_view data);

}  // namespace tessera::sys

#endif  // TESSERA_SYS_FD_H_
