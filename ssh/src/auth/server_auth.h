// The server side of user authentication (RFC 4252) as a state machine over
// a Transport: it parses the client's requests and answers them, but decides
// nothing itself. Every decision goes to a ServerAuthDecider, which in
// tessera-sshd is the privileged monitor (reached over its socket from the
// unprivileged pre-auth child) and in an embedding program its callbacks.
//
// A publickey request reaches the decider as its fields; a signed one is
// verified there, over data the decider builds from the session identifier
// it holds itself, so the relaying side cannot choose what is verified.
#ifndef TESSERA_SSH_AUTH_SERVER_AUTH_H_
#define TESSERA_SSH_AUTH_SERVER_AUTH_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"
#include "transport/transport.h"

namespace tessera::ssh::auth {

// The only service after authentication.
inline constexpr std::string_view kConnectionService = "ssh-connection";

struct PublickeyAttempt {
  std::string user;
  std::string algorithm;  // as requested: "rsa-sha2-512", "ssh-ed25519-cert-v01@openssh.com"
  key::Bytes key_blob;
  std::optional<key::Bytes> signature;  // nullopt: a query (may this key log in?)
};

struct AuthDecision {
  bool accepted = false;
  // Refused for good: the decider wants the connection closed (with this
  // description in the DISCONNECT), e.g. when it can no longer decide.
  std::optional<std::string> disconnect;
};

class ServerAuthDecider {
 public:
  virtual ~ServerAuthDecider() = default;
  // A query: may this key log this user in (USERAUTH_PK_OK)? A signed
  // request: does the signature verify, over publickey_signed_data() with
  // the decider's own session id, and may the key log the user in?
  virtual AuthDecision publickey(const PublickeyAttempt& attempt) = 0;
  // password (only offered when allows_password()).
  virtual bool allows_password() const { return false; }
  virtual AuthDecision password(std::string_view /*user*/, std::string_view /*password*/) { return {}; }
  // The first request of the connection and the user it names (the
  // decider may look the user up once; it is told every later user too).
  virtual void on_first_request(std::string_view /*user*/) {}
  // Every refused attempt that counts against MaxAuthTries.
  virtual void on_failure(std::string_view /*user*/, std::string_view /*method*/) {}
};

struct ServerAuthConfig {
  unsigned max_auth_tries = 6;  // MaxAuthTries
  std::string banner;           // Banner text (empty: none)
};

// What every decider checks of a signed publickey request before it judges
// the key: the algorithm is one for the key blob's type (a certificate's for
// a certificate), the signature blob is of exactly that algorithm, and it
// verifies over publickey_signed_data() with session_id (the decider's own).
key::Status verify_publickey_signature(std::span<const uint8_t> session_id, const PublickeyAttempt& attempt);

// A security key signature's flags (PROTOCOL.u2f: the byte after the
// signature), nullopt for any other signature or a malformed one.
inline constexpr uint8_t kSkUserPresent = 0x01;
inline constexpr uint8_t kSkUserVerified = 0x04;
std::optional<uint8_t> security_key_signature_flags(std::span<const uint8_t> signature_blob);

class ServerAuth {
 public:
  ServerAuth(transport::Transport& transport, ServerAuthConfig config, ServerAuthDecider& decider)
      : transport_(transport), config_(std::move(config)), decider_(decider) {}

  // SERVICE_REQUEST and messages 50-79 from the client. An error ends the
  // connection (the transport has sent DISCONNECT when there was a reason
  // to give).
  key::Status on_message(std::span<const uint8_t> payload);

  bool succeeded() const { return succeeded_; }
  const std::string& user() const { return user_; }
  // The method and key that succeeded (for the log and the session).
  const std::optional<PublickeyAttempt>& accepted_key() const { return accepted_key_; }
  unsigned failures() const { return failures_; }

  // Called once USERAUTH_SUCCESS has been queued (before it is flushed).
  std::function<void()> on_success;

 private:
  key::Status on_request(key::Reader& in);
  key::Status on_publickey(key::Reader& in);
  key::Status on_password(key::Reader& in);
  key::Status refuse(std::string_view method, bool counts = true);
  void succeed();
  key::Status protocol_error(std::string message);

  transport::Transport& transport_;
  ServerAuthConfig config_;
  ServerAuthDecider& decider_;
  bool service_accepted_ = false;
  bool succeeded_ = false;
  bool banner_sent_ = false;
  std::string user_;
  unsigned failures_ = 0;
  std::optional<PublickeyAttempt> accepted_key_;
};

}  // namespace tessera::ssh::auth

#endif  // TESSERA_SSH_AUTH_SERVER_AUTH_H_
