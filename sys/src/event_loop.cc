#include "tessera/sys/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <future>
#include <memory>
#include <string>

namespace tessera::sys {

using key::Errc;
using key::Error;

namespace {
constexpr uint64_t kWakeToken = 0;
constexpr int kMaxEventsPerWait = 64;
// How long advance_time() waits for the loop (a test that forgot to run it).
constexpr std::chrono::seconds kAdvanceTimeLimit{60};
}  // namespace

key::Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Error(Errc::kIo, std::string("epoll_create1: ") + std::strerror(errno));
  int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    int saved = errno;
    ::close(epoll_fd);
    return Error(Errc::kIo, std::string("eventfd: ") + std::strerror(saved));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
    int saved = errno;
    ::close(wake_fd);
    ::close(epoll_fd);
    return Error(Errc::kIo, std::string("epoll_ctl: ") + std::strerror(saved));
  }
  return std::unique_ptr<EventLoop>(new EventLoop(epoll_fd, wake_fd));
}

EventLoop::~EventLoop() {
  for (const auto& [fd, pid] : child_fds_) ::close(fd);
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

key::Status EventLoop::add_fd(int fd, uint32_t events, FdHandler handler) {
  uint64_t token = next_token_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  bool always_ready = false;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    // epoll refuses regular files (and /dev/null): they never block, so
    // poll(2) would call them ready at once. They are ready on every round.
    if (errno != EPERM) return Error(Errc::kIo, std::string("epoll_ctl add: ") + std::strerror(errno));
    always_ready = true;
  }
  watches_[fd] = Watch{token, std::make_shared<FdHandler>(std::move(handler)), always_ready, events};
  fds_by_token_[token] = fd;
  return key::ok_status();
}

key::Status EventLoop::modify_fd(int fd, uint32_t events) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return Error(Errc::kInvalidArgument, "fd is not watched");
  it->second.events = events;
  if (it->second.always_ready) return key::ok_status();
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = it->second.token;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Error(Errc::kIo, std::string("epoll_ctl mod: ") + std::strerror(errno));
  }
  return key::ok_status();
}

void EventLoop::remove_fd(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  if (!it->second.always_ready) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_by_token_.erase(it->second.token);
  watches_.erase(it);
}

namespace {

void poll_child_later(EventLoop& loop, std::function<bool(int*)> reaped, std::shared_ptr<EventLoop::ChildDone> done) {
  loop.add_timer(loop.now() + std::chrono::milliseconds(100), [&loop, reaped, done] {
    int status = 0;
    if (reaped(&status)) return (*done)(status);
    poll_child_later(loop, reaped, done);
  });
}

}  // namespace

void EventLoop::watch_child(pid_t pid, ChildDone done) {
  auto reaped = [pid](int* status) {
    pid_t waited;
    while ((waited = ::waitpid(pid, status, WNOHANG)) == -1 && errno == EINTR) {
    }
    return waited != 0;  // exited (and reaped), or not ours to wait for
  };
  int status = 0;
  if (reaped(&status)) return done(status);
  auto shared_done = std::make_shared<ChildDone>(std::move(done));
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    auto added = add_fd(fd, EPOLLIN, [this, fd, reaped, shared_done](uint32_t) {
      int later = 0;
      if (!reaped(&later)) return;
      remove_fd(fd);
      ::close(fd);
      child_fds_.erase(fd);
      (*shared_done)(later);
    });
    if (added.ok()) {
      child_fds_.emplace(fd, pid);
      return;
    }
    ::close(fd);
  }
  // No pidfd (Linux before 5.3) or it cannot be watched: look again every
  // 100 ms.
  poll_child_later(*this, reaped, shared_done);
}

EventLoop::TimerId EventLoop::add_timer(Clock::time_point when, Task task) {
  TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(when, id), std::move(task));
  timer_deadlines_[id] = when;
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

