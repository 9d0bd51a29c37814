#include "authenticator.h"

#include <algorithm>
#include <set>

namespace tessera::fidosim {
namespace {

constexpr uint8_t kFlagUserPresent = 0x01;
constexpr uint8_t kFlagUserVerified = 0x04;
constexpr uint8_t kFlagAttestedCredential = 0x40;
constexpr uint8_t kFlagExtensions = 0x80;
constexpr int kMaxPinRetries = 8;
constexpr size_t kCredentialIdLen = 64;
constexpr size_t kMaxResident = 25;
constexpr uint32_t kBackwardsCounterStart = 1000;

Bytes status(uint8_t code) { return Bytes{code}; }

Bytes ok_with(const CborWriter& body) {
  Bytes out(1 + body.data().size());
  out[0] = kOk;
  std::copy(body.data().begin(), body.data().end(), out.begin() + 1);
  return out;
}

void append(Bytes& out, std::span<const uint8_t> more) { out.insert(out.end(), more.begin(), more.end()); }

void append_u32(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

Bytes with_touch_result(TouchResult r) {
  return status(r == TouchResult::kCancelled ? kErrKeepaliveCancel : kErrUserActionTimeout);
}

}  // namespace

Authenticator::Authenticator(SimConfig config)
    : config_(std::move(config)), aaguid_(random_bytes(16)), key_agreement_(KeyAgreementKey::generate()) {
  if (config_.pin) {
    pin_ = config_.pin;
    Bytes h = sha256(*config_.pin);
    h.resize(16);
    pin_hash_ = h;
  }
  set_protocols();
}

void Authenticator::update(const std::function<void(SimConfig&)>& change) {
  std::lock_guard lock(mutex_);
  const auto old_pin = config_.pin;
  change(config_);
  if (config_.pin != old_pin) {
    pin_ = config_.pin;
    pin_hash_.reset();
    if (pin_) {
      Bytes h = sha256(*pin_);
      h.resize(16);
      pin_hash_ = h;
    }
    retries_ = kMaxPinRetries;
  }
  set_protocols();
}

void Authenticator::set_protocols() {
  protocols_.clear();
  if (config_.pin_protocol_two) protocols_.emplace_back(2);
  if (config_.pin_protocol_one) protocols_.emplace_back(1);
}

SimConfig Authenticator::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}
SimStats Authenticator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}
void Authenticator::count_connection() {
  std::lock_guard lock(mutex_);
  ++stats_.connections;
}
void Authenticator::count_cancel() {
  std::lock_guard lock(mutex_);
  ++stats_.cancels;
}
size_t Authenticator::credential_count() const {
  std::lock_guard lock(mutex_);
  return credentials_.size();
}
size_t Authenticator::resident_count() const {
  std::lock_guard lock(mutex_);
  return resident_count_locked();
}
std::optional<std::string> Authenticator::pin() const {
  std::lock_guard lock(mutex_);
  return pin_;
}
int Authenticator::pin_retries() const {
  std::lock_guard lock(mutex_);
  return retries_;
}
void Authenticator::power_cycle() {
  std::lock_guard lock(mutex_);
  auth_blocked_ = false;
  consecutive_mismatches_ = 0;
  pin_token_.reset();
  key_agreement_ = KeyAgreementKey::generate();
}

