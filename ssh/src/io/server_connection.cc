#include "io/server_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "tessera/sys/fd.h"
#include "transport/messages.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

// Our writes are whole packets, never a byte at a time, so Nagle's
// algorithm only ever holds back the second of two replies written in turn
// (CHANNEL_EOF then EXIT_STATUS and CLOSE, a global request then an open
// confirmation) until the client's delayed ACK, 40 ms later on Linux: a
// stall OpenSSH's ssh waits out in every `ssh host command`. Pipes (inetd
// mode) are not sockets: the call fails, harmlessly.
sys::Fd without_nagle(sys::Fd socket) {
  const int one = 1;
  (void)::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return socket;
}

}  // namespace

ServerConnection::ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config,
                                   ServerCallbacks callbacks)
    : loop_(loop),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      io_(loop, std::move(in), without_nagle(std::move(out)), "client", forward_to(callbacks_)) {
  config_.transport.is_client = false;
}

ServerConnection::ServerConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out, ServerIoConfig config,
                                   transport::KexAuthority& authority, auth::ServerAuthDecider& decider,
                                   ServerCallbacks callbacks)
    : ServerConnection(loop, std::move(in), std::move(out), std::move(config), std::move(callbacks)) {
  transport::TransportListener& listener = *this;
  transport_ = std::make_unique<transport::Transport>(config_.transport, listener, authority);
  io_.attach(*transport_);
  auth_ = std::make_unique<auth::ServerAuth>(*transport_, config_.auth, decider);
  auth_->on_success = [this] {
    authenticated_ = true;
    user_ = auth_->user();
    if (config_.stop_after_auth) transport_->pause_input();
    start_client_alive();
    if (callbacks_.on_authenticated) callbacks_.on_authenticated();
  };
  connection_ = std::make_unique<connection::Connection>(*transport_);
}

key::Result<std::unique_ptr<ServerConnection>> ServerConnection::resume(sys::EventLoop& loop, sys::Fd in, sys::Fd out,
                                                                        ServerIoConfig config,
                                                                        transport::KexAuthority& authority,
                                                                        std::span<const uint8_t> state,
                                                                        ServerCallbacks callbacks) {
  std::unique_ptr<ServerConnection> c(
      new ServerConnection(loop, std::move(in), std::move(out), std::move(config), std::move(callbacks)));
  transport::TransportListener& listener = *c;
  TESSERA_ASSIGN_OR_RETURN(c->transport_, transport::Transport::import(c->config_.transport, listener, authority,
                                                                       state, loop.now()));
  c->io_.attach(*c->transport_);
  c->connection_ = std::make_unique<connection::Connection>(*c->transport_);
  c->authenticated_ = true;
  c->start_client_alive();
  return c;
}

ServerConnection::~ServerConnection() = default;

key::Status ServerConnection::start() {
  TESSERA_TRY(io_.watch());
  if (auth_) {
    transport_->start(loop_.now());
    io_.flush();
    io_.schedule_timers();
  } else {
    // A resumed connection may hold whole packets that arrived before the
    // hand-over.
    io_.receive_held();
  }
  return key::ok_status();
}

void ServerConnection::start_client_alive() {
  // ClientAliveInterval: probes once authenticated; after
  // ClientAliveCountMax unanswered, sshd's words and a DISCONNECT.
  io_.set_keepalive(
      config_.client_alive_interval, config_.client_alive_count_max,
      [this] { connection_->send_global_request("keepalive@openssh.com", true); },
      [this] {
        transport_->disconnect(DisconnectReason::kByApplication, std::string(kClientAliveTimeout));
        io_.flush();
        io_.finish(Error(Errc::kIo, std::string(kClientAliveTimeout)));
      });
}

void ServerConnection::flush() { io_.flush(); }

key::Status ServerConnection::flush_blocking(std::chrono::milliseconds limit) { return io_.flush_blocking(limit); }

void ServerConnection::disconnect(std::string_view description) {
  if (io_.closed()) return;
  transport_->disconnect(DisconnectReason::kByApplication, description);
  io_.flush();
  io_.finish(std::nullopt);
}

void ServerConnection::detach() { io_.detach(); }

void ServerConnection::on_kex_done(const transport::Negotiated& n) {
  if (callbacks_.on_kex_done) callbacks_.on_kex_done(n);
}

void ServerConnection::on_message(uint32_t seq, std::span<const uint8_t> payload) {
  if (io_.failing() || io_.closed()) return;
  const uint8_t type = payload[0];
  if (!authenticated_) {
    if (type == msg::kServiceRequest || (type >= 50 && type <= 79)) {
      auto s = auth_->on_message(payload);
      if (!s.ok()) io_.fail_later(s.error());
      return;
    }
    // Nothing else before authentication: answered as OpenSSH's sshd does.
    transport_->send_unimplemented(seq);
    return;
  }
  if (type >= 80 && type <= 127) {
    if (type == msg::kRequestSuccess || type == msg::kRequestFailure) io_.heard_reply();
    auto s = connection_->on_message(payload);
    if (!s.ok()) {
      transport_->disconnect(DisconnectReason::kProtocolError, s.error().message());
      io_.fail_later(s.error());
    }
    return;
  }
  if (type >= 50 && type <= 79) {
    if (auth_) (void)auth_->on_message(payload);  // a late request: ignored
    return;
  }
  transport_->send_unimplemented(seq);
}

}  // namespace tessera::ssh::io
