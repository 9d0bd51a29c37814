#include "tessera/prompts/pin.h"

#include "tessera/pkcs11/protocol.h"

namespace tessera::prompts {

namespace {

std::string quoted(const std::string& label) { return "'" + label + "'"; }

std::string pin_warning(const std::string& token_label, uint32_t flags) {
  if (flags & pkcs11::kTokenPinFinalTry) {
    return "WARNING: this is the LAST try: one more wrong PIN locks token " + quoted(token_label) + ".\n";
  }
  if (flags & pkcs11::kTokenPinCountLow) {
    return "Note: a wrong PIN was entered for token " + quoted(token_label) + " before; few tries may be left.\n";
  }
  return {};
}

}  // namespace

std::string pin_unblock_advice() {
  return "unblock it with the SO PIN (e.g. pkcs11-tool --login --login-type so --init-pin) or the token's own tool";
}

std::string pin_state_text(uint32_t flags) {
  if (flags & pkcs11::kTokenPinLocked) {
    return "the PIN is locked: " + pin_unblock_advice();
  }
  std::string text;
  if (flags & pkcs11::kTokenPinFinalTry) {
    text = "one more wrong PIN will lock it";
  } else if (flags & pkcs11::kTokenPinCountLow) {
    text = "a wrong PIN was entered before: few tries may be left";
  }
  if (flags & pkcs11::kTokenPinToBeChanged) {
    if (!text.empty()) text += "; ";
    text += "the PIN must be changed before use (e.g. pkcs11-tool --login --change-pin, or the token's own tool)";
  }
  return text;
}

std::string pin_prompt(const std::string& token_label, uint32_t token_flags) {
  return pin_warning(token_label, token_flags) + "Enter PIN for " + quoted(token_label) + ": ";
}

std::string context_pin_prompt(const std::string& token_label, const std::string& key_label, uint32_t token_flags) {
  return pin_warning(token_label, token_flags) + "Enter PIN for " + quoted(token_label) + " to sign with key " +
         quoted(key_label) + " (this key asks for its PIN at every use): ";
}

}  // namespace tessera::prompts