Bytes Authenticator::handle(std::span<const uint8_t> request, const std::function<TouchResult()>& wait_for_touch) {
  std::unique_lock lock(mutex_);
  if (request.empty()) return status(kErrInvalidLength);
  const uint8_t command = request[0];
  // The mutex is let go while the simulated person decides to touch.
  auto wait = [&] {
    ++stats_.touch_requests;
    lock.unlock();
    const TouchResult r = wait_for_touch();
    lock.lock();
    return r;
  };
  CborItem args;
  if (request.size() > 1) {
    args = cbor_parse(request.subspan(1));
    if (args == nullptr) return status(kErrInvalidCbor);
    if (!cbor_isa_map(args.get())) return status(kErrInvalidCbor);
  }
  switch (command) {
    case kCtapGetInfo:
      return get_info();
    case kCtapMakeCredential:
      return make_credential(args.get(), wait);
    case kCtapGetAssertion:
      return get_assertion(args.get(), wait);
    case kCtapGetNextAssertion:
      return get_next_assertion();
    case kCtapClientPin:
      return client_pin(args.get());
    case kCtapCredentialManagement:
    case kCtapCredentialManagementPreview:
      if (!config_.credential_management) return status(kErrInvalidCommand);
      return credential_management(args.get());
    default:
      return status(kErrInvalidCommand);
  }
}

Bytes Authenticator::get_info() const {
  CborWriter w;
  w.map(6);
  w.uint(1).array(2).text("FIDO_2_0").text("FIDO_2_1_PRE");
  if (config_.cred_protect) {
    w.uint(2).array(1).text("credProtect");
  } else {
    w.uint(2).array(0);
  }
  w.uint(3).bytes(aaguid_);
  size_t options = 3 + (config_.pin_supported ? 1 : 0) + (config_.credential_management ? 2 : 0);
  w.uint(4).map(options);
  // Keys in CTAP2's canonical order (shorter first, then bytewise): libfido2 checks.
  w.text("rk").boolean(true).text("up").boolean(true).text("plat").boolean(false);
  if (config_.credential_management) w.text("credMgmt").boolean(true);
  if (config_.pin_supported) w.text("clientPin").boolean(pin_.has_value());
  if (config_.credential_management) w.text("credentialMgmtPreview").boolean(true);
  w.uint(5).uint(1200);
  w.uint(6).array(protocols_.size());
  for (const auto& p : protocols_) w.uint(static_cast<uint64_t>(p.version()));
  return ok_with(w);
}

const PinProtocol* Authenticator::protocol(const cbor_item_t* item) const {
  auto v = get_int(item);
  if (!v) return nullptr;
  for (const auto& p : protocols_) {
    if (p.version() == *v) return &p;
  }
  return nullptr;
}

std::optional<Bytes> Authenticator::shared_secret(const PinProtocol& p, const cbor_item_t* platform_key) const {
  auto x = get_bytes(map_get(platform_key, -2));
  auto y = get_bytes(map_get(platform_key, -3));
  if (!x || !y) return std::nullopt;
  auto z = key_agreement_.shared_point_x(*x, *y);
  if (!z) return std::nullopt;
  return p.kdf(*z);
}

uint8_t Authenticator::check_pin_auth(const cbor_item_t* param, const cbor_item_t* protocol_item,
                                      std::span<const uint8_t> message, bool* uv) {
  *uv = false;
  if (param == nullptr) return kOk;
  auto auth = get_bytes(param);
  if (!auth) return kErrInvalidCbor;
  const PinProtocol* p = protocol(protocol_item);
  if (p == nullptr) return kErrPinAuthInvalid;
  if (!pin_) return kErrPinNotSet;
  if (!pin_token_ || pin_token_protocol_ != p->version() || !p->verify(*pin_token_, message, *auth)) {
    return kErrPinAuthInvalid;
  }
  *uv = true;
  return kOk;
}

