// One tessera-pkcs11-helper process, seen from the agent: spawned over a
// socketpair, spoken to in the helper protocol (tessera/pkcs11/protocol.h)
// from the event loop, never blocking it.
//
// Requests carry ids, so many can be in flight; each gets exactly one
// answer through its callback, on the loop's thread: the helper's reply, or
// an error when the request timed out or the helper died. A request that
// times out means a hung module or token: the helper is killed (its other
// requests fail too) so that no thread of it stays stuck, and the owner
// starts a new one on the next use.
#ifndef TESSERA_AGENT_DAEMON_PKCS11_PROCESS_H_
#define TESSERA_AGENT_DAEMON_PKCS11_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/event_loop.h"
#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::agent::daemon {

// Subcodes (key::Error::subcode) of token errors that the agent itself
// gives, beyond the helper's own pkcs11::ErrorCode values, so that the
// status report can count failures by cause.
inline constexpr uint32_t kHelperTimedOut = 0x100;  // a request got no answer in time
inline constexpr uint32_t kHelperEnded = 0x101;     // the helper ended (or could not start) with requests pending
inline constexpr uint32_t kNoPinGiven = 0x102;      // nobody gave a PIN (askpass cancelled or missing)

class HelperProcess {
 public:
  // The reply, or a kIo error saying why there is none: the request timed
  // out, or the helper died or broke its stream.
  using Done = std::function<void(key::Result<pkcs11::ReplyBody>)>;
  // Called once, on the loop, when the process is gone, just before its
  // pending requests fail; `why` says how it ended. The owner must not
  // destroy the object from inside this callback.
  using Exited = std::function<void(const std::string& why)>;

  // Starts `helper_program module_path` with the socket on its fd 0 and 1.
  static key::Result<std::unique_ptr<HelperProcess>> spawn(EventLoop& loop, const std::string& helper_program,
                                                           const std::string& module_path, Exited on_exit);
  // Kills the process (if still running; the loop reaps it) and fails
  // pending requests with kIo. Does not call on_exit.
  ~HelperProcess();
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  void request(pkcs11::RequestBody body, Clock::duration timeout, Done done);

  pid_t pid() const { return pid_; }
  size_t pending() const { return pending_.size(); }
  // When the oldest unanswered request was sent; nullopt when none waits.
  std::optional<Clock::time_point> oldest_pending() const;
  // A moving average of the time from request to answer (zero before the first).
  Clock::duration usual_answer_time() const { return usual_answer_time_; }
  bool alive() const { return fd_ >= 0; }

 private:
  HelperProcess(EventLoop& loop, pid_t pid, int fd, std::string module_path, Exited on_exit)
      : loop_(loop), pid_(pid), fd_(fd), module_path_(std::move(module_path)), on_exit_(std::move(on_exit)) {}

  struct Pending {
    Done done;
    EventLoop::TimerId timer;
    Clock::time_point sent;
  };

  void on_event(uint32_t events);
  bool read_available();   // false: end of stream or error
  bool write_pending();    // false: error
  void update_interest();
  void on_timeout(uint32_t id);
  void note_answer_time(Clock::duration took);
  // Ends the process and fails every pending request with `why`; runs
  // on_exit if `notify`.
  void terminate(const std::string& why, bool notify);
  // Hands the process to the loop to reap (logging how it ended), after
  // SIGKILL if kill_now. Never waits.
  void reap_later(bool kill_now);

  EventLoop& loop_;
  pid_t pid_;
  int fd_;
  std::string module_path_;
  Exited on_exit_;
  uint32_t next_id_ = 1;
  std::map<uint32_t, Pending> pending_;
  Clock::duration usual_answer_time_{};
  key::ZeroizingVector output_;  // requests may hold PINs
  size_t output_offset_ = 0;
  bool flush_deferred_ = false;  // a write of output_ waits for the end of the loop round
  key::Bytes input_;
  uint32_t watched_ = 0;
  // Set while a callback runs, so that the object knows not to touch itself
  // after being destroyed from it.
  std::shared_ptr<bool> alive_token_ = std::make_shared<bool>(true);
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PKCS11_PROCESS_H_
