// Keys on PKCS#11 tokens for tessera-ssh (PKCS11Provider, -I), as OpenSSH's
// ssh offers them, through a tessera-pkcs11-helper child process: tessera-ssh
// never loads a PKCS#11 module itself. The provider is named as tessera-add -s
// takes it (a module path, a p11-kit module name or a pkcs11: URI, whose
// token and object attributes select keys).
//
// Signing asks the token first; only when the token wants a login is the user
// asked "Enter PIN for 'LABEL': " (with tessera's PIN-state warnings), at most
// once per token and connection. The PIN is kept, in a SecretBytes, for the
// context-specific login of CKA_ALWAYS_AUTHENTICATE keys, until close().
// BatchMode never asks: such keys fail to sign, with a debug line.
#ifndef TESSERA_SSH_IO_TOKEN_IDENTITIES_H_
#define TESSERA_SSH_IO_TOKEN_IDENTITIES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::io {

struct TokenSettings {
  std::string provider;     // PKCS11Provider as given ("none" is no provider)
  bool batch_mode = false;  // BatchMode: never ask for a PIN
};

// A key listed by the provider.
struct TokenKey {
  key::Bytes blob;          // its public key blob
  key::PublicKey key;
  std::string label;        // CKA_LABEL, or its pkcs11: URI when it has none
  std::string token_label;  // its token's label
};

class TokenIdentities {
 public:
  using Report = std::function<void(const std::string&)>;

  // Resolves the provider, starts tessera-pkcs11-helper for its module and
  // lists the keys of every token (those a pkcs11: URI selects). Problems a
  // person must know about (no such module, the helper cannot start or the
  // module fails, the token is not present) go to `warn`, progress to
  // `debug`; either way the result is usable, with no keys after a failure.
  static std::unique_ptr<TokenIdentities> open(const TokenSettings& settings, Report warn, Report debug);
  ~TokenIdentities();
  TokenIdentities(const TokenIdentities&) = delete;
  TokenIdentities& operator=(const TokenIdentities&) = delete;

  const std::vector<TokenKey>& keys() const { return keys_; }

  // What signs for keys()[index]: data and an SSH signature algorithm name
  // in, an SSH signature blob out. It may ask for the PIN (see above) and
  // block on the token. Its errors say what went wrong for a person; the
  // ones that need action (wrong PIN, token gone) also went to `warn`. It
  // stays callable after close() and after this object is gone, and then
  // fails.
  std::function<key::Result<key::Bytes>(std::span<const uint8_t>, std::string_view)> signer(size_t index) const;

  // Ends the helper (which logs out) and forgets the PINs: OpenSSH's ssh,
  // too, lets go of its provider once the user is authenticated.
  void close();

 private:
  struct State;
  explicit TokenIdentities(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::vector<TokenKey> keys_;
};

// The token label a pkcs11: URI selects ("token=..." in its path,
// percent-decoded); "" when it names none or is no pkcs11: URI.
std::string pkcs11_uri_token(std::string_view uri);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_TOKEN_IDENTITIES_H_
