// The actions of tessera-add, each as ssh-add performs it: what it sends,
// what it prints (same texts, same streams) and whether it succeeded.
#ifndef TESSERA_AGENT_ADD_COMMANDS_H_
#define TESSERA_AGENT_ADD_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

#include "tessera/agent/client.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/secret.h"

namespace tessera::add {

struct Options {
  bool deleting = false;
  bool key_only = false;   // -k
  bool cert_only = false;  // -C
  bool confirm = false;    // -c
  bool quiet = false;      // -q
  bool test = false;       // -T
  int verbose = 0;         // -v, repeatable
  uint32_t lifetime = 0;   // -t, seconds; 0 for none
  key::FingerprintHash hash = key::FingerprintHash::kSha256;
  std::optional<std::string> pkcs11_provider;  // -s / -e
  std::string sk_provider = "internal";        // -S, else $SSH_SK_PROVIDER: security keys' middleware
  std::vector<agent::DestinationConstraint> destinations;
};

class Adder {
 public:
  Adder(agent::AgentClient& agent, const Options& options) : agent_(agent), o_(options) {}

  // Each returns true on success (ssh-add's 0), false on failure (-1).
  bool list(bool fingerprints);
  bool delete_all();
  bool lock(bool lock);
  bool add_file(const std::string& path);
  bool delete_file(const std::string& path);
  bool update_card(bool add, const std::string& provider, const std::vector<key::Certificate>& certs);
  // ssh-add -K: the authenticator's resident keys, with the sk-provider constraint.
  bool load_resident_keys();
  // ssh-add -T FILE: sign random data with the agent, verify it locally.
  bool test_key_file(const std::string& path);
  // tessera-add -T without files: test every key the agent holds, one line each.
  bool test_all_keys();

  // Prints a debug line when -v was given.
  void debug(int level, const std::string& text) const;

 private:
  agent::Constraints constraints(const key::PrivateKey* key = nullptr) const;
  bool delete_one(const std::vector<uint8_t>& blob, const std::string& type_label, const std::string& comment,
                  const std::string& path);
  bool delete_stdin();

  agent::AgentClient& agent_;
  const Options& o_;
  key::SecretBytes last_passphrase_;  // tried first on the next encrypted file, as ssh-add does
};

// ssh-add's texts for errors from the agent ("agent refused operation",
// "communication with agent failed", "invalid format").
std::string agent_error_text(const key::Error& error);

// Prints a message the way OpenSSH's error()/fatal() do on standard error:
// the text, then "\r\n".
void log_message(const char* format, ...) __attribute__((format(printf, 1, 2)));

// As OpenSSH's convtime(): "90", "1h30m", "2d"; -1 when invalid.
long convert_time(const std::string& text);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_COMMANDS_H_
