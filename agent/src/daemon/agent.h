// tessera-agent's server: the listening socket, its connections, and the
// parts that serve them (event loop, dispatcher, signing and confirmation
// threads, audit). main.cc runs one for the program; tests run one in-process
// on a socket of their own, in a thread, and stop it cleanly.
//
//   auto agent = Agent::create(config);   // binds; starts no thread
//   std::thread t([&] { (*agent)->run(); });
//   ... (*agent)->stop(); t.join();
#ifndef TESSERA_AGENT_DAEMON_AGENT_H_
#define TESSERA_AGENT_DAEMON_AGENT_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/askpass.h"
#include "daemon/audit.h"
#include "daemon/connection.h"
#include "daemon/dispatcher.h"
#include "daemon/event_loop.h"
#include "daemon/options.h"
#include "daemon/worker_pool.h"
#include "tessera/pkcs11/client.h"
#include "tessera/key/error.h"
#include "tessera/key/fingerprint.h"

namespace tessera::agent::daemon {

// How often the agent checks that the process it serves is still there
// (command mode), as ssh-agent's parent_alive_interval.
inline constexpr std::chrono::seconds kParentCheckInterval{10};
// Descriptors kept free for logging, askpass pipes and the like.
inline constexpr size_t kReservedFds = 16;

struct AgentConfig {
  std::string socket_path;  // where to listen, unless listen_fd is given
  int listen_fd = -1;       // a listening socket to serve (the agent takes it over)
  unsigned workers = 0;     // signing threads; 0: one per CPU
  uint32_t default_lifetime = 0;
  key::FingerprintHash fingerprint_hash = key::FingerprintHash::kSha256;
  std::string allowed_providers{kDefaultAllowedProviders};
  bool allow_remote_pkcs11 = false;
  bool restrict_websafe = true;  // -O no-restrict-websafe clears it
  Pkcs11Settings pkcs11{.helper_program = pkcs11::default_helper_program()};
  SecurityKeySettings security_keys;
  AskpassConfig askpass = AskpassConfig::from_environment();
  std::optional<std::string> audit_log;
  bool audit_syslog = false;
  uid_t agent_uid = ::getuid();  // peers must have this uid (or be root)
  pid_t parent_pid = 0;          // if set: stop once getppid() is no longer this
  bool manual_time = false;      // tests: the agent's time moves only through advance_time()
};

// Creates a Unix stream socket listening at path, mode 0600 (umask 0177
// while binding, as ssh-agent). The path must not exist. Close-on-exec,
// non-blocking.
key::Result<int> listen_on_unix_socket(const std::string& path);

class Agent {
 public:
  // Binds the socket (unless config.listen_fd is set), opens the audit log
  // and prepares the loop. Starts no thread, so it may precede fork().
  static key::Result<std::unique_ptr<Agent>> create(AgentConfig config);
  // Stops the threads, closes every connection and the socket; removes the
  // socket file only if create() made it.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Serves until stop(). Starts the signing and confirmation threads, and
  // stops them (waiting for running signatures) before returning.
  void run();
  // Thread-safe and async-signal-safe.
  void stop();
  // For tests with config.manual_time, while run() serves: moves the agent's
  // time forward and returns once what fell due (expiry, delays) has run.
  void advance_time(Clock::duration by) { loop_->advance_time(by); }

  const std::string& socket_path() const { return config_.socket_path; }
  size_t connection_count() const { return connections_.size(); }

 private:
  Agent(AgentConfig config, std::unique_ptr<EventLoop> loop, std::unique_ptr<AuditLog> audit, int listen_fd,
        bool owns_socket_file);

  void accept_connections();
  void on_connection_event(uint64_t id, uint32_t events);
  void service(Connection& connection);
  bool process_input(Connection& connection);
  void complete(uint64_t id, uint64_t sequence, Bytes payload);
  void close_connection(uint64_t id);
  void update_interest(Connection& connection);
  void update_listener();
  void check_parent();

  AgentConfig config_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<AuditLog> audit_;
  WorkerPool signers_;
  Confirmer confirmer_;
  Dispatcher dispatcher_;
  int listen_fd_;
  bool owns_socket_file_;
  bool listener_armed_ = true;
  size_t max_connections_;
  uint64_t next_connection_id_ = 1;
  uint64_t servicing_ = 0;  // the connection whose input is being processed
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_AGENT_H_
