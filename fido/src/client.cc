// The client of tessera-sk-helper (tessera/fido/client.h): one helper
// process per call, over a socketpair, with a deadline.

#include "tessera/fido/client.h"

#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"

namespace tessera::fido {

namespace {

using Clock = std::chrono::steady_clock;

// After the reply, how long the helper may take to exit before it is killed
// (it exits at once; a middleware's atexit handler might not).
constexpr std::chrono::milliseconds kExitGrace{2000};
// Without a pidfd, how often the helper's exit is looked for.
constexpr int kExitPollMs = 20;

Error helper_failed(std::string message) { return sk_error(ErrorCode::kHelperFailed, std::move(message)); }

std::string seconds_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

int milliseconds_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<long long>(left, INT_MAX));
}

// One started helper: its pid (leader of its own process group) and, when
// the kernel has them, a pidfd that becomes readable when it exits. Until
// reaped, the destructor kills the whole group and reaps the helper.
class HelperProcess {
 public:
  explicit HelperProcess(pid_t pid) : pid_(pid) {
#ifdef SYS_pidfd_open
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) pidfd_.reset(static_cast<int>(fd));
#endif
  }
  ~HelperProcess() {
    if (!reaped_) kill_and_reap();
  }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  int pidfd() const { return pidfd_.get(); }

  // Whether the helper has exited (not reaped yet: its group stays ours).
  bool exited() const {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
      return errno == ECHILD;  // reaped by someone else (SIGCHLD ignored): gone
    }
    return info.si_pid == pid_;
  }

  // Waits for the helper to exit, up to the deadline; true if it did.
  bool wait_for_exit(Clock::time_point deadline) const {
    for (;;) {
      if (exited()) return true;
      const int left = milliseconds_left(deadline);
      if (left == 0) return false;
      if (pidfd_) {
        pollfd p{pidfd_.get(), POLLIN, 0};
        ::poll(&p, 1, left);
      } else {
        ::usleep(static_cast<useconds_t>(std::min(left, kExitPollMs)) * 1000);
      }
    }
  }

  // Ends the helper and anything it started in its group, and reaps the
  // helper. Its wait status, or -1 if it could not be had.
  int kill_and_reap() {
    // The leader is not reaped yet, so the group id is still ours to signal.
    ::kill(-pid_, SIGKILL);
    const int status = sys::wait_for_exit(pid_);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_;
  sys::Fd pidfd_;
  bool reaped_ = false;
};

struct Exchange {
  key::ZeroizingVector input;  // what the helper sent (a reply holds key handles)
  bool complete = false;       // input starts with a complete frame
  bool broken = false;         // input starts with a frame of a bad length
  bool timed_out = false;
};

// Sends the request and reads the reply up to the deadline.
Exchange talk(int socket, const HelperProcess& process, const SecretBytes& request, Clock::time_point deadline) {
  Exchange exchange;
  sys::set_nonblocking(socket);
  auto out = request.reveal();
  size_t sent = 0;
  bool end_of_input = false, helper_gone = false;
  for (;;) {
    std::span<const uint8_t> body;
    const FrameStatus status = peek_frame(exchange.input, &body);
    if (status == FrameStatus::kComplete) {
      exchange.complete = true;
      return exchange;
    }
    if (status == FrameStatus::kBadLength) {
      exchange.broken = true;
      return exchange;
    }
    if (end_of_input || helper_gone) return exchange;
    const int left = milliseconds_left(deadline);
    if (left == 0) {
      exchange.timed_out = true;
      return exchange;
    }
    pollfd fds[2] = {{socket, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0},
                     {process.pidfd(), POLLIN, 0}};
    const nfds_t count = process.pidfd() >= 0 ? 2 : 1;
    const int ready = ::poll(fds, count, count == 2 ? left : std::min(left, kExitPollMs));
    if (ready < 0 && errno != EINTR) return exchange;
    if (sent < out.size() && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = ::send(socket, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        sent = out.size();  // the helper is gone; read what it may have said first
      }
    }
    // Whether the helper ended: then read what it left in the socket and stop.
    const bool exited = count == 2 ? (fds[1].revents & POLLIN) != 0 : process.exited();
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 || exited) {
      for (;;) {
        uint8_t chunk[16384];
        const ssize_t n = ::read(socket, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) end_of_input = true;
        if (n <= 0) break;
        exchange.input.insert(exchange.input.end(), chunk, chunk + n);
        key::secure_wipe(chunk, static_cast<size_t>(n));
        if (exchange.input.size() > 4 + kMaxFrameBytes) break;  // peek_frame decides
      }
    }
    if (exited) helper_gone = true;
  }
}

