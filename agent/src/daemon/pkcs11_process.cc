#include "daemon/pkcs11_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "daemon/log.h"
#include "tessera/pkcs11/client.h"

namespace tessera::agent::daemon {

namespace {

// Bytes read from the helper at a time.
constexpr size_t kReadChunk = 16 * 1024;
// How long a helper that closed its connection has to exit before SIGKILL.
constexpr std::chrono::seconds kExitGrace{2};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("was killed by signal ") + (name ? std::string("SIG") + name : std::to_string(WTERMSIG(status)));
  }
  return "ended";
}

}  // namespace

key::Result<std::unique_ptr<HelperProcess>> HelperProcess::spawn(EventLoop& loop, const std::string& helper_program,
                                                                 const std::string& module_path, Exited on_exit) {
  TESSERA_ASSIGN_OR_RETURN(const pkcs11::SpawnedHelper spawned, pkcs11::spawn_helper(helper_program, module_path));
  const auto [pid, fd] = spawned;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::unique_ptr<HelperProcess> process(new HelperProcess(loop, pid, fd, module_path, std::move(on_exit)));
  HelperProcess* self = process.get();
  process->watched_ = EPOLLIN;
  auto status = loop.add_fd(fd, EPOLLIN, [self](uint32_t events) { self->on_event(events); });
  if (!status.ok()) {
    process->terminate("cannot watch the helper's socket: " + status.error().message(), false);
    return status.error();
  }
  log_debug("started tessera-pkcs11-helper (pid " + std::to_string(pid) + ") for " + module_path);
  return process;
}

HelperProcess::~HelperProcess() {
  *alive_token_ = false;
  if (fd_ >= 0) terminate("the provider was removed", false);
}

void HelperProcess::request(pkcs11::RequestBody body, Clock::duration timeout, Done done) {
  if (fd_ < 0) {
    done(key::Error(key::Errc::kIo, "the PKCS#11 helper for " + module_path_ + " is not running")
             .with_subcode(kHelperEnded));
    return;
  }
  uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  auto frame = pkcs11::frame_request(pkcs11::Request{id, std::move(body)});
  if (!frame.ok()) {
    // The protocol's cap leaves room for every request the agent accepts, so
    // this is refused here rather than sent as a frame the helper must reject.
    done(key::Error(key::Errc::kTooLarge, "the request is too large for tessera-pkcs11-helper: " +
                                              frame.error().message()));
    return;
  }
  auto bytes = frame->reveal();
  output_.insert(output_.end(), bytes.begin(), bytes.end());
  EventLoop::TimerId timer = loop_.add_timer(loop_.now() + timeout, [this, id] { on_timeout(id); });
  pending_.emplace(id, Pending{std::move(done), timer, loop_.now()});
  // The requests of one loop round (several clients' signatures, say) go to
  // the helper in one write, which it reads at once.
  if (flush_deferred_) return;
  flush_deferred_ = true;
  std::weak_ptr<bool> alive = alive_token_;
  loop_.defer([this, alive] {
    auto still = alive.lock();
    if (!still || !*still) return;
    flush_deferred_ = false;
    if (fd_ < 0) return;
    if (!write_pending()) return terminate("cannot write to the helper: " + std::string(std::strerror(errno)), true);
    update_interest();
  });
}

void HelperProcess::on_event(uint32_t events) {
  auto alive = alive_token_;
  if (events & EPOLLOUT) {
    if (!write_pending()) return terminate("cannot write to the helper", true);
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (!read_available()) {
      if (*alive && fd_ >= 0) terminate("", true);
      return;
    }
  }
  if (*alive && fd_ >= 0) update_interest();
}

bool HelperProcess::read_available() {
  auto alive = alive_token_;
  for (;;) {
    size_t old = input_.size();
    input_.resize(old + kReadChunk);
    ssize_t n = ::read(fd_, input_.data() + old, kReadChunk);
    if (n < 0) {
      input_.resize(old);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    input_.resize(old + static_cast<size_t>(n));
    if (n == 0) return false;
    if (static_cast<size_t>(n) < kReadChunk) break;
  }
  size_t offset = 0;
  for (;;) {
    std::span<const uint8_t> payload;
    auto status = pkcs11::peek_frame(std::span<const uint8_t>(input_).subspan(offset), &payload);
    if (status == pkcs11::FrameStatus::kNeedMore) break;
    if (status == pkcs11::FrameStatus::kBadLength) {
      log_error("tessera-pkcs11-helper for " + module_path_ + " sent a frame of impossible length");
      terminate("it broke the protocol (a frame of impossible length)", true);
      return true;
    }
    const size_t frame_size = 4 + payload.size();
    auto reply = pkcs11::parse_reply(payload);
    offset += frame_size;
    if (!reply.ok()) {
      log_error("tessera-pkcs11-helper for " + module_path_ + " sent a malformed reply: " + reply.error().message());
      terminate("it broke the protocol (a malformed reply)", true);
      return true;
    }
    auto it = pending_.find(reply->id);
    if (it == pending_.end()) continue;  // answered after its timeout
    Done done = std::move(it->second.done);
    loop_.cancel_timer(it->second.timer);
    note_answer_time(loop_.now() - it->second.sent);
    pending_.erase(it);
    done(std::move(reply->body));
    if (!*alive || fd_ < 0) return true;  // destroyed or ended from the callback
  }
  input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(offset));
  return true;
}

