// A server's host keys from every source sshd_config can name, together, as
// the one HostKeySigner its key exchanges sign with: private key files
// (HostKey FILE, host_keys_file.h), keys an agent holds (HostKeyAgent,
// host_keys_agent.h), keys on PKCS#11 tokens (HostKey pkcs11:URI,
// host_keys_token.h), and host certificates of any of them (HostCertificate).
//
// As sshd: the HostKey lines are taken in order and the first key of each
// type answers for it (a later one is skipped with a warning); a file that
// holds an unencrypted private key is used as it is, even with HostKeyAgent;
// with HostKeyAgent, any other file stands for a key the agent holds. A key
// that cannot be loaded is a warning, not an error, as long as one key is.
// tessera-sshd's monitor loads them anew for each connection, so an agent
// or token that comes back serves the next connection.
#ifndef TESSERA_SSH_IO_HOST_KEY_SOURCES_H_
#define TESSERA_SSH_IO_HOST_KEY_SOURCES_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::io {

class HostKeySet final : public transport::HostKeySigner {
 public:
  // Signs data with one key and an SSH signature algorithm ("rsa-sha2-512").
  using SignFunction =
      std::function<key::Result<key::Bytes>(std::string_view signature_algorithm, std::span<const uint8_t> data)>;
  using Report = std::function<void(const std::string&)>;

  // on_failure hears every signature that fails, as "host key WHERE: why"
  // (the monitor logs it: the client only sees the connection close).
  explicit HostKeySet(Report on_failure = {});
  ~HostKeySet() override;

  // Adds a key that `sign` signs with; `where` names it in messages
  // ("/etc/ssh/ssh_host_ed25519_key", "'ec256' on token 'main'").
  // kInvalidArgument, saying why, when no host key algorithm takes its type
  // or an earlier key of its type answers for the type (that one stays).
  key::Status add(key::PublicKey key, SignFunction sign, std::string where);
  // Keeps what the sign functions point into alive as long as the set.
  template <typename Part>
  Part* keep(std::unique_ptr<Part> part) {
    Part* raw = part.get();
    parts_.push_back(std::move(part));
    return raw;
  }
  // Attaches a host certificate to the key it certifies, which then also
  // answers for the certificate algorithms. kInvalidArgument when it is a
  // user certificate, certifies none of the keys, or its key has one.
  key::Status add_certificate(key::Certificate certificate);

  bool empty() const { return entries_.empty(); }
  // The keys in order, and where each is from.
  std::vector<key::PublicKey> public_keys() const;
  std::vector<std::string> where() const;

  std::vector<std::string> algorithms() const override;
  key::Bytes host_key_blob(std::string_view algorithm) const override;
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) override;
  std::vector<key::Bytes> public_key_blobs() const override;

 private:
  struct Entry {
    key::PublicKey key;
    SignFunction sign;
    std::string where;
    std::optional<key::Certificate> certificate;
    key::Bytes certificate_blob;
  };
  const Entry* find(std::string_view algorithm, bool& certificate) const;

  Report on_failure_;
  std::vector<Entry> entries_;  // one per key type, in HostKey order
  std::vector<std::unique_ptr<transport::HostKeySigner>> parts_;
};

struct HostKeySources {
  std::vector<std::string> host_keys;     // HostKey: files, or pkcs11: URIs
  std::vector<std::string> certificates;  // HostCertificate files
  std::string agent;                      // HostKeyAgent: a socket path or "SSH_AUTH_SOCK"; "": none
  // The longest one agent or token request may take (a dead helper or agent
  // fails at once; a hung one after this).
  std::chrono::milliseconds timeout{30'000};
};

struct LoadedHostKeySet {
  std::unique_ptr<HostKeySet> keys;
  // One line per key, certificate or source skipped, saying which and why
  // ("host key /etc/x: No such file or directory"); sshd logs them as errors.
  std::vector<std::string> warnings;
  // Where each key is from ("will rely on agent for host key /etc/x"), for debug logs.
  std::vector<std::string> notes;
};

// Loads the keys. Fails (kInvalidArgument, every warning in the text) only
// when no host key at all could be loaded. on_failure: see HostKeySet.
key::Result<LoadedHostKeySet> load_host_key_set(const HostKeySources& sources, HostKeySet::Report on_failure = {});

// Checks a signature made outside this process (by an agent, on a token)
// before a client sees it: that it is a `signature_algorithm` signature by
// `key` over `data`. kBadSignature saying what is wrong.
key::Status check_external_signature(const key::PublicKey& key, std::string_view signature_algorithm,
                                     std::span<const uint8_t> signature_blob, std::span<const uint8_t> data);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_HOST_KEY_SOURCES_H_