Bytes Authenticator::make_credential(const cbor_item_t* args, const std::function<TouchResult()>& wait) {
  auto cdh = get_bytes(map_get(args, 1));
  const cbor_item_t* rp = map_get(args, 2);
  const cbor_item_t* user = map_get(args, 3);
  const cbor_item_t* params = map_get(args, 4);
  if (!cdh || rp == nullptr || user == nullptr || params == nullptr) return status(kErrMissingParameter);
  auto rp_id = get_text(map_get(rp, "id"));
  auto user_id = get_bytes(map_get(user, "id"));
  if (!rp_id || !user_id || !cbor_isa_array(params)) return status(kErrMissingParameter);

  int alg = 0;
  for (size_t i = 0; i < cbor_array_size(params) && alg == 0; ++i) {
    const cbor_item_t* param = cbor_array_handle(params)[i];
    auto a = get_int(map_get(param, "alg"));
    auto type = get_text(map_get(param, "type"));
    if (a && type == "public-key" && (*a == kCoseEs256 || *a == kCoseEdDsa)) alg = static_cast<int>(*a);
  }
  if (alg == 0) return status(kErrUnsupportedAlgorithm);

  bool resident = false;
  if (const cbor_item_t* options = map_get(args, 7); options != nullptr) {
    if (get_bool(map_get(options, "uv")) == true) return status(kErrUnsupportedOption);
    if (get_bool(map_get(options, "up")) == false) return status(kErrInvalidOption);
    resident = get_bool(map_get(options, "rk")).value_or(false);
  }
  int cred_protect = 0;
  if (const cbor_item_t* ext = map_get(args, 6); ext != nullptr) {
    if (auto cp = get_int(map_get(ext, "credProtect")); cp && config_.cred_protect) {
      if (*cp < 1 || *cp > 3) return status(kErrInvalidOption);
      cred_protect = static_cast<int>(*cp);
    }
  }

  // A zero-length pinUvAuthParam asks for a touch only (libfido2's way of
  // letting a person pick one of several authenticators).
  const cbor_item_t* pin_auth = map_get(args, 8);
  if (auto auth = get_bytes(pin_auth); auth && auth->empty()) {
    if (TouchResult r = wait(); r != TouchResult::kTouched) return with_touch_result(r);
    return status(pin_ ? kErrPinInvalid : kErrPinNotSet);
  }
  bool uv = false;
  if (uint8_t r = check_pin_auth(pin_auth, map_get(args, 9), *cdh, &uv); r != kOk) return status(r);
  if (pin_ && !uv) return status(kErrPinRequired);

  if (TouchResult r = wait(); r != TouchResult::kTouched) return with_touch_result(r);

  auto cred = std::make_shared<Credential>(Credential{random_bytes(kCredentialIdLen), *rp_id, sha256(*rp_id), *user_id,
                                                      get_text(map_get(user, "name")).value_or(""),
                                                      get_text(map_get(user, "displayName")).value_or(""),
                                                      CredentialKey::generate(alg), resident,
                                                      cred_protect == 0 ? 1 : cred_protect, 0, 0});
  if (resident) {
    // A new resident credential replaces the one for the same RP and user.
    std::erase_if(credentials_, [&](const auto& c) {
      return c->resident && c->rp_id == cred->rp_id && c->user_id == cred->user_id;
    });
    if (resident_count_locked() >= kMaxResident) return status(0x28);  // key store full
  }
  credentials_.push_back(cred);

  Bytes authdata = cred->rp_id_hash;
  uint8_t flags = kFlagUserPresent | kFlagAttestedCredential;
  if (uv) flags |= kFlagUserVerified;
  if (cred_protect != 0) flags |= kFlagExtensions;
  authdata.push_back(flags);
  append_u32(authdata, cred->counter);
  append(authdata, aaguid_);
  authdata.push_back(static_cast<uint8_t>(cred->id.size() >> 8));
  authdata.push_back(static_cast<uint8_t>(cred->id.size()));
  append(authdata, cred->id);
  append(authdata, cred->key.cose_public_key());
  if (cred_protect != 0) {
    CborWriter ext;
    ext.map(1).text("credProtect").uint(static_cast<uint64_t>(cred_protect));
    append(authdata, ext.data());
  }
  Bytes signed_data = authdata;
  append(signed_data, *cdh);
  const Bytes sig = cred->key.sign(signed_data);

  CborWriter w;
  w.map(3);
  w.uint(1).text("packed");
  w.uint(2).bytes(authdata);
  w.uint(3).map(2).text("alg").integer(alg).text("sig").bytes(sig);
  return ok_with(w);
}