bool HelperProcess::write_pending() {
  while (output_offset_ < output_.size()) {
    ssize_t n = ::send(fd_, output_.data() + output_offset_, output_.size() - output_offset_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return false;
    }
    output_offset_ += static_cast<size_t>(n);
  }
  key::secure_wipe(output_.data(), output_.size());
  output_.clear();
  output_offset_ = 0;
  return true;
}

void HelperProcess::update_interest() {
  uint32_t want = EPOLLIN | (output_offset_ < output_.size() ? EPOLLOUT : 0u);
  if (want == watched_) return;
  watched_ = want;
  (void)loop_.modify_fd(fd_, want);
}

void HelperProcess::on_timeout(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
  pending_.erase(it);
  auto alive = alive_token_;
  done(key::Error(key::Errc::kIo, "the PKCS#11 module or token did not answer in time").with_subcode(kHelperTimedOut));
  if (!*alive || fd_ < 0) return;
  // A module stuck in a call keeps its thread; a new helper starts clean.
  log_error("tessera-pkcs11-helper for " + module_path_ + " did not answer in time: restarting it");
  terminate("it was restarted after a request timed out", true);
}

void HelperProcess::reap_later(bool kill_now) {
  if (pid_ <= 0) return;
  const pid_t pid = std::exchange(pid_, -1);
  if (kill_now) ::kill(pid, SIGKILL);
  auto exited = std::make_shared<bool>(false);
  std::string name = "tessera-pkcs11-helper for " + module_path_ + " (pid " + std::to_string(pid) + ")";
  if (!kill_now) {
    // It closed its end, so it is on its way out; one stuck in its module
    // is ended after a grace period.
    loop_.add_timer(loop_.now() + kExitGrace, [pid, exited] {
      if (!*exited) ::kill(pid, SIGKILL);
    });
  }
  loop_.watch_child(pid, [name, exited, kill_now](int status) {
    *exited = true;
    if (kill_now) {
      log_debug(name + " " + describe_status(status));
    } else {
      log_error(name + " " + describe_status(status));
    }
  });
}

void HelperProcess::terminate(const std::string& why, bool notify) {
  if (fd_ >= 0) {
    loop_.remove_fd(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  key::secure_wipe(output_.data(), output_.size());
  output_.clear();
  output_offset_ = 0;
  input_.clear();
  // A helper that closed its end is exiting; one we end ourselves gets
  // SIGKILL, since its module may be stuck in a call. Either way the loop
  // reaps it when it is gone and never waits for it.
  reap_later(!why.empty());
  std::string reason = why.empty() ? "the PKCS#11 helper for " + module_path_ + " closed its connection"
                                   : "the PKCS#11 helper for " + module_path_ + " stopped: " + why;
  if (why.empty()) log_error(reason);
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) loop_.cancel_timer(p.timer);
  // The owner learns first that the process is gone, so that what the failed
  // requests' callbacks do next (start a new helper) sees it so.
  if (notify && on_exit_) {
    Exited on_exit = std::move(on_exit_);
    on_exit(reason);
  }
  for (auto& [id, p] : pending) p.done(key::Error(key::Errc::kIo, reason).with_subcode(kHelperEnded));
}

std::optional<Clock::time_point> HelperProcess::oldest_pending() const {
  std::optional<Clock::time_point> oldest;
  for (const auto& [id, p] : pending_) {
    if (!oldest || p.sent < *oldest) oldest = p.sent;
  }
  return oldest;
}

void HelperProcess::note_answer_time(Clock::duration took) {
  // An average over roughly the last eight answers.
  usual_answer_time_ = usual_answer_time_ == Clock::duration::zero() ? took : (usual_answer_time_ * 7 + took) / 8;
}

}  // namespace tessera::agent::daemon
