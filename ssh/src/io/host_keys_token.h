// Host keys on PKCS#11 tokens (sshd_config "HostKey pkcs11:URI"), through a
// tessera-pkcs11-helper child process: tessera-sshd never loads a PKCS#11
// module itself. The URI is an RFC 7512 one, as tessera-ssh's
// PKCS11Provider takes it (tokens/names.h resolves its module; its token
// and object attributes select the keys):
//
//   HostKey pkcs11:token=host;object=ssh-ed25519?module-path=/usr/lib/x/p11.so&pin-source=/etc/ssh/host-token.pin
//
// A server has nobody to ask for a PIN: it comes from the URI, as RFC 7512
// allows, in pin-source (a file only root may read: its first line) or
// pin-value; a token that needs none is used without. Signing asks the
// token first and logs in only when it must. tessera-sshd never guesses: it
// tries its PIN only while the token says no wrong PIN was entered since its
// last login, so a wrong PIN in the configuration costs the token one try,
// not one per connection until it locks. A CKA_ALWAYS_AUTHENTICATE key gets
// the same PIN for its context-specific login.
//
// Failures say which key and token and what to do; the helper's being gone
// or hung (past the timeout) fails at once or after the timeout, never
// hangs the connection.
#ifndef TESSERA_SSH_IO_HOST_KEYS_TOKEN_H_
#define TESSERA_SSH_IO_HOST_KEYS_TOKEN_H_

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::io {

class TokenHostKeys final : public transport::HostKeySigner {
 public:
  // Starts `helper` (server_helper_program() when empty) for the module at
  // module_path and lists the keys of its tokens. Each helper request may
  // take `timeout`. Errors say what failed (the helper cannot start, the
  // module fails to list).
  static key::Result<std::unique_ptr<TokenHostKeys>> start(const std::string& module_path,
                                                           std::chrono::milliseconds timeout,
                                                           const std::string& helper = "");
  ~TokenHostKeys() override;
  TokenHostKeys(const TokenHostKeys&) = delete;
  TokenHostKeys& operator=(const TokenHostKeys&) = delete;

  struct Added {
    size_t index;       // for sign_with()
    key::PublicKey key;
    std::string where;  // "'LABEL' on token 'TOKEN'", for messages
  };
  // Adds the keys `uri` selects, and takes its PIN (pin-value, or
  // pin-source read now) for their token. Errors: not a PKCS#11 URI; a
  // pin-source that is not a file or can be read by others than root; the
  // token it names is not present ("token not present"); no key matches.
  key::Result<std::vector<Added>> add(const std::string& uri);

  // Plain algorithms of the keys added (the first of each type answers).
  std::vector<std::string> algorithms() const override;
  key::Bytes host_key_blob(std::string_view algorithm) const override;
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) override;
  std::vector<key::Bytes> public_key_blobs() const override;

  // Signs `data` with added key `index` and an SSH signature algorithm,
  // logging in first if the token wants it. kIo with what to do: "token not
  // present: ...", "the token needs its PIN: ...", "wrong PIN ...", "...
  // did not answer in time"; kBadSignature when the token's answer is not
  // that signature.
  key::Result<key::Bytes> sign_with(size_t index, std::string_view signature_algorithm, std::span<const uint8_t> data);

  // The module's description from the helper (CK_INFO), for debug logs.
  const std::string& module_description() const;

 private:
  struct State;  // the helper, its listing and the tokens' PINs
  explicit TokenHostKeys(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

// The tessera-pkcs11-helper tessera-sshd starts: $TESSERA_PKCS11_HELPER, or
// the one beside the running program, or (tessera-sshd in sbin, the helper
// in bin) the one in ../bin beside that.
std::string server_helper_program();

// The PIN of a pin-source: an absolute path or a file: URI naming a regular
// file that belongs to this process's user and that no one else may read or
// write; its first line (without the line end), at most 256 bytes (the
// helper protocol's limit). kInvalidArgument or kIo saying what is wrong.
key::Result<key::SecretBytes> read_pin_source(std::string_view source);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_HOST_KEYS_TOKEN_H_
