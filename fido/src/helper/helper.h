// tessera-sk-helper's parts, as a library so that tests can drive them: which
// middleware a provider names, loading it, calling it, and turning what it
// returns (untrusted: it may be NULL, too long or lie about its lengths)
// into a protocol reply. main.cc adds the process: hardening, descriptors,
// one request in and one reply out.
#ifndef TESSERA_FIDO_HELPER_HELPER_H_
#define TESSERA_FIDO_HELPER_HELPER_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tessera/fido/protocol.h"
#include "tessera/fido/sk_api.h"

namespace tessera::fido::helper {

// The middleware that provider "internal" names, and where it is installed
// (the helper's own directory is tried first).
inline constexpr std::string_view kInternalMiddlewareFile = "tessera-sk-fido2.so";
#ifdef TESSERA_SK_MIDDLEWARE_DIR
inline constexpr std::string_view kInstalledMiddlewareDir = TESSERA_SK_MIDDLEWARE_DIR;
#else
inline constexpr std::string_view kInstalledMiddlewareDir = "/usr/local/lib/tessera";
#endif

// The most resident keys the helper looks at in a middleware's list
// (including those it drops: other algorithms, applications not "ssh:");
// the reply holds at most kMaxResidentKeys.
inline constexpr size_t kMaxListedResidentKeys = 4096;

// The directory of the running program (of /proc/self/exe); empty if unknown.
std::string program_directory();

// The file to load for `provider`: "internal" (in any case, as OpenSSH)
// means kInternalMiddlewareFile in self_dir when it is there, else in
// installed_dir; anything else must be an absolute path. kBadRequest error
// for an empty or relative provider.
Result<std::string> resolve_provider(std::string_view provider, const std::string& self_dir,
                                     std::string_view installed_dir = kInstalledMiddlewareDir);

// A loaded middleware (dlopen RTLD_NOW | RTLD_LOCAL); dlclose'd on destruction.
class Middleware {
 public:
  // Loads `path`, checks sk_api_version()'s major part against
  // SSH_SK_VERSION_MAJOR and finds the four functions. `name` is the
  // provider as the caller gave it, for messages. kProviderError errors.
  static Result<std::unique_ptr<Middleware>> load(const std::string& path, std::string_view name);
  ~Middleware();
  Middleware(const Middleware&) = delete;
  Middleware& operator=(const Middleware&) = delete;

  uint32_t version() const { return version_; }
  sk_enroll_fn enroll() const { return enroll_; }
  sk_sign_fn sign() const { return sign_; }
  sk_load_resident_keys_fn load_resident_keys() const { return load_resident_keys_; }

 private:
  explicit Middleware(void* handle) : handle_(handle) {}
  void* handle_;
  uint32_t version_ = 0;
  sk_enroll_fn enroll_ = nullptr;
  sk_sign_fn sign_ = nullptr;
  sk_load_resident_keys_fn load_resident_keys_ = nullptr;
};

// Take ownership of what a middleware returned (NULL is allowed), check it
// against the protocol's limits, copy it out, and free all of it (key
// handles wiped first), whether it was valid or not. A length larger than
// the buffer malloc gave is refused rather than read. kBadResponse errors
// say what was wrong.
//
// The credential's flags are those asked for (without SSH_SK_FORCE_OPERATION),
// plus user verification when the middleware says the credential needs it
// (it may add that, never drop a requirement).
Result<EnrollReply> take_enroll_response(Algorithm alg, uint8_t requested_flags, sk_enroll_response* response);
Result<SignReply> take_sign_response(Algorithm alg, sk_sign_response* response);
// Keys of other algorithms or of applications that do not start with "ssh:"
// are dropped, as OpenSSH does; each kept key's flags are user presence and
// resident, plus user verification if the middleware says so.
Result<ResidentKeysReply> take_resident_keys(sk_resident_key** keys, size_t count);

// Frees responses without looking at their contents beyond the pointers.
void free_enroll_response(sk_enroll_response* response);
void free_sign_response(sk_sign_response* response);
void free_resident_keys(sk_resident_key** keys, size_t count);

// Answers one request: checks it (the application must start with "ssh:"),
// loads the provider's middleware (self_dir for "internal") and calls it.
// Every failure is an ErrorReply whose text says what to do.
Reply handle(const Request& request, const std::string& self_dir);
// The same for an undecoded frame body: a malformed request is a kBadRequest reply.
Reply handle_body(std::span<const uint8_t> body, const std::string& self_dir);

// An ErrorReply for an Error (its sk_error_code(), its message cut to
// kMaxErrorTextBytes).
ErrorReply error_reply(const Error& error);

}  // namespace tessera::fido::helper

#endif  // TESSERA_FIDO_HELPER_HELPER_H_
