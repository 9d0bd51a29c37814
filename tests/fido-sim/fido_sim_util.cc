#include "fido_sim_util.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>

#include "tessera/key/key.h"
#include "tessera/key/ossl.h"
#include "tessera/key/wire.h"
#include "socket_io.h"
#include "test_support.h"

namespace tessera::fidotest {

Module::Module() {
  const std::string path = test::tessera_bin("tessera-sk-fido2.so");
  handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* e = ::dlerror();
    error_ = e != nullptr ? e : "dlopen failed";
    return;
  }
  api_version = reinterpret_cast<sk_api_version_fn>(::dlsym(handle_, "sk_api_version"));
  enroll = reinterpret_cast<sk_enroll_fn>(::dlsym(handle_, "sk_enroll"));
  sign = reinterpret_cast<sk_sign_fn>(::dlsym(handle_, "sk_sign"));
  load_resident_keys = reinterpret_cast<sk_load_resident_keys_fn>(::dlsym(handle_, "sk_load_resident_keys"));
  if (api_version == nullptr || enroll == nullptr || sign == nullptr || load_resident_keys == nullptr) {
    error_ = "a symbol is missing";
    enroll = nullptr;
  }
}

Module::~Module() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

ScopedEnv::ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
  if (const char* old = std::getenv(name); old != nullptr) old_ = old;
  if (value) {
    ::setenv(name, value->c_str(), 1);
  } else {
    ::unsetenv(name);
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    ::setenv(name_.c_str(), old_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

Options& Options::add(const std::string& name, const std::string& value, bool required) {
  strings_.push_back(name);
  strings_.push_back(value);
  options_.push_back(sk_option{nullptr, nullptr, static_cast<uint8_t>(required ? 1 : 0)});
  return *this;
}

sk_option** Options::get() {
  pointers_.clear();
  for (size_t i = 0; i < options_.size(); ++i) {
    options_[i].name = strings_[2 * i].data();
    options_[i].value = strings_[2 * i + 1].data();
  }
  for (auto& o : options_) pointers_.push_back(&o);
  pointers_.push_back(nullptr);
  return pointers_.data();
}

fido2::DeviceSource socket_source(std::vector<std::string> paths, int timeout_ms) {
  fido2::DeviceSource source;
  source.paths = std::move(paths);
  source.io = &fido2::socket_io_functions();
  source.arm_deadline = fido2::arm_socket_deadline;
  source.set_open_timeout = fido2::set_socket_open_timeout;
  source.operation_timeout_ms = timeout_ms;
  source.probe_timeout_ms = timeout_ms;
  return source;
}

void free_enroll_response(sk_enroll_response* r) {
  if (r == nullptr) return;
  std::free(r->public_key);
  if (r->key_handle != nullptr) std::memset(r->key_handle, 0, r->key_handle_len);
  std::free(r->key_handle);
  std::free(r->signature);
  std::free(r->attestation_cert);
  std::free(r->authdata);
  std::free(r);
}

void free_sign_response(sk_sign_response* r) {
  if (r == nullptr) return;
  std::free(r->sig_r);
  std::free(r->sig_s);
  std::free(r);
}

void free_resident_keys(sk_resident_key** rks, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    sk_resident_key* k = rks[i];
    std::free(k->application);
    std::free(k->key.public_key);
    std::free(k->key.key_handle);
    std::free(k->key.signature);
    std::free(k->key.attestation_cert);
    std::free(k->key.authdata);
    std::free(k->user_id);
    std::free(k);
  }
  std::free(rks);
}

key::Status verify_sk_signature(uint32_t alg, std::span<const uint8_t> public_key, const std::string& application,
                                std::span<const uint8_t> data, uint8_t flags, uint32_t counter,
                                std::span<const uint8_t> sig_r, std::span<const uint8_t> sig_s) {
  key::ossl::PkeyPtr pkey;
  if (alg == SSH_SK_ED25519) {
    pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  } else {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("P-256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(public_key.data()),
                                          public_key.size()),
        OSSL_PARAM_construct_end()};
    key::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    if (ctx != nullptr && EVP_PKEY_fromdata_init(ctx.get()) == 1) {
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params);
    }
    pkey.reset(raw);
  }
  if (pkey == nullptr) return key::Error(key::Errc::kInvalidKey, "the public key does not load");
  const auto type = alg == SSH_SK_ED25519 ? key::KeyType::kSkEd25519 : key::KeyType::kSkEcdsaP256;
  auto sk_key = key::PublicKey::make_security_key(type, pkey.get(), application);
  if (!sk_key.ok()) return sk_key.error();

  key::Writer blob;
  blob.string(sk_key->ssh_name());
  if (alg == SSH_SK_ED25519) {
    blob.string(sig_r);
  } else {
    key::Writer inner;
    inner.mpint(sig_r);
    inner.mpint(sig_s);
    blob.string(inner);
  }
  blob.u8(flags);
  blob.u32(counter);
  return sk_key->verify(blob.data(), data);
}

}  // namespace tessera::fidotest
