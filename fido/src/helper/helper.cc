#include "helper.h"

#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace tessera::fido::helper {

namespace {

Error bad_response(std::string what) { return sk_error(ErrorCode::kBadResponse, std::move(what)); }
Error bad_request(std::string what) { return sk_error(ErrorCode::kBadRequest, std::move(what)); }

// How many bytes malloc really gave for p (0 for NULL): lengths a middleware
// reports beyond it are lies that would make us read or wipe past the buffer.
size_t allocated(const void* p) { return p == nullptr ? 0 : malloc_usable_size(const_cast<void*>(p)); }

void free_wiped(void* p, size_t length) {
  if (p == nullptr) return;
  key::secure_wipe(p, std::min(length, allocated(p)));
  std::free(p);
}

// A buffer the middleware returned, checked: NULL only when empty, within
// [min, limit], and within what malloc gave.
Result<std::span<const uint8_t>> checked_buffer(const uint8_t* p, size_t length, std::string_view what, size_t min,
                                                size_t limit) {
  if (p == nullptr && length > 0) return bad_response(std::string(what) + " is NULL with a length of " + std::to_string(length));
  if (length < min) {
    return bad_response(p == nullptr ? std::string(what) + " is missing (NULL)" : std::string(what) + " is empty");
  }
  if (length > limit) {
    return bad_response(std::string(what) + " is " + std::to_string(length) + " bytes, over the limit of " +
                        std::to_string(limit));
  }
  if (length > allocated(p)) {
    return bad_response(std::string(what) + " claims " + std::to_string(length) +
                        " bytes but its buffer is smaller");
  }
  return std::span<const uint8_t>(p, length);
}

Result<Bytes> copy_buffer(const uint8_t* p, size_t length, std::string_view what, size_t min, size_t limit) {
  TESSERA_ASSIGN_OR_RETURN(auto span, checked_buffer(p, length, what, min, limit));
  return Bytes(span.begin(), span.end());
}

Result<Bytes> copy_public_key(Algorithm alg, const uint8_t* p, size_t length) {
  TESSERA_ASSIGN_OR_RETURN(auto span, checked_buffer(p, length, "the public key", 1, kEcdsaPublicKeyBytes));
  auto checked = check_public_key(alg, span);
  if (!checked.ok()) return bad_response("the public key: " + checked.error().message());
  return Bytes(span.begin(), span.end());
}

Result<SecretBytes> copy_key_handle(const uint8_t* p, size_t length) {
  TESSERA_ASSIGN_OR_RETURN(auto span, checked_buffer(p, length, "the key handle", 1, kMaxKeyHandleBytes));
  return SecretBytes::copy_of(span);
}

// A C string the middleware returned, at most `limit` bytes.
Result<std::string> copy_text(const char* p, std::string_view what, size_t limit) {
  if (p == nullptr) return bad_response(std::string(what) + " is missing (NULL)");
  const size_t room = allocated(p);
  const size_t length = strnlen(p, std::min(limit + 1, room));
  if (length > limit) return bad_response(std::string(what) + " is over the limit of " + std::to_string(limit) + " bytes");
  if (length == room) return bad_response(std::string(what) + " is not NUL-terminated within its buffer");
  return std::string(p, length);
}

bool known_algorithm(uint32_t alg) { return alg == SSH_SK_ECDSA || alg == SSH_SK_ED25519; }

// The bytes of a C string argument, NUL included, in wiped memory.
class CString {
 public:
  explicit CString(std::span<const uint8_t> text) : bytes_(SecretBytes::copy_of(text)) {
    const uint8_t nul = 0;
    bytes_.append(std::span(&nul, 1));
  }
  const char* get() const { return reinterpret_cast<const char*>(bytes_.reveal().data()); }

 private:
  SecretBytes bytes_;
};

// The NULL-terminated option array of the ABI; empty values pass no option.
class Options {
 public:
  void add(const char* name, const std::string& value) {
    if (value.empty()) return;
    names_.emplace_back(name);
    values_.push_back(value);
  }
  sk_option** get() {
    options_.clear();
    pointers_.clear();
    options_.reserve(names_.size());
    for (size_t i = 0; i < names_.size(); ++i) options_.push_back(sk_option{names_[i].data(), values_[i].data(), 0});
    for (auto& option : options_) pointers_.push_back(&option);
    pointers_.push_back(nullptr);
    return pointers_.data();
  }

