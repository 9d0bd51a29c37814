// tessera-pkcs11-helper [--threads N] MODULE
//
// One isolated process per PKCS#11 provider. Reads request frames on fd 0
// and writes reply frames on fd 1 (the agent spawns it over a socketpair);
// stderr carries diagnostics, never secrets. Requests run on a few threads
// at once, so replies may come out of order; each carries its request's id.

#include <signal.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "helper.h"
#include "tessera/pkcs11/protocol.h"
#include "tessera/sys/stdfd.h"

namespace {

using namespace tessera::pkcs11;
using helper::Helper;

inline constexpr unsigned kDefaultThreads = 4;
inline constexpr unsigned kMaxThreads = 32;

class ReplyWriter {
 public:
  explicit ReplyWriter(int fd) : fd_(fd) {}
  void send(const Reply& reply) {
    auto framed = frame_reply(reply);
    if (!framed.ok()) {
      // Replies are built to fit (key lists come in pages); should one not,
      // the agent still gets an answer instead of a broken stream.
      std::fprintf(stderr, "tessera-pkcs11-helper: cannot send a reply: %s\n", framed.error().message().c_str());
      framed = frame_reply(Reply{reply.id, ErrorReply{ErrorCode::kInternal, 0,
                                                      "the reply did not fit in a frame: " + framed.error().message()}});
      if (!framed.ok()) return;
    }
    const Bytes& frame = *framed;
    std::lock_guard lock(mu_);
    if (broken_) return;
    size_t done = 0;
    while (done < frame.size()) {
      const ssize_t n = write(fd_, frame.data() + done, frame.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The agent is gone; reading fd 0 will see the end too.
        broken_ = true;
        return;
      }
      done += static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
  std::mutex mu_;
  bool broken_ = false;
};

// The worker threads. Each waits on the agent's socket itself (epoll with
// EPOLLEXCLUSIVE, so that a request wakes one idle thread, not all), reads
// what came and handles the first request it read; requests that came with
// it go to a queue, and an eventfd wakes one idle thread for each. A request
// thus crosses to no other thread on its way from the socket to the module,
// and while one thread signs, the others wait for the next request.
class Server {
 public:
  Server(int fd, Helper& helper, ReplyWriter& writer) : fd_(fd), helper_(helper), writer_(writer) {
    // Input may hold PINs: the buffer wipes itself, and consumed bytes are wiped.
    buffer_.reserve(64 * 1024);
  }

  // Serves with `count` threads until the end of input (or a broken stream)
  // and until every request read has been answered; the exit status.
  int run(unsigned count) {
    int type = 0;
    socklen_t length = sizeof type;
    is_socket_ = getsockopt(fd_, SOL_SOCKET, SO_TYPE, &type, &length) == 0;
    work_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
    if (work_fd_ < 0) {
      std::fprintf(stderr, "tessera-pkcs11-helper: eventfd: %s\n", std::strerror(errno));
      return 1;
    }
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < count; ++i) threads.emplace_back([this] { work(); });
    work();
    for (auto& t : threads) t.join();
    close(work_fd_);
    return status_;
  }

 private:
  static constexpr uint32_t kInput = 0, kWork = 1;

  void work() {
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    bool watching = epoll_fd >= 0;
    // Input from a regular file or /dev/null (run by hand), which epoll
    // refuses, is always ready: it is read until its end.
    bool input_is_file = false;
    for (const auto& [fd, tag] : {std::pair{fd_, kInput}, std::pair{work_fd_, kWork}}) {
      epoll_event event{};
      event.events = EPOLLIN | EPOLLEXCLUSIVE;
      event.data.u32 = tag;
      if (!watching || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0) continue;
      if (tag == kInput && errno == EPERM) {
        input_is_file = true;
      } else {
        watching = false;
      }
    }
    if (!watching) {
      std::fprintf(stderr, "tessera-pkcs11-helper: cannot watch the agent's socket: %s\n", std::strerror(errno));
      end_input(1);
    }
    for (;;) {
      if (auto request = next_request()) {
        Reply reply{request->id, helper_.handle(request->body)};
        request.reset();  // wipes any PIN in it
        writer_.send(reply);
        continue;
      }
      {
        std::lock_guard lock(mu_);
        if (input_ended_) break;
      }
      if (input_is_file) {
        read_input();
        continue;
      }
      epoll_event events[2];
      const int n = epoll_wait(epoll_fd, events, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "tessera-pkcs11-helper: epoll_wait: %s\n", std::strerror(errno));
        end_input(1);
        continue;
      }
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u32 == kWork) {
          uint64_t one;
          (void)!read(work_fd_, &one, sizeof one);  // taken by another thread already: fine
        } else {
          read_input();
        }
      }
    }
    // Pass it on: every other thread must see the end too.
    signal_work();
    if (epoll_fd >= 0) close(epoll_fd);
  }

  std::optional<Request> next_request() {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return std::nullopt;
    Request request = std::move(queue_.front());
    queue_.pop_front();
    return request;
  }

  // One more request is queued (or the input ended): wake an idle thread.
  void signal_work() {
    const uint64_t one = 1;
    (void)!write(work_fd_, &one, sizeof one);
  }

  void end_input(int status) {
    {
      std::lock_guard lock(mu_);
      if (input_ended_) return;
      input_ended_ = true;
      status_ = status;
    }
    signal_work();
  }

  // Reads what the socket holds (another thread may have taken it), queues
  // the requests, and wakes a thread for each but the first, which this
  // thread takes.
  void read_input() {
    std::vector<Request> requests;
    std::optional<int> ended;
    {
      std::lock_guard lock(read_mu_);
      ended = read_requests(requests);
    }
    if (!requests.empty()) {
      std::lock_guard lock(mu_);
      for (auto& request : requests) queue_.push_back(std::move(request));
    }
    for (size_t i = 1; i < requests.size(); ++i) signal_work();
    if (ended) end_input(*ended);
  }

  // Reads once, without blocking, and parses the complete frames (answering
  // malformed ones at once). nullopt: go on reading; else the exit status.
  std::optional<int> read_requests(std::vector<Request>& requests) {
    uint8_t chunk[16 * 1024];
    ssize_t n;
    for (;;) {
      if (is_socket_) {
        n = recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
      } else {
        // A pipe (run by hand): read only what is there.
        pollfd ready{fd_, POLLIN, 0};
        if (poll(&ready, 1, 0) == 0) return std::nullopt;
        n = read(fd_, chunk, sizeof chunk);
      }
      if (n >= 0 || errno != EINTR) break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      std::fprintf(stderr, "tessera-pkcs11-helper: reading requests: %s\n", std::strerror(errno));
      return 1;
    }
    if (n == 0) return buffer_.empty() ? 0 : 1;
    buffer_.insert(buffer_.end(), chunk, chunk + n);
    tessera::key::secure_wipe(chunk, static_cast<size_t>(n));
    size_t consumed = 0;
    std::optional<int> ended;
    for (;;) {
      std::span<const uint8_t> payload;
      const auto status = peek_frame(std::span(buffer_).subspan(consumed), &payload);
      if (status == FrameStatus::kNeedMore) break;
      if (status == FrameStatus::kBadLength) {
        std::fprintf(stderr, "tessera-pkcs11-helper: bad frame length from the agent; exiting\n");
        ended = 1;
        break;
      }
      auto request = parse_request(payload);
      if (request.ok()) {
        requests.push_back(std::move(request).value());
      } else {
        auto id = peek_request_id(payload);
        ErrorReply error{ErrorCode::kBadRequest, 0, "malformed request: " + request.error().message()};
        writer_.send(Reply{id.ok() ? *id : 0, error});
      }
      consumed += 4 + payload.size();
    }
    if (consumed > 0) {
      tessera::key::secure_wipe(buffer_.data(), consumed);
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed));
    }
    return ended;
  }

  const int fd_;
  Helper& helper_;
  ReplyWriter& writer_;
  bool is_socket_ = false;
  int work_fd_ = -1;  // eventfd (semaphore): one count per request queued for an idle thread

  std::mutex read_mu_;  // one thread reads at a time; guards buffer_
  tessera::key::ZeroizingVector buffer_;

  std::mutex mu_;  // guards the three below
  std::deque<Request> queue_;  // requests read but not started
  bool input_ended_ = false;   // end of input or a broken stream: read no more
  int status_ = 0;
};

