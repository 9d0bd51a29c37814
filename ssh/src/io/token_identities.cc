#include "io/token_identities.h"

#include <map>
#include <optional>
#include <set>
#include <utility>

#include "tessera/pkcs11/client.h"
#include "tessera/prompts/pin.h"
#include "tessera/prompts/readpass.h"
#include "tessera/tokens/names.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;
using pkcs11::ErrorCode;

namespace {

// tessera-ssh runs as the user who names the provider: any module may be
// loaded (the -P allowlist guards the agent, which others can reach).
constexpr std::string_view kAnyProvider = "*";

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// What the helper said, for a person: its message, or its error's name.
std::string helper_problem(const Error& error) {
  return error.detail().empty() ? std::string(pkcs11::error_code_name(pkcs11::helper_code(error))) : error.message();
}

std::string token_name(const pkcs11::KeyInfo& info) { return "token " + quoted(info.token_label); }

std::string key_name(const pkcs11::KeyInfo& info) { return info.label.empty() ? info.uri : info.label; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string pkcs11_uri_token(std::string_view uri) {
  constexpr std::string_view kScheme = "pkcs11:";
  if (uri.substr(0, kScheme.size()) != kScheme) return {};
  std::string_view path = uri.substr(kScheme.size());
  path = path.substr(0, path.find('?'));
  while (!path.empty()) {
    const size_t semicolon = path.find(';');
    const std::string_view attribute = path.substr(0, semicolon);
    path = semicolon == std::string_view::npos ? std::string_view() : path.substr(semicolon + 1);
    constexpr std::string_view kToken = "token=";
    if (attribute.substr(0, kToken.size()) != kToken) continue;
    const std::string_view value = attribute.substr(kToken.size());
    std::string decoded;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '%' && i + 2 < value.size() && hex_digit(value[i + 1]) >= 0 && hex_digit(value[i + 2]) >= 0) {
        decoded.push_back(static_cast<char>(hex_digit(value[i + 1]) * 16 + hex_digit(value[i + 2])));
        i += 2;
      } else {
        decoded.push_back(value[i]);
      }
    }
    return decoded;
  }
  return {};
}

// Shared by the signers, which may outlive the TokenIdentities (they live in
// the authentication state machine's list of identities).
struct TokenIdentities::State {
  struct Token {
    bool logged_in = false;
    std::optional<key::SecretBytes> pin;  // the user PIN given, for context-specific logins
    std::optional<Error> refused;         // why its keys are not tried again (a wrong PIN, no PIN, BatchMode)
  };

  TokenSettings settings;
  Report warn, debug;
  std::unique_ptr<pkcs11::HelperClient> client;  // nullptr: closed, or never started
  std::vector<pkcs11::KeyInfo> listed;           // parallel to TokenIdentities::keys_
  std::map<pkcs11::TokenId, Token> tokens;

  // Gives up on a token's keys for this connection and says why.
  Error refuse(Token& token, Error error, bool tell) {
    token.pin.reset();
    token.refused = error;
    if (tell) warn(error.message());
    return error;
  }

  // What a failed login (user or context-specific) means for the user.
  Error login_error(const pkcs11::KeyInfo& info, const Error& error) const {
    const std::string token = token_name(info);
    const std::string state = prompts::pin_state_text(error.flags());
    switch (pkcs11::helper_code(error)) {
      case ErrorCode::kPinIncorrect:
        return Error(Errc::kIo, "wrong PIN for " + token + (state.empty() ? "" : " (" + state + ")"));
      case ErrorCode::kPinLocked:
        return Error(Errc::kIo, "the PIN of " + token + " is locked: " + prompts::pin_unblock_advice());
      case ErrorCode::kPinInvalid:
        return Error(Errc::kIo, token + " refuses that PIN (its length or characters): check it and retry");
      case ErrorCode::kTokenRemoved:
      case ErrorCode::kTokenNotFound:
        return Error(Errc::kIo, token + " is not present: insert it and try again");
      default:
        return Error(Errc::kIo, "cannot log in to " + token + ": " + helper_problem(error));
    }
  }

