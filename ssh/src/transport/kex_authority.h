// The server's side of every key exchange, apart from the packets that carry
// it: the part of a server that holds the host keys.
//
// A KexAuthority writes the server's KEXINIT itself, takes the client's
// KEXINIT and key exchange message as they arrived, makes its own ephemeral
// key, computes the shared secret and the exchange hash from the transcript it
// assembled, signs that hash, and returns the reply message and the derived
// keys. It signs nothing else, so whoever relays messages to it (tessera-sshd's
// unprivileged children) cannot make it sign bytes of their choosing: it is no
// signing oracle. The same holds for the hostkeys-prove-00@openssh.com proofs:
// it builds their signed data from the session identifier it computed.
//
// LocalKexAuthority runs in the process that holds the keys (tessera-sshd's
// monitor, or an embedding program's one process); tessera-sshd's children
// reach the monitor's through a proxy with the same interface.
#ifndef TESSERA_SSH_TRANSPORT_KEX_AUTHORITY_H_
#define TESSERA_SSH_TRANSPORT_KEX_AUTHORITY_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"
#include "transport/cipher.h"
#include "transport/kexinit.h"
#include "transport/moduli.h"

namespace tessera::ssh::transport {

// A server's host keys, for the server side of the exchange.
class HostKeySigner {
 public:
  virtual ~HostKeySigner() = default;
  // The host key algorithms this server can sign with, in its order.
  virtual std::vector<std::string> algorithms() const = 0;
  // K_S for an algorithm from algorithms(): the key's or certificate's blob.
  virtual key::Bytes host_key_blob(std::string_view algorithm) const = 0;
  // The signature blob over the exchange hash with that algorithm.
  virtual key::Result<key::Bytes> sign(std::string_view algorithm, std::span<const uint8_t> exchange_hash) = 0;
  // The plain public key blobs of every host key, for hostkeys-00@openssh.com
  // (empty: nothing is announced).
  virtual std::vector<key::Bytes> public_key_blobs() const { return {}; }
};

// What the server answers to a client's key exchange message.
struct KexAnswer {
  key::Bytes reply;           // the whole reply payload (KEX_ECDH_REPLY / KEXDH_REPLY / KEX_DH_GEX_REPLY)
  Negotiated negotiated;      // what the two KEXINITs agreed on
  key::Bytes exchange_hash;   // H of this exchange
  key::Bytes session_id;      // H of the first exchange
  DirectionKeys client_to_server;
  DirectionKeys server_to_client;
};

class KexAuthority {
 public:
  virtual ~KexAuthority() = default;
  // The payload of our KEXINIT for the next exchange (message number first).
  virtual key::Result<key::Bytes> server_kexinit() = 0;
  // Group exchange only (a diffie-hellman-group-exchange-* method was
  // negotiated), before answer(): the client's identification, its KEXINIT
  // and its KEX_DH_GEX_REQUEST payload, for the KEXINIT server_kexinit()
  // last gave. Returns the KEX_DH_GEX_GROUP payload. The authority keeps
  // the request and the group it chose: answer() then takes the client's
  // KEX_DH_GEX_INIT and hashes its own copies, never p and g relayed back
  // to it. Once per exchange. Fails with kMalformed for a bad request and
  // kUnsupported for a range it refuses (or when it offers no group
  // exchange: this default).
  virtual key::Result<key::Bytes> gex_group(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                            std::span<const uint8_t> request);
  // The client's identification line (without CR LF), its KEXINIT payload
  // and its key exchange message (the one after any wrongly guessed
  // packet; KEX_DH_GEX_INIT for group exchange, after gex_group() with the
  // same identification and KEXINIT), answering the KEXINIT
  // server_kexinit() last gave. Fails with kUnsupported when the lists do
  // not meet, kMalformed / kInvalidKey for a bad message or public value,
  // and whatever signing fails with.
  virtual key::Result<KexAnswer> answer(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                        std::span<const uint8_t> kex_message) = 0;
  // hostkeys-00@openssh.com: the plain host keys to announce.
  virtual std::vector<key::Bytes> host_key_blobs() = 0;
  // hostkeys-prove-00@openssh.com: a signature for each requested key blob,
  // over string "hostkeys-prove-00@openssh.com" || string session_id ||
  // string blob, made with the key's plain algorithm (RSA: rsa-sha2-512, or
  // rsa-sha2-256 when that was negotiated, as OpenSSH). Fails when a blob is
  // not one of ours.
  virtual key::Result<std::vector<key::Bytes>> prove_host_keys(std::span<const key::Bytes> blobs) = 0;
};

// Where a server's group exchange groups come from.
struct GexConfig {
  // The moduli(5) file, read at each group exchange as sshd reads it. When
  // it cannot be read or has no group in the client's range, the fixed
  // fallback group (fallback_dh_group) is used and a warning logged, as
  // OpenSSH 9.2's sshd.
  std::string moduli_file = "/etc/ssh/moduli";
  // Log lines: warnings (is_error false) and skipped moduli lines (true).
  std::function<void(bool is_error, const std::string& text)> log = nullptr;
};

// The server's algorithm preferences (empty: the supported defaults).
struct ServerKexConfig {
  std::vector<std::string> kex = {};
  std::vector<std::string> host_key = {};
  std::vector<std::string> ciphers = {};
  std::vector<std::string> macs = {};
  // Group exchange is offered only when this is set (and kex names it).
  std::optional<GexConfig> gex = std::nullopt;
};

class LocalKexAuthority final : public KexAuthority {
 public:
  // keys must outlive the authority.
  LocalKexAuthority(ServerKexConfig config, HostKeySigner& keys);

