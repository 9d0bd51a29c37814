#include "io/host_keys_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "io/host_key_sources.h"
#include "io/token_identities.h"
#include "tessera/key/secret.h"
#include "tessera/pkcs11/client.h"
#include "tessera/prompts/pin.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/file.h"
#include "tessera/tokens/names.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;
using pkcs11::ErrorCode;

namespace {

// What the helper said: its message, or its error's name.
std::string helper_problem(const Error& error) {
  return error.detail().empty() ? std::string(pkcs11::error_code_name(pkcs11::helper_code(error))) : error.message();
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string key_name(const pkcs11::KeyInfo& info) { return info.label.empty() ? info.uri : info.label; }

constexpr std::string_view kNotPresent = "token not present: insert it (the next connection opens it again)";

std::chrono::seconds whole_seconds(std::chrono::milliseconds timeout) {
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(timeout));
}

}  // namespace

struct TokenHostKeys::State {
  struct Token {
    std::optional<key::SecretBytes> pin;
    std::string pin_origin;  // "pin-source /etc/x", "pin-value": for messages
    bool logged_in = false;
    std::optional<key::Error> refused;  // why it is not tried again (this connection)
  };

  std::unique_ptr<pkcs11::HelperClient> client;  // nullptr once it failed
  std::string dead;                              // why it is gone
  std::vector<pkcs11::KeyInfo> listed;           // every key of the module's tokens
  std::string module_path;
  std::vector<size_t> added;                     // indexes into listed, in the order added
  std::map<pkcs11::TokenId, Token> tokens;

  key::Status login(const pkcs11::KeyInfo& info, Token& token, uint32_t token_flags);
  key::Error helper_failed(const key::Error& error);
};

std::string server_helper_program() {
  const std::string beside = pkcs11::default_helper_program();
  if (const char* env = std::getenv("TESSERA_PKCS11_HELPER"); env != nullptr && *env != '\0') return beside;
  if (::access(beside.c_str(), X_OK) == 0) return beside;
  // PREFIX/sbin/tessera-sshd -> PREFIX/bin/tessera-pkcs11-helper
  const size_t slash = beside.rfind('/');
  const size_t dir = slash == std::string::npos || slash == 0 ? std::string::npos : beside.rfind('/', slash - 1);
  if (dir == std::string::npos) return beside;
  const std::string in_bin = beside.substr(0, dir) + "/bin" + beside.substr(slash);
  return ::access(in_bin.c_str(), X_OK) == 0 ? in_bin : beside;
}

key::Result<key::SecretBytes> read_pin_source(std::string_view source) {
  std::string path(source);
  if (path.starts_with("file://")) {
    path.erase(0, 7);  // file:///etc/x (no host: the file is local)
  } else if (path.starts_with("file:")) {
    path.erase(0, 5);  // file:/etc/x
  }
  if (!path.starts_with("/")) {
    return Error(Errc::kInvalidArgument, "pin-source " + std::string(source) +
                                             ": give a file's absolute path or a file: URI");
  }
  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) return Error(Errc::kIo, "pin-source " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error(Errc::kIo, "pin-source " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Error(Errc::kInvalidArgument, "pin-source " + path + " is not a regular file");
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return Error(Errc::kInvalidArgument, "pin-source " + path + " may be read or written by others than " +
                                             (::geteuid() == 0 ? std::string("root") : "its owner") +
                                             ": make it theirs alone (chown root, chmod 600)");
  }
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes text, sys::read_all_secret(fd.get(), pkcs11::kMaxPinBytes + 2));
  std::span<const uint8_t> line = text.reveal();
  const auto eol = std::find(line.begin(), line.end(), static_cast<uint8_t>('\n'));
  line = line.first(static_cast<size_t>(eol - line.begin()));
  if (!line.empty() && line.back() == '\r') line = line.first(line.size() - 1);
  if (line.empty()) return Error(Errc::kInvalidArgument, "pin-source " + path + " is empty");
  if (line.size() > pkcs11::kMaxPinBytes) return Error(Errc::kTooLarge, "pin-source " + path + ": the PIN is too long");
  return key::SecretBytes::copy_of(line);
}

TokenHostKeys::TokenHostKeys(std::unique_ptr<State> state) : state_(std::move(state)) {}

TokenHostKeys::~TokenHostKeys() = default;