  // Asks for a PIN, or says why not. nullopt in `pin` (with ok) means the
  // token's PIN pad takes it.
  key::Result<std::optional<key::SecretBytes>> ask_pin(const pkcs11::KeyInfo& info, Token& token,
                                                       const std::string& prompt, uint32_t token_flags) {
    if (settings.batch_mode) {
      return refuse(token,
                    Error(Errc::kIo, token_name(info) + " needs its PIN, and BatchMode is on: not asking for it"),
                    false);
    }
    if (token_flags & pkcs11::kTokenProtectedAuthPath) {
      warn("Enter the PIN of " + token_name(info) + " on its PIN pad.");
      return std::optional<key::SecretBytes>();
    }
    auto pin = prompts::read_passphrase(prompt, prompts::kReadAllowEof);
    // An empty PIN is not sent: it would only cost the token one of its tries.
    if (!pin || pin->empty()) {
      return refuse(token, Error(Errc::kIo, "no PIN was given for " + token_name(info) + ": its keys are skipped"),
                    true);
    }
    return std::optional<key::SecretBytes>(std::move(*pin));
  }

  key::Status login(const pkcs11::KeyInfo& info, Token& token, uint32_t token_flags) {
    // Nobody is asked for a PIN that cannot work.
    if (token_flags & pkcs11::kTokenPinLocked) {
      return refuse(token, login_error(info, Error(Errc::kIo).with_subcode(
                                                 static_cast<uint32_t>(ErrorCode::kPinLocked), token_flags)),
                    true);
    }
    TESSERA_ASSIGN_OR_RETURN(std::optional<key::SecretBytes> pin,
                             ask_pin(info, token, prompts::pin_prompt(info.token_label, token_flags), token_flags));
    auto done = client->login(info.id.token, pin);
    if (!done.ok()) return refuse(token, login_error(info, done.error()), true);
    debug("logged in to " + token_name(info));
    token.logged_in = true;
    token.pin = std::move(pin);
    return {};
  }

  // The PIN for one signature with a CKA_ALWAYS_AUTHENTICATE key: the one
  // given for the login when there was one, so the user is asked once.
  key::Result<std::optional<key::SecretBytes>> context_pin(const pkcs11::KeyInfo& info, Token& token,
                                                           uint32_t token_flags) {
    if (token.pin) return std::optional<key::SecretBytes>(token.pin->clone());
    TESSERA_ASSIGN_OR_RETURN(
        std::optional<key::SecretBytes> pin,
        ask_pin(info, token, prompts::context_pin_prompt(info.token_label, key_name(info), token_flags),
                token_flags & ~pkcs11::kTokenProtectedAuthPath));
    return pin;
  }

  key::Result<key::Bytes> sign(size_t index, std::span<const uint8_t> data, std::string_view algorithm) {
    if (!client || index >= listed.size()) {
      return Error(Errc::kIo, "the PKCS#11 provider " + settings.provider + " is closed");
    }
    const pkcs11::KeyInfo& info = listed[index];
    Token& token = tokens[info.id.token];
    if (token.refused) return *token.refused;
    std::optional<key::SecretBytes> context;
    bool context_sent = false;
    // At most: sign, log in and sign, then sign once more with a context PIN.
    for (int round = 0; round < 3; ++round) {
      auto signature = client->sign(info.id, data, std::string(algorithm), context);
      if (signature.ok()) return signature;
      const Error& error = signature.error();
      switch (pkcs11::helper_code(error)) {
        case ErrorCode::kNotLoggedIn: {
          if (!token.logged_in) {
            TESSERA_TRY(login(info, token, error.flags()));
            continue;
          }
          if (!context_sent) {
            // Logged in, and still refused: an always-authenticate key.
            debug(token_name(info) + " key " + quoted(key_name(info)) + " asks for its PIN at every use");
            TESSERA_ASSIGN_OR_RETURN(context, context_pin(info, token, error.flags()));
            context_sent = true;
            continue;
          }
          return refuse(token, Error(Errc::kIo, token_name(info) + " refused to sign although logged in: " +
                                                    helper_problem(error)),
                        true);
        }
        case ErrorCode::kPinIncorrect:
        case ErrorCode::kPinLocked:
        case ErrorCode::kPinInvalid:
        case ErrorCode::kTokenRemoved:
        case ErrorCode::kTokenNotFound:
          return refuse(token, login_error(info, error), true);
        case ErrorCode::kDeviceError:
        case ErrorCode::kModuleError:
        case ErrorCode::kInternal: {
          Error failed(Errc::kIo, token_name(info) + " key " + quoted(key_name(info)) + ": " + helper_problem(error));
          warn(failed.message());
          return failed;
        }
        default:
          // Not for this key or algorithm: the next identity may do.
          return Error(Errc::kIo, token_name(info) + " key " + quoted(key_name(info)) + ": " + helper_problem(error));
      }
    }
    return Error(Errc::kIo, token_name(info) + " key " + quoted(key_name(info)) + ": could not sign");
  }
};

