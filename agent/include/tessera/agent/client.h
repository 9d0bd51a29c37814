// AgentClient: talks to an SSH agent (tessera-agent, OpenSSH's ssh-agent, or
// any PROTOCOL.agent server) over its Unix socket.
//
// One object owns one connection (the socket fd, closed on destruction);
// requests are sent one at a time and each waits for its answer, bounded by
// a timeout. Answers larger than kMaxMessageBytes are refused without being
// read. Nothing here aborts on what an agent sends.
//
// Errors (key::Error codes):
//   kUnsupported  the agent answered SSH_AGENT_FAILURE: "agent refused operation"
//                 (is_agent_refusal() tells these apart)
//   kIo           no agent (SSH_AUTH_SOCK unset), connect/read/write failure, timeout
//   kMalformed / kTruncated / kTrailingData / kTooLarge
//                 the agent's answer was broken or of the wrong kind
#ifndef TESSERA_AGENT_CLIENT_H_
#define TESSERA_AGENT_CLIENT_H_

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/agent/protocol.h"
#include "tessera/agent/status.h"
#include "tessera/sys/fd.h"

namespace tessera::agent {

// The environment variable naming the agent socket.
inline constexpr std::string_view kAuthSockEnv = "SSH_AUTH_SOCK";
// How long one request may take by default, from sending to the full answer.
// Generous: a request may wait for a PIN, a confirmation or a slow token.
inline constexpr std::chrono::milliseconds kDefaultAgentTimeout{120'000};
// The text of a refusal, as ssh-add prints it.
inline constexpr std::string_view kAgentRefusedText = "agent refused operation";

// True for the error a client method returns when the agent answered
// SSH_AGENT_FAILURE (or SSH_AGENT_EXTENSION_FAILURE).
bool is_agent_refusal(const Error& error);

class AgentClient {
 public:
  // Connects to the agent socket at `path`. kIo with the path and the system's
  // reason if it cannot ("cannot connect to agent at /x: No such file or directory").
  static Result<AgentClient> connect(const std::string& path);
  // Connects to the socket $SSH_AUTH_SOCK names; kIo when it is unset or empty
  // ("SSH_AUTH_SOCK is not set: start an agent ...") or unreachable.
  static Result<AgentClient> connect_from_env();

  AgentClient(AgentClient&& other) noexcept;
  AgentClient& operator=(AgentClient&& other) noexcept;
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  ~AgentClient();

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  const std::string& path() const { return path_; }

  // Sends one request payload (without the length prefix) and returns the
  // answer's payload. After a kIo error the connection is closed and every
  // later call fails.
  Result<Bytes> transact(std::span<const uint8_t> request_payload);
  // Serializes, sends and parses.
  Result<Response> request(const Request& request);

  Result<std::vector<Identity>> list_identities();
  // The signature blob (string algorithm, string signature) over data.
  // flags: kSignFlagRsaSha256 / kSignFlagRsaSha512 for RSA keys.
  Result<Bytes> sign(std::span<const uint8_t> key_blob, std::span<const uint8_t> data, uint32_t flags = 0);
  Status add_identity(const AddIdentity& identity);
  Status remove_identity(std::span<const uint8_t> key_blob);
  // SSH2_AGENTC_REMOVE_ALL_IDENTITIES, then (as ssh-add -D) the legacy
  // protocol 1 variant, whose answer is ignored.
  Status remove_all();
  Status add_smartcard(const std::string& provider, const key::SecretBytes& pin, const Constraints& constraints = {});
  Status remove_smartcard(const std::string& provider);
  Status lock(const key::SecretBytes& passphrase);
  Status unlock(const key::SecretBytes& passphrase);
  Status session_bind(const SessionBind& bind);
  // Hands the connection's socket to the caller, who then owns (and
  // closes) it; the client is left without one. For a program that relays
  // the connection, as ssh does for a forwarded agent after session-bind.
  int release_socket() { return fd_.release(); }
  // The extensions the agent supports. An agent without the query extension
  // (OpenSSH 9.2 and older) refuses it: kUnsupported, "agent does not support
  // the query extension (agent refused operation)".
  Result<std::vector<std::string>> query();
  // tessera-agent's state report (status@tessera.dev). An agent that
  // refuses it (not tessera-agent, locked, or the connection is forwarded):
  // kUnsupported, "agent has no status report for this connection (agent
  // refused operation)"; a broken answer: kMalformed / kTooLarge / ...
  Result<StatusReport> status();
  // Any extension: SSH_AGENTC_EXTENSION, string name, then `contents` as is.
  // Returns the agent's answer (Success, ExtensionResponse, ...); a failure
  // answer is returned as a value, not an error.
  Result<Response> extension(std::string_view name, std::span<const uint8_t> contents = {});

 private:
  AgentClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status expect_success(const Request& request, std::string_view what);

  sys::Fd fd_;
  std::string path_;
  std::chrono::milliseconds timeout_ = kDefaultAgentTimeout;
};

}  // namespace tessera::agent

#endif  // TESSERA_AGENT_CLIENT_H_
