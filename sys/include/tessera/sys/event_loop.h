// The codebase's one event loop: single-threaded epoll with file descriptor
// handlers, timers, child processes, and a thread-safe queue through which
// worker threads hand results back. The agent and the SSH client and server
// all run on it.
//
// The loop keeps the time for everything it runs: deadlines are in its now(),
// which follows the steady clock, or, for tests, stands still until
// advance_time() moves it, so that lifetimes, timeouts and polls are tested
// by moving time instead of sleeping.
//
// Everything except post() and stop() must be called on the loop's thread
// (or before run() starts). Handlers run on the loop's thread and must not
// block.
#ifndef TESSERA_SYS_EVENT_LOOP_H_
#define TESSERA_SYS_EVENT_LOOP_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/key/error.h"

namespace tessera::sys {

using Clock = std::chrono::steady_clock;

class EventLoop {
 public:
  using FdHandler = std::function<void(uint32_t epoll_events)>;
  using Task = std::function<void()>;
  using TimerId = uint64_t;

  // Creates the epoll instance and the wake-up eventfd (both close-on-exec).
  static key::Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches fd (level-triggered) for `events` (EPOLLIN, EPOLLOUT, ...). The
  // loop does not own fd; call remove_fd() before closing it. A regular
  // file (which epoll refuses) counts as ready on every round, as poll(2)
  // would report it: a handler then reads until EOF or stops watching.
  key::Status add_fd(int fd, uint32_t events, FdHandler handler);
  key::Status modify_fd(int fd, uint32_t events);
  void remove_fd(int fd);

  // The loop's time. Only on the loop's thread (or before run()).
  Clock::time_point now() const { return manual_now_ ? *manual_now_ : Clock::now(); }

  // Runs task on the loop at `when`, in the loop's time (timers due at the
  // same time run in the order they were added).
  TimerId add_timer(Clock::time_point when, Task task);
  void cancel_timer(TimerId id);

  // Calls done(wait status) on the loop once our child `pid` has exited,
  // reaping it; never blocks (the child's pidfd is watched like any fd).
  // Nothing else may wait for that child.
  using ChildDone = std::function<void(int wait_status)>;
  void watch_child(pid_t pid, ChildDone done);

  // Thread-safe: runs task on the loop as soon as it can.
  void post(Task task);
  // Runs task once the handlers, timers and posted tasks of this round have
  // run, before the loop waits again (on the loop's thread only): what they
  // left to send then goes out in one write instead of one each.
  void defer(Task task) { deferred_.push_back(std::move(task)); }

  // How many rounds of events (one epoll wait and the handlers it wakes)
  // the loop has begun. Handlers that share a budget per round, say for
  // work done on the loop before the others get their turn, compare it.
  uint64_t round() const { return round_; }

  // Serves until stop(). Returns at once if stop() came first.
  void run();
  // Serves until done() is true (checked after each round of events) or
  // stop(); for a caller that drives the loop one operation at a time.
  // Tasks posted and not yet run stay queued for the next run.
  void run_until(const std::function<bool()>& done);
  // Thread-safe and async-signal-safe.
  void stop();
  bool stopping() const { return stop_requested_.load(); }

  // For tests: from here on the loop's time stands still but for
  // advance_time(). Call before anything reads the time or sets a timer.
  void use_manual_time() { manual_now_ = Clock::now(); }
  // For tests, thread-safe, while run() serves: moves manual time forward by
  // `by` and returns once the loop has run every timer that fell due. Gives
  // up after kAdvanceTimeLimit of real time if the loop does not answer.
  void advance_time(Clock::duration by);

 private:
  EventLoop(int epoll_fd, int wake_fd) : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}
  void wake();
  void run_posted();
  void run_due_timers();
  int next_timeout_ms() const;

  struct Watch {
    uint64_t token;
    std::shared_ptr<FdHandler> handler;
    bool always_ready = false;  // a regular file: not in epoll
    uint32_t events = 0;
  };
  bool any_always_ready() const;
  void run_always_ready();
  void run_deferred();

  int epoll_fd_;
  int wake_fd_;
  std::atomic<bool> stop_requested_{false};

  uint64_t next_token_ = 1;  // 0 is the wake-up eventfd
  std::unordered_map<int, Watch> watches_;            // by fd
  std::unordered_map<uint64_t, int> fds_by_token_;    // token -> fd

  TimerId next_timer_ = 1;
  std::map<std::pair<Clock::time_point, TimerId>, Task> timers_;
  std::unordered_map<TimerId, Clock::time_point> timer_deadlines_;

  std::optional<Clock::time_point> manual_now_;  // set in manual time
  uint64_t round_ = 0;

  std::unordered_map<int, pid_t> child_fds_;  // pidfd -> child, while watched

  std::vector<Task> deferred_;  // loop thread only

  std::mutex posted_mutex_;
  std::vector<Task> posted_;
};

}  // namespace tessera::sys

#endif  // TESSERA_SYS_EVENT_LOOP_H_