int usage() {
  std::fprintf(stderr, "usage: tessera-pkcs11-helper [--threads N] MODULE\n");
  return 2;
}

int help() {
  std::printf(
      "usage: tessera-pkcs11-helper [--threads N] MODULE\n"
      "\n"
      "Loads one PKCS#11 module and serves tessera-agent (or tessera-keygen) over\n"
      "its standard input and output: lists token keys, logs in and signs. It is\n"
      "started by those programs, not by hand; see docs/tessera-pkcs11-helper.md\n"
      "for the protocol.\n"
      "\n"
      "  --threads N  requests run at once (default %u, at most %u)\n"
      "  --help       this text\n",
      kDefaultThreads, kMaxThreads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Only stderr may be closed here (0 and 1 are the agent's socket); a log
  // line must not land in a file the module opens.
  if (!tessera::sys::sanitise_standard_fds().ok()) return 1;
  // No core dumps and no ptrace by other processes of the user: PINs pass through here.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit no_core {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(SIGPIPE, SIG_IGN);

  unsigned threads = kDefaultThreads;
  std::string module_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help") return help();
    if (arg == "--threads" && i + 1 < argc) {
      char* end = nullptr;
      const unsigned long value = std::strtoul(argv[++i], &end, 10);
      if (*end != '\0' || value == 0 || value > kMaxThreads) return usage();
      threads = static_cast<unsigned>(value);
    } else if (!arg.empty() && arg[0] == '-') {
      return usage();
    } else if (module_path.empty()) {
      module_path = arg;
    } else {
      return usage();
    }
  }
  if (module_path.empty()) return usage();

  auto loaded = helper::Module::load(module_path);
  std::unique_ptr<helper::Module> module;
  std::optional<tessera::key::Error> load_failure;
  if (!loaded.ok()) {
    // Keep serving, so that the agent gets the reason as an answer.
    std::fprintf(stderr, "tessera-pkcs11-helper: %s\n", loaded.error().message().c_str());
    load_failure = loaded.error();
  } else {
    module = std::move(*loaded);
  }

  int status;
  {
    Helper helper(std::move(module), std::move(load_failure));
    ReplyWriter writer(1);
    status = Server(0, helper, writer).run(threads);
  }  // every request read was answered; now the helper closes sessions and finalizes the module
  return status;
}
