// The client's I/O layer: one SSH connection over a socket (or a proxy
// command's pipes) driven by the codebase's event loop. It feeds the
// transport, runs user authentication, hands connection-protocol messages
// to a Connection, and keeps the connection alive (ServerAliveInterval),
// re-keyed (RekeyLimit's time) and flushed.
#ifndef TESSERA_SSH_IO_CLIENT_CONNECTION_H_
#define TESSERA_SSH_IO_CLIENT_CONNECTION_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "auth/client_auth.h"
#include "connection/connection.h"
#include "io/transport_io.h"
#include "tessera/key/error.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"
#include "transport/transport.h"

namespace tessera::ssh::io {

struct ClientCallbacks {
  // The server's host key (first exchange); an error refuses it.
  std::function<key::Status(const transport::ServerHostKey&)> check_host_key;
  // The first key exchange is done (before authentication).
  std::function<void()> on_transport_ready;
  // Authentication succeeded: channels may be opened.
  std::function<void()> on_authenticated;
  // The connection is over; error says why (nullopt: closed cleanly by us).
  std::function<void(std::optional<key::Error>)> on_closed;
  // -v lines.
  std::function<void(std::string_view)> debug;
  // Everything queued for the server has been written (back-pressure).
  std::function<void()> on_drained;
};

class ClientConnection final : private transport::TransportListener {
 public:
  // in and out may be the same socket (two descriptors of it) or a proxy
  // command's stdout and stdin. Both are made non-blocking.
  ClientConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, transport::TransportConfig transport_config,
                   auth::ClientAuthConfig auth_config, auth::ClientAuthDelegate& auth_delegate,
                   ClientCallbacks callbacks);
  ~ClientConnection() override;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  key::Status start();
  // ServerAliveInterval / ServerAliveCountMax (0: off).
  void set_keepalive(std::chrono::seconds interval, int count_max);

  connection::Connection& connection() { return connection_; }
  transport::Transport& transport() { return transport_; }
  // Writes what the transport has queued; call after sending from outside
  // the connection's own callbacks.
  void flush();
  // Sends DISCONNECT (by application), flushes what it can and closes.
  void disconnect(std::string_view description);
  bool closed() const { return io_.closed(); }
  bool authenticated() const { return auth_.succeeded(); }
  // Bytes queued for the server (transport held + unwritten): back-pressure.
  size_t pending_bytes() const { return transport_.pending_bytes(); }

 private:
  key::Status check_host_key(const transport::ServerHostKey& host_key) override;
  void on_message(uint32_t seq, std::span<const uint8_t> payload) override;
  void on_ready() override;
  void on_debug(std::string_view message, bool always_display) override;
  void on_kex_done(const transport::Negotiated& algorithms) override;

  sys::EventLoop& loop_;
  TransportIo io_;
  transport::Transport transport_;
  auth::ClientAuth auth_;
  connection::Connection connection_;
  ClientCallbacks callbacks_;
};

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_CLIENT_CONNECTION_H_
