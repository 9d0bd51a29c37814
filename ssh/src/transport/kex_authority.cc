#include "transport/kex_authority.h"

#include <openssl/rand.h>

#include <algorithm>
#include <string>

#include "tessera/key/key.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_hash.h"
#include "transport/kex_method.h"
#include "transport/messages.h"
#include "transport/version.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;

namespace {

constexpr std::string_view kProveRequest = "hostkeys-prove-00@openssh.com";

template <typename Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.name);
  return out;
}

}  // namespace

bool is_aead_cipher(std::string_view name) {
  const CipherInfo* c = find_cipher(name);
  return c != nullptr && c->aead;
}

size_t kex_need_bytes(const Negotiated& n) {
  size_t need = 0;
  for (const std::string* name : {&n.cipher_c2s, &n.cipher_s2c}) {
    if (const CipherInfo* cipher = find_cipher(*name)) {
      need = std::max({need, cipher->key_bytes, cipher->iv_bytes, cipher->block_bytes});
    }
  }
  for (const std::string* name : {&n.mac_c2s, &n.mac_s2c}) {
    if (const MacInfo* mac = find_mac(*name)) need = std::max(need, mac->key_bytes);
  }
  return need;
}

key::Result<DerivedKeys> derive_direction_keys(std::string_view digest, const Negotiated& n,
                                               std::span<const uint8_t> k, std::span<const uint8_t> exchange_hash,
                                               std::span<const uint8_t> session_id) {
  struct Direction {
    const std::string* cipher;
    const std::string* mac;
    char iv, key, integrity;
  };
  auto make = [&](const Direction& d) -> key::Result<DirectionKeys> {
    const CipherInfo* cipher = find_cipher(*d.cipher);
    if (cipher == nullptr) return Error(Errc::kUnsupported, "unknown cipher " + *d.cipher);
    const MacInfo* mac = nullptr;
    if (!d.mac->empty()) {
      mac = find_mac(*d.mac);
      if (mac == nullptr) return Error(Errc::kUnsupported, "unknown MAC " + *d.mac);
    }
    DirectionKeys keys;
    TESSERA_ASSIGN_OR_RETURN(keys.iv, derive_key(digest, k, exchange_hash, d.iv, session_id, cipher->iv_bytes));
    TESSERA_ASSIGN_OR_RETURN(keys.encryption_key,
                             derive_key(digest, k, exchange_hash, d.key, session_id, cipher->key_bytes));
    if (mac != nullptr) {
      TESSERA_ASSIGN_OR_RETURN(keys.mac_key,
                               derive_key(digest, k, exchange_hash, d.integrity, session_id, mac->key_bytes));
    }
    return keys;
  };
  DerivedKeys out;
  TESSERA_ASSIGN_OR_RETURN(out.client_to_server, make({&n.cipher_c2s, &n.mac_c2s, 'A', 'C', 'E'}));
  TESSERA_ASSIGN_OR_RETURN(out.server_to_client, make({&n.cipher_s2c, &n.mac_s2c, 'B', 'D', 'F'}));
  return out;
}

key::Bytes host_key_proof_data(std::span<const uint8_t> session_id, std::span<const uint8_t> blob) {
  key::Writer w;
  w.string(kProveRequest);
  w.string(session_id);
  w.string(blob);
  return w.take();
}

LocalKexAuthority::LocalKexAuthority(ServerKexConfig config, HostKeySigner& keys)
    : config_(std::move(config)), keys_(keys) {
  if (config_.kex.empty()) config_.kex = names_of(supported_kex_methods());
  if (config_.host_key.empty()) config_.host_key = names_of(supported_host_key_algorithms());
  if (config_.ciphers.empty()) config_.ciphers = names_of(supported_ciphers());
  if (config_.macs.empty()) config_.macs = names_of(supported_macs());
  // Only what we can do: no group exchange (no moduli to choose from), only
  // host key algorithms we hold a key for, in the signer's order.
  std::erase_if(config_.kex, [](const std::string& n) {
    const KexMethod* m = find_kex_method(n);
    return m == nullptr || m->family == KexFamily::kGroupExchange;
  });
  const std::vector<std::string> mine = keys_.algorithms();
  std::erase_if(config_.host_key, [&](const std::string& n) {
    return find_host_key_algorithm(n) == nullptr || std::find(mine.begin(), mine.end(), n) == mine.end();
  });
  std::erase_if(config_.ciphers, [](const std::string& n) { return find_cipher(n) == nullptr; });
  std::erase_if(config_.macs, [](const std::string& n) { return find_mac(n) == nullptr; });
}

key::Result<key::Bytes> LocalKexAuthority::server_kexinit() {
  if (config_.host_key.empty()) return Error(Errc::kUnsupported, "no host key to offer");
  KexInit ours;
  if (RAND_bytes(ours.cookie.data(), static_cast<int>(ours.cookie.size())) != 1) {
    return Error(Errc::kCrypto, "no random bytes for the KEXINIT cookie");
  }
  ours.kex = config_.kex;
  if (exchanges_ == 0) {
    // Pseudo-algorithms only in the first KEXINIT (OpenSSH ignores them later).
    ours.kex.emplace_back(kExtInfoServer);
    ours.kex.emplace_back(kStrictKexServer);
  }
  ours.host_key = config_.host_key;
  ours.cipher_c2s = ours.cipher_s2c = config_.ciphers;
  ours.mac_c2s = ours.mac_s2c = config_.macs;
  ours.compression_c2s = ours.compression_s2c = {"none"};
  pending_kexinit_ = ours.serialize();
  return *pending_kexinit_;
}