  key::Result<key::Bytes> server_kexinit() override;
  key::Result<key::Bytes> gex_group(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                    std::span<const uint8_t> request) override;
  key::Result<KexAnswer> answer(std::string_view client_version, std::span<const uint8_t> client_kexinit,
                                std::span<const uint8_t> kex_message) override;
  std::vector<key::Bytes> host_key_blobs() override { return keys_.public_key_blobs(); }
  key::Result<std::vector<key::Bytes>> prove_host_keys(std::span<const key::Bytes> blobs) override;

  // H of the first exchange; empty before it. Authentication decisions use
  // this copy, never one relayed by another process.
  const key::Bytes& session_id() const { return session_id_; }
  const std::string& client_version() const { return client_version_; }
  size_t exchanges() const { return exchanges_; }

 private:
  // A group exchange between gex_group() and answer().
  struct PendingGex {
    std::string client_version;
    key::Bytes client_kexinit;
    GexRequest request;
    DhGroup group;
  };
  key::Status check_client_version(std::string_view client_version) const;
  DhGroup choose_group(const GexRequest& request);

  ServerKexConfig config_;
  HostKeySigner& keys_;
  std::optional<key::Bytes> pending_kexinit_;  // ours, waiting for the answer
  std::optional<PendingGex> pending_gex_;
  key::Bytes session_id_;
  std::string client_version_;
  size_t exchanges_ = 0;
};

// The longest key, IV, block or MAC key the negotiated ciphers and MACs need
// (what DH sizes its exponent by).
size_t kex_need_bytes(const Negotiated& negotiated);

// The keys of both directions from K and H (RFC 4253 section 7.2).
struct DerivedKeys {
  DirectionKeys client_to_server;
  DirectionKeys server_to_client;
};
key::Result<DerivedKeys> derive_direction_keys(std::string_view digest, const Negotiated& negotiated,
                                               std::span<const uint8_t> k, std::span<const uint8_t> exchange_hash,
                                               std::span<const uint8_t> session_id);

// Whether a cipher name is an AEAD one (no MAC negotiated with it).
bool is_aead_cipher(std::string_view name);

// The signed data of a hostkeys-prove-00@openssh.com proof.
key::Bytes host_key_proof_data(std::span<const uint8_t> session_id, std::span<const uint8_t> blob);

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_KEX_AUTHORITY_H_
