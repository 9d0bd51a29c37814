// tessera-sk-fido2.so: the four functions of OpenSSH's security key
// middleware ABI (tessera/fido/sk_api.h), on libfido2. The work is done in
// middleware.h's C++ functions; this file converts the ABI's arguments and
// results and is the only code with C linkage and default visibility.
//
// Responses are allocated with malloc as the ABI demands; the caller frees
// them. On failure nothing is returned and nothing leaks. A failure whose
// code does not already tell the caller what to do (anything but "PIN
// required" and "credential exists", which OpenSSH's tools answer by asking)
// is explained in one line on stderr.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include "middleware.h"
#include "tessera/fido/sk_api.h"

namespace {

using namespace tessera::fido2;

void report(const Failure& failure) {
  if (failure.code == SSH_SK_ERR_PIN_REQUIRED || failure.code == SSH_SK_ERR_CREDENTIAL_EXISTS) return;
  std::fprintf(stderr, "tessera-sk-fido2: %s\n", failure.message.c_str());
}

// A malloc'ed copy of `data` (nullptr and 0 for empty data).
template <typename Container>
bool copy_out(const Container& data, uint8_t** out, size_t* out_len) {
  *out = nullptr;
  *out_len = 0;
  if (data.empty()) return true;
  auto* p = static_cast<uint8_t*>(std::malloc(data.size()));
  if (p == nullptr) return false;
  std::memcpy(p, data.data(), data.size());
  *out = p;
  *out_len = data.size();
  return true;
}

void free_wiped(uint8_t* p, size_t len) {
  if (p == nullptr) return;
  WipingAllocatorBase::wipe(p, len);
  std::free(p);
}

void free_enroll_fields(sk_enroll_response* r) {
  std::free(r->public_key);
  free_wiped(r->key_handle, r->key_handle_len);
  std::free(r->signature);
  std::free(r->attestation_cert);
  std::free(r->authdata);
}

void free_resident_key(sk_resident_key* key) {
  if (key == nullptr) return;
  std::free(key->application);
  free_enroll_fields(&key->key);
  std::free(key->user_id);
  std::free(key);
}

int fail(const Failure& failure) {
  report(failure);
  return failure.code;
}

int out_of_memory() { return fail(Failure{SSH_SK_ERR_GENERAL, "out of memory"}); }

}  // namespace

extern "C" {

__attribute__((visibility("default"))) uint32_t sk_api_version(void) { return SSH_SK_VERSION_MAJOR; }

__attribute__((visibility("default"))) int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len,
                                                     const char* application, uint8_t flags, const char* pin,
                                                     struct sk_option** options,
                                                     struct sk_enroll_response** enroll_response) try {
  if (enroll_response == nullptr) return fail(Failure{SSH_SK_ERR_GENERAL, "sk_enroll without a response pointer"});
  *enroll_response = nullptr;
  if (application == nullptr || (challenge == nullptr && challenge_len != 0)) {
    return fail(Failure{SSH_SK_ERR_GENERAL, "sk_enroll without an application or challenge"});
  }
  EnrollRequest request;
  request.alg = alg;
  request.challenge = {challenge, challenge_len};
  request.application = application;
  request.flags = flags;
  request.pin = pin;
  request.options = copy_options(options);
  auto result = enroll(device_source_from_environment(), request);
  if (!result.ok()) return fail(result.failure());

  auto* response = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  if (response == nullptr) return out_of_memory();
  response->flags = result->flags;
  if (!copy_out(result->public_key, &response->public_key, &response->public_key_len) ||
      !copy_out(result->key_handle, &response->key_handle, &response->key_handle_len) ||
      !copy_out(result->signature, &response->signature, &response->signature_len) ||
      !copy_out(result->attestation_cert, &response->attestation_cert, &response->attestation_cert_len) ||
      !copy_out(result->authdata, &response->authdata, &response->authdata_len)) {
    free_enroll_fields(response);
    std::free(response);
    return out_of_memory();
  }
  *enroll_response = response;
  return 0;
} catch (const std::exception&) {
  return out_of_memory();
}

__attribute__((visibility("default"))) int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len,
                                                   const char* application, const uint8_t* key_handle,
                                                   size_t key_handle_len, uint8_t flags, const char* pin,
                                                   struct sk_option** options,
                                                   struct sk_sign_response** sign_response) try {
  if (sign_response == nullptr) return fail(Failure{SSH_SK_ERR_GENERAL, "sk_sign without a response pointer"});
  *sign_response = nullptr;
  if (application == nullptr || key_handle == nullptr || (data == nullptr && data_len != 0)) {
    return fail(Failure{SSH_SK_ERR_GENERAL, "sk_sign without an application, key handle or data"});
  }
  SignRequest request;
  request.alg = alg;
  request.data = {data, data_len};
  request.application = application;
  request.key_handle = {key_handle, key_handle_len};
  request.flags = flags;
  request.pin = pin;
  request.options = copy_options(options);
  auto result = sign(device_source_from_environment(), request);
  if (!result.ok()) return fail(result.failure());

  auto* response = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  if (response == nullptr) return out_of_memory();
  response->flags = result->flags;
  response->counter = result->counter;
  if (!copy_out(result->sig_r, &response->sig_r, &response->sig_r_len) ||
      !copy_out(result->sig_s, &response->sig_s, &response->sig_s_len)) {
    std::free(response->sig_r);
    std::free(response->sig_s);
    std::free(response);
    return out_of_memory();
  }
  *sign_response = response;
  return 0;
} catch (const std::exception&) {
  return out_of_memory();
}

__attribute__((visibility("default"))) int sk_load_resident_keys(const char* pin, struct sk_option** options,
                                                                 struct sk_resident_key*** rks, size_t* nrks) try {
  if (rks == nullptr || nrks == nullptr) {
    return fail(Failure{SSH_SK_ERR_GENERAL, "sk_load_resident_keys without result pointers"});
  }
  *rks = nullptr;
  *nrks = 0;
  auto result = load_resident_keys(device_source_from_environment(), pin, copy_options(options));
  if (!result.ok()) return fail(result.failure());
  const auto& keys = result.value();
  if (keys.empty()) return 0;

  auto* list = static_cast<sk_resident_key**>(std::calloc(keys.size(), sizeof(sk_resident_key*)));
  if (list == nullptr) return out_of_memory();
  for (size_t i = 0; i < keys.size(); ++i) {
    const ResidentKey& key = keys[i];
    auto* entry = static_cast<sk_resident_key*>(std::calloc(1, sizeof(sk_resident_key)));
    bool ok = entry != nullptr;
    if (ok) {
      list[i] = entry;
      entry->alg = key.alg;
      entry->slot = key.slot;
      entry->flags = key.flags;
      entry->key.flags = key.flags;
      entry->application = strdup(key.application.c_str());
      ok = entry->application != nullptr &&
           copy_out(key.public_key, &entry->key.public_key, &entry->key.public_key_len) &&
           copy_out(key.key_handle, &entry->key.key_handle, &entry->key.key_handle_len) &&
           copy_out(key.user_id, &entry->user_id, &entry->user_id_len);
    }
    if (!ok) {
      for (size_t j = 0; j <= i; ++j) free_resident_key(list[j]);
      std::free(list);
      return out_of_memory();
    }
  }
  *rks = list;
  *nrks = keys.size();
  return 0;
} catch (const std::exception&) {
  return out_of_memory();
}

}  // extern "C"
