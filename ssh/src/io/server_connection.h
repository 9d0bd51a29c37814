// The server's I/O layer: one SSH connection over a socket, driven by the
// codebase's event loop. It feeds the transport (whose key exchanges a
// KexAuthority answers), runs user authentication (whose decisions a
// ServerAuthDecider makes), hands connection-protocol messages to a
// Connection, and keeps the connection alive (ClientAliveInterval) and
// re-keyed (RekeyLimit's time).
//
// The same class serves all three places a server connection lives:
// tessera-sshd's pre-auth child (version exchange, key exchanges and
// authentication; it stops reading once authentication succeeds so that the
// connection can be handed over), its session process (resume(): a connection
// authenticated elsewhere) and an embedding program's one process.
#ifndef TESSERA_SSH_IO_SERVER_CONNECTION_H_
#define TESSERA_SSH_IO_SERVER_CONNECTION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/server_auth.h"
#include "io/transport_io.h"
#include "connection/connection.h"
#include "tessera/key/error.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"
#include "transport/kex_authority.h"
#include "transport/transport.h"

namespace tessera::ssh::io {

struct ServerCallbacks {
  // Authentication succeeded (USERAUTH_SUCCESS is queued). With
  // stop_after_auth the connection reads nothing more from here on.
  std::function<void()> on_authenticated;
  // The connection is over; error says why (nullopt: closed by us).
  std::function<void(std::optional<key::Error>)> on_closed;
  // A key exchange finished (the first or a re-key).
  std::function<void(const transport::Negotiated&)> on_kex_done;
  // Everything queued for the client has been written (back-pressure).
  std::function<void()> on_drained;
};

// The error on_closed reports when ClientAliveCountMax probes went
// unanswered (sshd logs it, with the connection, at INFO).
inline constexpr std::string_view kClientAliveTimeout = "Timeout, client not responding";

struct ServerIoConfig {
  transport::TransportConfig transport;
  auth::ServerAuthConfig auth;
  // tessera-sshd's pre-auth child: stop reading once authenticated.
  bool stop_after_auth = false;
  // ClientAliveInterval / ClientAliveCountMax (0: off).
  std::chrono::seconds client_alive_interval{0};
  int client_alive_count_max = 3;
};

class ServerConnection final : private transport::TransportListener {
 public:
  // A new connection on `in` and `out` (two descriptors of the client's socket, or an
  // inetd-style pair of pipes; both made non-blocking): identification,
  // key exchange, authentication. authority and decider must outlive it.
  ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config,
                   transport::KexAuthority& authority, auth::ServerAuthDecider& decider, ServerCallbacks callbacks);
  // A connection authenticated in another process: state from
  // Transport::export_state() (checked as untrusted input).
  static key::Result<std::unique_ptr<ServerConnection>> resume(sys::EventLoop& loop, sys::Fd in, sys::Fd out,
                                                               ServerIoConfig config,
                                                               transport::KexAuthority& authority,
                                                               std::span<const uint8_t> state,
                                                               ServerCallbacks callbacks);
  ~ServerConnection() override;
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // Starts watching the socket (and, for a new connection, sends our
  // identification and KEXINIT).
  key::Status start();

  connection::Connection& connection() { return *connection_; }
  transport::Transport& transport() { return *transport_; }
  // The user that authenticated (empty before) and how.
  const std::string& user() const { return user_; }
  const auth::ServerAuth* auth() const { return auth_.get(); }

  // Writes what the transport has queued; call after sending from outside
  // the connection's own callbacks.
  void flush();
  // Writes everything queued, waiting for the socket if need be (at most
  // `limit`): before a hand-over or an exit.
  key::Status flush_blocking(std::chrono::milliseconds limit);
  // Sends DISCONNECT (by application), flushes what it can and closes.
  void disconnect(std::string_view description);
  // Stops watching the socket without closing it or sending anything (the
  // connection goes on in another process); on_closed is not called.
  void detach();
  bool closed() const { return io_.closed(); }

 private:
  ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config, ServerCallbacks callbacks);

  key::Status check_host_key(const transport::ServerHostKey&) override { return key::ok_status(); }
  void on_message(uint32_t seq, std::span<const uint8_t> payload) override;
  void on_kex_done(const transport::Negotiated& algorithms) override;

  void start_client_alive();

  sys::EventLoop& loop_;
  ServerIoConfig config_;
  ServerCallbacks callbacks_;
  TransportIo io_;
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<auth::ServerAuth> auth_;  // until authenticated (new connections only)
  std::unique_ptr<connection::Connection> connection_;
  std::string user_;
  bool authenticated_ = false;
};

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_SERVER_CONNECTION_H_
