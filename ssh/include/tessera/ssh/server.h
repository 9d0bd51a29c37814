// Embedding an SSH server: a program that serves its own subsystem (or
// commands, or any channel type) over SSH, in one process. The same library
// tessera-sshd is made of, without its process separation: the host keys
// live in this process.
//
//   tessera::ssh::ServerConfig config;
//   config.host_key_files = {"/etc/myservice/host_ed25519"};
//   config.publickey = [&](const ConnectionInfo&, std::string_view user, const key::PublicKey& k) {
//     return allowed(user, k);            // e.g. listed in an authorized_keys file
//   };
//   config.on_session = [](const ConnectionInfo&, const SessionRequest& r) -> Handler {
//     if (r.kind != SessionRequest::Kind::kSubsystem || r.command != "echo") return nullptr;  // refused
//     return [](Channel& ch) { /* read and write ch; returning closes it */ };
//   };
//   auto server = tessera::ssh::Server::create(std::move(config));
//   if (!server.ok()) { /* server.error().message() says why */ }
//   auto served = (*server)->listen_and_serve("0.0.0.0:2222");   // blocks until shutdown()
//
// Threads: serve() runs one event loop on the calling thread, for every
// connection. The callbacks in ServerConfig (on_connection, publickey,
// password, on_channel, on_session, on_handshake_failed) run on that thread
// and must answer quickly (reading a file is fine; a network round trip
// stalls every connection). Each accepted channel's Handler runs on a thread
// of its own and may block as it likes in Channel::read and write: the loop
// stays single-threaded and data crosses over in bounded buffers. Blocking
// handlers on threads (rather than callbacks on the loop) are the point of
// this API: a subsystem is written as straight-line code over a byte stream,
// as an inetd service would be, and a slow one holds up only its own
// session.
//
// Authentication: publickey when config.publickey is set (plain keys:
// ssh-ed25519, ecdsa-sha2-*, rsa-sha2-256/512, sk-*; certificates and
// SHA-1 ssh-rsa signatures are refused), password only when config.password
// is set; keyboard-interactive is never offered.
//
// Errors are key::Error values that say what went wrong ("listen on
// 0.0.0.0:22: Address already in use", "no host key could be loaded; host
// key /x: No such file or directory").
#ifndef TESSERA_SSH_SERVER_H_
#define TESSERA_SSH_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/ssh/channel.h"

namespace tessera::ssh {

// What an accepted channel runs, on a thread of its own. The channel is
// closed when it returns (after what it wrote has gone out).
using Handler = std::function<void(Channel& channel)>;

// Reasons for refusing a channel (RFC 4254 section 5.1).
enum class OpenRefusal : uint32_t {
  kAdministrativelyProhibited = 1,
  kConnectFailed = 2,
  kUnknownChannelType = 3,
  kResourceShortage = 4,
};

// What on_channel decides about a channel the client opens.
struct ChannelDecision {
  enum class Kind : uint8_t { kRefuse, kSession, kStream };
  Kind kind = Kind::kRefuse;
  Handler handler;  // kStream
  OpenRefusal reason = OpenRefusal::kAdministrativelyProhibited;
  std::string description = "open failed";

  // Refused with this reason and text (the client prints the text).
  static ChannelDecision refuse(OpenRefusal reason, std::string description);
  // A session channel: its pty-req, env and window-change requests are
  // collected, and its exec, subsystem or shell request goes to on_session.
  static ChannelDecision session();
  // Any other channel type, as a byte stream: handler runs at once.
  static ChannelDecision stream(Handler handler);
};

struct ServerConfig {
  // Host keys: private key files (openssh-key-v1, PEM or PKCS#8, not
  // encrypted), certificates for them (ssh-keygen -s -h), and keys in
  // memory. A file that cannot be used fails create(), naming it.
  std::vector<std::string> host_key_files;
  std::vector<std::string> host_certificate_files;
  std::vector<key::PrivateKey> host_keys;

