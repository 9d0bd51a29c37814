// A server's host keys held in this process: private keys from files
// (HostKey) or memory, and the OpenSSH certificates that certify them
// (HostCertificate), as the HostKeySigner the key exchange signs with.
//
// What it offers, for each key in the order given (the first key of each
// type; a later key of the same type is skipped with a warning, as only one
// can answer for its algorithms): ssh-ed25519, ecdsa-sha2-nistp256/384/521,
// rsa-sha2-512 and rsa-sha2-256 for an RSA key (never ssh-rsa), and the
// matching -cert-v01@openssh.com forms when a certificate certifies the
// key. public_key_blobs() lists the plain keys for hostkeys-00@openssh.com.
//
// tessera-sshd's monitor and the embedding Server (tessera/ssh/server.h)
// both load their files through load_host_key_files().
#ifndef TESSERA_SSH_IO_HOST_KEYS_FILE_H_
#define TESSERA_SSH_IO_HOST_KEYS_FILE_H_

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

// Largest host key or certificate file read.
inline constexpr size_t kMaxHostKeyFileBytes = 1024 * 1024;

class HostKeys final : public transport::HostKeySigner {
 public:
  // keys in preference order; each certificate must be a host certificate
  // of one of keys (a certificate that is not is a warning, and skipped).
  // Warnings (skipped keys and certificates) are appended to `warnings`.
  HostKeys(std::vector<key::PrivateKey> keys, std::vector<key::Certificate> certificates,
           std::vector<std::string>* warnings = nullptr);

  std::vector<std::string> algorithms() const override;
  // Empty for an algorithm not in algorithms().
  key::Bytes host_key_blob(std::string_view algorithm) const override;
  // kUnsupported for an algorithm not in algorithms().
  key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) override;
  std::vector<key::Bytes> public_key_blobs() const override;

  bool empty() const { return keys_.empty(); }
  // The public halves, in order (for logs and tests).
  std::vector<key::PublicKey> public_keys() const;

 private:
  struct Entry {
    key::PrivateKey key;
    std::optional<key::Certificate> certificate;
    key::Bytes certificate_blob;
  };
  const Entry* find(std::string_view algorithm, bool& certificate) const;

  std::vector<Entry> keys_;  // one per key type
};

struct LoadedHostKeys {
  std::unique_ptr<HostKeys> keys;
  // One line per file skipped, saying which and why ("host key /etc/x:
  // No such file or directory"), as sshd logs them and goes on.
  std::vector<std::string> warnings;
};

// Reads private host key files (openssh-key-v1, PEM or PKCS#8, not
// encrypted: a server has nobody to ask for a passphrase) and certificate
// files (one "type base64 [comment]" line, as ssh-keygen -s writes them).
// A file that cannot be used is a warning; it fails (kInvalidArgument, with
// every warning in the text) only when no host key at all could be loaded.
// more_keys (keys held in memory) come after the files' keys.
key::Result<LoadedHostKeys> load_host_key_files(const std::vector<std::string>& paths,
                                                const std::vector<std::string>& certificate_paths,
                                                std::vector<key::PrivateKey> more_keys = {});

// One certificate from a certificate file's text ("type base64 [comment]",
// blank lines and '#' comments skipped). Checks that the type field names
// the blob's type and that the CA's signature verifies.
key::Result<key::Certificate> parse_certificate_file(std::string_view text);

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_HOST_KEYS_FILE_H_