key::Result<std::unique_ptr<TokenHostKeys>> TokenHostKeys::start(const std::string& module_path,
                                                                 std::chrono::milliseconds timeout,
                                                                 const std::string& helper) {
  const std::string program = helper.empty() ? server_helper_program() : helper;
  auto started = pkcs11::HelperClient::start(program, module_path, whole_seconds(timeout));
  if (!started.ok()) {
    return Error(Errc::kIo, "cannot start " + program + " for " + module_path + ": " + helper_problem(started.error()));
  }
  auto listed = (*started)->list_keys();
  if (!listed.ok()) {
    return Error(Errc::kIo, "cannot list the keys of " + module_path + ": " + helper_problem(listed.error()));
  }
  auto state = std::make_unique<State>();
  state->client = std::move(*started);
  state->listed = std::move(listed->keys);
  state->module_path = module_path;
  return std::unique_ptr<TokenHostKeys>(new TokenHostKeys(std::move(state)));
}

const std::string& TokenHostKeys::module_description() const {
  static const std::string kNone;
  return state_->client ? state_->client->module_description() : kNone;
}

key::Result<std::vector<TokenHostKeys::Added>> TokenHostKeys::add(const std::string& uri) {
  TESSERA_ASSIGN_OR_RETURN(tokens::UriPin uri_pin, tokens::uri_pin(uri));
  std::optional<key::SecretBytes> pin;
  std::string origin;
  if (!uri_pin.source.empty()) {
    TESSERA_ASSIGN_OR_RETURN(key::SecretBytes read, read_pin_source(uri_pin.source));
    pin = std::move(read);
    origin = "pin-source " + uri_pin.source;
  } else if (uri_pin.value) {
    pin = std::move(uri_pin.value);
    origin = "pin-value";
  }
  std::vector<Added> out;
  for (size_t i = 0; i < state_->listed.size(); ++i) {
    const pkcs11::KeyInfo& info = state_->listed[i];
    if (!tokens::key_matches_uri(info, uri)) continue;
    auto key = key::PublicKey::from_blob(info.public_key);
    if (!key.ok()) continue;  // a key type SSH has no name for
    State::Token& token = state_->tokens[info.id.token];
    if (!token.pin && pin) {
      token.pin = pin->clone();
      token.pin_origin = origin;
    }
    if (std::find(state_->added.begin(), state_->added.end(), i) == state_->added.end()) state_->added.push_back(i);
    out.push_back(Added{i, std::move(*key), quoted(key_name(info)) + " on token " + quoted(info.token_label)});
  }
  if (!out.empty()) return out;
  const std::string wanted = pkcs11_uri_token(uri);
  const bool token_seen = std::any_of(state_->listed.begin(), state_->listed.end(),
                                      [&](const pkcs11::KeyInfo& k) { return k.token_label == wanted; });
  if (!wanted.empty() && !token_seen) return Error(Errc::kIo, std::string(kNotPresent));
  if (!wanted.empty()) return Error(Errc::kInvalidArgument, "no key on the token matches the URI");
  return Error(Errc::kInvalidArgument, "no key on the tokens of " + state_->module_path +
                                           " matches the URI (is the token inserted?)");
}

std::vector<std::string> TokenHostKeys::algorithms() const {
  std::vector<std::string> out;
  std::vector<std::string_view> seen;
  for (size_t index : state_->added) {
    auto key = key::PublicKey::from_blob(state_->listed[index].public_key);
    if (!key.ok() || std::find(seen.begin(), seen.end(), key->ssh_name()) != seen.end()) continue;
    seen.push_back(key->ssh_name());
    for (const transport::HostKeyAlgorithm& a : transport::supported_host_key_algorithms()) {
      if (a.key_type == key->type() && !a.certificate) out.emplace_back(a.name);
    }
  }
  return out;
}

key::Bytes TokenHostKeys::host_key_blob(std::string_view algorithm) const {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a == nullptr || a->certificate) return {};
  for (size_t index : state_->added) {
    auto key = key::PublicKey::from_blob(state_->listed[index].public_key);
    if (key.ok() && key->type() == a->key_type) return state_->listed[index].public_key;
  }
  return {};
}

key::Result<key::Bytes> TokenHostKeys::sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) {
  const transport::HostKeyAlgorithm* a = transport::find_host_key_algorithm(algorithm);
  if (a != nullptr && !a->certificate) {
    for (size_t index : state_->added) {
      auto key = key::PublicKey::from_blob(state_->listed[index].public_key);
      if (key.ok() && key->type() == a->key_type) return sign_with(index, a->signature_name, exchange_hash);
    }
  }
  return Error(Errc::kUnsupported, "no host key on a token for " + std::string(algorithm));
}

std::vector<key::Bytes> TokenHostKeys::public_key_blobs() const {
  std::vector<key::Bytes> out;
  for (size_t index : state_->added) out.push_back(state_->listed[index].public_key);
  return out;
}

