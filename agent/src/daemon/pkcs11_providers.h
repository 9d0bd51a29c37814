// The agent's PKCS#11 providers: one tessera-pkcs11-helper process each, the
// tokens and keys it reports, PINs, and the identities those keys are in the
// key store. Everything runs on the event loop's thread; PIN prompts run on
// the Confirmer's threads and come back through the loop.
//
// What it does for the user:
//  - PIN at add time (ssh-add -s), or, if none was given, asked through
//    SSH_ASKPASS at first use with the token's label in the prompt; a PIN pad
//    (protected authentication path) logs in with no PIN.
//  - CKA_ALWAYS_AUTHENTICATE keys: a PIN asked for every signature (or, if the
//    agent allows it, the user PIN reused).
//  - A wrong PIN is never retried: the cached PIN is wiped and the next use
//    asks again. Prompts and errors tell the token's PIN state.
//  - A token pulled out: its keys leave the identity list and its PIN is
//    wiped; polled back in, its keys return (logging in again at next use).
//  - A helper that crashes or hangs: its requests fail with a clear error, the
//    helper is restarted at next use, and nothing else is held up.
#ifndef TESSERA_AGENT_DAEMON_PKCS11_PROVIDERS_H_
#define TESSERA_AGENT_DAEMON_PKCS11_PROVIDERS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/askpass.h"
#include "daemon/event_loop.h"
#include "daemon/keystore.h"
#include "daemon/stats.h"
#include "tessera/agent/status.h"
#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "tessera/tokens/names.h"

namespace tessera::agent::daemon {

struct Pkcs11Settings {
  std::string helper_program;  // path of tessera-pkcs11-helper
  // How long a helper may take to answer a request before it is taken for
  // hung (and restarted); logins through a PIN pad wait for a person.
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds pinpad_timeout{120'000};
  // How often tokens are looked for (removal and return; SoftHSM2 and many
  // modules have no C_WaitForSlotEvent).
  std::chrono::milliseconds poll_interval{2'000};
  // Sign with CKA_ALWAYS_AUTHENTICATE keys using the cached user PIN instead
  // of asking for it at every signature.
  bool reuse_pin_for_always_authenticate = false;
  // Follow PC/SC reader and card events through pcscd (readers.h), so that
  // tokens in readers come and go at once rather than at the next poll.
  bool reader_events = true;
};

// The constraints a provider's keys get (ADD_SMARTCARD_KEY_CONSTRAINED).
struct TokenKeyConstraints {
  std::optional<Clock::time_point> expires;
  bool confirm = false;
  std::vector<DestinationConstraint> destinations;
  // associated-certs-v00@openssh.com: certificates of token keys, listed
  // beside (or, with certs_only, instead of) the keys they certify.
  std::vector<key::Certificate> certs;
  bool certs_only = false;
};

class Pkcs11Providers {
 public:
  using AddDone = std::function<void(key::Result<size_t>)>;  // keys added
  using SignDone = std::function<void(key::Result<Bytes>)>;

  // `changed` runs after identities were added to or removed from `keys`.
  Pkcs11Providers(Pkcs11Settings settings, EventLoop& loop, Confirmer& prompts, KeyStore& keys,
                  std::function<void()> changed);
  ~Pkcs11Providers();
  Pkcs11Providers(const Pkcs11Providers&) = delete;
  Pkcs11Providers& operator=(const Pkcs11Providers&) = delete;

  // Starts a helper for the provider, lists its keys, logs in to its tokens
  // with `pin` if one is given (an empty PIN means: ask at first use) and
  // adds the keys to the key store. Fails if the provider is already added,
  // the PIN is wrong, or there are no keys.
  void add(tokens::ProviderSpec spec, key::SecretBytes pin, TokenKeyConstraints constraints, AddDone done);
  // Removes the provider's keys, wipes its PINs and ends its helper.
  key::Status remove(const std::string& module_path);
  // Signs with a token key. `algorithm` is the SSH signature algorithm.
  void sign(const TokenKeyRef& key, Bytes data, std::string algorithm, SignDone done);
  // Wipes every PIN and ends every helper (their requests fail).
  void shutdown();

  // A PC/SC reader event (readers.h): `reader` now holds a card, or not (an
  // unplugged reader holds none). No card: every token in a slot that names
  // the reader (slot_names_reader) is gone at once: its keys are withdrawn,
  // its PIN is wiped, and signatures and logins waiting on it fail; listings
  // leave it out until a card is back. A card: every provider lists its
  // keys again at once.
  void reader_event(const std::string& reader, bool card_present);
  // Whether a slot description names a reader that pcscd says holds no card.
  bool reader_is_empty(const std::string& slot_description) const;

  // What the status report shows of each provider (its helper, tokens,
  // last error), and the pkcs11::kKey* flags of the token keys served, by
  // public key blob.
  struct Report {
    std::vector<StatusProvider> providers;
    std::map<Bytes, uint32_t> key_flags;
  };
  Report report(const WallClock& clock) const;

  class Provider;

 private:
  Pkcs11Settings settings_;
  EventLoop& loop_;
  Confirmer& prompts_;
  KeyStore& keys_;
  std::function<void()> changed_;
  std::map<std::string, std::shared_ptr<Provider>> providers_;
  std::set<std::string> empty_readers_;  // readers without a card, from reader events
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PKCS11_PROVIDERS_H_