  // Algorithms in preference order; empty: tessera's defaults (OpenSSH
  // 9.2's, with group exchange only when moduli_file is set).
  std::vector<std::string> kex_algorithms, ciphers, macs, host_key_algorithms;
  // A moduli(5) file (e.g. /etc/ssh/moduli) for
  // diffie-hellman-group-exchange-sha256, read at each group exchange as
  // sshd reads it (a fixed RFC 3526 group when it cannot be read). Empty:
  // group exchange is not offered.
  std::string moduli_file;

  // From accepting a connection to its successful authentication (sshd's
  // LoginGraceTime); a client that has not finished by then is dropped.
  // Zero: no limit.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(120)};
  // Failed authentication attempts before the connection is dropped.
  unsigned max_auth_tries = 6;
  // Keepalives to an authenticated client that has gone quiet (0: off), and
  // how many may go unanswered before it is dropped.
  std::chrono::seconds client_alive_interval{0};
  int client_alive_count_max = 3;

  // A connection was accepted (client_version and user still empty).
  // Return an error to refuse it: the socket is closed at once.
  std::function<key::Status(const ConnectionInfo&)> on_connection;
  // A connection ended before it authenticated: the client left, failed the
  // key exchange or authentication, or timed out (handshake_timeout).
  std::function<void(const ConnectionInfo&, const key::Error&)> on_handshake_failed;

  // May `key` log `user` in? Asked once per user and key on a connection,
  // for the client's query (before it signs) or its signed request; the
  // login succeeds only once a signature over this connection's session
  // has verified (ConnectionInfo::key then names the key). Unset:
  // publickey off.
  std::function<bool(const ConnectionInfo&, std::string_view user, const key::PublicKey& key)> publickey;
  // Unset: password authentication is not offered. The password is only
  // valid during the call.
  std::function<bool(const ConnectionInfo&, std::string_view user, std::string_view password)> password;

  // A channel the client opens, with its type-specific data. Unset:
  // "session" channels are sessions and every other type is refused.
  std::function<ChannelDecision(const ConnectionInfo&, std::string_view type, std::span<const uint8_t> extra)>
      on_channel;
  // A session's exec, subsystem or shell request: the Handler to run it, or
  // nullptr to refuse it (the client says "exec request failed"). Unset:
  // every such request is refused.
  std::function<Handler(const ConnectionInfo&, const SessionRequest&)> on_session;
};

class Server {
 public:
  // Loads the host keys and prepares the event loop. Fails when a host key
  // or certificate file cannot be used, or there is no host key at all.
  static key::Result<std::unique_ptr<Server>> create(ServerConfig config);
  // Only once serve() has returned (or was never called).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on "host:port", "[v6-address]:port" or ":port" (every
  // address, IPv6 and IPv4); port 0 picks a free one (see port()).
  key::Status listen(std::string_view address);
  // Serves the socket listen() made until shutdown() has finished. Blocks.
  key::Status serve();
  // listen() then serve().
  key::Status listen_and_serve(std::string_view address);
  // Serves an already listening socket (made non-blocking here; not closed:
  // the caller still owns it) until shutdown() has finished. Blocks.
  key::Status serve(int listening_fd);

  // The port being listened on (0 before listen() or serve()). Thread-safe.
  uint16_t port() const;

  // Thread-safe, and returns at once (safe from a handler's thread): stops
  // accepting connections, drops those still authenticating, refuses new
  // channels, and closes each connection once its sessions have finished.
  // At `deadline` whatever is left is disconnected: the remaining handlers'
  // reads and writes fail, and serve() returns once they have all returned
  // (a handler that ignores its channel's errors holds serve() up).
  // Calling it before serve() makes serve() return at once.
  void shutdown(std::chrono::steady_clock::time_point deadline);

  // Connections open now, and handler threads running. Thread-safe.
  size_t connection_count() const;
  size_t handler_count() const;

 private:
  struct State;
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera::ssh

#endif  // TESSERA_SSH_SERVER_H_