 private:
  std::vector<std::string> names_, values_;
  std::vector<sk_option> options_;
  std::vector<sk_option*> pointers_;
};

Status check_application(const std::string& application) {
  if (!application.starts_with("ssh:")) {
    return bad_request("the application \"" + application +
                       "\" does not start with \"ssh:\": security keys for SSH use \"ssh:\" applications "
                       "(\"ssh:\" alone, or \"ssh:NAME\")");
  }
  return {};
}

Status check_pin(const std::optional<SecretBytes>& pin) {
  if (pin && std::memchr(pin->reveal().data(), 0, pin->size()) != nullptr) {
    return bad_request("the PIN contains a NUL byte: enter it again");
  }
  return {};
}

// What to tell a person when the middleware returns `rc` (non-zero).
Error middleware_failure(int rc, std::string_view operation, std::string_view provider, bool had_pin,
                         const std::string& device, std::string_view detail = {}) {
  const ErrorCode code = error_code_from_sk(rc);
  std::string where = device.empty() ? "" : " at " + device;
  switch (code) {
    case ErrorCode::kPinRequired:
      return sk_error(code, had_pin ? "the security key" + where +
                                          " refused the PIN (or needs another kind of user verification): "
                                          "check the PIN and try again"
                                    : "the security key" + where + " needs its PIN: try again with the PIN");
    case ErrorCode::kDeviceNotFound:
      return sk_error(code, device.empty() ? "no FIDO authenticator found: insert one (and touch it if it blinks)"
                                           : "no FIDO authenticator" + where + ": insert it or check the device name");
    case ErrorCode::kCredentialExists:
      return sk_error(code, "the security key" + where + " already holds a resident credential for " +
                                std::string(detail) +
                                ": use another application or user id, or delete the old credential from the key");
    case ErrorCode::kUnsupported:
      return sk_error(code, "the security key" + where + " (middleware \"" + std::string(provider) +
                                "\") cannot " + std::string(operation) + " as asked" +
                                (detail.empty() ? std::string() : " (" + std::string(detail) + ")") +
                                ": try another key type or fewer options");
    default:
      return sk_error(code, "the security key middleware \"" + std::string(provider) + "\" failed to " +
                                std::string(operation) + " (error " + std::to_string(rc) +
                                "): check that the security key is inserted and touch it when it blinks");
  }
}

Result<std::unique_ptr<Middleware>> open_middleware(const std::string& provider, const std::string& self_dir) {
  TESSERA_ASSIGN_OR_RETURN(std::string path, resolve_provider(provider, self_dir));
  return Middleware::load(path, provider);
}

Result<EnrollReply> enroll(const EnrollRequest& r, const std::string& self_dir) {
  TESSERA_TRY(check_application(r.application));
  TESSERA_TRY(check_pin(r.pin));
  TESSERA_ASSIGN_OR_RETURN(auto middleware, open_middleware(r.provider, self_dir));
  Options options;
  options.add("device", r.device);
  options.add("user", r.user);
  std::optional<CString> pin;
  if (r.pin) pin.emplace(r.pin->reveal());
  sk_enroll_response* response = nullptr;
  const int rc = middleware->enroll()(static_cast<uint32_t>(r.alg), r.challenge.data(), r.challenge.size(),
                                      r.application.c_str(), r.flags, pin ? pin->get() : nullptr, options.get(),
                                      &response);
  if (rc != 0) {
    free_enroll_response(response);
    std::string detail = r.application + (r.user.empty() ? "" : " and user " + r.user);
    if (error_code_from_sk(rc) == ErrorCode::kUnsupported) {
      detail = std::string(algorithm_name(r.alg)) + " keys" +
               ((r.flags & SSH_SK_RESIDENT_KEY) != 0 ? ", resident" : "") +
               ((r.flags & SSH_SK_USER_VERIFICATION_REQD) != 0 ? ", verify-required" : "");
    }
    return middleware_failure(rc, "make a credential", r.provider, r.pin.has_value(), r.device, detail);
  }
  auto reply = take_enroll_response(r.alg, r.flags, response);
  if (!reply.ok()) return reply.error().with_context("security key middleware \"" + r.provider + "\"");
  return reply;
}

Result<SignReply> sign(const SignRequest& r, const std::string& self_dir) {
  TESSERA_TRY(check_application(r.application));
  TESSERA_TRY(check_pin(r.pin));
  TESSERA_ASSIGN_OR_RETURN(auto middleware, open_middleware(r.provider, self_dir));
  Options options;
  options.add("device", r.device);
  std::optional<CString> pin;
  if (r.pin) pin.emplace(r.pin->reveal());
  sk_sign_response* response = nullptr;
  const auto handle = r.key_handle.reveal();
  const int rc = middleware->sign()(static_cast<uint32_t>(r.alg), r.data.data(), r.data.size(),
                                    r.application.c_str(), handle.data(), handle.size(), r.flags,
                                    pin ? pin->get() : nullptr, options.get(), &response);
  if (rc != 0) {
    free_sign_response(response);
    return middleware_failure(rc, "sign", r.provider, r.pin.has_value(), r.device,
                              std::string(algorithm_name(r.alg)) + " keys");
  }
  auto reply = take_sign_response(r.alg, response);
  if (!reply.ok()) return reply.error().with_context("security key middleware \"" + r.provider + "\"");
  return reply;
}

Result<ResidentKeysReply> load_resident_keys(const LoadResidentKeysRequest& r, const std::string& self_dir) {
  TESSERA_TRY(check_pin(r.pin));
  TESSERA_ASSIGN_OR_RETURN(auto middleware, open_middleware(r.provider, self_dir));
  Options options;
  options.add("device", r.device);
  std::optional<CString> pin;
  if (r.pin) pin.emplace(r.pin->reveal());
  sk_resident_key** keys = nullptr;
  size_t count = 0;
  const int rc = middleware->load_resident_keys()(pin ? pin->get() : nullptr, options.get(), &keys, &count);
  if (rc != 0) {
    free_resident_keys(keys, count);
    return middleware_failure(rc, "list resident keys", r.provider, r.pin.has_value(), r.device,
                              "resident keys");
  }
  auto reply = take_resident_keys(keys, count);
  if (!reply.ok()) return reply.error().with_context("security key middleware \"" + r.provider + "\"");
  return reply;
}

template <typename T>
Reply to_reply(Result<T> result) {
  if (!result.ok()) return Reply{error_reply(result.error())};
  return Reply{std::move(result).value()};
}

}  // namespace

