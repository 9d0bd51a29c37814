// The agent's identities: keys (or certificates) with their shielded private
// halves, or references to keys on PKCS#11 tokens, and their constraints, in
// the order they were added.
//
// Owned and used by the event loop's thread only. Signing threads get copies
// of the ShieldedKey (cheap, shared and immutable), never references.
#ifndef TESSERA_AGENT_DAEMON_KEYSTORE_H_
#define TESSERA_AGENT_DAEMON_KEYSTORE_H_

#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "daemon/event_loop.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/cert.h"
#include "tessera/key/key.h"
#include "tessera/key/shield.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::agent::daemon {

// A key that lives on a token, reached through its provider's helper.
struct TokenKeyRef {
  std::string provider;  // the provider's module path (Pkcs11Providers' key)
  pkcs11::KeyId key;
};

struct StoredIdentity {
  Bytes blob;                                   // as listed: the public key blob or the certificate blob
  key::PublicKey key;                           // the key that signs (for a certificate: the certified key)
  std::optional<key::Certificate> certificate;  // set when blob is a certificate
  std::string comment;
  std::optional<key::ShieldedKey> shielded;     // a key added with its private half
  std::optional<TokenKeyRef> token;             // or a key on a PKCS#11 token
  std::optional<Clock::time_point> expires;     // lifetime constraint (or the agent's -t default)
  bool confirm = false;
  std::vector<DestinationConstraint> destinations;
  std::optional<std::string> sk_provider;
};

class KeyStore {
 public:
  // Adds an identity, or replaces the one with the same blob (comment, key
  // and constraints) keeping its place in the order, as ssh-agent does.
  // Returns true if it was new.
  bool put(StoredIdentity identity);

  // nullptr if there is no identity with this blob.
  const StoredIdentity* find(std::span<const uint8_t> blob) const;
  bool remove(std::span<const uint8_t> blob);
  size_t remove_all();

  // Identities in the order they were added.
  const std::list<StoredIdentity>& identities() const { return identities_; }
  size_t size() const { return identities_.size(); }

  // Removes identities whose lifetime has ended by `now`; returns them.
  std::vector<StoredIdentity> expire(Clock::time_point now);
  // When the next identity's lifetime ends, if any has one.
  std::optional<Clock::time_point> next_expiry() const;

 private:
  static std::string index_key(std::span<const uint8_t> blob) {
    return std::string(reinterpret_cast<const char*>(blob.data()), blob.size());
  }
  std::list<StoredIdentity> identities_;
  std::map<std::string, std::list<StoredIdentity>::iterator> by_blob_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_KEYSTORE_H_
