#include "transport/kex_authority.h"

#include <openssl/bn.h>
#include <openssl/rand.h>

#include <algorithm>
#include <string>

#include "tessera/key/key.h"
#include "tessera/key/ossl.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_hash.h"
#include "transport/kex_method.h"
#include "transport/messages.h"
#include "transport/version.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

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
  // Only what we can do: group exchange only when it has groups to choose
  // from, only host key algorithms we hold a key for, in the signer's order.
  const bool gex = config_.gex.has_value();
  std::erase_if(config_.kex, [gex](const std::string& n) {
    const KexMethod* m = find_kex_method(n);
    return m == nullptr || (m->family == KexFamily::kGroupExchange && !gex);
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
  pending_gex_.reset();
  return *pending_kexinit_;
}

key::Result<key::Bytes> KexAuthority::gex_group(std::string_view, std::span<const uint8_t>,
                                                std::span<const uint8_t>) {
  return Error(Errc::kUnsupported, "this server does not offer group exchange");
}

key::Status LocalKexAuthority::check_client_version(std::string_view client_version) const {
  // The client's identification is part of every exchange's hash; it cannot
  // change after the first.
  if (exchanges_ == 0) {
    if (client_version.size() > kMaxVersionLineBytes) {
      return Error(Errc::kMalformed, "client identification is too long");
    }
  } else if (client_version != client_version_) {
    return Error(Errc::kInvalidArgument, "client identification changed after the first key exchange");
  }
  return key::ok_status();
}

DhGroup LocalKexAuthority::choose_group(const GexRequest& request) {
  const GexConfig& gex = *config_.gex;
  auto log = [&](bool is_error, const std::string& text) {
    if (gex.log) gex.log(is_error, text);
  };
  auto moduli = read_moduli_file(gex.moduli_file);
  if (!moduli.ok()) {
    log(false, "WARNING: could not open " + gex.moduli_file + " (" + moduli.error().message() +
                   "), using fixed modulus");
    return fallback_dh_group(request.serve_max);
  }
  for (const std::string& skipped : moduli->skipped) log(true, gex.moduli_file + ": " + skipped);
  auto chosen = choose_dh_group(moduli->groups, request.serve_min, request.serve_wanted, request.serve_max);
  if (!chosen) {
    log(false, "WARNING: no suitable primes in " + gex.moduli_file);
    return fallback_dh_group(request.serve_max);
  }
  return std::move(moduli->groups[*chosen]);
}

key::Result<key::Bytes> LocalKexAuthority::gex_group(std::string_view client_version,
                                                     std::span<const uint8_t> client_kexinit,
                                                     std::span<const uint8_t> request) {
  if (!pending_kexinit_) return Error(Errc::kInvalidArgument, "no key exchange was started");
  // A failure ends the exchange: answer() then refuses too.
  auto refuse = [this](Error e) -> key::Result<key::Bytes> {
    pending_kexinit_.reset();
    pending_gex_.reset();
    return e;
  };
  if (pending_gex_) return refuse(Error(Errc::kInvalidArgument, "the group of this exchange was already chosen"));
  if (auto v = check_client_version(client_version); !v.ok()) return refuse(v.error());
  auto peers = KexInit::parse(client_kexinit);
  if (!peers.ok()) return refuse(peers.error());
  auto ours = KexInit::parse(*pending_kexinit_);
  if (!ours.ok()) return refuse(ours.error());
  auto negotiated = negotiate(*peers, *ours, is_aead_cipher, false);
  if (!negotiated.ok()) return refuse(negotiated.error());
  const KexMethod* method = find_kex_method(negotiated->kex);
  if (method == nullptr || method->family != KexFamily::kGroupExchange || !config_.gex) {
    return refuse(Error(Errc::kInvalidArgument, "a group was asked for in an exchange that is not group exchange"));
  }
  auto parsed = parse_gex_request(request);
  if (!parsed.ok()) return refuse(parsed.error());
  DhGroup group = choose_group(*parsed);
  if (group.p.empty()) return refuse(Error(Errc::kCrypto, "no DH group (out of memory)"));

  key::Writer m;
  m.u8(msg::kKexDhGexGroup);
  m.mpint(group.p);
  m.mpint(group.g);
  pending_gex_ = PendingGex{.client_version = std::string(client_version),
                            .client_kexinit = key::Bytes(client_kexinit.begin(), client_kexinit.end()),
                            .request = *parsed,
                            .group = std::move(group)};
  return m.take();
}

key::Result<KexAnswer> LocalKexAuthority::answer(std::string_view client_version,
                                                 std::span<const uint8_t> client_kexinit,
                                                 std::span<const uint8_t> kex_message) {
  if (!pending_kexinit_) return Error(Errc::kInvalidArgument, "no key exchange was started");
  const key::Bytes ours_payload = std::move(*pending_kexinit_);
  pending_kexinit_.reset();
  const std::optional<PendingGex> gex = std::move(pending_gex_);
  pending_gex_.reset();
  TESSERA_TRY(check_client_version(client_version));

  TESSERA_ASSIGN_OR_RETURN(KexInit peers, KexInit::parse(client_kexinit));
  TESSERA_ASSIGN_OR_RETURN(KexInit ours, KexInit::parse(ours_payload));
  TESSERA_ASSIGN_OR_RETURN(Negotiated negotiated, negotiate(peers, ours, is_aead_cipher, false));
  const KexMethod* method = find_kex_method(negotiated.kex);
  const HostKeyAlgorithm* host_algorithm = find_host_key_algorithm(negotiated.host_key);
  if (method == nullptr || host_algorithm == nullptr) {
    return Error(Errc::kUnsupported, "negotiated a method this server does not run");
  }
  const bool group_exchange = method->family == KexFamily::kGroupExchange;
  if (group_exchange && !gex) {
    return Error(Errc::kInvalidArgument, "group exchange init before the group was chosen");
  }
  if (gex && (!group_exchange || gex->client_version != client_version ||
              !std::equal(client_kexinit.begin(), client_kexinit.end(), gex->client_kexinit.begin(),
                          gex->client_kexinit.end()))) {
    return Error(Errc::kInvalidArgument, "the client's KEXINIT changed after the group was chosen");
  }
  if (exchanges_ == 0) client_version_ = std::string(client_version);

  key::Reader in(kex_message);
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  const uint8_t expected = group_exchange ? msg::kKexDhGexInit : msg::kKexEcdhInit;
  if (type != expected) {
    return Error(Errc::kMalformed, "expected a key exchange init message, got message " + std::to_string(type));
  }
  const std::span<const uint8_t> client_public = in.rest();
  KexServerShare share;
  if (group_exchange) {
    // Our half over the group we chose (kept here, never relayed back).
    ossl::BnPtr p(BN_bin2bn(gex->group.p.data(), static_cast<int>(gex->group.p.size()), nullptr));
    ossl::BnPtr g(BN_bin2bn(gex->group.g.data(), static_cast<int>(gex->group.g.size()), nullptr));
    if (!p || !g) return ossl::crypto_error("DH GEX group");
    TESSERA_ASSIGN_OR_RETURN(auto ours_dh, dh_client_start(p.get(), g.get(), kex_need_bytes(negotiated)));
    TESSERA_ASSIGN_OR_RETURN(share.shared_secret, ours_dh->finish(in));
    share.public_field = ours_dh->public_field();
  } else {
    TESSERA_ASSIGN_OR_RETURN(share, method->server_respond(in));
  }
  if (!in.expect_end().ok()) return Error(Errc::kMalformed, "trailing data in key exchange init");

  const key::Bytes host_key_blob = keys_.host_key_blob(negotiated.host_key);
  KexHasher h(method->digest);
  h.string(client_version_);
  h.string(kOurVersion);
  h.string(client_kexinit);
  h.string(ours_payload);
  h.string(host_key_blob);
  if (group_exchange) {
    // The request as the client sent it, and the group as we chose it.
    h.u32(gex->request.min);
    h.u32(gex->request.n);
    h.u32(gex->request.max);
    key::Writer group;
    group.mpint(gex->group.p);
    group.mpint(gex->group.g);
    h.raw(group.data());
  }
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
  reply.u8(group_exchange ? msg::kKexDhGexReply : msg::kKexEcdhReply);
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
