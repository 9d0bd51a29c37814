// One connection as its monitor sees it: the configuration resolved for it,
// who is on the other end, the host keys, the decision on each key a user
// offers, utmp, and starting the session process.
#ifndef TESSERA_SSH_SSHD_CONNECTION_SETUP_H_
#define TESSERA_SSH_SSHD_CONNECTION_SETUP_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "auth/server_auth.h"
#include "io/server_connection.h"
#include "server/monitor.h"
#include "server/session_policy.h"
#include "server/sshd_config.h"
#include "sshd/sshd.h"
#include "tessera/key/error.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::sshd {

class ConnectionSetup {
 public:
  // Loads the configuration and learns the peer's address from in_fd (a
  // socket; pipes in inetd mode give "UNKNOWN" port 65535 as sshd).
  static key::Result<std::unique_ptr<ConnectionSetup>> load(const Options& options, int in_fd, int out_fd);
  ~ConnectionSetup();

  const Settings& settings() const { return settings_; }
  const std::string& peer_address() const { return peer_address_; }
  uint16_t peer_port() const { return peer_port_; }
  const std::string& local_address() const { return local_address_; }
  uint16_t local_port() const { return local_port_; }
  // "ADDR port N", as sshd's log lines name a connection.
  const std::string& peer_description() const { return peer_description_; }
  // The user the client asked for (after its first request), for the log.
  const std::string& user() const { return user_; }
  // Whether that user is an account here (sshd's log says "invalid user").
  bool valid_user() const;

  // The monitor's: the host keys (files, certificates, agent or token).
  key::Result<std::unique_ptr<transport::HostKeySigner>> load_host_keys();
  transport::ServerKexConfig kex_config() const;
  // May this key log this user in? (authorized_keys, CAs, principals, KRL,
  // PermitRootLogin, AllowUsers/DenyUsers, PubkeyAcceptedAlgorithms).
  server::KeyVerdict check_key(const auth::PublickeyAttempt& attempt);
  key::Status record_pty(bool login, std::string_view tty, pid_t pid);

  // Starts the session process as the user with the handed-over transport
  // state, serves it (serve(monitor socket) returns when it closes the
  // socket), and returns the exit status for the monitor.
  int run_session_process(const auth::PublickeyAttempt& who, std::span<const uint8_t> state,
                          const std::function<void(int)>& serve);

  // The pre-auth child's setup: the transport and authentication settings
  // it needs (nothing secret).
  io::ServerIoConfig preauth_io_config() const;

 private:
  ConnectionSetup() = default;
  void apply(const server::SshdConfig& config);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  Settings settings_;
  std::string banner_text_;
  int client_fd_ = -1, client_out_fd_ = -1;
  std::vector<std::string> session_argv_;  // how the session process is exec'd
  std::string peer_address_, local_address_, peer_description_, user_;
  uint16_t peer_port_ = 65535, local_port_ = 65535;
};

// The pre-auth child (forked by the monitor): enters the sandbox, then runs
// the connection up to a successful authentication and hands it over. Its
// exit status: 0 handed over, kPreauthClientDisconnected when the client
// sent DISCONNECT, 1 otherwise.
inline constexpr int kPreauthClientDisconnected = 2;
int run_preauth_child(const ConnectionSetup& setup, int monitor_fd, int in_fd, int out_fd);

}  // namespace tessera::ssh::sshd

#endif  // TESSERA_SSH_SSHD_CONNECTION_SETUP_H_
