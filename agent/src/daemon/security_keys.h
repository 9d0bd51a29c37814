// Signatures by security keys (FIDO authenticators) for the agent.
//
// Each signature runs tessera-sk-helper (the middleware never enters the
// agent) on threads of its own: a signature that waits for a touch or a PIN
// holds neither the event loop nor the signing workers, so every other
// client goes on being served. While the authenticator waits for a touch,
// "Confirm user presence for key ..." is shown through askpass, as
// ssh-agent shows it; a key that wants a PIN gets it through the agent's
// PIN prompts (pinentry or askpass), once per signature, never cached.
//
// Signatures of one key run one at a time (an authenticator does one thing
// at a time anyway), so its signature counter must grow from one to the
// next: a counter that does not (a cloned authenticator, or a middleware
// that mixes up credentials) fails the signature.
#ifndef TESSERA_AGENT_DAEMON_SECURITY_KEYS_H_
#define TESSERA_AGENT_DAEMON_SECURITY_KEYS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/askpass.h"
#include "daemon/worker_pool.h"
#include "tessera/key/key.h"
#include "tessera/key/shield.h"

namespace tessera::agent::daemon {

using key::Bytes;

// Security key signatures in progress at once (touches waited for); more
// wait their turn.
inline constexpr unsigned kSecurityKeyThreads = 4;
// How long one attempt may take, touch included, before the helper is
// killed and the client told.
inline constexpr std::chrono::seconds kSecurityKeyTimeout{60};

struct SecurityKeySettings {
  std::string helper_program;  // empty: tessera-sk-helper beside the agent
  std::chrono::milliseconds timeout = kSecurityKeyTimeout;
};

class SecurityKeySigner {
 public:
  SecurityKeySigner(SecurityKeySettings settings, Confirmer& prompts, unsigned threads = kSecurityKeyThreads);

  void start() { pool_.start(); }
  // Waits for running signatures (each ends by its timeout at the latest).
  void shutdown() { pool_.shutdown(); }

  struct Request {
    key::ShieldedKey key;     // the credential (key handle, flags)
    std::string provider;     // "internal" or a middleware's canonical path
    std::string fingerprint;  // "SHA256:...", for the notice and the PIN prompt
    std::string destination;  // where the signature goes, when known (for the notice)
    Bytes data;
  };
  using Done = std::function<void(key::Result<Bytes> signature)>;
  // `done` runs on one of the signer's threads.
  void sign(uint64_t lane, Request request, Done done);

 private:
  struct KeyState {
    std::mutex one_at_a_time;
    bool signed_before = false;
    uint32_t last_counter = 0;
  };
  std::shared_ptr<KeyState> state_of(const key::PublicKey& key);
  key::Result<Bytes> sign_now(uint64_t lane, const Request& request, KeyState& state);
  std::optional<key::SecretBytes> ask_pin(uint64_t lane, const std::string& prompt);

  SecurityKeySettings settings_;
  Confirmer& prompts_;
  std::mutex states_mutex_;
  std::map<Bytes, std::shared_ptr<KeyState>> states_;  // by public key blob
  WorkerPool pool_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_SECURITY_KEYS_H_
