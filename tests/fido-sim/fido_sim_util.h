// Helpers for the tests of tessera-sk-fido2 against the simulator: the
// module loaded with dlopen as OpenSSH loads it, an environment variable set
// for one test, and checking a security key signature with libkey.
#ifndef TESSERA_TESTS_FIDO_SIM_FIDO_SIM_UTIL_H_
#define TESSERA_TESTS_FIDO_SIM_FIDO_SIM_UTIL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "middleware.h"
#include "tessera/fido/sk_api.h"
#include "tessera/key/error.h"

namespace tessera::fidotest {

using Bytes = std::vector<uint8_t>;

// build/bin/tessera-sk-fido2.so, loaded with RTLD_NOW | RTLD_LOCAL.
class Module {
 public:
  Module();
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  bool loaded() const { return enroll != nullptr; }
  const std::string& error() const { return error_; }

  sk_api_version_fn api_version = nullptr;
  sk_enroll_fn enroll = nullptr;
  sk_sign_fn sign = nullptr;
  sk_load_resident_keys_fn load_resident_keys = nullptr;

 private:
  void* handle_ = nullptr;
  std::string error_;
};

// Sets (or with nullopt, unsets) an environment variable until destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// An sk_option array for the ABI ("device", "user"), NULL-terminated.
class Options {
 public:
  Options& add(const std::string& name, const std::string& value, bool required = false);
  sk_option** get();

 private:
  std::vector<std::string> strings_;
  std::vector<sk_option> options_;
  std::vector<sk_option*> pointers_;
};

// A device source of simulators' sockets (the test hook's transport, with
// several devices where the environment variable gives one), with both
// timeouts set to timeout_ms.
fido2::DeviceSource socket_source(std::vector<std::string> paths, int timeout_ms);

// Frees what the module returned (as OpenSSH does).
void free_enroll_response(sk_enroll_response* r);
void free_sign_response(sk_sign_response* r);
void free_resident_keys(sk_resident_key** rks, size_t n);

// Verifies a security key signature as sshd would: builds the SSH signature
// blob (string algorithm, string signature, byte flags, uint32 counter) and
// checks it with libkey's PublicKey for the sk key made of public_key and
// application, over `data`.
key::Status verify_sk_signature(uint32_t alg, std::span<const uint8_t> public_key, const std::string& application,
                                std::span<const uint8_t> data, uint8_t flags, uint32_t counter,
                                std::span<const uint8_t> sig_r, std::span<const uint8_t> sig_s);

}  // namespace tessera::fidotest

#endif  // TESSERA_TESTS_FIDO_SIM_FIDO_SIM_UTIL_H_
