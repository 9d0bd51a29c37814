// Shared by the tessera-agent tests (daemon_test.cc, malformed_test.cc): an
// in-process Agent on a temporary socket, served by a thread of its own, and
// a minimal blocking client that speaks raw frames.
#ifndef TESSERA_TESTS_AGENT_DAEMON_TEST_SUPPORT_H_
#define TESSERA_TESTS_AGENT_DAEMON_TEST_SUPPORT_H_

#include <cerrno>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/agent.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::agent::daemon::testing {

// An agent serving a socket in a temporary directory until destroyed.
class RunningAgent {
 public:
  explicit RunningAgent(AgentConfig config = {}) {
    if (config.socket_path.empty()) config.socket_path = dir_.file("agent.sock");
    auto created = Agent::create(std::move(config));
    if (!created.ok()) {
      ADD_FAILURE() << "Agent::create: " << created.error().message();
      return;
    }
    agent_ = std::move(*created);
    thread_ = std::thread([this] { agent_->run(); });
  }
  ~RunningAgent() {
    if (!agent_) return;
    agent_->stop();
    thread_.join();
  }
  RunningAgent(const RunningAgent&) = delete;
  RunningAgent& operator=(const RunningAgent&) = delete;

  bool ok() const { return agent_ != nullptr; }
  const std::string& socket_path() const { return agent_->socket_path(); }
  // With config.manual_time: moves the agent's time (see Agent::advance_time).
  void advance_time(Clock::duration by) { agent_->advance_time(by); }
  const test::TempDir& dir() const { return dir_; }

 private:
  test::TempDir dir_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
};

// A blocking client with a receive timeout, so that a broken agent fails a
// test instead of hanging it.
class RawClient {
 public:
  explicit RawClient(const std::string& path, int timeout_seconds = 20) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect " << path << ": " << std::strerror(errno);
    }
    timeval tv{timeout_seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool send_bytes(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  bool send_payload(std::span<const uint8_t> payload) { return send_bytes(frame(payload)); }
  bool send_request(const Request& request) { return send_payload(serialize_request(request)); }

  // The next answer's payload; nullopt on end of stream, error or timeout.
  std::optional<Bytes> receive_payload() {
    uint8_t header[4];
    if (!receive_exact(header, 4)) return std::nullopt;
    uint32_t length = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) |
                      uint32_t{header[3]};
    if (length > kMaxMessageBytes) return std::nullopt;
    Bytes payload(length);
    if (!receive_exact(payload.data(), length)) return std::nullopt;
    return payload;
  }
  std::optional<Response> receive() {
    auto payload = receive_payload();
    if (!payload) return std::nullopt;
    auto parsed = parse_response(*payload);
    if (!parsed.ok()) {
      ADD_FAILURE() << "unparsable answer: " << parsed.error().message();
      return std::nullopt;
    }
    return std::move(*parsed);
  }
  std::optional<Response> call(const Request& request) {
    if (!send_request(request)) return std::nullopt;
    return receive();
  }
  // Whole answers that have arrived and wait to be received, without blocking.
  size_t answers_waiting() const {
    Bytes buffer(4 * kMaxMessageBytes);
    ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
    size_t count = 0;
    for (size_t at = 0; n > 0 && at + 4 <= static_cast<size_t>(n); ++count) {
      const size_t length = (size_t{buffer[at]} << 24) | (size_t{buffer[at + 1]} << 16) |
                            (size_t{buffer[at + 2]} << 8) | size_t{buffer[at + 3]};
      if (at + 4 + length > static_cast<size_t>(n)) break;
      at += 4 + length;
    }
    return count;
  }
  // True if the agent closed the connection (read returns end of stream).
  bool closed_by_peer() {
    uint8_t byte;
    ssize_t n;
    do {
      n = ::recv(fd_, &byte, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

 private:
  bool receive_exact(uint8_t* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      // A receive timeout makes recv return EINTR on any signal (signal(7)).
      ssize_t got = ::recv(fd_, out + done, n - done, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      done += static_cast<size_t>(got);
    }
    return true;
  }
  int fd_ = -1;
};

// Keys are slow to make (RSA especially): one per type, size and variant
// (for tests that need two keys of a type) per test binary.
inline const key::PrivateKey& test_key(key::KeyType type, unsigned bits = 0, int variant = 0) {
  static std::map<std::tuple<key::KeyType, unsigned, int>, key::PrivateKey> keys;
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard(mutex);
  auto it = keys.find({type, bits, variant});
  if (it == keys.end()) {
    auto generated = key::PrivateKey::generate(type, bits);
    if (!generated.ok()) std::abort();
    it = keys.emplace(std::make_tuple(type, bits, variant), std::move(*generated)).first;
  }
  return it->second;
}

inline AddIdentity add_request(const key::PrivateKey& key, std::string comment, Constraints constraints = {}) {
  return AddIdentity{key, std::nullopt, std::move(comment), std::move(constraints)};
}

inline bool is_failure(const std::optional<Response>& r) { return r && std::holds_alternative<Failure>(*r); }
inline bool is_success(const std::optional<Response>& r) { return r && std::holds_alternative<Success>(*r); }
inline std::vector<Identity> identities_of(const std::optional<Response>& r) {
  if (!r || !std::holds_alternative<IdentitiesAnswer>(*r)) {
    ADD_FAILURE() << "expected an identities answer";
    return {};
  }
  return std::get<IdentitiesAnswer>(*r).identities;
}

}  // namespace tessera::agent::daemon::testing

#endif  // TESSERA_TESTS_AGENT_DAEMON_TEST_SUPPORT_H_
