// Keys on a PKCS#11 token for -D: the provider resolved as tessera-agent
// resolves it (a module path, a p11-kit module name or a pkcs11: URI), the
// module loaded by a tessera-pkcs11-helper child process, never by
// tessera-keygen itself.
#ifndef TESSERA_KEYGEN_TOKEN_H_
#define TESSERA_KEYGEN_TOKEN_H_

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/pkcs11/client.h"

namespace tessera::keygen {

class TokenSession {
 public:
  // Resolves the provider, starts the helper and lists the keys (those a
  // pkcs11: URI selects). Errors are fatal_failure()s: what to print, the
  // exit status.
  static key::Result<TokenSession> open(const std::string& provider);

  const std::vector<pkcs11::KeyInfo>& keys() const { return keys_; }
  // The listed key with this public key blob, or nullptr.
  const pkcs11::KeyInfo* find(std::span<const uint8_t> public_blob) const;

  // Signs with the key. The first time a token asks for a login, the user is
  // asked "Enter PIN for 'LABEL': " and the session logs in; later
  // signatures on that token reuse the login. Errors say what to do.
  key::Result<key::Bytes> sign(const pkcs11::KeyInfo& key, std::span<const uint8_t> data,
                               const std::string& algorithm);

 private:
  TokenSession(std::unique_ptr<pkcs11::HelperClient> client, std::vector<pkcs11::KeyInfo> keys)
      : client_(std::move(client)), keys_(std::move(keys)) {}
  key::Status login(const pkcs11::KeyInfo& key, uint32_t token_flags);

  std::unique_ptr<pkcs11::HelperClient> client_;
  std::vector<pkcs11::KeyInfo> keys_;
  std::set<pkcs11::TokenId> logged_in_;
};

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_TOKEN_H_