std::string program_directory() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  std::string path(self, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash == 0 ? 1 : slash);
}

Result<std::string> resolve_provider(std::string_view provider, const std::string& self_dir,
                                     std::string_view installed_dir) {
  if (provider.empty()) return bad_request("no security key provider given: name a middleware (or \"internal\")");
  if (provider.size() == 8 && strncasecmp(provider.data(), "internal", 8) == 0) {
    if (!self_dir.empty()) {
      std::string beside = self_dir + "/" + std::string(kInternalMiddlewareFile);
      struct stat st;
      if (::stat(beside.c_str(), &st) == 0) return beside;
    }
    return std::string(installed_dir) + "/" + std::string(kInternalMiddlewareFile);
  }
  if (provider[0] != '/') {
    return bad_request("the security key provider \"" + std::string(provider) +
                       "\" is not an absolute path: give the middleware's full path (or \"internal\")");
  }
  return std::string(provider);
}

Result<std::unique_ptr<Middleware>> Middleware::load(const std::string& path, std::string_view name) {
  const std::string quoted = "\"" + std::string(name) + "\"" + (path == name ? "" : " (" + path + ")");
  dlerror();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return sk_error(ErrorCode::kProviderError, "cannot load the security key middleware " + quoted + ": " +
                                                   (why != nullptr ? why : "dlopen failed"));
  }
  std::unique_ptr<Middleware> middleware(new Middleware(handle));
  auto symbol = [&](const char* function) -> Result<void*> {
    dlerror();
    void* address = ::dlsym(handle, function);
    if (address == nullptr) {
      const char* why = dlerror();
      return sk_error(ErrorCode::kProviderError,
                      "Provider " + quoted + " has no " + function + " (" + (why != nullptr ? why : "NULL") +
                          "): it is not a security key middleware");
    }
    return address;
  };
  TESSERA_ASSIGN_OR_RETURN(void* version, symbol("sk_api_version"));
  middleware->version_ = reinterpret_cast<sk_api_version_fn>(version)();
  if ((middleware->version_ & SSH_SK_VERSION_MAJOR_MASK) != SSH_SK_VERSION_MAJOR) {
    char message[64];
    std::snprintf(message, sizeof message, "0x%08x (supported: 0x%08x)", middleware->version_,
                  static_cast<unsigned>(SSH_SK_VERSION_MAJOR));
    return sk_error(ErrorCode::kProviderError,
                    "Provider \"" + std::string(name) + "\" implements unsupported version " + message);
  }
  TESSERA_ASSIGN_OR_RETURN(void* enroll, symbol("sk_enroll"));
  TESSERA_ASSIGN_OR_RETURN(void* sign, symbol("sk_sign"));
  TESSERA_ASSIGN_OR_RETURN(void* load, symbol("sk_load_resident_keys"));
  middleware->enroll_ = reinterpret_cast<sk_enroll_fn>(enroll);
  middleware->sign_ = reinterpret_cast<sk_sign_fn>(sign);
  middleware->load_resident_keys_ = reinterpret_cast<sk_load_resident_keys_fn>(load);
  return middleware;
}

