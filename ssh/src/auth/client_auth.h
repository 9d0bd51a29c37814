// The client side of SSH user authentication (RFC 4252, RFC 4256), as a
// state machine over a Transport: "none" first to learn the server's
// methods, then publickey (each identity queried, then signed), keyboard-
// interactive and password, in the order the caller prefers.
//
// Keys, prompts and banners come from a ClientAuthDelegate; a signature may
// block (an agent or a token answers), which suits a client process. The
// data a key signs is built here from the session id, never by a signer.
#ifndef TESSERA_SSH_AUTH_CLIENT_AUTH_H_
#define TESSERA_SSH_AUTH_CLIENT_AUTH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"
#include "transport/transport.h"

namespace tessera::ssh::auth {

// A key the client may offer: a plain key or a certificate, with something
// that can sign for it.
struct ClientIdentity {
  key::Bytes blob;          // the public key or certificate blob sent to the server
  key::PublicKey key;       // the (certified) key
  bool certificate = false;
  std::string description;  // for messages: "ED25519 SHA256:... /home/u/.ssh/id_ed25519" or "... agent"
  // Signs data with the given signature algorithm name ("rsa-sha2-512",
  // "ssh-ed25519"; for a certificate the plain key's algorithm). Returns the
  // SSH signature blob. May prompt (passphrase, PIN) and block.
  std::function<key::Result<key::Bytes>(std::span<const uint8_t> data, std::string_view algorithm)> sign;
  // Sign without asking the server first (a key already in memory); agent
  // keys and keys still to be decrypted ask first, as OpenSSH's ssh.
  bool sign_without_query = false;
};

struct KbdPrompt {
  std::string text;
  bool echo;
};

class ClientAuthDelegate {
 public:
  virtual ~ClientAuthDelegate() = default;
  // The identities to offer, in order (asked once, when publickey starts).
  virtual std::vector<ClientIdentity> identities() = 0;
  // SSH_MSG_USERAUTH_BANNER text (already made printable).
  virtual void banner(std::string_view text) = 0;
  // Answers to a keyboard-interactive round; nullopt gives up the method.
  virtual std::optional<std::vector<key::SecretBytes>> keyboard_interactive(
      std::string_view name, std::string_view instruction, const std::vector<KbdPrompt>& prompts) = 0;
  // A password for "user@host's password: "; nullopt gives up the method.
  virtual std::optional<key::SecretBytes> password(int attempt) = 0;
  // A line for -v: which key is offered, which method failed.
  virtual void debug(std::string_view /*line*/) {}
};

struct ClientAuthConfig {
  std::string user;
  // PreferredAuthentications, in order.
  std::vector<std::string> methods = {"publickey", "keyboard-interactive", "password"};
  // PubkeyAcceptedAlgorithms: the signature algorithms (and -cert-v01 names)
  // the client may use, in order. Empty: tessera's defaults.
  std::vector<std::string> pubkey_algorithms;
  int password_prompts = 3;  // NumberOfPasswordPrompts
};

class ClientAuth {
 public:
  ClientAuth(ClientAuthConfig config, transport::Transport& transport, ClientAuthDelegate& delegate);

  // Sends SERVICE_REQUEST "ssh-userauth" (call once the transport is ready).
  void start();
  // A message from the transport. Fails when no method is left or the
  // server breaks the protocol; succeeded() turns true on USERAUTH_SUCCESS.
  key::Status on_message(std::span<const uint8_t> payload);

  bool succeeded() const { return succeeded_; }
  // The methods the server last said can continue (for the final error).
  const std::vector<std::string>& server_methods() const { return server_methods_; }

 private:
  enum class Method : uint8_t { kNone, kPublickey, kKeyboardInteractive, kPassword };

  key::Status next_attempt();
  key::Status try_next_identity();
  key::Status send_signed(const ClientIdentity& id, const std::string& algorithm);
  key::Status on_failure(key::Reader& in);
  key::Status on_pk_ok(key::Reader& in);
  key::Status on_info_request(key::Reader& in);
  bool server_allows(std::string_view method) const;
  std::optional<std::string> signature_algorithm(const ClientIdentity& id) const;
  std::string no_more_methods_message() const;

  ClientAuthConfig config_;
  transport::Transport& transport_;
  ClientAuthDelegate& delegate_;

  bool service_accepted_ = false;
  bool succeeded_ = false;
  Method current_ = Method::kNone;
  size_t next_method_ = 0;  // index into config_.methods
  std::vector<std::string> server_methods_;

  std::optional<std::vector<ClientIdentity>> identities_;
  size_t next_identity_ = 0;
  std::string pending_algorithm_;  // publickey: what the last query offered
  const ClientIdentity* pending_identity_ = nullptr;
  int password_attempts_ = 0;
  int kbd_rounds_ = 0;
};

// The data a publickey signature covers (RFC 4252 section 7).
key::Bytes publickey_signed_data(std::span<const uint8_t> session_id, std::string_view user,
                                 std::string_view algorithm, std::span<const uint8_t> key_blob);

// tessera's default PubkeyAcceptedAlgorithms (OpenSSH 9.2's, sk keys included).
std::vector<std::string> default_pubkey_algorithms();

}  // namespace tessera::ssh::auth

#endif  // TESSERA_SSH_AUTH_CLIENT_AUTH_H_
