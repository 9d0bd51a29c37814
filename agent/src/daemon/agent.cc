#include "daemon/agent.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/log.h"
#include "daemon/peer.h"

namespace tessera::agent::daemon {

using key::Errc;
using key::Error;

namespace {

// As ssh-agent's SSH_LISTEN_BACKLOG.
constexpr int kListenBacklog = 128;
// Connections accepted per wake-up, so that a flood cannot hold the loop.
constexpr int kMaxAcceptsPerEvent = 32;
// How long to stop accepting when the process is out of descriptors.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

size_t connection_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 4096;
  return limit.rlim_cur > kReservedFds * 2 ? static_cast<size_t>(limit.rlim_cur) - kReservedFds : kReservedFds;
}

}  // namespace

key::Result<int> listen_on_unix_socket(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return Error(Errc::kInvalidArgument, "socket path \"" + path + "\" is empty or too long");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error(Errc::kIo, std::string("socket: ") + std::strerror(errno));
  mode_t previous = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int saved = errno;
  ::umask(previous);
  if (rc != 0) {
    ::close(fd);
    return Error(Errc::kIo, "cannot bind to path " + path + ": " + std::strerror(saved));
  }
  if (::listen(fd, kListenBacklog) != 0) {
    saved = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Error(Errc::kIo, "cannot listen on path " + path + ": " + std::strerror(saved));
  }
  return fd;
}

key::Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config) {
  auto loop = EventLoop::create();
  if (!loop.ok()) return loop.error();
  if (config.manual_time) (*loop)->use_manual_time();
  std::unique_ptr<AuditLog> audit;
  if (config.audit_log || config.audit_syslog) {
    auto opened = AuditLog::open(config.audit_log, config.audit_syslog);
    if (!opened.ok()) return opened.error();
    audit = std::move(*opened);
  }
  int fd = config.listen_fd;
  bool owns_file = false;
  if (fd < 0) {
    auto listening = listen_on_unix_socket(config.socket_path);
    if (!listening.ok()) return listening.error();
    fd = *listening;
    owns_file = true;
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(config), std::move(*loop), std::move(audit), fd, owns_file));
  auto watched = agent->loop_->add_fd(fd, EPOLLIN, [a = agent.get()](uint32_t) { a->accept_connections(); });
  if (!watched.ok()) return watched.error();
  if (agent->config_.parent_pid > 0) {
    agent->loop_->add_timer(agent->loop_->now() + kParentCheckInterval, [a = agent.get()] { a->check_parent(); });
  }
  return agent;
}

Agent::Agent(AgentConfig config, std::unique_ptr<EventLoop> loop, std::unique_ptr<AuditLog> audit, int listen_fd,
             bool owns_socket_file)
    : config_(std::move(config)),
      loop_(std::move(loop)),
      audit_(std::move(audit)),
      signers_(config_.workers, "tessera-sign"),
      confirmer_(config_.askpass),
      dispatcher_(DispatcherConfig{config_.default_lifetime, config_.fingerprint_hash, config_.allowed_providers,
                                   config_.allow_remote_pkcs11, config_.pkcs11, config_.security_keys,
                                   config_.restrict_websafe},
                  *loop_, signers_, confirmer_, audit_.get()),
      listen_fd_(listen_fd),
      owns_socket_file_(owns_socket_file),
      max_connections_(connection_limit()) {}

Agent::~Agent() {
  // Threads first: they post to the loop and use the dispatcher.
  confirmer_.shutdown();
  signers_.shutdown();
  connections_.clear();
  loop_->remove_fd(listen_fd_);
  ::close(listen_fd_);
  if (owns_socket_file_) ::unlink(config_.socket_path.c_str());
}

void Agent::run() {
  signers_.start();
  confirmer_.start();
  dispatcher_.start();
  log_debug("serving on " + config_.socket_path + " with " + std::to_string(signers_.size()) +
            " signing threads");
  loop_->run();
  // Open dialogs first: a security key signature may be waiting for a PIN.
  confirmer_.shutdown();
  dispatcher_.shutdown();
  signers_.shutdown();
}

void Agent::stop() { loop_->stop(); }

void Agent::check_parent() {
  if (::getppid() != config_.parent_pid) {
    log_info("parent has exited; stopping");
    stop();
    return;
  }
  loop_->add_timer(loop_->now() + kParentCheckInterval, [this] { check_parent(); });
}