Middleware::~Middleware() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

void free_enroll_response(sk_enroll_response* response) {
  if (response == nullptr) return;
  free_wiped(response->key_handle, response->key_handle_len);
  std::free(response->public_key);
  std::free(response->signature);
  std::free(response->attestation_cert);
  std::free(response->authdata);
  std::free(response);
}

void free_sign_response(sk_sign_response* response) {
  if (response == nullptr) return;
  std::free(response->sig_r);
  std::free(response->sig_s);
  std::free(response);
}

void free_resident_keys(sk_resident_key** keys, size_t count) {
  if (keys == nullptr) return;
  // A count beyond the array is a lie: then its entries cannot be trusted
  // to be pointers at all, and are left (the helper exits soon).
  const size_t entries = count <= allocated(keys) / sizeof(sk_resident_key*) ? count : 0;
  for (size_t i = 0; i < entries; ++i) {
    sk_resident_key* key = keys[i];
    if (key == nullptr) continue;
    std::free(key->application);
    free_wiped(key->key.key_handle, key->key.key_handle_len);
    std::free(key->key.public_key);
    std::free(key->key.signature);
    std::free(key->key.attestation_cert);
    std::free(key->key.authdata);
    std::free(key->user_id);
    std::free(key);
  }
  std::free(keys);
}

Result<EnrollReply> take_enroll_response(Algorithm alg, uint8_t requested_flags, sk_enroll_response* response) {
  struct Freer {
    sk_enroll_response* r;
    ~Freer() { free_enroll_response(r); }
  } freer{response};
  if (response == nullptr) return bad_response("it reported success but returned no enrolment");
  if (allocated(response) < sizeof *response) return bad_response("its enrolment response is smaller than the ABI's");
  EnrollReply reply;
  reply.alg = alg;
  reply.flags = static_cast<uint8_t>((requested_flags & ~SSH_SK_FORCE_OPERATION) |
                                     (response->flags & SSH_SK_USER_VERIFICATION_REQD));
  TESSERA_ASSIGN_OR_RETURN(reply.public_key, copy_public_key(alg, response->public_key, response->public_key_len));
  TESSERA_ASSIGN_OR_RETURN(reply.key_handle, copy_key_handle(response->key_handle, response->key_handle_len));
  TESSERA_ASSIGN_OR_RETURN(reply.attestation_signature,
                           copy_buffer(response->signature, response->signature_len, "the attestation signature", 0,
                                       kMaxAttestationSignatureBytes));
  TESSERA_ASSIGN_OR_RETURN(reply.attestation_certificate,
                           copy_buffer(response->attestation_cert, response->attestation_cert_len,
                                       "the attestation certificate", 0, kMaxAttestationCertBytes));
  TESSERA_ASSIGN_OR_RETURN(reply.authdata, copy_buffer(response->authdata, response->authdata_len,
                                                       "the authenticator data", 0, kMaxAuthdataBytes));
  return reply;
}

Result<SignReply> take_sign_response(Algorithm alg, sk_sign_response* response) {
  struct Freer {
    sk_sign_response* r;
    ~Freer() { free_sign_response(r); }
  } freer{response};
  if (response == nullptr) return bad_response("it reported success but returned no signature");
  if (allocated(response) < sizeof *response) return bad_response("its signature response is smaller than the ABI's");
  SignReply reply;
  reply.alg = alg;
  reply.flags = response->flags;
  reply.counter = response->counter;
  if (alg == Algorithm::kEd25519) {
    TESSERA_ASSIGN_OR_RETURN(reply.sig_r, copy_buffer(response->sig_r, response->sig_r_len, "the Ed25519 signature",
                                                      1, kEd25519SignatureBytes));
    if (reply.sig_r.size() != kEd25519SignatureBytes) {
      return bad_response("the Ed25519 signature is " + std::to_string(reply.sig_r.size()) + " bytes, not " +
                          std::to_string(kEd25519SignatureBytes));
    }
    return reply;  // sig_s is unused for Ed25519 (and freed)
  }
  TESSERA_ASSIGN_OR_RETURN(reply.sig_r, copy_buffer(response->sig_r, response->sig_r_len, "the ECDSA signature's r",
                                                    1, kMaxEcdsaScalarBytes));
  TESSERA_ASSIGN_OR_RETURN(reply.sig_s, copy_buffer(response->sig_s, response->sig_s_len, "the ECDSA signature's s",
                                                    1, kMaxEcdsaScalarBytes));
  auto checked = ssh_signature(alg, reply.flags, reply.counter, reply.sig_r, reply.sig_s);
  if (!checked.ok()) return bad_response(checked.error().message());
  return reply;
}

