// tessera-sk-helper: loads one FIDO security key middleware, answers one
// request with it, and exits.
//
// Started by skclient (tessera-keygen, tessera-agent, tessera-ssh) with one
// end of a socketpair as fd 0 and fd 1; stderr is the caller's. The
// middleware never runs in the caller: a middleware that crashes, hangs or
// scribbles over memory takes down only this process, which the caller kills
// at its deadline. docs/fido.md describes the protocol.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <vector>

#include "helper.h"
#include "tessera/fido/protocol.h"
#include "tessera/key/secret.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/stdfd.h"

namespace {

using namespace tessera::fido;

void die(const char* what) {
  std::fprintf(stderr, "tessera-sk-helper: %s: %s\n", what, std::strerror(errno));
  std::fflush(stderr);
  _exit(1);
}

// Every descriptor above 2 is closed: nothing the caller leaked reaches the middleware.
void close_other_descriptors() {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) {
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    return;
  }
  std::vector<int> fds;
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (*end == '\0' && fd > 2 && fd != own && fd <= INT_MAX) fds.push_back(static_cast<int>(fd));
  }
  ::closedir(dir);
  for (int fd : fds) ::close(fd);
}

void harden() {
  // PINs and key handles pass through here: no core files, no ptrace by
  // other processes of the user, and no privileges gained by exec.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("prctl(PR_SET_DUMPABLE)");
  struct rlimit no_core {0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) die("setrlimit(RLIMIT_CORE)");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("prctl(PR_SET_NO_NEW_PRIVS)");
  close_other_descriptors();
  if (!tessera::sys::sanitise_standard_fds().ok()) die("opening /dev/null");
  ::signal(SIGPIPE, SIG_IGN);
}

// Moves the caller's socket off fds 0 and 1 and returns it: a middleware that
// prints to stdout (or reads stdin) must not touch the reply. stdout goes to
// stderr, stdin is /dev/null.
int take_socket() {
  const int socket = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  if (socket < 0) die("dup of the request socket");
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0) die("/dev/null");
  if (::dup2(null, STDIN_FILENO) < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) die("dup2");
  ::close(null);
  return socket;
}

// Reads exactly n bytes; false at the end of input.
bool read_exactly(int fd, uint8_t* data, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd, data + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

void send_reply(int socket, const Reply& reply) {
  auto framed = frame(serialize_reply(reply));
  if (!framed.ok()) {
    // Replies are built within the limits; should one not be, say so rather than send nothing.
    framed = frame(serialize_reply(Reply{ErrorReply{ErrorCode::kBadResponse, "the reply did not fit in a frame: " +
                                                                                 framed.error().message()}}));
    if (!framed.ok()) return;
  }
  auto status = tessera::sys::send_all(socket, framed->reveal_text());
  if (!status.ok()) std::fprintf(stderr, "tessera-sk-helper: sending the reply: %s\n", status.error().message().c_str());
}

int usage() {
  std::fprintf(stderr,
               "usage: tessera-sk-helper\n"
               "\n"
               "Loads a FIDO security key middleware and answers one request from\n"
               "tessera-keygen, tessera-agent or tessera-ssh on its standard input and\n"
               "output (a socket). It is started by those programs, not by hand; see\n"
               "docs/fido.md.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  harden();
  if (argc != 1) {
    (void)argv;
    return usage();
  }
  const int socket = take_socket();

  uint8_t header[4];
  if (!read_exactly(socket, header, sizeof header)) {
    std::fprintf(stderr, "tessera-sk-helper: no request (the caller went away)\n");
    return 1;
  }
  std::span<const uint8_t> unused;
  if (peek_frame(header, &unused) == FrameStatus::kBadLength) {
    send_reply(socket, Reply{ErrorReply{ErrorCode::kBadRequest, "a request frame of a bad length (0 or over " +
                                                                    std::to_string(kMaxFrameBytes) + " bytes)"}});
    return 1;
  }
  const size_t length = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) | (size_t{header[2]} << 8) | header[3];
  tessera::key::SecretBytes body(length);
  if (!read_exactly(socket, body.reveal_mutable().data(), length)) {
    std::fprintf(stderr, "tessera-sk-helper: the request was cut short (the caller went away)\n");
    return 1;
  }

  Reply reply = helper::handle_body(body.reveal(), helper::program_directory());
  body.clear();
  send_reply(socket, reply);
  ::close(socket);
  // What the middleware printed goes out now; atexit handlers (the
  // middleware's, its libraries') do not run: the caller has its answer and
  // waits for the exit.
  std::fflush(nullptr);
  _exit(0);
}