void Agent::accept_connections() {
  for (int i = 0; i < kMaxAcceptsPerEvent && connections_.size() < max_connections_; ++i) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: stop accepting for a moment instead of spinning.
        log_error(std::string("accept: ") + std::strerror(errno));
        listener_armed_ = false;
        auto status = loop_->modify_fd(listen_fd_, 0);
        (void)status;
        loop_->add_timer(loop_->now() + kAcceptBackoff, [this] { update_listener(); });
        return;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) log_error(std::string("accept: ") + std::strerror(errno));
      break;
    }
    auto peer = peer_info(fd);
    if (!peer.ok()) {
      log_error("getpeereid failed: " + peer.error().message());
      ::close(fd);
      continue;
    }
    if (!peer_uid_allowed(peer->uid, config_.agent_uid)) {
      log_error("uid mismatch: peer euid " + std::to_string(peer->uid) + " != uid " +
                std::to_string(config_.agent_uid));
      ::close(fd);
      continue;
    }
    uint64_t id = next_connection_id_++;
    log_debug("new connection " + std::to_string(id) + " from pid " + std::to_string(peer->pid) + " uid " +
              std::to_string(peer->uid) + " (" + (peer->exe.empty() ? "?" : peer->exe) + ")");
    auto connection = std::make_unique<Connection>(id, fd, std::move(*peer));
    auto watched = loop_->add_fd(fd, EPOLLIN | EPOLLRDHUP,
                                 [this, id](uint32_t events) { on_connection_event(id, events); });
    if (!watched.ok()) {
      log_error("cannot watch connection: " + watched.error().message());
      continue;  // the Connection closes fd
    }
    connection->watched_events = EPOLLIN | EPOLLRDHUP;
    connections_.emplace(id, std::move(connection));
  }
  update_listener();
}

void Agent::update_listener() {
  bool want = connections_.size() < max_connections_;
  if (want == listener_armed_) return;
  listener_armed_ = want;
  if (!want) log_info("connection limit reached; not accepting for now");
  auto status = loop_->modify_fd(listen_fd_, want ? static_cast<uint32_t>(EPOLLIN) : 0u);
  (void)status;
}

void Agent::on_connection_event(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& connection = *it->second;
  if (events & (EPOLLERR | EPOLLHUP)) {
    // The peer is gone in both directions: nobody is left to read answers.
    close_connection(id);
    return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP)) && !connection.input_closed && !connection.reading_paused) {
    switch (connection.read_available()) {
      case Connection::ReadStatus::kOpen: break;
      case Connection::ReadStatus::kEndOfInput: connection.input_closed = true; break;
      case Connection::ReadStatus::kError: close_connection(id); return;
    }
  }
  service(connection);
}

bool Agent::process_input(Connection& connection) {
  while (connection.can_take_requests()) {
    std::span<const uint8_t> payload;
    switch (connection.peek_frame(&payload)) {
      case Connection::FrameStatus::kIncomplete: return true;
      case Connection::FrameStatus::kBadLength:
        log_debug("connection " + std::to_string(connection.id()) + ": message length is zero or over " +
                  std::to_string(kMaxMessageBytes) + " bytes; closing");
        return false;
      case Connection::FrameStatus::kReady: break;
    }
    uint64_t sequence = connection.open_slot();
    uint64_t id = connection.id();
    dispatcher_.handle(connection, payload,
                       [this, id, sequence](Bytes answer) { complete(id, sequence, std::move(answer)); });
    connection.consume_frame();
  }
  connection.reading_paused = true;  // resumes once answers drain (see service())
  return true;
}

void Agent::service(Connection& connection) {
  uint64_t id = connection.id();
  // Alternate between answering and reading until neither can move: a write
  // that drains the output may let paused input be processed again.
  do {
    if (connection.has_output() && connection.write_pending() == Connection::WriteStatus::kError) {
      return close_connection(id);
    }
    if (connection.reading_paused && connection.can_take_requests()) connection.reading_paused = false;
    servicing_ = id;
    bool ok = process_input(connection);
    servicing_ = 0;
    if (!ok) return close_connection(id);
    if (connection.has_output() && connection.write_pending() == Connection::WriteStatus::kError) {
      return close_connection(id);
    }
  } while (connection.reading_paused && connection.can_take_requests());
  if (connection.input_closed && connection.pending_slots() == 0 && !connection.has_output()) {
    return close_connection(id);
  }
  update_interest(connection);
}

void Agent::complete(uint64_t id, uint64_t sequence, Bytes payload) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // the client went away; drop the answer
  it->second->complete_slot(sequence, std::move(payload));
  // Answers given while the connection's input is being processed go out
  // when that processing ends.
  if (servicing_ != id) service(*it->second);
}

void Agent::update_interest(Connection& connection) {
  uint32_t want = 0;
  if (!connection.input_closed && !connection.reading_paused) want |= EPOLLIN | EPOLLRDHUP;
  if (connection.has_output()) want |= EPOLLOUT;
  if (want == connection.watched_events) return;
  connection.watched_events = want;
  auto status = loop_->modify_fd(connection.fd(), want);
  (void)status;
}

void Agent::close_connection(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  loop_->remove_fd(it->second->fd());
  log_debug("closing connection " + std::to_string(id));
  connections_.erase(it);
  update_listener();
}

}  // namespace tessera::agent::daemon