Result<ResidentKeysReply> take_resident_keys(sk_resident_key** keys, size_t count) {
  struct Freer {
    sk_resident_key** keys;
    size_t count;
    ~Freer() { free_resident_keys(keys, count); }
  } freer{keys, count};
  ResidentKeysReply reply;
  if (count == 0) return reply;
  if (keys == nullptr) return bad_response("it listed " + std::to_string(count) + " resident keys but gave none");
  if (count > kMaxListedResidentKeys) {
    return bad_response("it listed " + std::to_string(count) + " resident keys (at most " +
                        std::to_string(kMaxListedResidentKeys) + " are read)");
  }
  if (allocated(keys) / sizeof(sk_resident_key*) < count) {
    return bad_response("it listed " + std::to_string(count) + " resident keys in a smaller array");
  }
  for (size_t i = 0; i < count; ++i) {
    const sk_resident_key* rk = keys[i];
    const std::string which = "resident key " + std::to_string(i);
    if (rk == nullptr) return bad_response(which + " is missing (NULL)");
    if (allocated(rk) < sizeof *rk) return bad_response(which + " is smaller than the ABI's");
    if (!known_algorithm(rk->alg)) continue;  // as OpenSSH: not a key type SSH knows
    TESSERA_ASSIGN_OR_RETURN(std::string application, copy_text(rk->application, which + "'s application",
                                                                 kMaxApplicationBytes));
    if (!application.starts_with("ssh:")) continue;
    if (reply.keys.size() == kMaxResidentKeys) {
      return bad_response("it listed more than " + std::to_string(kMaxResidentKeys) + " resident SSH keys");
    }
    ResidentKey key;
    key.alg = static_cast<Algorithm>(rk->alg);
    key.flags = static_cast<uint8_t>(SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY |
                                     (rk->flags & SSH_SK_USER_VERIFICATION_REQD));
    key.application = std::move(application);
    auto public_key = copy_public_key(key.alg, rk->key.public_key, rk->key.public_key_len);
    if (!public_key.ok()) return public_key.error().with_context(which);
    key.public_key = std::move(public_key).value();
    auto handle = copy_key_handle(rk->key.key_handle, rk->key.key_handle_len);
    if (!handle.ok()) return handle.error().with_context(which);
    key.key_handle = std::move(handle).value();
    auto user_id = copy_buffer(rk->user_id, rk->user_id_len, which + "'s user id", 0, kMaxUserIdBytes);
    if (!user_id.ok()) return user_id.error();
    key.user_id = std::move(user_id).value();
    reply.keys.push_back(std::move(key));
  }
  return reply;
}

ErrorReply error_reply(const Error& error) {
  ErrorCode code = sk_error_code(error);
  if (!is_reply_error_code(static_cast<uint32_t>(code))) code = ErrorCode::kGeneral;
  std::string message = error.message();
  if (message.size() > kMaxErrorTextBytes) {
    size_t cut = kMaxErrorTextBytes;
    // Do not end inside a UTF-8 sequence.
    while (cut > 0 && (static_cast<uint8_t>(message[cut]) & 0xC0) == 0x80) --cut;
    message.resize(cut);
  }
  return ErrorReply{code, std::move(message)};
}

Reply handle(const Request& request, const std::string& self_dir) {
  if (const auto* r = std::get_if<EnrollRequest>(&request.body)) return to_reply(enroll(*r, self_dir));
  if (const auto* r = std::get_if<SignRequest>(&request.body)) return to_reply(sign(*r, self_dir));
  return to_reply(load_resident_keys(std::get<LoadResidentKeysRequest>(request.body), self_dir));
}

Reply handle_body(std::span<const uint8_t> body, const std::string& self_dir) {
  auto request = parse_request(body);
  if (!request.ok()) {
    return Reply{ErrorReply{ErrorCode::kBadRequest,
                            error_reply(request.error().with_context("a malformed request")).message}};
  }
  return handle(*request, self_dir);
}

}  // namespace tessera::fido::helper