// The helper is gone, or stuck past the timeout: it is let go (ended, if it
// does not end by itself), and nothing more is asked of it.
key::Error TokenHostKeys::State::helper_failed(const Error& error) {
  dead = "tessera-pkcs11-helper for " + module_path + ": " + helper_problem(error);
  client.reset();
  return Error(Errc::kIo, dead);
}

key::Status TokenHostKeys::State::login(const pkcs11::KeyInfo& info, Token& token, uint32_t token_flags) {
  auto refuse = [&](std::string why) {
    token.refused = Error(Errc::kIo, std::move(why));
    return *token.refused;
  };
  if (!token.pin) {
    return refuse("the token needs its PIN: add pin-source=FILE (a file only root may read) to the HostKey "
                  "URI's query");
  }
  if (token_flags & pkcs11::kTokenPinLocked) {
    return refuse("the token's PIN is locked: " + prompts::pin_unblock_advice());
  }
  if (token_flags & (pkcs11::kTokenPinCountLow | pkcs11::kTokenPinFinalTry)) {
    return refuse("a wrong PIN was entered for the token since its last login, so tessera-sshd does not try its " +
                  token.pin_origin + " (it may be the wrong one): check it, then log in once with the right PIN " +
                  "(e.g. pkcs11-tool --login --test) to clear that");
  }
  auto done = client->login(info.id.token, token.pin);
  if (done.ok()) {
    token.logged_in = true;
    return {};
  }
  const Error& error = done.error();
  switch (pkcs11::helper_code(error)) {
    case ErrorCode::kPinIncorrect:
      return refuse("wrong PIN (" + token.pin_origin + "): fix it; tessera-sshd does not try it again until a " +
                    "right PIN is entered for the token (e.g. pkcs11-tool --login --test)");
    case ErrorCode::kPinLocked:
      return refuse("the token's PIN is locked: " + prompts::pin_unblock_advice());
    case ErrorCode::kPinInvalid:
      return refuse("the token refuses the PIN of its " + token.pin_origin + " (its length or characters)");
    case ErrorCode::kTokenRemoved:
    case ErrorCode::kTokenNotFound:
      return Error(Errc::kIo, std::string(kNotPresent));
    case ErrorCode::kInternal:
      return helper_failed(error);
    default:
      return Error(Errc::kIo, "cannot log in to the token: " + helper_problem(error));
  }
}

key::Result<key::Bytes> TokenHostKeys::sign_with(size_t index, std::string_view signature_algorithm,
                                                 std::span<const uint8_t> data) {
  if (index >= state_->listed.size()) return Error(Errc::kInvalidArgument, "no such token key");
  if (!state_->client) return Error(Errc::kIo, state_->dead);
  const pkcs11::KeyInfo& info = state_->listed[index];
  TESSERA_ASSIGN_OR_RETURN(key::PublicKey public_key, key::PublicKey::from_blob(info.public_key));
  State::Token& token = state_->tokens[info.id.token];
  if (token.refused) return *token.refused;
  std::optional<key::SecretBytes> context;
  bool context_sent = false;
  // At most: sign, log in and sign, then sign once more with a context PIN.
  for (int round = 0; round < 3; ++round) {
    auto signature = state_->client->sign(info.id, data, std::string(signature_algorithm), context);
    if (signature.ok()) {
      TESSERA_TRY(check_external_signature(public_key, signature_algorithm, *signature, data));
      return signature;
    }
    const Error& error = signature.error();
    switch (pkcs11::helper_code(error)) {
      case ErrorCode::kNotLoggedIn:
        if (!token.logged_in) {
          TESSERA_TRY(state_->login(info, token, error.flags()));
          continue;
        }
        if (!context_sent && token.pin) {  // a CKA_ALWAYS_AUTHENTICATE key
          context = token.pin->clone();
          context_sent = true;
          continue;
        }
        token.refused = Error(Errc::kIo, "the token refuses to sign although logged in: " + helper_problem(error));
        return *token.refused;
      case ErrorCode::kPinIncorrect:
      case ErrorCode::kPinLocked:
      case ErrorCode::kPinInvalid:
        // The context-specific login, with the PIN that logged in: the
        // token changed its mind; not again.
        token.refused = Error(Errc::kIo, "the token refused its " + token.pin_origin + " for the key: " +
                                             helper_problem(error));
        return *token.refused;
      case ErrorCode::kTokenRemoved:
      case ErrorCode::kTokenNotFound:
        token.logged_in = false;
        return Error(Errc::kIo, std::string(kNotPresent));
      case ErrorCode::kInternal:
        return state_->helper_failed(error);
      default:
        return Error(Errc::kIo, helper_problem(error));
    }
  }
  return Error(Errc::kIo, "the token did not sign");
}

}  // namespace tessera::ssh::io
