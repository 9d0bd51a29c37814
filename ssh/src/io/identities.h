// The keys tessera-ssh offers, as OpenSSH's ssh gathers them: the agent's
// (IdentityAgent / SSH_AUTH_SOCK), then the PKCS11Provider's token keys not
// already in the agent (token_identities.h), then IdentityFile keys not
// already in the agent or on the token, with certificates (CertificateFile,
// "-cert.pub" beside a key, and the agent's own certificates). IdentitiesOnly
// keeps only keys named by IdentityFile or CertificateFile (and, as OpenSSH,
// agent keys that are token keys). File keys are decrypted only when the
// server accepts them, with the passphrase asked through the prompts library.
#ifndef TESSERA_SSH_IO_IDENTITIES_H_
#define TESSERA_SSH_IO_IDENTITIES_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/client_auth.h"
#include "io/token_identities.h"
#include "tessera/agent/client.h"

namespace tessera::ssh::io {

struct IdentitySettings {
  std::vector<std::string> identity_files;     // expanded paths
  bool identity_files_are_defaults = false;    // missing defaults are not worth a word
  std::vector<std::string> certificate_files;  // expanded paths
  bool identities_only = false;
  std::optional<std::string> agent_socket;     // nullopt: no agent
  std::optional<std::string> pkcs11_provider;  // PKCS11Provider / -I as given; nullopt or "none": none
  bool batch_mode = false;                     // no PIN prompts for token keys
  std::string security_key_provider = "internal";  // SecurityKeyProvider: the middleware of sk key files
};

class Identities {
 public:
  // Connects to the agent (if any) and reads the key files' public halves.
  // Problems (an unreadable key, an agent that does not answer) are
  // reported through `warn` and skipped, as OpenSSH does.
  Identities(IdentitySettings settings, std::function<void(const std::string&)> warn,
             std::function<void(const std::string&)> debug);

  std::vector<auth::ClientIdentity> list();
  // The agent connection, for session-bind and agent forwarding; nullptr
  // when there is no agent.
  agent::AgentClient* agent() { return agent_ ? &*agent_ : nullptr; }
  // Lets go of the PKCS#11 provider (its helper logs out and ends) once the
  // user is authenticated, as OpenSSH's ssh does.
  void close_tokens() {
    if (tokens_) tokens_->close();
  }

 private:
  IdentitySettings settings_;
  std::function<void(const std::string&)> warn_, debug_;
  std::optional<agent::AgentClient> agent_;
  std::unique_ptr<TokenIdentities> tokens_;  // started by the first list()
};

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_IDENTITIES_H_
