#include "tessera/agent/client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace tessera::agent {

namespace {

using Clock = std::chrono::steady_clock;

Error io_error(std::string what) { return Error(Errc::kIo, std::move(what)); }

Error refused(std::string_view what = {}) {
  if (what.empty()) return Error(Errc::kUnsupported, std::string(kAgentRefusedText));
  return Error(Errc::kUnsupported, std::string(what) + " (" + std::string(kAgentRefusedText) + ")");
}

// Waits until fd is ready for `events` or the deadline passes.
Status wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return io_error("timed out waiting for the agent");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(std::string("poll on agent socket: ") + std::strerror(errno));
    }
    if (n == 0) continue;
    if ((p.revents & (POLLERR | POLLNVAL)) != 0 && (p.revents & events) == 0) {
      return io_error("agent connection failed");
    }
    return key::ok_status();
  }
}

Status write_all(int fd, std::span<const uint8_t> data, Clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    TESSERA_TRY(wait_for(fd, POLLOUT, deadline));
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return io_error(std::string("communication with agent failed: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return key::ok_status();
}

Status read_all(int fd, std::span<uint8_t> out, Clock::time_point deadline) {
  size_t done = 0;
  while (done < out.size()) {
    TESSERA_TRY(wait_for(fd, POLLIN, deadline));
    ssize_t n = ::recv(fd, out.data() + done, out.size() - done, 0);
    if (n == 0) return io_error("communication with agent failed: the agent closed the connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return io_error(std::string("communication with agent failed: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return key::ok_status();
}

Error unexpected(const Response& r, std::string_view wanted) {
  static constexpr const char* kNames[] = {"failure", "success", "identities answer", "sign response",
                                           "extension failure", "extension response"};
  return Error(Errc::kMalformed, "agent answered with " + std::string(kNames[r.index()]) + " to a " +
                                     std::string(wanted));
}

}  // namespace

bool is_agent_refusal(const Error& error) {
  return error.code() == Errc::kUnsupported && error.detail().find(kAgentRefusedText) != std::string::npos;
}

Result<AgentClient> AgentClient::connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) return io_error("empty agent socket path");
  if (path.size() >= sizeof(addr.sun_path)) {
    return io_error("agent socket path is too long (" + std::to_string(path.size()) + " bytes): " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error(std::string("cannot create socket: ") + std::strerror(errno));
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    ::close(fd);
    return io_error("cannot connect to agent at " + path + ": " + std::strerror(err));
  }
  return AgentClient(fd, path);
}

Result<AgentClient> AgentClient::connect_from_env() {
  const char* path = std::getenv(std::string(kAuthSockEnv).c_str());
  if (path == nullptr || *path == '\0') {
    return io_error(
        "could not open a connection to your authentication agent: SSH_AUTH_SOCK is not set "
        "(start one with eval \"$(tessera-agent)\" or eval \"$(ssh-agent)\")");
  }
  return connect(path);
}

AgentClient::AgentClient(AgentClient&& other) noexcept = default;
AgentClient& AgentClient::operator=(AgentClient&& other) noexcept = default;
AgentClient::~AgentClient() = default;

Result<Bytes> AgentClient::transact(std::span<const uint8_t> request_payload) {
  if (!fd_.valid()) return io_error("the connection to the agent was closed after an earlier error");
  if (request_payload.size() > kMaxMessageBytes) {
    return Error(Errc::kTooLarge, "request of " + std::to_string(request_payload.size()) +
                                      " bytes exceeds the agent message limit");
  }
  const auto deadline = Clock::now() + timeout_;
  Bytes framed = frame(request_payload);
  Status sent = write_all(fd_.get(), framed, deadline);
  key::secure_wipe(framed.data(), framed.size());  // it may carry a private key or PIN
  if (!sent.ok()) {
    fd_.reset();
    return sent.error();
  }
  uint8_t len_buf[4];
  if (Status s = read_all(fd_.get(), len_buf, deadline); !s.ok()) {
    fd_.reset();
    return s.error();
  }
  const uint32_t len = (uint32_t{len_buf[0]} << 24) | (uint32_t{len_buf[1]} << 16) | (uint32_t{len_buf[2]} << 8) |
                       uint32_t{len_buf[3]};
  if (len > kMaxMessageBytes) {
    fd_.reset();
    return Error(Errc::kTooLarge, "agent answer of " + std::to_string(len) + " bytes exceeds the " +
                                      std::to_string(kMaxMessageBytes) + "-byte limit");
  }
  Bytes reply(len);
  if (Status s = read_all(fd_.get(), reply, deadline); !s.ok()) {
    fd_.reset();
    return s.error();
  }
  return reply;
}

Result<Response> AgentClient::request(const Request& req) {
  Bytes payload = serialize_request(req);
  auto reply = transact(payload);
  key::secure_wipe(payload.data(), payload.size());
  if (!reply.ok()) return reply.error();
  auto parsed = parse_response(*reply);
  if (!parsed.ok()) return parsed.error().with_context("agent answer");
  return parsed;
}

Status AgentClient::expect_success(const Request& req, std::string_view what) {
  TESSERA_ASSIGN_OR_RETURN(Response r, request(req));
  if (std::holds_alternative<Success>(r)) return key::ok_status();
  if (std::holds_alternative<Failure>(r) || std::holds_alternative<ExtensionFailure>(r)) return refused();
  return unexpected(r, what);
}

Result<std::vector<Identity>> AgentClient::list_identities() {
  TESSERA_ASSIGN_OR_RETURN(Response r, request(RequestIdentities{}));
  if (auto* answer = std::get_if<IdentitiesAnswer>(&r)) return std::move(answer->identities);
  if (std::holds_alternative<Failure>(r)) return refused();
  return unexpected(r, "request for identities");
}

Result<Bytes> AgentClient::sign(std::span<const uint8_t> key_blob, std::span<const uint8_t> data, uint32_t flags) {
  SignRequest s;
  s.key_blob.assign(key_blob.begin(), key_blob.end());
  s.data.assign(data.begin(), data.end());
  s.flags = flags;
  TESSERA_ASSIGN_OR_RETURN(Response r, request(s));
  if (auto* sig = std::get_if<SignResponse>(&r)) return std::move(sig->signature);
  if (std::holds_alternative<Failure>(r)) return refused();
  return unexpected(r, "sign request");
}

Status AgentClient::add_identity(const AddIdentity& identity) {
  return expect_success(identity, "request to add an identity");
}

Status AgentClient::remove_identity(std::span<const uint8_t> key_blob) {
  return expect_success(RemoveIdentity{Bytes(key_blob.begin(), key_blob.end())}, "request to remove an identity");
}

Status AgentClient::remove_all() {
  Status s = expect_success(RemoveAllIdentities{false}, "request to remove all identities");
  if (fd_.valid()) (void)request(RemoveAllIdentities{true});
  return s;
}

Status AgentClient::add_smartcard(const std::string& provider, const key::SecretBytes& pin,
                                  const Constraints& constraints) {
  SmartcardRequest s;
  s.add = true;
  s.provider = provider;
  s.pin = pin.clone();
  s.constraints = constraints;
  return expect_success(std::move(s), "request to add smartcard keys");
}

Status AgentClient::remove_smartcard(const std::string& provider) {
  SmartcardRequest s;
  s.add = false;
  s.provider = provider;
  return expect_success(std::move(s), "request to remove smartcard keys");
}

Status AgentClient::lock(const key::SecretBytes& passphrase) {
  return expect_success(LockRequest{true, passphrase.clone()}, "lock request");
}

Status AgentClient::unlock(const key::SecretBytes& passphrase) {
  return expect_success(LockRequest{false, passphrase.clone()}, "unlock request");
}

Status AgentClient::session_bind(const SessionBind& bind) { return expect_success(bind, "session-bind request"); }

Result<std::vector<std::string>> AgentClient::query() {
  TESSERA_ASSIGN_OR_RETURN(Response r, request(QueryRequest{}));
  if (auto* ext = std::get_if<ExtensionResponse>(&r)) {
    auto names = parse_query_response(*ext);
    if (!names.ok()) return names.error().with_context("query answer");
    return names;
  }
  if (std::holds_alternative<Failure>(r) || std::holds_alternative<ExtensionFailure>(r)) {
    return refused("agent does not support the query extension");
  }
  return unexpected(r, "query request");
}

Result<StatusReport> AgentClient::status() {
  TESSERA_ASSIGN_OR_RETURN(Response r, request(StatusRequest{kStatusVersion}));
  if (auto* ext = std::get_if<ExtensionResponse>(&r)) {
    auto report = parse_status_response(*ext);
    if (!report.ok()) return report.error().with_context("status answer");
    return report;
  }
  if (std::holds_alternative<Failure>(r) || std::holds_alternative<ExtensionFailure>(r)) {
    return refused("agent has no status report for this connection");
  }
  return unexpected(r, "status request");
}

Result<Response> AgentClient::extension(std::string_view name, std::span<const uint8_t> contents) {
  key::Writer w;
  w.u8(static_cast<uint8_t>(MessageType::kExtension));
  w.string(name);
  w.bytes(contents);
  TESSERA_ASSIGN_OR_RETURN(Bytes reply, transact(w.data()));
  auto parsed = parse_response(reply);
  if (!parsed.ok()) return parsed.error().with_context("agent answer");
  return parsed;
}

}  // namespace tessera::agent
