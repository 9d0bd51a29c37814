// enroll, sign and load_resident_keys on libfido2 (see middleware.h).
#include <fido/credman.h>
#include <openssl/sha.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "devices.h"
#include "middleware.h"

namespace tessera::fido2 {
namespace {

constexpr uint8_t kAuthDataUserPresent = 0x01;
constexpr uint8_t kAuthDataUserVerified = 0x04;
// What OpenSSH names the user of every credential it makes.
constexpr const char* kUserName = "openssh";

template <auto Free>
struct FidoDeleter {
  template <typename T>
  void operator()(T* p) const noexcept { Free(&p); }
};
using CredPtr = std::unique_ptr<fido_cred_t, FidoDeleter<fido_cred_free>>;
using AssertPtr = std::unique_ptr<fido_assert_t, FidoDeleter<fido_assert_free>>;
using MetadataPtr = std::unique_ptr<fido_credman_metadata_t, FidoDeleter<fido_credman_metadata_free>>;
using RpListPtr = std::unique_ptr<fido_credman_rp_t, FidoDeleter<fido_credman_rp_free>>;
using RkListPtr = std::unique_ptr<fido_credman_rk_t, FidoDeleter<fido_credman_rk_free>>;

Failure general(std::string message) { return Failure{SSH_SK_ERR_GENERAL, std::move(message)}; }
Failure from_device(std::string what) { return general("the authenticator returned " + std::move(what)); }

std::span<const uint8_t> view(const unsigned char* ptr, size_t len) {
  if (ptr == nullptr) return {};
  return {ptr, len};
}

struct ParsedOptions {
  std::string device;
  uint8_t user_id[kUserIdLen] = {};
};

// "device" for every operation, "user" for enrolment; an unknown option
// fails only if the caller marked it required (as OpenSSH's middleware).
Outcome<ParsedOptions> parse_options(const std::vector<Option>& options, bool allow_user) {
  ParsedOptions parsed;
  for (const auto& option : options) {
    if (option.name == "device") {
      if (option.value.empty()) return general("the device option names no device");
      parsed.device = option.value;
    } else if (allow_user && option.name == "user") {
      // The user id is the text, zero-padded to 32 bytes with at least one zero.
      if (option.value.size() >= kUserIdLen) {
        return general("the user option is " + std::to_string(option.value.size()) +
                       " bytes: it must be shorter than 32");
      }
      std::memset(parsed.user_id, 0, sizeof(parsed.user_id));
      std::memcpy(parsed.user_id, option.value.data(), option.value.size());
    } else if (option.required) {
      return general("the middleware does not know the required option \"" + option.name + "\"");
    }
  }
  return parsed;
}

Outcome<int> cose_algorithm(uint32_t alg) {
  switch (alg) {
    case SSH_SK_ECDSA:
      return COSE_ES256;
    case SSH_SK_ED25519:
      return COSE_EDDSA;
    default:
      return Failure{SSH_SK_ERR_UNSUPPORTED, "unknown security key algorithm " + std::to_string(alg) +
                                                 " (tessera-sk-fido2 makes ECDSA P-256 and Ed25519 keys)"};
  }
}

Status check_application(const std::string& application) {
  if (application.empty() || application.size() > kMaxApplicationLen) {
    return general("the application string must be 1.." + std::to_string(kMaxApplicationLen) + " bytes");
  }
  if (application.find('\0') != std::string::npos) return general("the application string contains a NUL byte");
  return Done{};
}

void sha256(std::span<const uint8_t> data, uint8_t out[SHA256_DIGEST_LENGTH]) {
  static const uint8_t kEmpty = 0;
  SHA256(data.empty() ? &kEmpty : data.data(), data.size(), out);
}

// The public key a credential carries, checked and in the ABI's encoding.
Outcome<Bytes> public_key_of(uint32_t alg, std::span<const uint8_t> raw) {
  if (alg == SSH_SK_ECDSA) return ecdsa_public_key(raw);
  if (raw.size() != 32) {
    return from_device("an Ed25519 public key of " + std::to_string(raw.size()) + " bytes (expected 32)");
  }
  return Bytes(raw.begin(), raw.end());
}

Outcome<SecretBuffer> key_handle_of(std::span<const uint8_t> id) {
  if (id.empty() || id.size() > kMaxKeyHandleLen) {
    return from_device("a credential id of " + std::to_string(id.size()) + " bytes (1.." +
                       std::to_string(kMaxKeyHandleLen) + " allowed)");
  }
  return SecretBuffer(id.begin(), id.end());
}

Outcome<Bytes> bounded_copy(std::span<const uint8_t> data, const char* what) {
  if (data.size() > kMaxAttestationLen) {
    return from_device(std::string(what) + " of " + std::to_string(data.size()) + " bytes (at most " +
                       std::to_string(kMaxAttestationLen) + ")");
  }
  return Bytes(data.begin(), data.end());
}

// Does a resident credential for this application and user id exist already?
// OK: yes; FIDO_ERR_NO_CREDENTIALS: no; anything else: the lookup failed.
int resident_credential_exists(const Device& device, const DeviceSource& source, const std::string& application,
                               std::span<const uint8_t> user_id, const char* pin) {
  AssertPtr assert(fido_assert_new());
  if (assert == nullptr) return FIDO_ERR_INTERNAL;
  const uint8_t zero_hash[SHA256_DIGEST_LENGTH] = {};
  int r = fido_assert_set_clientdata_hash(assert.get(), zero_hash, sizeof(zero_hash));
  if (r == FIDO_OK) r = fido_assert_set_rp(assert.get(), application.c_str());
  if (r == FIDO_OK) r = fido_assert_set_up(assert.get(), FIDO_OPT_FALSE);
  if (r == FIDO_OK && pin == nullptr && device.has_builtin_uv()) r = fido_assert_set_uv(assert.get(), FIDO_OPT_TRUE);
  if (r != FIDO_OK) return r;
  device.arm(source.operation_timeout_ms);
  if ((r = fido_dev_get_assert(device.get(), assert.get(), pin)) != FIDO_OK) return r;
  for (size_t i = 0; i < fido_assert_count(assert.get()); ++i) {
    const auto id = view(fido_assert_user_id_ptr(assert.get(), i), fido_assert_user_id_len(assert.get(), i));
    if (id.size() == user_id.size() && std::equal(id.begin(), id.end(), user_id.begin())) return FIDO_OK;
  }
  return FIDO_ERR_NO_CREDENTIALS;
}

}  // namespace

Outcome<Enrollment> enroll(const DeviceSource& source, const EnrollRequest& request) {
  auto options = parse_options(request.options, /*allow_user=*/true);
  if (!options.ok()) return options.failure();
  auto cose = cose_algorithm(request.alg);
  if (!cose.ok()) return cose.failure();
  if (auto app = check_application(request.application); !app.ok()) return app.failure();

  auto chosen = choose_device(source, options->device, request.application, {}, /*by_touch=*/true);
  if (!chosen.ok()) return chosen.failure();
  const Device& device = *chosen.value();
  const std::span<const uint8_t> user_id(options->user_id, kUserIdLen);
  const bool resident = (request.flags & SSH_SK_RESIDENT_KEY) != 0;

  if (resident && (request.flags & SSH_SK_FORCE_OPERATION) == 0) {
    const int r = resident_credential_exists(device, source, request.application, user_id, request.pin);
    if (r == FIDO_OK) {
      return Failure{SSH_SK_ERR_CREDENTIAL_EXISTS,
                     "the authenticator already holds a resident key for " + request.application +
                         " and this user: overwrite it explicitly, or choose another user id"};
    }
    if (r != FIDO_ERR_NO_CREDENTIALS) return failure_for(r, "looking for an existing resident key");
  }

  uint8_t challenge_hash[SHA256_DIGEST_LENGTH];
  sha256(request.challenge, challenge_hash);
  CredPtr cred(fido_cred_new());
  if (cred == nullptr) return general("out of memory");
  int r = fido_cred_set_type(cred.get(), cose.value());
  if (r == FIDO_OK) r = fido_cred_set_clientdata_hash(cred.get(), challenge_hash, sizeof(challenge_hash));
  if (r == FIDO_OK) r = fido_cred_set_rk(cred.get(), resident ? FIDO_OPT_TRUE : FIDO_OPT_OMIT);
  if (r == FIDO_OK) r = fido_cred_set_user(cred.get(), user_id.data(), user_id.size(), kUserName, kUserName, nullptr);
  if (r == FIDO_OK) r = fido_cred_set_rp(cred.get(), request.application.c_str(), nullptr);
  if (r != FIDO_OK) return failure_for(r, "preparing the credential");
  // A resident or verify-required credential without credProtect could be
  // read off (or used) without the PIN: refuse to make one, as OpenSSH does.
  if ((request.flags & (SSH_SK_RESIDENT_KEY | SSH_SK_USER_VERIFICATION_REQD)) != 0) {
    if (!fido_dev_supports_cred_prot(device.get())) {
      return Failure{SSH_SK_ERR_UNSUPPORTED, "the authenticator " + device.path() +
                                                 " does not support credProtect, so it cannot keep a resident or "
                                                 "verify-required key safe: make an ordinary key instead"};
    }
    const int protection = (request.flags & SSH_SK_USER_VERIFICATION_REQD) != 0 ? FIDO_CRED_PROT_UV_REQUIRED
                                                                                 : FIDO_CRED_PROT_UV_OPTIONAL_WITH_ID;
    if ((r = fido_cred_set_prot(cred.get(), protection)) != FIDO_OK) return failure_for(r, "asking for credProtect");
  }

  device.arm(source.operation_timeout_ms);
  if ((r = fido_dev_make_cred(device.get(), cred.get(), request.pin)) != FIDO_OK) {
    return failure_for(r, "making the credential");
  }
  // The attestation must verify: against its certificate, or (self
  // attestation) against the new credential's own key. libfido2 checks the
  // application's hash and the flags on the way.
  r = fido_cred_x5c_ptr(cred.get()) != nullptr ? fido_cred_verify(cred.get()) : fido_cred_verify_self(cred.get());
  if (r != FIDO_OK) return from_device(std::string("an attestation that does not verify: ") + fido_strerr(r));

  if (fido_cred_type(cred.get()) != cose.value()) return from_device("a credential of another algorithm");
  auto public_key = public_key_of(request.alg, view(fido_cred_pubkey_ptr(cred.get()), fido_cred_pubkey_len(cred.get())));
  if (!public_key.ok()) return public_key.failure();
  auto key_handle = key_handle_of(view(fido_cred_id_ptr(cred.get()), fido_cred_id_len(cred.get())));
  if (!key_handle.ok()) return key_handle.failure();
  auto signature = bounded_copy(view(fido_cred_sig_ptr(cred.get()), fido_cred_sig_len(cred.get())),
                                "an attestation signature");
  if (!signature.ok()) return signature.failure();
  auto certificate = bounded_copy(view(fido_cred_x5c_ptr(cred.get()), fido_cred_x5c_len(cred.get())),
                                  "an attestation certificate");
  if (!certificate.ok()) return certificate.failure();
  auto authdata = bounded_copy(view(fido_cred_authdata_ptr(cred.get()), fido_cred_authdata_len(cred.get())),
                               "authenticator data");
  if (!authdata.ok()) return authdata.failure();
  auto head = parse_authdata_head(view(fido_cred_authdata_raw_ptr(cred.get()), fido_cred_authdata_raw_len(cred.get())));
  if (!head.ok()) return head.failure();
  uint8_t app_hash[SHA256_DIGEST_LENGTH];
  sha256({reinterpret_cast<const uint8_t*>(request.application.data()), request.application.size()}, app_hash);
  if (!std::equal(head->rp_id_hash.begin(), head->rp_id_hash.end(), app_hash)) {
    return from_device("a credential for another application");
  }

  Enrollment out;
  out.flags = static_cast<uint8_t>(request.flags & ~SSH_SK_FORCE_OPERATION);
  out.public_key = std::move(public_key.value());
  out.key_handle = std::move(key_handle.value());
  out.signature = std::move(signature.value());
  out.attestation_cert = std::move(certificate.value());
  out.authdata = std::move(authdata.value());
  return out;
}

Outcome<Signature> sign(const DeviceSource& source, const SignRequest& request) {
  auto options = parse_options(request.options, /*allow_user=*/false);
  if (!options.ok()) return options.failure();
  if (auto cose = cose_algorithm(request.alg); !cose.ok()) return cose.failure();
  if (auto app = check_application(request.application); !app.ok()) return app.failure();
  if (request.key_handle.empty() || request.key_handle.size() > kMaxKeyHandleLen) {
    return general("the key handle is " + std::to_string(request.key_handle.size()) + " bytes (1.." +
                   std::to_string(kMaxKeyHandleLen) + " allowed): the key file is damaged");
  }
  const bool needs_uv = (request.flags & SSH_SK_USER_VERIFICATION_REQD) != 0;
  const bool needs_up = (request.flags & SSH_SK_USER_PRESENCE_REQD) != 0;

  // With a PIN (or user verification) to give, choose by touch as OpenSSH
  // does: a silent probe cannot see credentials that need verification.
  auto chosen = choose_device(source, options->device, request.application, request.key_handle,
                              /*by_touch=*/request.pin != nullptr || needs_uv);
  if (!chosen.ok()) return chosen.failure();
  const Device& device = *chosen.value();

  uint8_t data_hash[SHA256_DIGEST_LENGTH];
  sha256(request.data, data_hash);
  AssertPtr assert(fido_assert_new());
  if (assert == nullptr) return general("out of memory");
  int r = fido_assert_set_clientdata_hash(assert.get(), data_hash, sizeof(data_hash));
  if (r == FIDO_OK) r = fido_assert_set_rp(assert.get(), request.application.c_str());
  if (r == FIDO_OK) r = fido_assert_allow_cred(assert.get(), request.key_handle.data(), request.key_handle.size());
  if (r == FIDO_OK) r = fido_assert_set_up(assert.get(), needs_up ? FIDO_OPT_TRUE : FIDO_OPT_FALSE);
  if (r != FIDO_OK) return failure_for(r, "preparing the assertion");
  if (request.pin == nullptr && needs_uv) {
    if (!device.has_builtin_uv()) {
      return Failure{SSH_SK_ERR_PIN_REQUIRED, "this key needs user verification: give the authenticator's PIN"};
    }
    if ((r = fido_assert_set_uv(assert.get(), FIDO_OPT_TRUE)) != FIDO_OK) {
      return failure_for(r, "asking for user verification");
    }
  }
  device.arm(source.operation_timeout_ms);
  if ((r = fido_dev_get_assert(device.get(), assert.get(), request.pin)) != FIDO_OK) {
    return failure_for(r, "signing with the security key");
  }

  if (fido_assert_count(assert.get()) != 1) {
    return from_device(std::to_string(fido_assert_count(assert.get())) + " assertions for one credential");
  }
  // The credential id may be left out when one was allowed (CTAP2); when it
  // is there it must be the one asked for.
  const auto id = view(fido_assert_id_ptr(assert.get(), 0), fido_assert_id_len(assert.get(), 0));
  if (!id.empty() && !(id.size() == request.key_handle.size() &&
                       std::equal(id.begin(), id.end(), request.key_handle.begin()))) {
    return from_device("an assertion for a different credential than the one asked for");
  }
  auto authdata = cbor_byte_string(view(fido_assert_authdata_ptr(assert.get(), 0),
                                        fido_assert_authdata_len(assert.get(), 0)));
  if (!authdata.ok()) return authdata.failure();
  auto head = parse_authdata_head(authdata.value());
  if (!head.ok()) return head.failure();
  uint8_t app_hash[SHA256_DIGEST_LENGTH];
  sha256({reinterpret_cast<const uint8_t*>(request.application.data()), request.application.size()}, app_hash);
  if (!std::equal(head->rp_id_hash.begin(), head->rp_id_hash.end(), app_hash)) {
    return from_device("an assertion for another application");
  }
  if (needs_up && (head->flags & kAuthDataUserPresent) == 0) {
    return from_device("a signature without user presence although a touch was required");
  }
  if (needs_uv && (head->flags & kAuthDataUserVerified) == 0) {
    return from_device("a signature without user verification although the key requires it");
  }

  Signature out;
  out.flags = head->flags;
  out.counter = head->counter;
  const auto sig = view(fido_assert_sig_ptr(assert.get(), 0), fido_assert_sig_len(assert.get(), 0));
  if (request.alg == SSH_SK_ED25519) {
    if (sig.size() != 64) return from_device("an Ed25519 signature of " + std::to_string(sig.size()) + " bytes");
    out.sig_r.assign(sig.begin(), sig.end());
  } else {
    auto parts = split_ecdsa_signature(sig);
    if (!parts.ok()) return parts.failure();
    out.sig_r = std::move(parts->first);
    out.sig_s = std::move(parts->second);
  }
  return out;
}

Outcome<std::vector<ResidentKey>> load_resident_keys(const DeviceSource& source, const char* pin,
                                                     const std::vector<Option>& option_list) {
  auto options = parse_options(option_list, /*allow_user=*/false);
  if (!options.ok()) return options.failure();
  if (pin == nullptr) {
    return Failure{SSH_SK_ERR_PIN_REQUIRED, "listing the resident keys needs the authenticator's PIN"};
  }
  auto chosen = choose_device(source, options->device, {}, {}, /*by_touch=*/true);
  if (!chosen.ok()) return chosen.failure();
  const Device& device = *chosen.value();
  std::vector<ResidentKey> keys;

  MetadataPtr metadata(fido_credman_metadata_new());
  RpListPtr rps(fido_credman_rp_new());
  if (metadata == nullptr || rps == nullptr) return general("out of memory");
  device.arm(source.operation_timeout_ms);
  int r = fido_credman_get_dev_metadata(device.get(), metadata.get(), pin);
  if (r == FIDO_ERR_INVALID_COMMAND) return keys;  // no credential management: no resident keys to read
  if (r != FIDO_OK) return failure_for(r, "reading the resident key count");
  if (fido_credman_rk_existing(metadata.get()) == 0) return keys;
  device.arm(source.operation_timeout_ms);
  // CTAP2 answers "no credentials" rather than an empty list.
  r = fido_credman_get_dev_rp(device.get(), rps.get(), pin);
  if (r == FIDO_ERR_NO_CREDENTIALS) return keys;
  if (r != FIDO_OK) return failure_for(r, "listing the applications with resident keys");
  for (size_t i = 0; i < fido_credman_rp_count(rps.get()); ++i) {
    const char* rp_id = fido_credman_rp_id(rps.get(), i);
    if (rp_id == nullptr || strncasecmp(rp_id, "ssh:", 4) != 0) continue;  // not OpenSSH's
    const std::string application(rp_id);
    if (application.size() > kMaxApplicationLen) return from_device("an application string over 256 bytes");
    RkListPtr rks(fido_credman_rk_new());
    if (rks == nullptr) return general("out of memory");
    device.arm(source.operation_timeout_ms);
    r = fido_credman_get_dev_rk(device.get(), rp_id, rks.get(), pin);
    if (r == FIDO_ERR_NO_CREDENTIALS) continue;
    if (r != FIDO_OK) return failure_for(r, "listing the resident keys of " + application);
    for (size_t j = 0; j < fido_credman_rk_count(rks.get()); ++j) {
      const fido_cred_t* cred = fido_credman_rk(rks.get(), j);
      if (cred == nullptr) continue;
      ResidentKey key;
      switch (fido_cred_type(cred)) {
        case COSE_ES256:
          key.alg = SSH_SK_ECDSA;
          break;
        case COSE_EDDSA:
          key.alg = SSH_SK_ED25519;
          break;
        default:
          continue;  // an algorithm SSH does not use (RS256, ...): not an SSH key
      }
      if (keys.size() == kMaxResidentKeys) return from_device("more than " + std::to_string(kMaxResidentKeys) + " resident keys");
      auto public_key = public_key_of(key.alg, view(fido_cred_pubkey_ptr(cred), fido_cred_pubkey_len(cred)));
      if (!public_key.ok()) return public_key.failure();
      auto key_handle = key_handle_of(view(fido_cred_id_ptr(cred), fido_cred_id_len(cred)));
      if (!key_handle.ok()) return key_handle.failure();
      const auto user_id = view(fido_cred_user_id_ptr(cred), fido_cred_user_id_len(cred));
      if (user_id.size() > kMaxUserIdLen) {
        return from_device("a user id of " + std::to_string(user_id.size()) + " bytes (at most 64)");
      }
      key.slot = keys.size();
      key.application = application;
      key.public_key = std::move(public_key.value());
      key.key_handle = std::move(key_handle.value());
      key.user_id.assign(user_id.begin(), user_id.end());
      // A credential that needs user verification needs the PIN for every
      // signature, unless the authenticator verifies by itself.
      if (fido_cred_prot(cred) == FIDO_CRED_PROT_UV_REQUIRED && !device.has_builtin_uv()) {
        key.flags |= SSH_SK_USER_VERIFICATION_REQD;
      }
      keys.push_back(std::move(key));
    }
  }
  return keys;
}

}  // namespace tessera::fido2
