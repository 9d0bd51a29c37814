#include "transport/kexinit.h"

#include <algorithm>

#include "transport/messages.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;

namespace {

key::Status check_names(const std::vector<std::string>& names, std::string_view what, bool may_be_empty) {
  if (names.empty() && !may_be_empty) return Error(Errc::kMalformed, "KEXINIT: empty " + std::string(what) + " list");
  for (const std::string& name : names) {
    if (name.empty()) return Error(Errc::kMalformed, "KEXINIT: empty name in the " + std::string(what) + " list");
    for (const char c : name) {
      if (c <= ' ' || c > '~') {
        return Error(Errc::kMalformed, "KEXINIT: unprintable character in the " + std::string(what) + " list");
      }
    }
  }
  return key::ok_status();
}

bool is_pseudo(std::string_view name) {
  return name == kStrictKexClient || name == kStrictKexServer || name == kExtInfoClient || name == kExtInfoServer;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (is_pseudo(n)) continue;
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

key::Result<std::string> pick(const std::vector<std::string>& client, const std::vector<std::string>& server,
                              std::string_view what, bool we_are_client) {
  for (const std::string& c : client) {
    if (is_pseudo(c)) continue;
    if (std::find(server.begin(), server.end(), c) != server.end()) return c;
  }
  const auto& theirs = we_are_client ? server : client;
  const auto& ours = we_are_client ? client : server;
  return Error(Errc::kUnsupported, "no matching " + std::string(what) + " found. Their offer: " + join(theirs) +
                                       "; ours: " + join(ours));
}

}  // namespace

key::Result<KexInit> KexInit::parse(std::span<const uint8_t> payload) {
  key::Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(const uint8_t type, in.u8());
  if (type != msg::kKexInit) return Error(Errc::kMalformed, "not a KEXINIT message");
  KexInit k;
  TESSERA_ASSIGN_OR_RETURN(auto cookie, in.bytes(16));
  std::copy(cookie.begin(), cookie.end(), k.cookie.begin());
  struct Field {
    std::vector<std::string>* list;
    std::string_view what;
    bool may_be_empty;
  };
  const Field fields[] = {
      {&k.kex, "key exchange", false},
      {&k.host_key, "host key", false},
      {&k.cipher_c2s, "cipher (client to server)", false},
      {&k.cipher_s2c, "cipher (server to client)", false},
      {&k.mac_c2s, "MAC (client to server)", true},  // may be empty when every cipher is AEAD
      {&k.mac_s2c, "MAC (server to client)", true},
      {&k.compression_c2s, "compression (client to server)", false},
      {&k.compression_s2c, "compression (server to client)", false},
      {&k.language_c2s, "language (client to server)", true},
      {&k.language_s2c, "language (server to client)", true},
  };
  for (const Field& f : fields) {
    auto list = in.name_list();
    if (!list.ok()) return list.error().with_context("KEXINIT " + std::string(f.what) + " list");
    *f.list = std::move(*list);
    TESSERA_TRY(check_names(*f.list, f.what, f.may_be_empty));
  }
  TESSERA_ASSIGN_OR_RETURN(k.first_kex_follows, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(const uint32_t reserved, in.u32());
  (void)reserved;  // "reserved for future extension": ignored, as RFC 4253 asks
  TESSERA_TRY(in.expect_end());
  return k;
}

key::Bytes KexInit::serialize() const {
  key::Writer out;
  out.u8(msg::kKexInit);
  out.bytes(cookie);
  for (const auto* list : {&kex, &host_key, &cipher_c2s, &cipher_s2c, &mac_c2s, &mac_s2c, &compression_c2s,
                           &compression_s2c, &language_c2s, &language_s2c}) {
    out.name_list(*list);
  }
  out.boolean(first_kex_follows);
  out.u32(0);
  return out.take();
}

bool KexInit::offers_kex(std::string_view name) const {
  return std::find(kex.begin(), kex.end(), name) != kex.end();
}

key::Result<Negotiated> negotiate(const KexInit& client, const KexInit& server,
                                  bool (*is_aead)(std::string_view cipher), bool we_are_client) {
  Negotiated n;
  const auto pick = [we_are_client](const std::vector<std::string>& c, const std::vector<std::string>& s,
                                    std::string_view what) { return transport::pick(c, s, what, we_are_client); };
  TESSERA_ASSIGN_OR_RETURN(n.kex, pick(client.kex, server.kex, "key exchange method"));
  TESSERA_ASSIGN_OR_RETURN(n.host_key, pick(client.host_key, server.host_key, "host key type"));
  TESSERA_ASSIGN_OR_RETURN(n.cipher_c2s, pick(client.cipher_c2s, server.cipher_c2s, "cipher"));
  TESSERA_ASSIGN_OR_RETURN(n.cipher_s2c, pick(client.cipher_s2c, server.cipher_s2c, "cipher"));
  if (!is_aead(n.cipher_c2s)) {
    TESSERA_ASSIGN_OR_RETURN(n.mac_c2s, pick(client.mac_c2s, server.mac_c2s, "MAC"));
  }
  if (!is_aead(n.cipher_s2c)) {
    TESSERA_ASSIGN_OR_RETURN(n.mac_s2c, pick(client.mac_s2c, server.mac_s2c, "MAC"));
  }
  TESSERA_ASSIGN_OR_RETURN(n.compression_c2s,
                           pick(client.compression_c2s, server.compression_c2s, "compression method"));
  TESSERA_ASSIGN_OR_RETURN(n.compression_s2c,
                           pick(client.compression_s2c, server.compression_s2c, "compression method"));
  // A guess is right when both sides' first choices of kex and host key
  // algorithm are the negotiated ones (RFC 4253 section 7).
  const KexInit& guesser = client.first_kex_follows ? client : server;
  if (client.first_kex_follows || server.first_kex_follows) {
    const bool right = !guesser.kex.empty() && guesser.kex.front() == n.kex && !guesser.host_key.empty() &&
                       guesser.host_key.front() == n.host_key;
    n.ignore_guessed_packet = !right;
  }
  return n;
}

}  // namespace tessera::ssh::transport
