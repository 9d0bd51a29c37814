#include "io/client_connection.h"

#include <string>

#include "tessera/sys/fd.h"
#include "transport/messages.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

ClientConnection::ClientConnection(sys::EventLoop& loop, sys::Fd in, sys::Fd out,
                                   transport::TransportConfig transport_config, auth::ClientAuthConfig auth_config,
                                   auth::ClientAuthDelegate& auth_delegate, ClientCallbacks callbacks)
    : loop_(loop),
      io_(loop, std::move(in), std::move(out), "server", forward_to(callbacks_)),
      transport_(std::move(transport_config), *this),
      auth_(std::move(auth_config), transport_, auth_delegate),
      connection_(transport_),
      callbacks_(std::move(callbacks)) {
  io_.attach(transport_);
  connection_.on_global_reply = [this](bool) { io_.heard_reply(); };
}

ClientConnection::~ClientConnection() = default;

key::Status ClientConnection::start() {
  TESSERA_TRY(io_.watch());
  transport_.start(loop_.now());
  io_.flush();
  io_.schedule_timers();
  return key::ok_status();
}

void ClientConnection::set_keepalive(std::chrono::seconds interval, int count_max) {
  io_.set_keepalive(
      interval, count_max, [this] { connection_.send_global_request("keepalive@openssh.com", true); },
      [this] { io_.finish(Error(Errc::kIo, "Timeout, server not responding.")); });
}

void ClientConnection::flush() { io_.flush(); }

void ClientConnection::disconnect(std::string_view description) {
  if (io_.closed()) return;
  transport_.disconnect(DisconnectReason::kByApplication, description);
  io_.flush();
  io_.finish(std::nullopt);
}

key::Status ClientConnection::check_host_key(const transport::ServerHostKey& host_key) {
  if (!callbacks_.check_host_key) return Error(Errc::kInvalidArgument, "no host key check configured");
  return callbacks_.check_host_key(host_key);
}

void ClientConnection::on_ready() {
  if (callbacks_.on_transport_ready) callbacks_.on_transport_ready();
  auth_.start();
}

void ClientConnection::on_kex_done(const transport::Negotiated& n) {
  if (!callbacks_.debug) return;
  const bool rekey = transport_.key_exchanges() > 1;
  callbacks_.debug(std::string(rekey ? "rekeyed: " : "kex: ") + n.kex + ", host key " + n.host_key + ", cipher " +
                   n.cipher_c2s + (n.mac_c2s.empty() ? "" : " " + n.mac_c2s));
}

void ClientConnection::on_debug(std::string_view message, bool always_display) {
  if (always_display && callbacks_.debug) callbacks_.debug(message);
}

void ClientConnection::on_message(uint32_t seq, std::span<const uint8_t> payload) {
  if (io_.failing() || io_.closed()) return;
  const uint8_t type = payload[0];
  if (!auth_.succeeded()) {
    if (type == msg::kServiceAccept || (type >= 50 && type <= 79)) {
      auto s = auth_.on_message(payload);
      if (!s.ok()) {
        const bool denied = s.error().code() == Errc::kInvalidArgument;
        transport_.disconnect(denied ? DisconnectReason::kNoMoreAuthMethodsAvailable
                                     : DisconnectReason::kProtocolError,
                              denied ? "No more authentication methods available" : s.error().message());
        io_.fail_later(s.error());
        return;
      }
      if (auth_.succeeded() && callbacks_.on_authenticated) callbacks_.on_authenticated();
      return;
    }
    transport_.send_unimplemented(seq);
    return;
  }
  if (type >= 80 && type <= 127) {
    auto s = connection_.on_message(payload);
    if (!s.ok()) {
      transport_.disconnect(DisconnectReason::kProtocolError, s.error().message());
      io_.fail_later(s.error());
    }
    return;
  }
  if (type >= 50 && type <= 79) return;  // late authentication messages (a banner) mean nothing now
  transport_.send_unimplemented(seq);
}

}  // namespace tessera::ssh::io