void EventLoop::post(Task task) {
  {
    std::lock_guard<std::mutex> guard(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  wake();
}

void EventLoop::stop() {
  stop_requested_.store(true);
  wake();
}

void EventLoop::wake() {
  // write(2) on an eventfd is async-signal-safe; EAGAIN means it is already signalled.
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
  (void)ignored;
}

void EventLoop::run_posted() {
  uint64_t count = 0;
  ssize_t ignored = ::read(wake_fd_, &count, sizeof count);
  (void)ignored;
  std::vector<Task> tasks;
  {
    std::lock_guard<std::mutex> guard(posted_mutex_);
    tasks.swap(posted_);
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (stop_requested_.load()) {
      // Not lost: they run when the loop runs again.
      std::lock_guard<std::mutex> guard(posted_mutex_);
      posted_.insert(posted_.begin(), std::make_move_iterator(tasks.begin() + static_cast<std::ptrdiff_t>(i)),
                     std::make_move_iterator(tasks.end()));
      return;
    }
    tasks[i]();
  }
}

void EventLoop::advance_time(Clock::duration by) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> advanced = done->get_future();
  post([this, by, done] {
    if (manual_now_) *manual_now_ += by;
    run_due_timers();
    done->set_value();
  });
  (void)advanced.wait_for(kAdvanceTimeLimit);
}

void EventLoop::run_due_timers() {
  const Clock::time_point now = this->now();
  while (!timers_.empty() && !stop_requested_.load()) {
    auto it = timers_.begin();
    if (it->first.first > now) break;
    Task task = std::move(it->second);
    timer_deadlines_.erase(it->first.second);
    timers_.erase(it);
    task();
  }
}

bool EventLoop::any_always_ready() const {
  for (const auto& [fd, w] : watches_) {
    if (w.always_ready && w.events != 0) return true;
  }
  return false;
}

void EventLoop::run_always_ready() {
  std::vector<std::pair<uint64_t, uint32_t>> ready;
  for (const auto& [fd, w] : watches_) {
    if (w.always_ready && w.events != 0) ready.emplace_back(w.token, w.events & (EPOLLIN | EPOLLOUT));
  }
  for (const auto& [token, events] : ready) {
    if (stop_requested_.load()) return;
    // A handler may have removed this fd (or another one) meanwhile.
    auto fd_it = fds_by_token_.find(token);
    if (fd_it == fds_by_token_.end()) continue;
    std::shared_ptr<FdHandler> handler = watches_[fd_it->second].handler;
    (*handler)(events);
  }
}

int EventLoop::next_timeout_ms() const {
  if (any_always_ready()) return 0;
  if (timers_.empty()) return -1;
  auto wait = timers_.begin()->first.first - now();
  if (wait <= Clock::duration::zero()) return 0;
  if (manual_now_) return -1;  // manual time moves only when advance_time() wakes the loop
  // Round up so that a timer never fires early.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void EventLoop::run() {
  run_until([] { return false; });
}

void EventLoop::run_until(const std::function<bool()>& done) {
  epoll_event events[kMaxEventsPerWait];
  {
    std::lock_guard<std::mutex> guard(posted_mutex_);
    if (!posted_.empty()) wake();  // tasks left by an earlier stop()
  }
  while (!stop_requested_.load() && !done()) {
    int n = ::epoll_wait(epoll_fd_, events, kMaxEventsPerWait, next_timeout_ms());
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with a valid epoll fd
    }
    ++round_;
    for (int i = 0; i < n && !stop_requested_.load(); ++i) {
      uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        run_posted();
        continue;
      }
      // A handler may have removed this fd (or another one) meanwhile.
      auto fd_it = fds_by_token_.find(token);
      if (fd_it == fds_by_token_.end()) continue;
      std::shared_ptr<FdHandler> handler = watches_[fd_it->second].handler;
      (*handler)(events[i].events);
    }
    run_always_ready();
    run_due_timers();
    run_deferred();
  }
}

void EventLoop::run_deferred() {
  // A deferred task may defer another: run until none is left.
  while (!deferred_.empty()) {
    std::vector<Task> tasks;
    tasks.swap(deferred_);
    for (auto& task : tasks) task();
  }
}

}  // namespace tessera::sys
