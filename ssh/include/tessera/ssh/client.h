// Embedding an SSH client: connect, authenticate (agent, key files), run
// commands. This is the blocking face of the library, for programs that
// want an answer rather than an event loop: each call drives the
// connection on a loop of its own until it has one.
//
//   tessera::ssh::ClientOptions options;
//   options.host = "build.example.com";
//   options.user = "ci";
//   auto client = tessera::ssh::Client::connect(options);
//   if (!client.ok()) { /* client.error().message() says why */ }
//   auto result = (*client)->run("uname -a");
//   if (result.ok()) std::cout << result->out << "exit " << result->exit_status << "\n";
//
// Host keys are checked against known_hosts as OpenSSH's ssh does
// (StrictHostKeyChecking yes by default here: an unknown host is refused
// unless accept_new_host_keys is set). Keys come from the agent
// (SSH_AUTH_SOCK) and the identity files given. Errors are key::Error with
// the wording tessera-ssh prints ("Permission denied (publickey).",
// "Host key verification failed.", "connect to host h port 22: Connection
// refused").
//
// A Client is not thread-safe; use one per thread.
#ifndef TESSERA_SSH_CLIENT_H_
#define TESSERA_SSH_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"

namespace tessera::ssh {

struct ClientOptions {
  std::string host;
  uint16_t port = 22;
  std::string user;  // empty: the local user

  // Host keys: these known_hosts files (empty: ~/.ssh/known_hosts and
  // /etc/ssh/ssh_known_hosts), refusing unknown hosts unless
  // accept_new_host_keys (then they are added to the first file).
  std::vector<std::string> known_hosts_files;
  bool accept_new_host_keys = false;
  // Decides instead of known_hosts when set: return an error to refuse.
  std::function<key::Status(const key::PublicKey& host_key)> host_key_check;

  // Authentication: the agent (nullopt: $SSH_AUTH_SOCK; "" : none), then
  // these private key files (passphrase-less, or asked on the terminal).
  std::optional<std::string> agent_socket;
  std::vector<std::string> identity_files;

  std::chrono::seconds connect_timeout{30};
  // Algorithms in preference order; empty: tessera's defaults (OpenSSH's).
  std::vector<std::string> kex_algorithms, ciphers, macs, host_key_algorithms;
};

struct CommandResult {
  int exit_status = -1;               // -1 when the command ended without one (a signal)
  std::optional<std::string> exit_signal;  // "KILL", "TERM", ... when it died of one
  std::string out;
  std::string err;
};

class Client {
 public:
  // Connects, checks the host key and authenticates. Blocks.
  static key::Result<std::unique_ptr<Client>> connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs command (exec request) with `input` as its standard input and
  // returns when it has ended. Output is kept in memory, up to max_output
  // bytes of each stream (beyond: kTooLarge).
  key::Result<CommandResult> run(std::string_view command, std::string_view input = {},
                                 size_t max_output = 64 * 1024 * 1024);

  // The server's host key, and the negotiated algorithms ("kex cipher mac").
  const key::PublicKey& host_key() const;
  std::string algorithms() const;

  // Ends the connection politely (also done by the destructor).
  void close();

 private:
  struct State;
  explicit Client(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera::ssh

#endif  // TESSERA_SSH_CLIENT_H_
