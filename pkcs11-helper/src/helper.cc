#include "helper.h"

#include <cstdio>

#include "signer.h"

namespace tessera::pkcs11::helper {

namespace {

// RFC 7512 pchar minus ';' and '%' (and '/' and '?', which the path may not hold).
bool uri_safe(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case ':': case '[': case ']': case '@': case '!':
    case '$': case '\'': case '(': case ')': case '*': case '+': case ',': case '=': case '&':
      return true;
    default:
      return false;
  }
}

void append_escaped(std::string& out, std::span<const uint8_t> value, bool escape_all) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (uint8_t c : value) {
    if (!escape_all && uri_safe(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

}  // namespace

std::string key_uri(const std::string& token_label, const std::string& manufacturer, const std::string& model,
                    const std::string& serial, std::span<const uint8_t> cka_id, const std::string& object_label) {
  std::string uri = "pkcs11:";
  bool first = true;
  auto attr = [&](std::string_view name, std::span<const uint8_t> value, bool escape_all) {
    if (value.empty()) return;
    if (!first) uri.push_back(';');
    first = false;
    uri.append(name);
    uri.push_back('=');
    append_escaped(uri, value, escape_all);
  };
  attr("model", key::as_bytes(model), false);
  attr("manufacturer", key::as_bytes(manufacturer), false);
  attr("serial", key::as_bytes(serial), false);
  attr("token", key::as_bytes(token_label), false);
  attr("id", cka_id, true);
  attr("object", key::as_bytes(object_label), false);
  if (uri.size() > kMaxUriBytes) uri.resize(kMaxUriBytes);
  return uri;
}

Helper::Lease::~Lease() {
  if (!token_) return;
  std::lock_guard lock(token_->mu);
  if (discard_ || token_->removed || !session_.valid()) {
    Session closing = std::move(session_);  // closed here, outside nothing else
    --token_->open_sessions;
  } else {
    token_->idle.push_back(std::move(session_));
  }
  token_->session_returned.notify_one();
}

Helper::Helper(std::unique_ptr<Module> module, std::optional<key::Error> load_failure)
    : module_(std::move(module)), load_failure_(std::move(load_failure)) {}

Helper::~Helper() {
  // Sessions close (and the login ends) before the module is finalized.
  tokens_.clear();
  module_.reset();
}

ReplyBody Helper::handle(const RequestBody& request) {
  if (std::holds_alternative<Hello>(request)) return hello();
  if (!module_) return error_reply(load_failure_.value_or(helper_error(ErrorCode::kModuleError, "no module")), nullptr);
  if (auto* m = std::get_if<ListKeys>(&request)) return list_keys(*m);
  if (auto* m = std::get_if<Login>(&request)) return login(*m);
  if (auto* m = std::get_if<Logout>(&request)) return logout(*m);
  return sign(std::get<Sign>(request));
}

ReplyBody Helper::hello() {
  HelloReply reply;
  reply.module = module_ ? module_->description() : std::string();
  if (reply.module.size() > kMaxMessageTextBytes) reply.module.resize(kMaxMessageTextBytes);
  return reply;
}

ErrorReply Helper::error_reply(const key::Error& failure, Token* token) {
  ErrorReply reply;
  reply.code = helper_code(failure);
  reply.message = failure.message();
  if (token != nullptr) {
    if (!token->label.empty()) reply.message = "token '" + token->label + "': " + reply.message;
    if (reply.code != ErrorCode::kTokenRemoved) reply.token_flags = token_flags(*token);
  }
  if (reply.message.size() > kMaxMessageTextBytes) reply.message.resize(kMaxMessageTextBytes);
  return reply;
}

uint32_t Helper::token_flags(Token& token) {
  uint32_t flags = 0;
  CK_TOKEN_INFO info{};
  if (module_->api()->C_GetTokenInfo(token.slot, &info) == CKR_OK) {
    if (info.flags & CKF_USER_PIN_COUNT_LOW) flags |= kTokenPinCountLow;
    if (info.flags & CKF_USER_PIN_FINAL_TRY) flags |= kTokenPinFinalTry;
    if (info.flags & CKF_USER_PIN_LOCKED) flags |= kTokenPinLocked;
    if (info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) flags |= kTokenProtectedAuthPath;
    if (info.flags & CKF_LOGIN_REQUIRED) flags |= kTokenLoginRequired;
    if (info.flags & CKF_USER_PIN_TO_BE_CHANGED) flags |= kTokenPinToBeChanged;
  }
  std::lock_guard lock(token.mu);
  if (token.logged_in) flags |= kTokenLoggedIn;
  return flags;
}

key::Result<std::vector<std::shared_ptr<Helper::Token>>> Helper::scan_tokens() {
  std::lock_guard scan_lock(scan_mu_);
  CK_FUNCTION_LIST_PTR api = module_->api();
  std::vector<CK_SLOT_ID> slots;
  for (int attempt = 0; attempt < 3; ++attempt) {  // the list may grow between the two calls
    CK_ULONG count = 0;
    CK_RV rv = api->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetSlotList");
    slots.resize(std::min<CK_ULONG>(count, 256));
    count = static_cast<CK_ULONG>(slots.size());
    rv = api->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetSlotList");
    slots.resize(std::min<size_t>(count, slots.size()));
    break;
  }

  std::vector<std::shared_ptr<Token>> present;
  for (CK_SLOT_ID slot : slots) {
    CK_SLOT_INFO slot_info{};
    CK_TOKEN_INFO info{};
    if (api->C_GetSlotInfo(slot, &slot_info) != CKR_OK || api->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    TokenId id{trim_field(info.serialNumber, sizeof info.serialNumber),
               trim_field(slot_info.slotDescription, sizeof slot_info.slotDescription)};
    std::shared_ptr<Token> token;
    {
      std::lock_guard lock(tokens_mu_);
      auto it = tokens_.find(id);
      if (it != tokens_.end() && it->second->slot == slot) token = it->second;
    }
    if (!token) {
      token = std::make_shared<Token>();
      token->slot = slot;
      token->id = id;
      token->label = trim_field(info.label, sizeof info.label);
      token->manufacturer = trim_field(info.manufacturerID, sizeof info.manufacturerID);
      token->model = trim_field(info.model, sizeof info.model);
      CK_ULONG count = 0;
      if (api->C_GetMechanismList(slot, nullptr, &count) == CKR_OK && count > 0 && count < 4096) {
        std::vector<CK_MECHANISM_TYPE> mechanisms(count);
        if (api->C_GetMechanismList(slot, mechanisms.data(), &count) == CKR_OK) {
          mechanisms.resize(std::min<size_t>(count, mechanisms.size()));
          token->mechanisms.insert(mechanisms.begin(), mechanisms.end());
        }
      }
    }
    present.push_back(token);
  }

  std::lock_guard lock(tokens_mu_);
  std::map<TokenId, std::shared_ptr<Token>> now;
  for (const auto& token : present) now.emplace(token->id, token);
  for (auto& [id, token] : tokens_) {
    if (now.count(id) == 0 || now[id] != token) {
      std::lock_guard token_lock(token->mu);
      token->removed = true;
      token->idle.clear();
    }
  }
  tokens_ = std::move(now);
  return present;
}

key::Result<std::shared_ptr<Helper::Token>> Helper::find_token(const TokenId& id) {
  {
    std::lock_guard lock(tokens_mu_);
    auto it = tokens_.find(id);
    if (it != tokens_.end()) return it->second;
  }
  auto scanned = scan_tokens();
  if (!scanned.ok()) return scanned.error();
  for (auto& token : (*scanned)) {
    if (token->id == id) return token;
  }
  return helper_error(ErrorCode::kTokenNotFound, "no token with serial '" + id.serial + "' in slot '" + id.slot_description + "': insert it");
}

key::Result<Helper::Lease> Helper::acquire(const std::shared_ptr<Token>& token) {
  {
    std::unique_lock lock(token->mu);
    for (;;) {
      if (token->removed) return helper_error(ErrorCode::kTokenRemoved, "the token was removed: insert it again");
      if (!token->idle.empty()) {
        Session session = std::move(token->idle.back());
        token->idle.pop_back();
        return Lease(token, std::move(session));
      }
      if (token->open_sessions < kMaxSessionsPerToken) break;
      token->session_returned.wait(lock);
    }
    ++token->open_sessions;  // reserved; opened outside the lock
  }
  auto session = Session::open(module_->api(), token->slot);
  if (!session.ok()) {
    std::lock_guard lock(token->mu);
    --token->open_sessions;
    token->session_returned.notify_one();
    return session.error();
  }
  return Lease(token, std::move((*session)));
}

void Helper::forget(const std::shared_ptr<Token>& token) {
  {
    std::lock_guard lock(token->mu);
    token->removed = true;
    token->idle.clear();
    token->keys.clear();
    token->logged_in = false;
  }
  {
    std::lock_guard login_lock(token->login_mu);
    token->login_session = Session();
  }
  std::lock_guard lock(tokens_mu_);
  auto it = tokens_.find(token->id);
  if (it != tokens_.end() && it->second == token) tokens_.erase(it);
}

std::optional<Helper::Token::State> Helper::token_state(Token& token) {
  CK_TOKEN_INFO info{};
  if (module_->api()->C_GetTokenInfo(token.slot, &info) != CKR_OK) return std::nullopt;
  Token::State state{trim_field(info.label, sizeof info.label), info.flags, false};
  std::lock_guard lock(token.mu);
  state.logged_in = token.logged_in;
  return state;
}

key::Status Helper::refresh_keys(const std::shared_ptr<Token>& token, Lease& lease, bool reuse_public) {
  CK_FUNCTION_LIST_PTR api = module_->api();
  // Read before the keys: a change while they are read shows at the next poll.
  const auto state = token_state(*token);
  auto objects = find_key_objects(api, lease.handle());
  if (!objects.ok()) return objects.error();
  std::map<Bytes, KeyRecord> keys;
  {
    std::lock_guard lock(token->mu);
    if (reuse_public && token->keys_read_at && token->key_objects == (*objects)) {
      for (const auto& [cka_id, record] : token->keys) keys.emplace(cka_id, KeyRecord{record.public_key, record.label, {}});
    }
  }
  if (keys.empty()) {
    auto found = discover_keys(api, lease.handle(), (*objects));
    if (!found.ok()) return found.error();
    for (auto& key : (*found)) {
      keys.emplace(std::move(key.cka_id), KeyRecord{std::move(key.public_key), std::move(key.label), std::nullopt});
    }
  }
  // A private object becomes visible once logged in; its CKA_ALWAYS_AUTHENTICATE is known from then on.
  // Before a login that the token requires there is nothing to find (signing
  // looks the key up again), so a token with many keys is searched once less.
  if (!state || !(state->flags & CKF_LOGIN_REQUIRED) || state->logged_in) {
    auto privates = find_private_keys(api, lease.handle());
    if (!privates.ok()) return privates.error();
    for (auto& [cka_id, record] : keys) {
      auto priv = (*privates).find(cka_id);
      if (priv != (*privates).end()) record.private_key = priv->second;
    }
  }
  std::lock_guard lock(token->mu);
  token->keys = std::move(keys);
  token->keys_read_at = state;
  token->key_objects = std::move((*objects));
  return key::Status();
}

ReplyBody Helper::list_keys(const ListKeys& request) {
  std::lock_guard lock(listing_mu_);
  if (request.first == 0) {
    auto made = make_listing(request.rescan);
    if (!made.ok()) return error_reply(made.error(), nullptr);
  } else if (generation_ == 0 || request.first > listing_.size()) {
    return error_reply(helper_error(ErrorCode::kBadRequest, "no key listing has key " +
                                                                std::to_string(request.first) +
                                                                ": ask for the keys from 0 first"),
                       nullptr);
  }
  KeyList page;
  page.generation = generation_;
  page.total = static_cast<uint32_t>(listing_.size());
  page.first = request.first;
  size_t size = kKeyListHeaderBytes;
  for (size_t i = request.first; i < listing_.size() && page.keys.size() < kMaxKeys; ++i) {
    size += serialized_size(listing_[i]);
    if (size > kMaxFrameBytes) break;
    page.keys.push_back(listing_[i]);
  }
  if (request.first == 0 && page.keys.size() < listing_.size()) {
    std::fprintf(stderr, "tessera-pkcs11-helper: %zu keys do not fit in one reply: they are listed in pages\n",
                 listing_.size());
  }
  return page;
}

key::Status Helper::make_listing(bool rescan) {
  auto scanned = scan_tokens();
  if (!scanned.ok()) return scanned.error();
  std::vector<KeyInfo> list;
  size_t list_bytes = 0;
  for (const auto& token : (*scanned)) {
    key::Status failure;
    bool current = false;
    if (!rescan) {
      auto state = token_state(*token);
      std::lock_guard token_lock(token->mu);
      current = state && token->keys_read_at == state;
    }
    if (!current) {
      auto lease = acquire(token);
      if (!lease.ok()) {
        failure = lease.error();
      } else {
        // A poll keeps the public keys if the key objects are the same.
        failure = refresh_keys(token, *lease, !rescan);
        if (!failure.ok()) lease->discard();
      }
    }
    if (!failure.ok()) {
      // One failing token does not hide the others' keys.
      std::fprintf(stderr, "tessera-pkcs11-helper: token '%s': %s\n", token->label.c_str(),
                   failure.error().message().c_str());
      if (helper_code(failure.error()) == ErrorCode::kTokenRemoved) forget(token);
      continue;
    }
    const uint32_t flags = token_flags(*token);
    std::lock_guard token_lock(token->mu);
    for (const auto& [cka_id, record] : token->keys) {
      if (list.size() >= kMaxListedKeys) {
        std::fprintf(stderr, "tessera-pkcs11-helper: more than %zu keys: only the first are listed\n",
                     kMaxListedKeys);
        break;
      }
      KeyInfo info;
      info.id = KeyId{token->id, cka_id};
      info.token_label = token->label;
      info.label = record.label;
      info.uri = key_uri(token->label, token->manufacturer, token->model, token->id.serial, cka_id, record.label);
      info.public_key = record.public_key.blob();
      info.flags = flags;
      if (record.private_key && record.private_key->always_authenticate) info.flags |= kKeyAlwaysAuthenticate;
      if (list_bytes + serialized_size(info) > kMaxListingBytes) {
        std::fprintf(stderr, "tessera-pkcs11-helper: the keys take more than %zu bytes: only the first are listed\n",
                     kMaxListingBytes);
        break;
      }
      list_bytes += serialized_size(info);
      list.push_back(std::move(info));
    }
  }
  listing_ = std::move(list);
  if (++generation_ == 0) generation_ = 1;
  return key::Status();
}

ReplyBody Helper::login(const Login& request) {
  auto found = find_token(request.token);
  if (!found.ok()) return error_reply(found.error(), nullptr);
  auto token = (*found);
  auto done = log_in(*token, request.pin);
  if (!done.ok()) {
    // forget() takes the token's login lock: only once log_in() let go of it.
    if (helper_code(done.error()) == ErrorCode::kTokenRemoved) forget(token);
    return error_reply(done.error(), token.get());
  }
  return Ok{};
}

key::Status Helper::log_in(Token& token, const std::optional<SecretBytes>& pin) {
  CK_FUNCTION_LIST_PTR api = module_->api();
  std::lock_guard login_lock(token.login_mu);
  if (!token.login_session.valid()) {
    TESSERA_ASSIGN_OR_RETURN(Session session, Session::open(api, token.slot));
    token.login_session = std::move(session);
  }
  CK_RV rv;
  if (pin) {
    auto text = pin->reveal();
    rv = api->C_Login(token.login_session.handle(), CKU_USER, const_cast<CK_UTF8CHAR_PTR>(text.data()),
                      static_cast<CK_ULONG>(text.size()));
  } else {
    // No PIN: the token's protected authentication path (PIN pad) asks for it.
    rv = api->C_Login(token.login_session.handle(), CKU_USER, nullptr, 0);
  }
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    auto failure = failure_from_ckr(rv, "C_Login");
    // Never logged in: nothing to log out (a removed token is forgotten whole).
    if (helper_code(failure) != ErrorCode::kTokenRemoved) token.login_session = Session();
    return failure;
  }
  token.login_session.set_logout_on_close(true);
  std::lock_guard lock(token.mu);
  token.logged_in = true;
  return key::Status();
}

ReplyBody Helper::logout(const Logout& request) {
  std::shared_ptr<Token> token;
  {
    std::lock_guard lock(tokens_mu_);
    auto it = tokens_.find(request.token);
    if (it != tokens_.end()) token = it->second;
  }
  if (!token) return Ok{};  // nothing held for it
  std::lock_guard login_lock(token->login_mu);
  token->login_session = Session();  // C_Logout + C_CloseSession
  std::lock_guard lock(token->mu);
  token->logged_in = false;
  for (auto& [id, record] : token->keys) record.private_key.reset();
  return Ok{};
}

ReplyBody Helper::sign(const Sign& request) {
  ReplyBody reply = sign_once(request);
  // A card pulled out and put back before anything asked the module about
  // its slot leaves the sessions of its earlier insertion in the pool, dead:
  // the signature fails as removed, and the token was forgotten. If it is
  // there again, the signature gets one more try on a fresh session. The
  // login went with the card, so the answer may be not_logged_in, on which
  // the agent logs in again and signs.
  const auto* removed = std::get_if<ErrorReply>(&reply);
  if (removed == nullptr || removed->code != ErrorCode::kTokenRemoved) return reply;
  ReplyBody again = sign_once(request);
  const auto* absent = std::get_if<ErrorReply>(&again);
  if (absent != nullptr && absent->code == ErrorCode::kTokenNotFound) return reply;
  return again;
}

ReplyBody Helper::sign_once(const Sign& request) {
  auto found = find_token(request.key.token);
  if (!found.ok()) return error_reply(found.error(), nullptr);
  auto token = (*found);
  CK_FUNCTION_LIST_PTR api = module_->api();

  auto lease_or = acquire(token);
  if (!lease_or.ok()) return error_reply(lease_or.error(), token.get());
  Lease& lease = (*lease_or);
  auto fail = [&](const key::Error& failure) -> ReplyBody {
    lease.discard();
    if (helper_code(failure) == ErrorCode::kTokenRemoved) forget(token);
    return error_reply(failure, token.get());
  };

  std::optional<key::PublicKey> public_key;
  std::optional<PrivateKeyObject> private_key;
  for (int attempt = 0; attempt < 2 && !public_key; ++attempt) {
    {
      std::lock_guard lock(token->mu);
      auto it = token->keys.find(request.key.cka_id);
      if (it != token->keys.end()) {
        public_key = it->second.public_key;
        private_key = it->second.private_key;
        break;
      }
    }
    if (attempt == 0) {
      if (auto refreshed = refresh_keys(token, lease); !refreshed.ok()) return fail(refreshed.error());
    }
  }
  if (!public_key) return fail(helper_error(ErrorCode::kKeyNotFound, "no key with this CKA_ID on the token"));

  auto plan = plan_signature(*public_key, request.algorithm, request.data, token->mechanisms);
  if (!plan.ok()) return error_reply(plan.error(), token.get());

  if (!private_key) {
    auto priv = find_private_key(api, lease.handle(), request.key.cka_id);
    if (!priv.ok()) {
      if (helper_code(priv.error()) == ErrorCode::kKeyNotFound && (token_flags(*token) & kTokenLoginRequired) &&
          !(token_flags(*token) & kTokenLoggedIn)) {
        return fail(helper_error(ErrorCode::kNotLoggedIn,
                                 "log in to the token first (its private keys are hidden until then)"));
      }
      return fail(priv.error());
    }
    private_key = (*priv);
    std::lock_guard lock(token->mu);
    auto it = token->keys.find(request.key.cka_id);
    if (it != token->keys.end()) it->second.private_key = private_key;
  }

  const key::SecretBytes* context_pin = request.context_pin ? &*request.context_pin : nullptr;
  auto raw = token_sign(api, lease.handle(), *private_key, (*plan), context_pin);
  if (!raw.ok()) {
    if (helper_code(raw.error()) == ErrorCode::kKeyNotFound) {  // a stale handle: look it up again next time
      std::lock_guard lock(token->mu);
      auto it = token->keys.find(request.key.cka_id);
      if (it != token->keys.end()) it->second.private_key.reset();
    }
    return fail(raw.error());
  }
  auto blob = ssh_signature((*plan), (*raw));
  if (!blob.ok()) return error_reply(blob.error(), token.get());
  return SignatureReply{std::move((*blob))};
}

}  // namespace tessera::pkcs11::helper