size_t Authenticator::resident_count_locked() const {
  return static_cast<size_t>(
      std::count_if(credentials_.begin(), credentials_.end(), [](const auto& c) { return c->resident; }));
}

Bytes Authenticator::assertion_reply(Credential& cred, std::span<const uint8_t> cdh, bool up, bool uv,
                                     bool with_user, size_t count) {
  ++cred.assertions;
  uint32_t counter;
  if (config_.fault == Fault::kCounterBackwards) {
    counter = kBackwardsCounterStart - cred.assertions;
  } else {
    counter = ++cred.counter;
  }
  Bytes authdata = cred.rp_id_hash;
  authdata.push_back(static_cast<uint8_t>((up ? kFlagUserPresent : 0) | (uv ? kFlagUserVerified : 0)));
  append_u32(authdata, counter);
  Bytes signed_data = authdata;
  append(signed_data, cdh);
  const Bytes sig = cred.key.sign(signed_data);
  ++stats_.assertions;

  Bytes id = cred.id;
  if (config_.fault == Fault::kWrongCredential) id = random_bytes(cred.id.size());
  CborWriter w;
  w.map(3 + (with_user ? 1 : 0) + (count > 1 ? 1 : 0));
  w.uint(1).map(2).text("id").bytes(id).text("type").text("public-key");
  w.uint(2).bytes(authdata);
  w.uint(3).bytes(sig);
  if (with_user) w.uint(4).map(1).text("id").bytes(cred.user_id);
  if (count > 1) w.uint(5).uint(count);
  return ok_with(w);
}

Bytes Authenticator::get_assertion(const cbor_item_t* args, const std::function<TouchResult()>& wait) {
  auto rp_id = get_text(map_get(args, 1));
  auto cdh = get_bytes(map_get(args, 2));
  if (!rp_id || !cdh) return status(kErrMissingParameter);
  bool up = true;
  if (const cbor_item_t* options = map_get(args, 5); options != nullptr) {
    if (get_bool(map_get(options, "uv")) == true) return status(kErrUnsupportedOption);
    up = get_bool(map_get(options, "up")).value_or(true);
  }
  const cbor_item_t* pin_auth = map_get(args, 6);
  if (auto auth = get_bytes(pin_auth); auth && auth->empty()) {
    if (TouchResult r = wait(); r != TouchResult::kTouched) return with_touch_result(r);
    return status(pin_ ? kErrPinInvalid : kErrPinNotSet);
  }
  bool uv = false;
  if (uint8_t r = check_pin_auth(pin_auth, map_get(args, 7), *cdh, &uv); r != kOk) return status(r);

  const Bytes rp_hash = sha256(*rp_id);
  const cbor_item_t* allow = map_get(args, 3);
  std::vector<std::shared_ptr<Credential>> found;
  if (allow != nullptr) {
    if (!cbor_isa_array(allow)) return status(kErrInvalidCbor);
    for (size_t i = 0; i < cbor_array_size(allow); ++i) {
      auto id = get_bytes(map_get(cbor_array_handle(allow)[i], "id"));
      if (!id) return status(kErrInvalidCbor);
      for (const auto& c : credentials_) {
        // credProtect 3: only with user verification.
        if (c->id == *id && c->rp_id_hash == rp_hash && (c->cred_protect < 3 || uv)) found.push_back(c);
      }
    }
  } else {
    for (const auto& c : credentials_) {
      // Discoverable only if resident, and (credProtect 2 or 3) only with uv.
      if (c->resident && c->rp_id_hash == rp_hash && (c->cred_protect < 2 || uv)) found.push_back(c);
    }
  }
  if (found.empty()) return status(kErrNoCredentials);
  if (up) {
    if (TouchResult r = wait(); r != TouchResult::kTouched) return with_touch_result(r);
  }
  const size_t count = allow == nullptr ? found.size() : 1;
  pending_assertions_.assign(found.begin() + 1, allow == nullptr ? found.end() : found.begin() + 1);
  pending_client_data_hash_ = *cdh;
  pending_up_ = up;
  pending_uv_ = uv;
  pending_total_ = count;
  return assertion_reply(*found.front(), *cdh, up, uv, allow == nullptr, count);
}

