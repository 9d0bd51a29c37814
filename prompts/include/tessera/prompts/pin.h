// How every program words a token PIN prompt and a token's PIN state, so the
// agent, tessera-add and tessera-keygen say the same things.
#ifndef TESSERA_PROMPTS_PIN_H_
#define TESSERA_PROMPTS_PIN_H_

#include <cstdint>
#include <string>

namespace tessera::prompts {

// The prompt for a token's user PIN, with its PIN state ("Enter PIN for
// 'label': ", preceded by a warning when few tries are left or this is the
// last one). token_flags are tessera::pkcs11::kToken* flags.
std::string pin_prompt(const std::string& token_label, uint32_t token_flags);
// The prompt for the PIN of an always-authenticate key, asked per signature.
std::string context_pin_prompt(const std::string& token_label, const std::string& key_label, uint32_t token_flags);
// What a token's PIN state means for the user, for errors ("" when nothing to say).
std::string pin_state_text(uint32_t token_flags);
// What to do about a locked PIN: "unblock it with the SO PIN (e.g. ...) or the token's own tool".
std::string pin_unblock_advice();

}  // namespace tessera::prompts

#endif  // TESSERA_PROMPTS_PIN_H_
