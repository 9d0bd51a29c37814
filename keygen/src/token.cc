// -D: a PKCS#11 token through tessera-pkcs11-helper. Listing its keys is
// ssh-keygen 9.2's do_download(): one "type base64 label" line per key (-l,
// its fingerprint form, is not implemented). Unlike ssh-keygen 9.2, Ed25519
// keys are listed too.
#include "token.h"

#include <algorithm>
#include <variant>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/sshsig.h"
#include "tessera/prompts/pin.h"
#include "tessera/tokens/names.h"

namespace tessera::keygen {
namespace {

// Any provider the user names may be loaded: tessera-keygen runs as the user,
// with no -P allowlist (that guards the agent, which others can reach).
constexpr std::string_view kAnyProvider = "*";

std::string helper_problem(const key::Error& error) {
  return error.detail().empty() ? std::string(pkcs11::error_code_name(pkcs11::helper_code(error))) : error.message();
}

std::string quoted(const std::string& label) { return "'" + label + "'"; }

// What a failed C_Login means for the user, and what to do about it. Never a
// passphrase error: no key file was decrypted.
key::Error login_error(const pkcs11::KeyInfo& key, const key::Error& error) {
  const std::string token = "token " + quoted(key.token_label);
  std::string state = prompts::pin_state_text(error.flags());
  switch (pkcs11::helper_code(error)) {
    case pkcs11::ErrorCode::kPinIncorrect:
      return key::Error(key::Errc::kIo, "wrong PIN for " + token + (state.empty() ? "" : " (" + state + ")"));
    case pkcs11::ErrorCode::kPinLocked:
      return key::Error(key::Errc::kIo, "the PIN of " + token + " is locked: " + prompts::pin_unblock_advice());
    case pkcs11::ErrorCode::kPinInvalid:
      return key::Error(key::Errc::kIo, token + " refuses that PIN (its length or characters): check it and retry");
    case pkcs11::ErrorCode::kTokenRemoved:
    case pkcs11::ErrorCode::kTokenNotFound:
      return key::Error(key::Errc::kIo, token + " is not present: insert it and run again");
    default:
      return key::Error(key::Errc::kIo, "cannot log in to " + token + ": " + helper_problem(error));
  }
}

}  // namespace

key::Result<TokenSession> TokenSession::open(const std::string& provider) {
  auto spec = tokens::resolve_provider(provider, kAnyProvider);
  if (!spec.ok()) return fatal_failure("Cannot use PKCS#11 provider " + provider + ": " + spec.error().message());
  auto started = pkcs11::HelperClient::start(pkcs11::default_helper_program(), spec->module_path);
  if (!started.ok()) {
    return fatal_failure("Cannot load PKCS#11 provider " + spec->module_path + ": " + helper_problem(started.error()));
  }
  auto client = std::move(*started);
  auto listed = client->list_keys();
  if (!listed.ok()) {
    return fatal_failure("Cannot list the keys of PKCS#11 provider " + spec->module_path + ": " +
                       helper_problem(listed.error()));
  }
  std::vector<pkcs11::KeyInfo> keys;
  for (pkcs11::KeyInfo& k : listed->keys) {
    if (tokens::key_matches_uri(k, spec->filter_uri)) keys.push_back(std::move(k));
  }
  return TokenSession(std::move(client), std::move(keys));
}

const pkcs11::KeyInfo* TokenSession::find(std::span<const uint8_t> public_blob) const {
  auto it = std::find_if(keys_.begin(), keys_.end(), [&](const pkcs11::KeyInfo& k) {
    return std::equal(k.public_key.begin(), k.public_key.end(), public_blob.begin(), public_blob.end());
  });
  return it == keys_.end() ? nullptr : &*it;
}

key::Status TokenSession::login(const pkcs11::KeyInfo& key, uint32_t token_flags) {
  std::optional<key::SecretBytes> pin;
  // A PIN pad takes the PIN itself.
  if ((token_flags & pkcs11::kTokenProtectedAuthPath) == 0) {
    // The agent's wording, with its warnings when few tries are left.
    pin = read_passphrase(prompts::pin_prompt(key.token_label, token_flags));
  }
  auto done = client_->login(key.id.token, pin);
  if (!done.ok()) return login_error(key, done.error());
  logged_in_.insert(key.id.token);
  return {};
}

key::Result<key::Bytes> TokenSession::sign(const pkcs11::KeyInfo& key, std::span<const uint8_t> data,
                                           const std::string& algorithm) {
  for (;;) {
    auto signed_ = client_->sign(key.id, data, algorithm);
    if (signed_.ok()) return std::move(*signed_);
    const key::Error& error = signed_.error();
    // Log in once per token and run; a second refusal is not asked again.
    if (pkcs11::helper_code(error) == pkcs11::ErrorCode::kNotLoggedIn && !logged_in_.contains(key.id.token)) {
      TESSERA_TRY(login(key, error.flags()));
      continue;
    }
    return key::Error(key::Errc::kIo, "token " + quoted(key.token_label) + " key " + quoted(key.label) + ": " +
                                          helper_problem(error));
  }
}

int run_list_token_keys(const Options& options) {
  auto token = TokenSession::open(*options.pkcs11_provider);
  if (!token.ok()) return report_failure(token.error());
  if (token->keys().empty()) return fatal("cannot read public key from pkcs11");
  for (const pkcs11::KeyInfo& listed : token->keys()) {
    auto key = key::KeyOrCertificate::from_blob(listed.public_key);
    if (!key.ok()) {
      print_error("skipping key " + quoted(listed.label) + ": " + key.error().message());
      continue;
    }
    print_out(key->public_line() + (listed.label.empty() ? "" : " " + printable(listed.label)) + "\n");
  }
  return kExitOk;
}

}  // namespace tessera::keygen