Bytes Authenticator::get_next_assertion() {
  if (pending_assertions_.empty()) return status(kErrNotAllowed);
  auto cred = pending_assertions_.front();
  pending_assertions_.erase(pending_assertions_.begin());
  return assertion_reply(*cred, pending_client_data_hash_, pending_up_, pending_uv_, true, 1);
}

Bytes Authenticator::client_pin(const cbor_item_t* args) {
  const PinProtocol* p = protocol(map_get(args, 1));
  auto sub = get_int(map_get(args, 2));
  if (!sub) return status(kErrMissingParameter);
  if (!config_.pin_supported) return status(kErrInvalidCommand);
  if (*sub == 1) {  // getPINRetries
    CborWriter w;
    w.map(1).uint(3).uint(static_cast<uint64_t>(retries_));
    return ok_with(w);
  }
  if (p == nullptr) return status(kErrInvalidParameter);
  if (*sub == 2) {  // getKeyAgreement
    CborWriter w;
    w.map(1).uint(1).raw(key_agreement_.cose_public_key());
    return ok_with(w);
  }
  auto shared = shared_secret(*p, map_get(args, 3));
  if (*sub == 3) {  // setPIN
    auto auth = get_bytes(map_get(args, 4));
    auto new_pin_enc = get_bytes(map_get(args, 5));
    if (!auth || !new_pin_enc || map_get(args, 3) == nullptr) return status(kErrMissingParameter);
    if (pin_) return status(kErrNotAllowed);
    if (!shared) return status(kErrInvalidParameter);
    if (!p->verify(*shared, *new_pin_enc, *auth)) return status(kErrPinAuthInvalid);
    auto padded = p->decrypt(*shared, *new_pin_enc);
    if (!padded || padded->size() != 64) return status(kErrPinPolicyViolation);
    const auto end = std::find(padded->begin(), padded->end(), 0);
    std::string new_pin(padded->begin(), end);
    if (new_pin.size() < 4 || new_pin.size() > 63) return status(kErrPinPolicyViolation);
    pin_ = new_pin;
    config_.pin = new_pin;
    Bytes h = sha256(new_pin);
    h.resize(16);
    pin_hash_ = h;
    retries_ = kMaxPinRetries;
    return status(kOk);
  }
  if (*sub == 5) {  // getPinToken
    auto pin_hash_enc = get_bytes(map_get(args, 6));
    if (!pin_hash_enc || map_get(args, 3) == nullptr) return status(kErrMissingParameter);
    if (!pin_) return status(kErrPinNotSet);
    if (retries_ == 0) return status(kErrPinBlocked);
    if (auth_blocked_) return status(kErrPinAuthBlocked);
    if (!shared) return status(kErrInvalidParameter);
    --retries_;
    auto given = p->decrypt(*shared, *pin_hash_enc);
    if (!given || given->size() != 16 || *given != *pin_hash_) {
      ++stats_.pin_failures;
      key_agreement_ = KeyAgreementKey::generate();
      if (++consecutive_mismatches_ >= 3) {
        auth_blocked_ = true;
        return status(kErrPinAuthBlocked);
      }
      return status(retries_ == 0 ? kErrPinBlocked : kErrPinInvalid);
    }
    retries_ = kMaxPinRetries;
    consecutive_mismatches_ = 0;
    pin_token_ = random_bytes(32);
    pin_token_protocol_ = p->version();
    stats_.pin_protocol = p->version();
    CborWriter w;
    w.map(1).uint(2).bytes(p->encrypt(*shared, *pin_token_));
    return ok_with(w);
  }
  return status(kErrInvalidParameter);
}