// Runs one request through a new helper.
Result<ReplyBody> call(const Target& target, const Request& request) {
  const Clock::time_point deadline = Clock::now() + target.timeout;
  const std::string& provider = std::visit([](const auto& r) -> const std::string& { return r.provider; }, request.body);
  auto framed = frame(serialize_request(request));
  if (!framed.ok()) return sk_error(ErrorCode::kBadRequest, "cannot send the request: " + framed.error().message());

  const std::string program = target.helper_program.empty() ? default_helper_program() : target.helper_program;
  auto sockets = sys::make_socket_pair();
  if (!sockets.ok()) return helper_failed("cannot start tessera-sk-helper: " + sockets.error().message());
  sys::SpawnOptions options;
  // The helper's fds 0 and 1 are its end (the copies lose close-on-exec);
  // stderr is ours; its own process group keeps a terminal's ^C for us and
  // lets the deadline end everything it started.
  options.hand_over = {{sockets->theirs.get(), STDIN_FILENO}, {sockets->theirs.get(), STDOUT_FILENO}};
  options.own_process_group = true;
  auto pid = sys::spawn({program}, options);
  sockets->theirs.reset();
  if (!pid.ok()) {
    return helper_failed(pid.error().message() +
                         " (install tessera-sk-helper beside this program, or name it in TESSERA_SK_HELPER)");
  }
  HelperProcess process(*pid);
  Exchange exchange = talk(sockets->ours.get(), process, *framed, deadline);
  sockets->ours.reset();

  if (exchange.timed_out) {
    process.kill_and_reap();
    return sk_error(ErrorCode::kTimeout, "the security key did not answer within " + seconds_text(target.timeout) +
                                             " (middleware \"" + provider +
                                             "\"): touch it when it blinks, or check that it is inserted");
  }
  // The helper exits right after its reply; a moment later it is made to.
  process.wait_for_exit(std::min(deadline, Clock::now() + kExitGrace));
  const int status = process.kill_and_reap();

  if (exchange.complete) {
    std::span<const uint8_t> body;
    (void)peek_frame(exchange.input, &body);
    if (exchange.input.size() != 4 + body.size()) {
      return helper_failed("tessera-sk-helper sent more than one reply");
    }
    auto reply = parse_reply(body);
    if (!reply.ok()) return helper_failed("tessera-sk-helper sent a malformed reply: " + reply.error().message());
    if (auto* error = std::get_if<ErrorReply>(&reply->body)) return sk_error(error->code, error->message);
    return std::move(reply->body);
  }
  if (exchange.broken) return helper_failed("tessera-sk-helper sent a reply of a bad length");
  if (status != -1 && WIFSIGNALED(status)) {
    return sk_error(ErrorCode::kCrashed, "security key middleware \"" + provider + "\" crashed (signal " +
                                             std::to_string(WTERMSIG(status)) + ")");
  }
  if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    return helper_failed("tessera-sk-helper (middleware \"" + provider + "\") exited with status " +
                         std::to_string(WEXITSTATUS(status)) + " without answering; its messages above say why");
  }
  return helper_failed("tessera-sk-helper (middleware \"" + provider + "\") exited without answering");
}

Error unexpected(std::string_view what) {
  return sk_error(ErrorCode::kBadResponse, "tessera-sk-helper answered a " + std::string(what) + " request out of turn");
}

}  // namespace

std::string default_helper_program() {
  if (const char* env = std::getenv("TESSERA_SK_HELPER"); env != nullptr && *env != '\0') return env;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "/usr/bin/tessera-sk-helper";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "tessera-sk-helper";
}

