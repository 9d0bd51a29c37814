// A blocking client of one tessera-pkcs11-helper process, for programs that
// use a token key for a while and then exit (tessera-keygen -D, -s with a
// CA key on a token). The agent, which must never block, has its own
// (agent/src/daemon/pkcs11_process.h).
//
//   auto helper = HelperClient::start(default_helper_program(), "/usr/lib/softhsm/libsofthsm2.so");
//   auto keys = helper->list_keys();
//   helper->login(keys->keys[0].id.token, pin);
//   auto signature = helper->sign(keys->keys[0].id, data, "ssh-ed25519");
#ifndef TESSERA_PKCS11_CLIENT_H_
#define TESSERA_PKCS11_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tessera/pkcs11/protocol.h"

namespace tessera::pkcs11 {

// tessera-pkcs11-helper beside the running program (/proc/self/exe), or
// $TESSERA_PKCS11_HELPER when set.
std::string default_helper_program();

// A started helper: its pid and the agent's end of the socketpair that is its
// standard input and output (close-on-exec, blocking).
struct SpawnedHelper {
  pid_t pid = -1;
  int fd = -1;
};

// A failed request is an Error that carries the helper's error code and
// token flags when the helper answered with an error (helper_code() and
// Error::flags(); kInternal and 0 when the helper could not be reached).

// Starts `helper_program module_path` over a socketpair, with signals at
// their defaults, none blocked, and in a process group of its own (a
// terminal's ^C is for the program that started it, which ends the helper
// itself). Both tessera-agent and HelperClient start helpers this way.
Result<SpawnedHelper> spawn_helper(const std::string& helper_program, const std::string& module_path);

class HelperClient {
 public:
  // Starts `helper_program module_path` over a socketpair and says Hello.
  static Result<std::unique_ptr<HelperClient>> start(const std::string& helper_program,
                                                     const std::string& module_path,
                                                     std::chrono::seconds timeout = std::chrono::seconds(60));
  // Closes the socket (the helper logs out and exits) and reaps it.
  ~HelperClient();
  HelperClient(const HelperClient&) = delete;
  HelperClient& operator=(const HelperClient&) = delete;

  const std::string& module_description() const { return module_; }

  Result<KeyList> list_keys();
  // No PIN: the token's PIN pad.
  Status login(const TokenId& token, const std::optional<SecretBytes>& pin);
  Result<Bytes> sign(const KeyId& key, std::span<const uint8_t> data, const std::string& algorithm,
                           const std::optional<SecretBytes>& context_pin = std::nullopt);

 private:
  HelperClient(pid_t pid, int fd, std::chrono::seconds timeout) : pid_(pid), fd_(fd), timeout_(timeout) {}
  Result<ReplyBody> call(RequestBody body);

  pid_t pid_;
  int fd_;
  std::chrono::seconds timeout_;
  uint32_t next_id_ = 1;
  Bytes input_;
  std::string module_;
};

}  // namespace tessera::pkcs11

#endif  // TESSERA_PKCS11_CLIENT_H_