key::Result<KexAnswer> LocalKexAuthority::answer(std::string_view client_version,
                                                 std::span<const uint8_t> client_kexinit,
                                                 std::span<const uint8_t> kex_message) {
  if (!pending_kexinit_) return Error(Errc::kInvalidArgument, "no key exchange was started");
  const key::Bytes ours_payload = std::move(*pending_kexinit_);
  pending_kexinit_.reset();
  // The client's identification is part of every exchange's hash; it cannot
  // change after the first.
  if (exchanges_ == 0) {
    if (client_version.size() > kMaxVersionLineBytes) {
      return Error(Errc::kMalformed, "client identification is too long");
    }
    client_version_ = std::string(client_version);
  } else if (client_version != client_version_) {
    return Error(Errc::kInvalidArgument, "client identification changed after the first key exchange");
  }

  TESSERA_ASSIGN_OR_RETURN(KexInit peers, KexInit::parse(client_kexinit));
  TESSERA_ASSIGN_OR_RETURN(KexInit ours, KexInit::parse(ours_payload));
  TESSERA_ASSIGN_OR_RETURN(Negotiated negotiated, negotiate(peers, ours, is_aead_cipher, false));
  const KexMethod* method = find_kex_method(negotiated.kex);
  const HostKeyAlgorithm* host_algorithm = find_host_key_algorithm(negotiated.host_key);
  if (method == nullptr || host_algorithm == nullptr || method->family != KexFamily::kSinglePass) {
    return Error(Errc::kUnsupported, "negotiated a method this server does not run");
  }

  key::Reader in(kex_message);
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  if (type != msg::kKexEcdhInit) {
    return Error(Errc::kMalformed, "expected a key exchange init message, got message " + std::to_string(type));
  }
  const std::span<const uint8_t> client_public = in.rest();
  TESSERA_ASSIGN_OR_RETURN(KexServerShare share, method->server_respond(in));
  if (!in.expect_end().ok()) return Error(Errc::kMalformed, "trailing data in key exchange init");

  const key::Bytes host_key_blob = keys_.host_key_blob(negotiated.host_key);
  KexHasher h(method->digest);
  h.string(client_version_);
  h.string(kOurVersion);
  h.string(client_kexinit);
  h.string(ours_payload);
  h.string(host_key_blob);
  h.raw(client_public);
  h.raw(share.public_field);
  h.raw(share.shared_secret.reveal());
  TESSERA_ASSIGN_OR_RETURN(key::Bytes exchange_hash, h.finish());
  TESSERA_ASSIGN_OR_RETURN(key::Bytes signature, keys_.sign(negotiated.host_key, exchange_hash));

  if (exchanges_ == 0) session_id_ = exchange_hash;
  TESSERA_ASSIGN_OR_RETURN(DerivedKeys keys, derive_direction_keys(method->digest, negotiated,
                                                                    share.shared_secret.reveal(), exchange_hash,
                                                                    session_id_));
  ++exchanges_;

  key::Writer reply;
  reply.u8(msg::kKexEcdhReply);
  reply.string(host_key_blob);
  reply.bytes(share.public_field);
  reply.string(signature);
  return KexAnswer{.reply = reply.take(),
                   .negotiated = std::move(negotiated),
                   .exchange_hash = std::move(exchange_hash),
                   .session_id = session_id_,
                   .client_to_server = std::move(keys.client_to_server),
                   .server_to_client = std::move(keys.server_to_client)};
}

key::Result<std::vector<key::Bytes>> LocalKexAuthority::prove_host_keys(std::span<const key::Bytes> blobs) {
  if (session_id_.empty()) return Error(Errc::kInvalidArgument, "no key exchange has finished");
  const std::vector<std::string> algorithms = keys_.algorithms();
  auto have = [&](std::string_view name) {
    return std::find(algorithms.begin(), algorithms.end(), name) != algorithms.end();
  };
  std::vector<key::Bytes> out;
  for (const key::Bytes& blob : blobs) {
    TESSERA_ASSIGN_OR_RETURN(key::PublicKey pub, key::PublicKey::from_blob(blob));
    std::string algorithm(pub.ssh_name());
    if (pub.type() == key::KeyType::kRsa) algorithm = have("rsa-sha2-512") ? "rsa-sha2-512" : "rsa-sha2-256";
    if (!have(algorithm) || keys_.host_key_blob(algorithm) != blob) {
      return Error(Errc::kInvalidArgument, "hostkeys-prove-00: " + algorithm + " key is not one of this server's");
    }
    TESSERA_ASSIGN_OR_RETURN(key::Bytes signature, keys_.sign(algorithm, host_key_proof_data(session_id_, blob)));
    out.push_back(std::move(signature));
  }
  return out;
}

}  // namespace tessera::ssh::transport
