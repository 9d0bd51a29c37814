// Host keys whose private halves an SSH agent holds (sshd_config's
// HostKeyAgent): tessera-agent, OpenSSH's ssh-agent or any PROTOCOL.agent
// server, reached through the agent client library. The server keeps only
// the public halves; every signature is the agent's, asked for with the
// rsa-sha2-256 / rsa-sha2-512 flags for RSA keys, and checked (algorithm and
// signature) before it is used.
//
// As sshd: a HostKey line names a file; with an agent, a file that holds no
// usable private key (a public key, a certificate, an encrypted private key)
// stands for a key the agent holds, its public half read from the file or,
// failing that, from FILE.pub beside it.
#ifndef TESSERA_SSH_IO_HOST_KEYS_AGENT_H_
#define TESSERA_SSH_IO_HOST_KEYS_AGENT_H_

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/agent/client.h"
#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::io {

// HostKeyAgent's value that means "the agent $SSH_AUTH_SOCK names".
inline constexpr std::string_view kHostKeyAgentFromEnvironment = "SSH_AUTH_SOCK";

class AgentHostKeys final : public transport::HostKeySigner {
 public:
  // Connects to the agent: `socket` is a path, or "SSH_AUTH_SOCK" for the
  // socket the environment names. kIo, saying why, when it cannot. Each
  // request may take `timeout` (a confirmation, a PIN, a slow token behind
  // the agent); past it, it fails, and so does every later one.
  static key::Result<std::unique_ptr<AgentHostKeys>> connect(const std::string& socket,
                                                             std::chrono::milliseconds timeout);
  explicit AgentHostKeys(agent::AgentClient client);

  // Adds a host key the agent holds. kInvalidArgument when the agent does
  // not list it (asked once: the list is kept), kIo when it cannot be asked.
  // Of several keys of one type, the first added answers for the type.
  key::Status add(const key::PublicKey& key);

  // Plain algorithms only (certificates are HostKeySet's): ssh-ed25519,
  // ecdsa-sha2-*, rsa-sha2-512 and rsa-sha2-256 for the keys added.
  std::vector<std::string> algorithms() const override;
  key::Bytes host_key_blob(std::string_view algorithm) const override;
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) override;
  std::vector<key::Bytes> public_key_blobs() const override;

  // A signature of `data` by `key` (one added) with the SSH signature
  // algorithm `signature_algorithm` ("rsa-sha2-512", "ssh-ed25519", ...).
  // kUnsupported when the agent refuses (key gone, agent locked, a
  // confirmation denied), kIo when it does not answer, kCrypto when its
  // answer is not that signature.
  key::Result<key::Bytes> sign_with(const key::PublicKey& key, std::string_view signature_algorithm,
                                    std::span<const uint8_t> data);

  // The agent's socket path, for messages.
  const std::string& socket() const { return client_.path(); }

 private:
  agent::AgentClient client_;
  std::vector<key::PublicKey> keys_;             // in the order added
  std::optional<std::vector<key::Bytes>> held_;  // what the agent lists
};

// What a HostKey file says of a key the agent holds.
struct AgentKeyFile {
  key::PublicKey key;
  std::optional<key::Certificate> certificate;  // when the file holds a host certificate of the key
  std::string path;                             // the file it came from (FILE or FILE.pub)
};

// Reads a host key's public half for HostKeyAgent: from `path` when it holds
// a public key line or a certificate, else from `path`.pub. kIo when neither
// holds one (the message says why); a certificate that is not a host
// certificate, or whose CA signature fails, is an error.
key::Result<AgentKeyFile> read_agent_key_file(const std::string& path);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_HOST_KEYS_AGENT_H_