Result<Enrolment> enroll(const Target& target, Algorithm alg, std::string_view application, uint8_t flags,
                         std::span<const uint8_t> challenge, const Bytes& user_id) {
  if (user_id.size() > kMaxUserIdBytes || std::find(user_id.begin(), user_id.end(), 0) != user_id.end()) {
    return sk_error(ErrorCode::kBadRequest, "the user id must be text of at most " +
                                                std::to_string(kMaxUserIdBytes) + " bytes without NUL bytes");
  }
  EnrollRequest request;
  request.provider = target.provider;
  request.alg = alg;
  request.application = std::string(application);
  request.flags = flags;
  if (challenge.empty()) {
    request.challenge.resize(32);
    if (::getrandom(request.challenge.data(), request.challenge.size(), 0) != 32) {
      return helper_failed(std::string("cannot make a random challenge: ") + std::strerror(errno));
    }
  } else {
    request.challenge.assign(challenge.begin(), challenge.end());
  }
  if (target.pin) request.pin = target.pin->clone();
  request.device = target.device;
  request.user.assign(user_id.begin(), user_id.end());

  TESSERA_ASSIGN_OR_RETURN(ReplyBody body, call(target, Request{kProtocolVersion, std::move(request)}));
  auto* reply = std::get_if<EnrollReply>(&body);
  if (reply == nullptr) return unexpected("enrol");
  if (reply->alg != alg) return sk_error(ErrorCode::kBadResponse, "tessera-sk-helper enrolled a key of another algorithm");
  Enrolment enrolment;
  enrolment.credential.alg = reply->alg;
  enrolment.credential.flags = reply->flags;
  enrolment.credential.public_key = std::move(reply->public_key);
  enrolment.credential.key_handle = std::move(reply->key_handle);
  enrolment.credential.application = std::string(application);
  enrolment.credential.user_id = user_id;
  enrolment.attestation_signature = std::move(reply->attestation_signature);
  enrolment.attestation_certificate = std::move(reply->attestation_certificate);
  enrolment.authdata = std::move(reply->authdata);
  return enrolment;
}

Result<Assertion> sign(const Target& target, Algorithm alg, std::string_view application,
                       std::span<const uint8_t> key_handle, uint8_t flags, std::span<const uint8_t> data) {
  SignRequest request;
  request.provider = target.provider;
  request.alg = alg;
  request.data.assign(data.begin(), data.end());
  request.application = std::string(application);
  request.key_handle = SecretBytes::copy_of(key_handle);
  request.flags = flags;
  if (target.pin) request.pin = target.pin->clone();
  request.device = target.device;

  TESSERA_ASSIGN_OR_RETURN(ReplyBody body, call(target, Request{kProtocolVersion, std::move(request)}));
  auto* reply = std::get_if<SignReply>(&body);
  if (reply == nullptr) return unexpected("sign");
  if (reply->alg != alg) return sk_error(ErrorCode::kBadResponse, "tessera-sk-helper signed with another algorithm");
  return Assertion{reply->flags, reply->counter, std::move(reply->sig_r), std::move(reply->sig_s)};
}

Result<std::vector<Credential>> load_resident_keys(const Target& target) {
  LoadResidentKeysRequest request;
  request.provider = target.provider;
  if (target.pin) request.pin = target.pin->clone();
  request.device = target.device;

  TESSERA_ASSIGN_OR_RETURN(ReplyBody body, call(target, Request{kProtocolVersion, std::move(request)}));
  auto* reply = std::get_if<ResidentKeysReply>(&body);
  if (reply == nullptr) return unexpected("resident key");
  std::vector<Credential> credentials;
  credentials.reserve(reply->keys.size());
  for (ResidentKey& key : reply->keys) {
    credentials.push_back(Credential{key.alg, key.flags, std::move(key.public_key), std::move(key.key_handle),
                                     std::move(key.application), std::move(key.user_id)});
  }
  return credentials;
}

Result<key::PublicKey> public_key(const Credential& credential) {
  return key::security_key_public(key_type(credential.alg), credential.public_key, credential.application);
}

Result<key::PrivateKey> private_key(const Credential& credential) {
  TESSERA_ASSIGN_OR_RETURN(key::PublicKey pub, public_key(credential));
  return key::PrivateKey::make_security_key(pub, credential.flags, credential.key_handle.reveal());
}

Result<Bytes> signature_blob(Algorithm alg, const Assertion& assertion) {
  return ssh_signature(alg, assertion.flags, assertion.counter, assertion.sig_r, assertion.sig_s);
}

}  // namespace tessera::fido