std::vector<std::string> Authenticator::resident_rps() const {
  std::vector<std::string> rps;
  std::set<std::string> seen;
  for (const auto& c : credentials_) {
    if (c->resident && seen.insert(c->rp_id).second) rps.push_back(c->rp_id);
  }
  return rps;
}

Bytes Authenticator::credential_management(const cbor_item_t* args) {
  auto sub = get_int(map_get(args, 1));
  if (!sub) return status(kErrMissingParameter);
  const cbor_item_t* params = map_get(args, 2);
  auto authenticated = [&]() -> uint8_t {
    const cbor_item_t* auth = map_get(args, 4);
    if (auth == nullptr) return kErrPinRequired;
    Bytes message{static_cast<uint8_t>(*sub)};
    if (params != nullptr) append(message, serialize(params));
    bool uv = false;
    return check_pin_auth(auth, map_get(args, 3), message, &uv);
  };
  auto rk_entry = [&](const Credential& c, std::optional<size_t> total) {
    CborWriter w;
    w.map(total ? 5 : 4);
    w.uint(6).map(3).text("id").bytes(c.user_id).text("name").text(c.user_name).text("displayName").text(
        c.display_name);
    w.uint(7).map(2).text("id").bytes(c.id).text("type").text("public-key");
    w.uint(8).raw(c.key.cose_public_key());
    if (total) w.uint(9).uint(*total);
    w.uint(10).uint(static_cast<uint64_t>(c.cred_protect));
    return ok_with(w);
  };
  auto rp_entry = [&](const std::string& rp, std::optional<size_t> total) {
    CborWriter w;
    w.map(total ? 3 : 2);
    w.uint(3).map(1).text("id").text(rp);
    w.uint(4).bytes(sha256(rp));
    if (total) w.uint(5).uint(*total);
    return ok_with(w);
  };
  switch (*sub) {
    case 1: {  // getCredsMetadata
      if (uint8_t r = authenticated(); r != kOk) return status(r);
      CborWriter w;
      w.map(2).uint(1).uint(resident_count_locked()).uint(2).uint(kMaxResident - resident_count_locked());
      return ok_with(w);
    }
    case 2: {  // enumerateRPsBegin
      if (uint8_t r = authenticated(); r != kOk) return status(r);
      pending_rps_ = resident_rps();
      if (pending_rps_.empty()) return status(kErrNoCredentials);
      const std::string first = pending_rps_.front();
      const size_t total = pending_rps_.size();
      pending_rps_.erase(pending_rps_.begin());
      return rp_entry(first, total);
    }
    case 3: {  // enumerateRPsGetNextRP
      if (pending_rps_.empty()) return status(kErrNotAllowed);
      const std::string next = pending_rps_.front();
      pending_rps_.erase(pending_rps_.begin());
      return rp_entry(next, std::nullopt);
    }
    case 4: {  // enumerateCredentialsBegin
      if (uint8_t r = authenticated(); r != kOk) return status(r);
      auto hash = get_bytes(map_get(params, 1));
      if (!hash) return status(kErrMissingParameter);
      pending_rks_.clear();
      for (const auto& c : credentials_) {
        if (c->resident && c->rp_id_hash == *hash) pending_rks_.push_back(c);
      }
      if (pending_rks_.empty()) return status(kErrNoCredentials);
      auto first = pending_rks_.front();
      const size_t total = pending_rks_.size();
      pending_rks_.erase(pending_rks_.begin());
      return rk_entry(*first, total);
    }
    case 5: {  // enumerateCredentialsGetNextCredential
      if (pending_rks_.empty()) return status(kErrNotAllowed);
      auto next = pending_rks_.front();
      pending_rks_.erase(pending_rks_.begin());
      return rk_entry(*next, std::nullopt);
    }
    default:
      return status(kErrInvalidParameter);
  }
}

}  // namespace tessera::fidosim