TokenIdentities::TokenIdentities(std::shared_ptr<State> state) : state_(std::move(state)) {}

TokenIdentities::~TokenIdentities() { close(); }

std::unique_ptr<TokenIdentities> TokenIdentities::open(const TokenSettings& settings, Report warn, Report debug) {
  auto state = std::make_shared<State>();
  state->settings = settings;
  state->warn = std::move(warn);
  state->debug = std::move(debug);
  std::unique_ptr<TokenIdentities> out(new TokenIdentities(state));
  const std::string& provider = settings.provider;
  if (provider.empty() || provider == "none") return out;

  auto spec = tokens::resolve_provider(provider, kAnyProvider);
  if (!spec.ok()) {
    state->warn(spec.error().code() == Errc::kIo
                    ? "PKCS#11 provider " + provider + " not found: " + spec.error().message()
                    : "cannot use PKCS#11 provider " + provider + ": " + spec.error().message());
    return out;
  }
  const std::string where = provider == spec->module_path ? provider : provider + " (" + spec->module_path + ")";
  const std::string helper = pkcs11::default_helper_program();
  auto started = pkcs11::HelperClient::start(helper, spec->module_path);
  if (!started.ok()) {
    state->warn("cannot start " + helper + " for PKCS#11 provider " + where + ": " + helper_problem(started.error()));
    return out;
  }
  state->client = std::move(*started);
  state->debug("PKCS#11 provider " + where + ": " + state->client->module_description());
  auto listed = state->client->list_keys();
  if (!listed.ok()) {
    state->warn("cannot list the keys of PKCS#11 provider " + where + ": " + helper_problem(listed.error()));
    state->client.reset();
    return out;
  }

  std::set<key::Bytes> seen;
  bool token_seen = false;
  const std::string wanted_token = pkcs11_uri_token(spec->filter_uri);
  for (pkcs11::KeyInfo& info : listed->keys) {
    token_seen = token_seen || (!wanted_token.empty() && info.token_label == wanted_token);
    if (!tokens::key_matches_uri(info, spec->filter_uri)) continue;
    auto key = key::PublicKey::from_blob(info.public_key);
    if (!key.ok()) {
      state->debug("skipping token key " + quoted(key_name(info)) + ": " + key.error().message());
      continue;
    }
    if (!seen.insert(info.public_key).second) continue;  // the same key on two tokens (or listed twice)
    out->keys_.push_back(TokenKey{info.public_key, *key, key_name(info), info.token_label});
    state->listed.push_back(std::move(info));
  }
  if (out->keys_.empty()) {
    if (!wanted_token.empty() && !token_seen) {
      state->warn("token " + quoted(wanted_token) + " is not present (PKCS#11 provider " + where +
                  "): insert it and try again");
    } else if (!spec->filter_uri.empty()) {
      state->warn("no key of PKCS#11 provider " + where + " matches " + spec->filter_uri);
    } else {
      state->warn("PKCS#11 provider " + where + " has no keys: is the token inserted?");
    }
    state->client.reset();
    return out;
  }
  state->debug("PKCS#11 provider " + where + ": " + std::to_string(out->keys_.size()) + " keys");
  return out;
}

std::function<key::Result<key::Bytes>(std::span<const uint8_t>, std::string_view)> TokenIdentities::signer(
    size_t index) const {
  std::weak_ptr<State> weak = state_;
  return [weak, index](std::span<const uint8_t> data, std::string_view algorithm) -> key::Result<key::Bytes> {
    auto state = weak.lock();
    if (!state) return Error(Errc::kIo, "the PKCS#11 provider is closed");
    return state->sign(index, data, algorithm);
  };
}

void TokenIdentities::close() {
  if (!state_) return;
  for (auto& [id, token] : state_->tokens) token.pin.reset();
  state_->client.reset();
}

}  // namespace tessera::ssh::io
