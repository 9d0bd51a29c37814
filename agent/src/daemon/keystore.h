// The agent's identities: keys (or certificates) with their shielded private
// halves, or references to keys on PKCS#11 tokens, and their constraints, in
// the order they were added.
//
// Owned and used by the event loop's thread only. Signing threads get copies
// of the ShieldedKey (cheap, shared and immutable), never references.
//
// Sized for many keys: finding a key, adding, removing and expiring one take
// logarithmic time, and the identities answer is serialized once per change
// of the store, not once per request.
#ifndef TESSERA_AGENT_DAEMON_KEYSTORE_H_
#define TESSERA_AGENT_DAEMON_KEYSTORE_H_

#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

// The SSH2_AGENT_IDENTITIES_ANSWER payload for the identities every
// connection may see, as KeyStore::listing() builds it.
struct IdentitiesListing {
  Bytes payload;       // type byte onwards, at most kMaxMessageBytes
  size_t listed = 0;   // identities in payload
  size_t left_out = 0; // identities that did not fit
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

  // Whether some identity is restricted to destinations: then what a
  // connection may list depends on the connection, and listing() is not
  // the answer for all of them.
  bool has_destination_constraints() const { return constrained_ > 0; }
  // The identities answer listing every identity in order, as many as fit
  // in one message of kMaxMessageBytes (clients refuse larger ones), built
  // on the first call after a change and kept until the next change.
  const IdentitiesListing& listing() const;
  // The same for the identities `visible` admits, built on every call.
  IdentitiesListing listing(const std::function<bool(const StoredIdentity&)>& visible) const;

 private:
  using Entry = std::list<StoredIdentity>::iterator;
  static std::string_view index_key(std::span<const uint8_t> blob) {
    return std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size());
  }
  // Bookkeeping beside identities_, for the identity `it` points at.
  void track(Entry it);
  void untrack(Entry it);
  void changed() { listing_.reset(); }

  std::list<StoredIdentity> identities_;
  std::map<std::string, Entry, std::less<>> by_blob_;
  // Identities with a lifetime, soonest first (the address tells apart
  // identities that end at the same time).
  std::set<std::pair<Clock::time_point, const StoredIdentity*>> expiries_;
  size_t constrained_ = 0;  // identities with destination constraints
  mutable std::optional<IdentitiesListing> listing_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_KEYSTORE_H_
