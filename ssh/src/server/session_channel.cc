#include "server/session_channel.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/child_process.h"
#include "tessera/key/match.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

namespace {

// Bytes read from a child's output at once.
constexpr size_t kOutputChunk = 64 * 1024;

// write(2) to a child's pipe without a SIGPIPE ending us when the child has
// closed its end: the signal is blocked for the call, and one the call
// raised is taken back before it is unblocked. (The session process need
// not ignore SIGPIPE for this.)
ssize_t write_without_sigpipe(int fd, const uint8_t* data, size_t size) {
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const ssize_t n = write(fd, data, size);
  const int saved = errno;
  if (n < 0 && saved == EPIPE && !already_pending) {
    const timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

// sshd's IS_INTERNAL_SFTP: the word internal-sftp, alone or with arguments.
bool is_internal_sftp(std::string_view command) {
  constexpr std::string_view kName = "internal-sftp";
  if (!command.starts_with(kName)) return false;
  return command.size() == kName.size() || command[kName.size()] == ' ' || command[kName.size()] == '\t';
}

}  // namespace

// --- SessionService -------------------------------------------------------

SessionService::SessionService(sys::EventLoop& loop, connection::Connection& conn, SessionPolicy policy,
                               ServiceHooks hooks)
    : loop_(loop),
      conn_(conn),
      policy_(std::move(policy)),
      hooks_(std::move(hooks)),
      alive_(std::make_shared<char>(0)),
      relays_(loop) {}

SessionService::~SessionService() {
  if (installed_) conn_.on_open_request = nullptr;
  sessions_.clear();
  agent_.reset();
}

void SessionService::install() {
  installed_ = true;
  conn_.on_open_request = [this](std::string_view type, key::Reader& extra) { return on_open(type, extra); };
}

void SessionService::log(const std::string& line) const {
  if (hooks_.log) hooks_.log(line);
}

void SessionService::notice(const std::string& line) const { log_notice(hooks_, line); }

connection::IncomingChannel SessionService::on_open(std::string_view type, key::Reader& extra) {
  // sshd's default answer: CONNECT_FAILED, "open failed".
  connection::IncomingChannel refused;
  refused.reason = connection::kOpenConnectFailed;
  refused.description = "open failed";
  if (type == "session") {
    if (no_more_sessions_) {
      log("attempt to open a session after no-more-sessions@openssh.com");
      return refused;
    }
    if (sessions_.size() >= policy_.max_sessions) {
      log("no more sessions (MaxSessions " + std::to_string(policy_.max_sessions) + ")");
      return refused;
    }
    sessions_.push_back(std::make_unique<SessionChannel>(*this, next_session_number_++));
    connection::IncomingChannel accepted;
    accepted.handler = sessions_.back().get();
    accepted.window = connection::kSessionWindow;
    accepted.max_packet = connection::kSessionMaxPacket;
    return accepted;
  }
  if (type == "direct-tcpip") {
    return open_direct_tcpip(relays_, StreamRelay::Context{loop_, conn_, hooks_}, policy_, extra);
  }
  log("refused channel open of type " + std::string(type).substr(0, 64));
  return refused;
}

void SessionService::output_drained() {
  for (auto& s : sessions_) s->resume();
  relays_.resume_all();
}

bool SessionService::enable_agent_forwarding() {
  if (!policy_.permit_agent_forwarding) {
    log("agent forwarding disabled");
    return false;
  }
  if (agent_requested_) return false;  // once per connection, as sshd
  agent_requested_ = true;
  auto forwarder = AgentForwarder::start(StreamRelay::Context{loop_, conn_, hooks_}, relays_);
  if (!forwarder.ok()) {
    log(forwarder.error().message());
    return false;
  }
  agent_ = std::move(*forwarder);
  return true;
}

void SessionService::forget(SessionChannel* session) {
  std::weak_ptr<char> alive = alive_;
  loop_.post([this, alive, session] {
    if (alive.expired()) return;
    sessions_.remove_if([session](const std::unique_ptr<SessionChannel>& s) { return s.get() == session; });
  });
}

// --- SessionChannel -------------------------------------------------------

SessionChannel::SessionChannel(SessionService& service, int number)
    : service_(service),
      number_(number),
      alive_(std::make_shared<char>(0)),
      stdin_watch_(service.loop_),
      out_(service.loop_),
      err_(service.loop_) {
  err_.is_stderr = true;
}

SessionChannel::~SessionChannel() {
  close_descriptors();
  release_pty();
}

std::string SessionChannel::describe() const { return "session " + std::to_string(number_); }

void SessionChannel::on_data(std::span<const uint8_t> data) {
  connection::Connection& conn = service_.conn_;
  if (stdin_done_) {
    conn.consumed(channel_id(), data.size());  // nobody will read it
    return;
  }
  size_t written = 0;
  if (started_ && stdin_pending_.empty()) {
    while (written < data.size()) {
      const ssize_t n = write_without_sigpipe(stdin_.get(), data.data() + written, data.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        conn.consumed(channel_id(), data.size());
        stdin_failed();
        return;
      }
      written += static_cast<size_t>(n);
    }
    if (written > 0) conn.consumed(channel_id(), written);
  }
  stdin_pending_.insert(stdin_pending_.end(), data.begin() + static_cast<std::ptrdiff_t>(written), data.end());
  update_watches();
}

void SessionChannel::on_extended_data(uint32_t, std::span<const uint8_t> data) {
  service_.conn_.consumed(channel_id(), data.size());  // a child has no input but stdin
}

void SessionChannel::write_input() {
  if (!stdin_ || stdin_done_) return;
  connection::Connection& conn = service_.conn_;
  size_t written = 0;
  while (written < stdin_pending_.size()) {
    const ssize_t n = write_without_sigpipe(stdin_.get(), stdin_pending_.data() + written,
                                            stdin_pending_.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      stdin_pending_.erase(stdin_pending_.begin(), stdin_pending_.begin() + static_cast<std::ptrdiff_t>(written));
      if (written > 0) conn.consumed(channel_id(), written);
      stdin_failed();
      service_.hooks_.flush();
      return;
    }
    written += static_cast<size_t>(n);
  }
  stdin_pending_.erase(stdin_pending_.begin(), stdin_pending_.begin() + static_cast<std::ptrdiff_t>(written));
  if (written > 0) {
    conn.consumed(channel_id(), written);
    service_.hooks_.flush();
  }
  if (stdin_pending_.empty() && client_eof_) close_stdin();
  update_watches();
}

void SessionChannel::close_stdin() {
  stdin_watch_.detach();
  stdin_.reset();
  stdin_done_ = true;
}

void SessionChannel::stdin_failed() {
  // Nothing reaches the child any more: what the client sends is dropped
  // and its window opened again, and the client is told so that it can
  // stop reading its input (sshd's chan_write_failed and eow@openssh.com).
  if (!stdin_pending_.empty()) service_.conn_.consumed(channel_id(), stdin_pending_.size());
  stdin_pending_.clear();
  close_stdin();
  service_.conn_.send_request(channel_id(), "eow@openssh.com", false);
}

void SessionChannel::on_eof() {
  client_eof_ = true;
  if (started_ && stdin_pending_.empty()) close_stdin();
}

void SessionChannel::on_send_room() { update_watches(); }

void SessionChannel::resume() {
  paused_for_peer_ = false;
  update_watches();
}

bool SessionChannel::on_request(std::string_view type, key::Reader& data) {
  if (!started_) {
    if (type == "shell") return data.expect_end().ok() && start(std::nullopt, "");
    if (type == "exec") {
      auto command = data.text();
      if (!command.ok() || !data.expect_end().ok()) return false;
      return start(std::string(*command), "");
    }
    if (type == "pty-req") return request_pty(data);
    if (type == "subsystem") return request_subsystem(data);
    if (type == "env") return request_env(data);
    if (type == "auth-agent-req@openssh.com") return data.expect_end().ok() && service_.enable_agent_forwarding();
    if (type == "x11-req") {
      service_.log(describe() + ": X11 forwarding refused");
      return false;
    }
  }
  if (type == "window-change") return request_window_change(data);
  if (type == "signal") return request_signal(data);
  if (type == "break") return request_break(data);
  return false;
}

bool SessionChannel::request_pty(key::Reader& data) {
  if (!service_.policy_.permit_pty) {
    service_.log("Allocating a pty not permitted for this connection.");
    return false;
  }
  if (pty_) return false;  // sshd: "you already have a pty"
  auto term = data.text();
  auto cols = data.u32();
  auto rows = data.u32();
  auto xpixel = data.u32();
  auto ypixel = data.u32();
  auto modes = data.string();
  if (!term.ok() || !cols.ok() || !rows.ok() || !xpixel.ok() || !ypixel.ok() || !modes.ok() ||
      !data.expect_end().ok()) {
    service_.log(describe() + ": malformed pty-req");
    return false;
  }
  auto pty = Pty::open();
  if (!pty.ok()) {
    service_.log(describe() + ": " + pty.error().message());
    return false;
  }
  auto set = set_terminal_modes(pty->slave(), *modes);
  if (!set.ok()) {
    service_.log(describe() + ": terminal modes: " + set.error().message());
    if (set.error().code() != key::Errc::kIo) return false;  // malformed: refused; a terminal's refusal is not fatal
  }
  (void)set_window_size(pty->master(), *cols, *rows, *xpixel, *ypixel);
  term_ = std::string(*term);
  pty_ = std::move(*pty);
  return true;
}

bool SessionChannel::request_window_change(key::Reader& data) {
  auto cols = data.u32();
  auto rows = data.u32();
  auto xpixel = data.u32();
  auto ypixel = data.u32();
  if (!cols.ok() || !rows.ok() || !xpixel.ok() || !ypixel.ok() || !data.expect_end().ok()) return false;
  if (!pty_) return false;
  return set_window_size(pty_->master(), *cols, *rows, *xpixel, *ypixel).ok();
}

bool SessionChannel::request_env(key::Reader& data) {
  auto name = data.text();
  auto value = data.text();
  if (!name.ok() || !value.ok() || !data.expect_end().ok()) return false;
  if (env_.size() > kMaxSessionEnv) return false;
  if (name->empty() || name->find('=') != std::string_view::npos) return false;
  for (const std::string& pattern : service_.policy_.accept_env) {
    if (key::match_pattern(*name, pattern)) {
      env_.emplace_back(std::string(*name), std::string(*value));
      return true;
    }
  }
  return false;
}

bool SessionChannel::request_subsystem(key::Reader& data) {
  auto name = data.text();
  if (!name.ok() || !data.expect_end().ok()) return false;
  for (const auto& [subsystem, command] : service_.policy_.subsystems) {
    if (subsystem == *name) return start(command, subsystem);
  }
  service_.notice("subsystem request for " + std::string(name->substr(0, 100)) + " by user " +
                  service_.policy_.user.name + " failed, subsystem not found");
  return false;
}

bool SessionChannel::request_signal(key::Reader& data) {
  auto name = data.text();
  if (!name.ok() || !data.expect_end().ok()) return false;
  const std::optional<int> sig = signal_from_name(*name);
  if (!sig) {
    service_.log(describe() + ": unsupported signal \"" + std::string(name->substr(0, 32)) + "\"");
    return false;
  }
  if (!started_ || reaped_) return false;
  if (forced_ || subsystem_) {
    service_.log(describe() + ": refusing to send signal " + std::string(*name) + " to " +
                 (forced_ ? "forced-command" : "subsystem") + " session");
    return false;
  }
  return killpg(pid_, *sig) == 0;
}

bool SessionChannel::request_break(key::Reader& data) {
  auto length = data.u32();  // ignored, as sshd
  if (!length.ok() || !data.expect_end().ok()) return false;
  return pty_ && tcsendbreak(pty_->master(), 0) == 0;
}

bool SessionChannel::start(std::optional<std::string> command, const std::string& subsystem_name) {
  const bool subsystem = !subsystem_name.empty();
  const SessionPolicy& policy = service_.policy_;
  std::optional<std::string> original;
  if (policy.forced_command) {
    original = std::move(command);
    command = *policy.forced_command;
    forced_ = true;
  }
  if (command && (subsystem || forced_) && is_internal_sftp(*command)) {
    service_.log(describe() + ": internal-sftp is not available: configure sftp-server as a command");
    forced_ = false;
    return false;
  }
  const std::string shell = login_shell(policy.user);
  SessionEnvironment session_env;
  session_env.accepted = env_;
  if (pty_) {
    session_env.term = term_;
    session_env.tty = pty_->name();
  }
  if (forced_) session_env.original_command = original;
  session_env.agent_socket = service_.agent_socket();
  ChildSetup setup;
  setup.program = shell;
  setup.argv = shell_argv(shell, command);
  setup.environment = session_environment(policy, session_env);
  setup.home = policy.user.home;
  setup.terminal = pty_ ? pty_->slave() : -1;
  setup.refusal = nologin_refusal(policy);
  if (setup.refusal) {
    service_.notice("User " + policy.user.name + " not allowed because " + policy.nologin_file + " exists");
  } else {
    setup.rc = rc_command(policy, shell, subsystem);
  }
  auto child = start_child(setup);
  if (!child.ok()) {
    service_.log(describe() + ": " + child.error().message());
    forced_ = false;
    return false;
  }
  started_ = true;
  subsystem_ = subsystem;
  pid_ = child->pid;
  if (pty_) {
    tty_ = pty_->name();
    // Our own descriptors of the master for reading and writing; pty_
    // keeps the one for window sizes and breaks until the child is gone.
    out_.fd.reset(fcntl(pty_->master(), F_DUPFD_CLOEXEC, 0));
    stdin_.reset(fcntl(pty_->master(), F_DUPFD_CLOEXEC, 0));
    pty_->close_slave();
    sys::set_nonblocking(pty_->master());
    if (policy.record_login) {
      policy.record_login(tty_, pid_, true);
      login_recorded_ = true;
    }
  } else {
    stdin_ = std::move(child->stdin_write);
    out_.fd = std::move(child->stdout_read);
    err_.fd = std::move(child->stderr_read);
    for (int fd : {stdin_.get(), out_.fd.get(), err_.fd.get()}) sys::set_nonblocking(fd);
    err_.eof = !err_.fd;
    err_.discard = subsystem;
  }
  out_.eof = !out_.fd;
  if (!stdin_) stdin_done_ = true;
  out_.watch.attach(out_.fd.get(), [this](uint32_t) { read_output(out_); });
  if (err_.fd) err_.watch.attach(err_.fd.get(), [this](uint32_t) { read_output(err_); });
  if (stdin_) stdin_watch_.attach(stdin_.get(), [this](uint32_t) { write_input(); });

  std::string kind = forced_     ? "forced-command '" + command->substr(0, 900) + "'"
                     : subsystem ? "subsystem '" + subsystem_name.substr(0, 900) + "'"
                     : command   ? "command"
                                 : "shell";
  std::string on_tty = tty_.empty() ? "" : " on " + (tty_.starts_with("/dev/") ? tty_.substr(5) : tty_);
  service_.log("Starting session: " + kind + on_tty + " for " + policy.user.name + " from " + policy.client_ip +
               " port " + std::to_string(policy.client_port) + " id " + std::to_string(number_));

  // Reaped from the loop, so that an exit-status never overtakes the reply
  // to this request.
  std::weak_ptr<char> alive = alive_;
  sys::EventLoop& loop = service_.loop_;
  const pid_t pid = pid_;
  loop.post([this, alive, &loop, pid] {
    if (alive.expired()) return;
    loop.watch_child(pid, [this, alive](int status) {
      if (!alive.expired()) child_exited(status);
    });
  });
  if (client_eof_ && stdin_pending_.empty()) close_stdin();
  update_watches();  // data that came before the start goes to the child from the loop
  return true;
}

void SessionChannel::read_output(Output& out) {
  if (out.eof) return;
  connection::Connection& conn = service_.conn_;
  const size_t room = out.discard ? kOutputChunk : conn.send_room(channel_id());
  if (room == 0 || channel_gone_) {
    update_watches();
    return;
  }
  uint8_t buf[kOutputChunk];
  const ssize_t n = read(out.fd.get(), buf, std::min(room, sizeof(buf)));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    // EOF; a pty's master says EIO once the last process on the terminal
    // is gone.
    out.eof = true;
    out.watch.detach();
    out.fd.reset();
    send_eof_and_close();
    return;
  }
  if (!out.discard) {
    const std::span<const uint8_t> data(buf, static_cast<size_t>(n));
    if (out.is_stderr) {
      conn.send_extended_data(channel_id(), connection::kExtendedDataStderr, data);
    } else {
      conn.send_data(channel_id(), data);
    }
    service_.hooks_.flush();
    const auto& pending = service_.hooks_.pending_bytes;
    if (pending && pending() > kMaxQueuedForPeer) paused_for_peer_ = true;
  }
  update_watches();
}

void SessionChannel::update_watches() {
  connection::Connection& conn = service_.conn_;
  const bool can_send = !channel_gone_ && !eof_sent_ && !close_sent_ && !paused_for_peer_ &&
                        conn.send_room(channel_id()) > 0;
  out_.watch.want(!out_.eof && can_send ? EPOLLIN : 0u);
  err_.watch.want(!err_.eof && (err_.discard || can_send) ? EPOLLIN : 0u);
  stdin_watch_.want(stdin_ && !stdin_done_ && !stdin_pending_.empty() ? EPOLLOUT : 0u);
}

void SessionChannel::child_exited(int wait_status) {
  reaped_ = true;
  connection::Connection& conn = service_.conn_;
  if (!channel_gone_ && !close_sent_) {
    key::Writer w;
    if (WIFEXITED(wait_status)) {
      w.u32(static_cast<uint32_t>(WEXITSTATUS(wait_status)));
      conn.send_request(channel_id(), "exit-status", false, w.data());
    } else if (WIFSIGNALED(wait_status)) {
      w.string(signal_name(WTERMSIG(wait_status)));
      w.boolean(WCOREDUMP(wait_status));
      w.string("");  // error message
      w.string("");  // language tag
      conn.send_request(channel_id(), "exit-signal", false, w.data());
    }
    exit_sent_ = true;
  }
  if (!stdin_done_) stdin_failed();
  release_pty();
  send_eof_and_close();
  service_.hooks_.flush();
  gone_if_finished();
}

void SessionChannel::send_eof_and_close() {
  if (channel_gone_ || close_sent_) return;
  connection::Connection& conn = service_.conn_;
  // EOF once all of the child's output has gone out (stdout and stderr);
  // CLOSE once the child is reaped as well, as sshd.
  if (!eof_sent_ && out_.eof && err_.eof) {
    conn.send_eof(channel_id());
    eof_sent_ = true;
  }
  if (eof_sent_ && reaped_) {
    conn.close(channel_id());
    close_sent_ = true;
  }
  service_.hooks_.flush();
  update_watches();
}

void SessionChannel::release_pty() {
  if (login_recorded_) {
    login_recorded_ = false;
    if (service_.policy_.record_login) service_.policy_.record_login(tty_, pid_, false);
  }
  pty_.reset();
}

void SessionChannel::close_descriptors() {
  for (Output* o : {&out_, &err_}) {
    o->watch.detach();
    o->fd.reset();
    o->eof = true;
  }
  stdin_watch_.detach();
  stdin_.reset();
  stdin_done_ = true;
  stdin_pending_.clear();
}

void SessionChannel::on_closed() {
  channel_gone_ = true;
  // The client is gone from this session: our ends close (a pty's child
  // gets its hang-up once the master is closed); the child is reaped when
  // it exits.
  close_descriptors();
  release_pty();
  gone_if_finished();
}

void SessionChannel::gone_if_finished() {
  if (forgotten_ || !channel_gone_ || (started_ && !reaped_)) return;
  forgotten_ = true;
  const SessionPolicy& policy = service_.policy_;
  service_.log("Close session: user " + policy.user.name + " from " + policy.client_ip + " port " +
               std::to_string(policy.client_port) + " id " + std::to_string(number_));
  service_.forget(this);
}

}  // namespace tessera::ssh::server
