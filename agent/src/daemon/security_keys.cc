// Security key signatures: see security_keys.h.
#include "daemon/security_keys.h"

#include <condition_variable>
#include <optional>
#include <utility>

#include "daemon/log.h"
#include "tessera/fido/client.h"
#include "tessera/prompts/askpass.h"

namespace tessera::agent::daemon {

using key::Errc;
using key::Error;

SecurityKeySigner::SecurityKeySigner(SecurityKeySettings settings, Confirmer& prompts, unsigned threads)
    : settings_(std::move(settings)), prompts_(prompts), pool_(threads, "tessera-sk") {}

std::shared_ptr<SecurityKeySigner::KeyState> SecurityKeySigner::state_of(const key::PublicKey& key) {
  std::lock_guard<std::mutex> guard(states_mutex_);
  auto& state = states_[key.blob()];
  if (!state) state = std::make_shared<KeyState>();
  return state;
}

void SecurityKeySigner::sign(uint64_t lane, Request request, Done done) {
  pool_.submit(lane, [this, lane, request = std::move(request), done = std::move(done)] {
    std::shared_ptr<KeyState> state = state_of(request.key.public_key());
    std::lock_guard<std::mutex> one_at_a_time(state->one_at_a_time);
    done(sign_now(lane, request, *state));
  });
}

// The PIN through the agent's prompts (pinentry or askpass), waited for on
// this thread. Nothing when the user cancels or the prompts are shut down.
std::optional<key::SecretBytes> SecurityKeySigner::ask_pin(uint64_t lane, const std::string& prompt) {
  struct Answer {
    std::mutex mutex;
    std::condition_variable ready;
    bool answered = false;
    std::optional<key::SecretBytes> pin;
    void give(std::optional<key::SecretBytes> value) {
      std::lock_guard<std::mutex> guard(mutex);
      if (answered) return;
      pin = std::move(value);
      answered = true;
      ready.notify_all();
    }
  };
  // Answers "nothing" if the prompt job is dropped unrun (a shutdown).
  struct Guard {
    std::shared_ptr<Answer> answer;
    ~Guard() {
      if (answer) answer->give(std::nullopt);
    }
  };
  auto answer = std::make_shared<Answer>();
  auto guard = std::make_shared<Guard>();  // built in place: a copy's destructor would answer at once
  guard->answer = answer;
  prompts_.ask_pin(lane, prompt, [guard](std::optional<key::SecretBytes> pin) { guard->answer->give(std::move(pin)); });
  guard.reset();
  std::unique_lock<std::mutex> lock(answer->mutex);
  answer->ready.wait(lock, [&] { return answer->answered; });
  return std::move(answer->pin);
}

key::Result<Bytes> SecurityKeySigner::sign_now(uint64_t lane, const Request& request, KeyState& state) {
  TESSERA_ASSIGN_OR_RETURN(key::PrivateKey clear, request.key.unshield());
  const key::SecurityKeyCredential* credential = clear.security_key();
  if (credential == nullptr) return Error(Errc::kInvalidArgument, "not a security key");
  const key::PublicKey& pub = clear.public_key();
  const fido::Algorithm alg =
      pub.type() == key::KeyType::kSkEd25519 ? fido::Algorithm::kEd25519 : fido::Algorithm::kEcdsaP256;
  const bool presence = (credential->flags & key::kSkUserPresenceRequired) != 0;
  const std::string described = std::string(pub.info().display_name) + " key " + request.fingerprint;

  fido::Target target;
  target.provider = request.provider;
  target.helper_program = settings_.helper_program;
  target.timeout = settings_.timeout;
  for (bool asked_pin = false;;) {
    prompts::Notice notice;
    if (presence) {
      // ssh-agent's words.
      notice = prompts::Notice::show(prompts_.config(),
                                     "Confirm user presence for key " + std::string(pub.info().display_name) + " " +
                                         request.fingerprint + (request.destination.empty() ? "" : "\n") +
                                         request.destination);
    }
    auto assertion = fido::sign(target, alg, pub.sk_application(), credential->key_handle.reveal(), credential->flags,
                                request.data);
    notice.close();
    if (!assertion.ok()) {
      if (!asked_pin && fido::sk_error_code(assertion.error()) == fido::ErrorCode::kPinRequired) {
        asked_pin = true;
        log_debug("security key " + described + " wants a PIN");
        auto pin = ask_pin(lane, std::string("Enter PIN") + (presence ? " and confirm user presence " : " ") +
                                     "for " + described + ": ");
        if (!pin) return Error(Errc::kPassphraseRequired, "the security key wants its PIN and none was given");
        target.pin = std::move(*pin);
        continue;
      }
      return assertion.error();
    }
    TESSERA_ASSIGN_OR_RETURN(Bytes blob, key::security_key_signature(pub, request.data, assertion->flags,
                                                                     assertion->counter, assertion->sig_r,
                                                                     assertion->sig_s));
    // A counter of 0 means the authenticator keeps none (WebAuthn's rule).
    if (state.signed_before && (assertion->counter != 0 || state.last_counter != 0) &&
        assertion->counter <= state.last_counter) {
      return Error(Errc::kBadSignature, "the signature counter of security key " + described + " went from " +
                                            std::to_string(state.last_counter) + " to " +
                                            std::to_string(assertion->counter) +
                                            ": the authenticator may have been cloned; signature refused");
    }
    state.signed_before = true;
    state.last_counter = assertion->counter;
    return blob;
  }
}

}  // namespace tessera::agent::daemon
