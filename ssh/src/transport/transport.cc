#include "transport/transport.h"

#include <openssl/bn.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "tessera/key/ossl.h"
#include "transport/kex_hash.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

// OpenSSH re-keys at the latest after 2^31 packets in one direction.
constexpr uint64_t kMaxPacketsPerKey = uint64_t{1} << 31;

// RFC 8308 extensions a server announces.
constexpr std::string_view kServerSigAlgs = "server-sig-algs";
constexpr std::string_view kPingExtension = "ping@openssh.com";
// Most extensions accepted in one EXT_INFO.
constexpr uint32_t kMaxExtensions = 64;

template <typename Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.name);
  return out;
}

std::string reason_text(uint32_t reason) {
  switch (static_cast<DisconnectReason>(reason)) {
    case DisconnectReason::kHostNotAllowedToConnect: return "host not allowed to connect";
    case DisconnectReason::kProtocolError: return "protocol error";
    case DisconnectReason::kKeyExchangeFailed: return "key exchange failed";
    case DisconnectReason::kMacError: return "MAC error";
    case DisconnectReason::kServiceNotAvailable: return "service not available";
    case DisconnectReason::kProtocolVersionNotSupported: return "protocol version not supported";
    case DisconnectReason::kHostKeyNotVerifiable: return "host key not verifiable";
    case DisconnectReason::kConnectionLost: return "connection lost";
    case DisconnectReason::kByApplication: return "disconnected by application";
    case DisconnectReason::kTooManyConnections: return "too many connections";
    case DisconnectReason::kAuthCancelledByUser: return "authentication cancelled by user";
    case DisconnectReason::kNoMoreAuthMethodsAvailable: return "no more authentication methods available";
    case DisconnectReason::kIllegalUserName: return "illegal user name";
    default: return "reason " + std::to_string(reason);
  }
}

// Printable text from the peer, for messages and logs: control characters
// become '?' so that a peer cannot drive the terminal.
std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(std::min<size_t>(text.size(), 1024));
  for (const char c : text.substr(0, 1024)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && c != '\t') || u == 0x7f ? '?' : c);
  }
  return out;
}

}  // namespace

std::vector<std::string> default_kex_names() { return names_of(supported_kex_methods()); }
std::vector<std::string> default_host_key_names() { return names_of(supported_host_key_algorithms()); }
std::vector<std::string> default_cipher_names() { return names_of(supported_ciphers()); }
std::vector<std::string> default_mac_names() { return names_of(supported_macs()); }

struct Transport::Kex {
  enum class Step : uint8_t {
    kAwaitKexInit,     // our KEXINIT is out, the peer's has not come
    kAwaitGexGroup,    // client: GEX_REQUEST sent
    kAwaitReply,       // client: our public value sent
    kAwaitGexRequest,  // server, group exchange: waiting for the client's request
    kAwaitInit,        // server: waiting for the client's public value
    kAwaitNewKeys,     // our NEWKEYS sent
  };
  Step step = Step::kAwaitKexInit;
  KexInit ours;
  key::Bytes our_payload;
  KexInit peers;
  key::Bytes peer_payload;
  Negotiated negotiated;
  const KexMethod* method = nullptr;
  const HostKeyAlgorithm* host_algorithm = nullptr;
  size_t need_bytes = 0;
  bool ignore_next = false;  // the peer's wrong guess is on its way
  std::unique_ptr<KexClientShare> share;
  // Group exchange: what was asked for and what the server chose.
  uint32_t gex_min = 0, gex_n = 0, gex_max = 0;
  key::Bytes gex_p, gex_g;  // mpint magnitudes
};

Transport::Transport(TransportConfig config, TransportListener& listener, HostKeySigner* signer)
    : config_(std::move(config)), listener_(listener), version_(config_.is_client) {
  if (config_.kex.empty()) config_.kex = default_kex_names();
  if (config_.host_key.empty()) config_.host_key = default_host_key_names();
  if (config_.ciphers.empty()) config_.ciphers = default_cipher_names();
  if (config_.macs.empty()) config_.macs = default_mac_names();
  if (!config_.is_client) {
    if (signer == nullptr) std::abort();  // the embedding code's mistake
    own_authority_ = std::make_unique<LocalKexAuthority>(
        ServerKexConfig{.kex = config_.kex, .host_key = config_.host_key, .ciphers = config_.ciphers,
                        .macs = config_.macs},
        *signer);
    authority_ = own_authority_.get();
  }
}

Transport::Transport(TransportConfig config, TransportListener& listener, KexAuthority& authority)
    : config_(std::move(config)), listener_(listener), authority_(&authority), version_(false) {
  config_.is_client = false;
}

Transport::~Transport() = default;

void Transport::start(Clock::time_point now) {
  now_ = now;
  last_kex_time_ = now;
  const std::string line = std::string(kOurVersion) + "\r\n";
  out_.append(key::as_bytes(line));
  start_kex();
}

void Transport::start_kex() {
  if (kex_ || closed_) return;
  kex_ = std::make_unique<Kex>();
  Kex& k = *kex_;
  if (!config_.is_client) {
    // The authority writes a server's KEXINIT: it hashes exactly what it wrote.
    auto ours = authority_->server_kexinit();
    auto parsed = ours.ok() ? KexInit::parse(*ours) : key::Result<KexInit>(ours.error());
    if (!parsed.ok()) {
      (void)fail(DisconnectReason::kKeyExchangeFailed, parsed.error());
      return;
    }
    k.ours = std::move(*parsed);
    k.our_payload = std::move(*ours);
    send_now(k.our_payload);
    return;
  }
  if (RAND_bytes(k.ours.cookie.data(), static_cast<int>(k.ours.cookie.size())) != 1) std::abort();
  k.ours.kex = config_.kex;
  if (kex_done_count_ == 0) {
    // Pseudo-algorithms only in the first KEXINIT: ext-info and strict kex
    // (OpenSSH ignores them in later ones).
    k.ours.kex.emplace_back(kExtInfoClient);
    k.ours.kex.emplace_back(kStrictKexClient);
  }
  k.ours.host_key = config_.host_key;
  k.ours.cipher_c2s = k.ours.cipher_s2c = config_.ciphers;
  k.ours.mac_c2s = k.ours.mac_s2c = config_.macs;
  k.ours.compression_c2s = k.ours.compression_s2c = {"none"};
  k.our_payload = k.ours.serialize();
  send_now(k.our_payload);
}

void Transport::send_now(std::span<const uint8_t> payload) { writer_.write(payload, out_); }

void Transport::send(std::span<const uint8_t> head, std::span<const uint8_t> body) {
  if (closed_) return;
  if (kex_ && kex_->step != Kex::Step::kAwaitNewKeys) {
    key::Bytes& held = held_.emplace_back();
    held.reserve(head.size() + body.size());
    held.insert(held.end(), head.begin(), head.end());
    held.insert(held.end(), body.begin(), body.end());
    held_bytes_ += held.size();
    return;
  }
  writer_.write(head, body, out_);
  if (writer_.count().blocks > send_block_limit_ || writer_.count().packets > kMaxPacketsPerKey) {
    if (ready() && !kex_) start_kex();
  }
}

void Transport::send_unimplemented(uint32_t seq) {
  key::Writer m;
  m.u8(msg::kUnimplemented);
  m.u32(seq);
  send(m.data());
}

void Transport::send_ignore(std::span<const uint8_t> data) {
  key::Writer m;
  m.u8(msg::kIgnore);
  m.string(data);
  send(m.data());
}

void Transport::flush_held() {
  while (!held_.empty() && !closed_) {
    key::Bytes payload = std::move(held_.front());
    held_.pop_front();
    held_bytes_ -= payload.size();
    send_now(payload);
  }
}

void Transport::disconnect(DisconnectReason reason, std::string_view description) {
  if (closed_) return;
  key::Writer m;
  m.u8(msg::kDisconnect);
  m.u32(static_cast<uint32_t>(reason));
  m.string(description);
  m.string("");
  send_now(m.data());
  closed_ = true;
  held_.clear();
  held_bytes_ = 0;
}

void Transport::request_rekey() {
  if (ready() && !kex_ && !closed_) start_kex();
}

key::Status Transport::fail(DisconnectReason reason, key::Error error) {
  if (!closed_) disconnect(reason, error.message());
  return error;
}

uint64_t Transport::rekey_block_limit(size_t block_bytes) const {
  // OpenSSH's per-cipher default: 2^(2 * block bits / 8) blocks for 16-byte
  // blocks (64 GiB), 1 GiB worth for 8-byte ones; RekeyLimit only lowers it.
  uint64_t blocks = block_bytes >= 16 ? (uint64_t{1} << (block_bytes * 2)) : (uint64_t{1} << 30) / block_bytes;
  if (config_.rekey_bytes != 0) blocks = std::min<uint64_t>(blocks, config_.rekey_bytes / block_bytes);
  return blocks;
}

std::optional<Clock::time_point> Transport::next_deadline() const {
  if (config_.rekey_interval.count() == 0 || !ready() || kex_) return std::nullopt;
  return last_kex_time_ + config_.rekey_interval;
}

key::Status Transport::tick(Clock::time_point now) {
  now_ = now;
  return check_rekey_due(now);
}

key::Status Transport::check_rekey_due(Clock::time_point now) {
  if (closed_ || !ready() || kex_) return key::ok_status();
  const bool by_time = config_.rekey_interval.count() != 0 && now >= last_kex_time_ + config_.rekey_interval;
  const bool by_volume = writer_.count().blocks > send_block_limit_ ||
                         reader_.count().blocks > receive_block_limit_ ||
                         writer_.count().packets > kMaxPacketsPerKey || reader_.count().packets > kMaxPacketsPerKey;
  if (by_time || by_volume) start_kex();
  return key::ok_status();
}

key::Status Transport::receive(std::span<const uint8_t> bytes, Clock::time_point now) {
  now_ = now;
  if (closed_) return Error(Errc::kIo, "connection is closed");
  if (!version_.done()) {
    auto used = version_.feed(bytes);
    if (!used.ok()) {
      // Before packets there is no DISCONNECT to send; OpenSSH writes a
      // line of text the peer may show.
      closed_ = true;
      static constexpr std::string_view kMismatch = "Invalid SSH identification string.\r\n";
      out_.append(key::as_bytes(kMismatch));
      return used.error();
    }
    bytes = bytes.subspan(*used);
    if (!version_.done()) return key::ok_status();
  }
  reader_.feed(bytes);
  while (!closed_ && !paused_) {
    auto packet = reader_.read();
    if (!packet.ok()) {
      const bool mac = packet.error().code() == Errc::kBadSignature;
      return fail(mac ? DisconnectReason::kMacError : DisconnectReason::kProtocolError,
                  mac ? Error(Errc::kBadSignature, "corrupted MAC on input") : packet.error());
    }
    if (!packet->has_value()) break;
    const Packet p = **packet;
    TESSERA_TRY(handle_packet(p.seq, p.payload));
  }
  if (closed_) return key::ok_status();
  return check_rekey_due(now);
}

key::Status Transport::handle_packet(uint32_t seq, std::span<const uint8_t> payload) {
  const uint8_t type = payload[0];
  const bool first = first_packet_;
  first_packet_ = false;
  const bool initial_kex = kex_done_count_ == 0;

  // A DISCONNECT ends the connection, so it cannot shift anything: it is
  // heard even here, so that the reason reaches the person.
  if (initial_kex && strict_ && type != msg::kKexInit && type != msg::kNewKeys && type != msg::kDisconnect &&
      !(type >= 30 && type <= 49)) {
    return fail(DisconnectReason::kProtocolError,
                Error(Errc::kMalformed, "strict key exchange violation: message " + std::to_string(type) +
                                            " during the initial key exchange"));
  }
  if (initial_kex && strict_ && (reader_.wrapped() || writer_.wrapped())) {
    return fail(DisconnectReason::kProtocolError,
                Error(Errc::kMalformed, "sequence number wrapped during the initial key exchange"));
  }
  if (type == msg::kKexInit) {
    if (kex_done_count_ == 0 && !first) received_before_kexinit_ = true;
    return on_peer_kexinit(payload);
  }
  if (type == msg::kNewKeys || (type >= 30 && type <= 49)) return handle_kex_message(type, payload);
  if (type < msg::kKexInit || type == msg::kPing || type == msg::kPong) {
    if (type != msg::kServiceRequest && type != msg::kServiceAccept) {
      return handle_transport_message(type, seq, payload);
    }
  } else if (type < 50) {
    // 22-29: algorithm negotiation messages nobody defined.
    send_unimplemented(seq);
    return key::ok_status();
  }
  // A message for the layers above: not before the first exchange ends, and
  // not while the peer is in the middle of one (RFC 4253 section 7.1).
  if (!ready()) {
    return fail(DisconnectReason::kProtocolError,
                Error(Errc::kMalformed, "message " + std::to_string(type) + " before the key exchange finished"));
  }
  if (kex_ && kex_->step != Kex::Step::kAwaitKexInit) {
    return fail(DisconnectReason::kProtocolError,
                Error(Errc::kMalformed, "message " + std::to_string(type) + " in the middle of a key exchange"));
  }
  listener_.on_message(seq, payload);
  return key::ok_status();
}

key::Status Transport::handle_transport_message(uint8_t type, uint32_t seq, std::span<const uint8_t> payload) {
  key::Reader in(payload.subspan(1));
  switch (type) {
    case msg::kDisconnect: {
      auto reason = in.u32();
      auto description = in.string();
      closed_ = true;
      held_.clear();
      held_bytes_ = 0;
      if (!reason.ok() || !description.ok()) return Error(Errc::kIo, "peer disconnected (malformed DISCONNECT)");
      peer_disconnect_reason_ = static_cast<DisconnectReason>(*reason);
      peer_disconnect_description_ = sanitize(key::as_text(*description));
      return Error(Errc::kIo, "Received disconnect: " + std::to_string(*reason) + ": " + peer_disconnect_description_ +
                                  " (" + reason_text(*reason) + ")");
    }
    case msg::kIgnore:
    case msg::kUnimplemented:
    case msg::kPong:
      return key::ok_status();
    case msg::kDebug: {
      auto always = in.boolean();
      auto message = in.string();
      if (always.ok() && message.ok()) listener_.on_debug(sanitize(key::as_text(*message)), *always);
      return key::ok_status();
    }
    case msg::kExtInfo:
      return on_ext_info(payload);
    case msg::kPing: {
      auto data = in.string();
      if (!data.ok() || !ready()) {
        return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed or early PING"));
      }
      key::Writer pong;
      pong.u8(msg::kPong);
      pong.string(*data);
      send(pong.data());
      return key::ok_status();
    }
    default:
      send_unimplemented(seq);
      return key::ok_status();
  }
}

key::Status Transport::on_ext_info(std::span<const uint8_t> payload) {
  // RFC 8308: only from the side that was asked (the server, for a client
  // that sent ext-info-c), and only once keys are in use.
  if (kex_done_count_ == 0 && !(kex_ && kex_->step == Kex::Step::kAwaitNewKeys)) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "EXT_INFO before NEWKEYS"));
  }
  key::Reader in(payload.subspan(1));
  auto count = in.u32();
  if (!count.ok() || *count > kMaxExtensions) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed EXT_INFO"));
  }
  for (uint32_t i = 0; i < *count; ++i) {
    auto name = in.text();
    auto value = in.child();
    if (!name.ok() || !value.ok()) {
      return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed EXT_INFO entry"));
    }
    if (*name == kServerSigAlgs && config_.is_client) {
      // A name-list as the value's bytes (not a string inside the string).
      std::vector<std::string> algs;
      std::string_view text = key::as_text(value->rest());
      while (!text.empty()) {
        const size_t comma = text.find(',');
        algs.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
      }
      server_sig_algs_ = std::move(algs);
    } else if (*name == kPingExtension) {
      peer_ping_ = true;
    }
  }
  if (!in.expect_end().ok()) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "trailing data in EXT_INFO"));
  }
  return key::ok_status();
}

void Transport::send_ext_info() {
  key::Writer m;
  m.u8(msg::kExtInfo);
  m.u32(2);
  m.string(kServerSigAlgs);
  std::string algs;
  for (const char* name : {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                           "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "rsa-sha2-512",
                           "rsa-sha2-256"}) {
    if (!algs.empty()) algs += ',';
    algs += name;
  }
  m.string(algs);
  m.string(kPingExtension);
  m.string("0");
  send_now(m.data());
}

key::Status Transport::on_peer_kexinit(std::span<const uint8_t> payload) {
  if (kex_ && kex_->step != Kex::Step::kAwaitKexInit) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "KEXINIT during a key exchange"));
  }
  auto parsed = KexInit::parse(payload);
  if (!parsed.ok()) return fail(DisconnectReason::kProtocolError, parsed.error());
  if (!kex_) start_kex();  // the peer starts a re-key: answer with ours
  if (closed_) return Error(Errc::kIo, "connection is closed");
  Kex& k = *kex_;
  k.peers = std::move(*parsed);
  k.peer_payload.assign(payload.begin(), payload.end());

  const bool client = config_.is_client;
  if (kex_done_count_ == 0) {
    strict_ = k.peers.offers_kex(client ? kStrictKexServer : kStrictKexClient);
    peer_ext_info_ = k.peers.offers_kex(client ? kExtInfoServer : kExtInfoClient);
    if (strict_ && received_before_kexinit_) {
      return fail(DisconnectReason::kProtocolError,
                  Error(Errc::kMalformed, "strict key exchange violation: KEXINIT was not the first packet"));
    }
  }
  const KexInit& c = client ? k.ours : k.peers;
  const KexInit& s = client ? k.peers : k.ours;
  auto negotiated = negotiate(c, s, is_aead_cipher, client);
  if (!negotiated.ok()) return fail(DisconnectReason::kKeyExchangeFailed, negotiated.error());
  k.negotiated = std::move(*negotiated);
  k.ignore_next = k.negotiated.ignore_guessed_packet && k.peers.first_kex_follows;
  k.method = find_kex_method(k.negotiated.kex);
  k.host_algorithm = find_host_key_algorithm(k.negotiated.host_key);
  if (k.method == nullptr || k.host_algorithm == nullptr) std::abort();  // we offered only what we have

  k.need_bytes = kex_need_bytes(k.negotiated);

  if (!client) {
    k.step = k.method->family == KexFamily::kGroupExchange ? Kex::Step::kAwaitGexRequest : Kex::Step::kAwaitInit;
    return key::ok_status();
  }
  if (k.method->family == KexFamily::kGroupExchange) {
    k.gex_min = config_.dh_gex_min_bits;
    k.gex_max = config_.dh_gex_max_bits;
    k.gex_n = std::clamp(dh_preferred_bits(k.need_bytes), k.gex_min, k.gex_max);
    key::Writer m;
    m.u8(msg::kKexDhGexRequest);
    m.u32(k.gex_min);
    m.u32(k.gex_n);
    m.u32(k.gex_max);
    send_now(m.data());
    k.step = Kex::Step::kAwaitGexGroup;
    return key::ok_status();
  }
  auto share = k.method->client_start(k.need_bytes);
  if (!share.ok()) return fail(DisconnectReason::kKeyExchangeFailed, share.error());
  k.share = std::move(*share);
  key::Writer m;
  m.u8(msg::kKexEcdhInit);
  m.bytes(k.share->public_field());
  send_now(m.data());
  k.step = Kex::Step::kAwaitReply;
  return key::ok_status();
}

key::Status Transport::handle_kex_message(uint8_t type, std::span<const uint8_t> payload) {
  if (!kex_ || kex_->step == Kex::Step::kAwaitKexInit) {
    return fail(DisconnectReason::kProtocolError,
                Error(Errc::kMalformed, "key exchange message " + std::to_string(type) + " outside a key exchange"));
  }
  Kex& k = *kex_;
  if (k.ignore_next && type != msg::kNewKeys) {
    k.ignore_next = false;  // the peer's wrongly guessed first packet
    return key::ok_status();
  }
  if (type == msg::kNewKeys) {
    if (k.step != Kex::Step::kAwaitNewKeys || payload.size() != 1) {
      return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "unexpected NEWKEYS"));
    }
    return on_newkeys();
  }
  const bool gex = k.method->family == KexFamily::kGroupExchange;
  if (config_.is_client) {
    if (k.step == Kex::Step::kAwaitGexGroup && type == msg::kKexDhGexGroup) return client_on_gex_group(payload);
    if (k.step == Kex::Step::kAwaitReply && type == (gex ? msg::kKexDhGexReply : msg::kKexEcdhReply)) {
      return client_on_reply(payload);
    }
  } else if (k.step == Kex::Step::kAwaitGexRequest && type == msg::kKexDhGexRequest) {
    return server_on_gex_request(payload);
  } else if (k.step == Kex::Step::kAwaitInit && type == (gex ? msg::kKexDhGexInit : msg::kKexEcdhInit)) {
    return server_on_init(payload);
  }
  return fail(DisconnectReason::kProtocolError,
              Error(Errc::kMalformed, "unexpected key exchange message " + std::to_string(type)));
}

key::Status Transport::client_on_gex_group(std::span<const uint8_t> payload) {
  Kex& k = *kex_;
  key::Reader in(payload.subspan(1));
  auto p = in.mpint();
  auto g = in.mpint();
  if (!p.ok() || !g.ok() || !in.expect_end().ok()) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed DH GEX group"));
  }
  ossl::BnPtr bp(BN_bin2bn(p->data(), static_cast<int>(p->size()), nullptr));
  ossl::BnPtr bg(BN_bin2bn(g->data(), static_cast<int>(g->size()), nullptr));
  if (!bp || !bg) return fail(DisconnectReason::kKeyExchangeFailed, ossl::crypto_error("DH GEX group"));
  auto checked = dh_check_group(bp.get(), bg.get(), k.gex_min, k.gex_max);
  if (!checked.ok()) return fail(DisconnectReason::kKeyExchangeFailed, checked.error());
  k.gex_p.assign(p->begin(), p->end());
  k.gex_g.assign(g->begin(), g->end());
  auto share = dh_client_start(bp.get(), bg.get(), k.need_bytes);
  if (!share.ok()) return fail(DisconnectReason::kKeyExchangeFailed, share.error());
  k.share = std::move(*share);
  key::Writer m;
  m.u8(msg::kKexDhGexInit);
  m.bytes(k.share->public_field());
  send_now(m.data());
  k.step = Kex::Step::kAwaitReply;
  return key::ok_status();
}

key::Status Transport::client_on_reply(std::span<const uint8_t> payload) {
  Kex& k = *kex_;
  key::Reader in(payload.subspan(1));
  auto host_key_blob = in.string();
  if (!host_key_blob.ok()) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed key exchange reply"));
  }
  const std::span<const uint8_t> before_public = in.rest();
  auto shared = k.share->finish(in);
  if (!shared.ok()) return fail(DisconnectReason::kKeyExchangeFailed, shared.error());
  const std::span<const uint8_t> server_public = before_public.first(before_public.size() - in.rest().size());
  auto signature = in.string();
  if (!signature.ok() || !in.expect_end().ok()) {
    return fail(DisconnectReason::kProtocolError, Error(Errc::kMalformed, "malformed key exchange reply"));
  }
  auto host_key = parse_server_host_key(*k.host_algorithm, *host_key_blob);
  if (!host_key.ok()) return fail(DisconnectReason::kKeyExchangeFailed, host_key.error());

  KexHasher h(k.method->digest);
  h.string(kOurVersion);
  h.string(version_.peer_version());
  h.string(k.our_payload);
  h.string(k.peer_payload);
  h.string(*host_key_blob);
  if (k.method->family == KexFamily::kGroupExchange) {
    h.u32(k.gex_min);
    h.u32(k.gex_n);
    h.u32(k.gex_max);
    key::Writer group;
    group.mpint(k.gex_p);
    group.mpint(k.gex_g);
    h.raw(group.data());
  }
  h.raw(k.share->public_field());
  h.raw(server_public);
  h.raw(shared->reveal());
  auto exchange_hash = h.finish();
  if (!exchange_hash.ok()) return fail(DisconnectReason::kKeyExchangeFailed, exchange_hash.error());

  auto verified = verify_exchange_signature(*k.host_algorithm, host_key->key, *signature, *exchange_hash);
  if (!verified.ok()) return fail(DisconnectReason::kKeyExchangeFailed, verified.error());

  if (kex_done_count_ == 0) {
    auto accepted = listener_.check_host_key(*host_key);
    if (!accepted.ok()) return fail(DisconnectReason::kHostKeyNotVerifiable, accepted.error());
    host_key_ = std::move(*host_key);
    session_signature_.assign(signature->begin(), signature->end());
  } else if (!(host_key->key == host_key_->key)) {
    return fail(DisconnectReason::kHostKeyNotVerifiable,
                Error(Errc::kInvalidKey, "server host key changed during a re-key"));
  }
  if (kex_done_count_ == 0) session_id_ = *exchange_hash;
  auto keys = derive_direction_keys(k.method->digest, k.negotiated, shared->reveal(), *exchange_hash, session_id_);
  if (!keys.ok()) return fail(DisconnectReason::kKeyExchangeFailed, keys.error());
  return install_keys(std::move(keys->client_to_server), std::move(keys->server_to_client));
}

key::Status Transport::server_on_gex_request(std::span<const uint8_t> payload) {
  Kex& k = *kex_;
  // The authority parses and clamps the request, chooses the group and
  // keeps both for the exchange hash.
  auto group = authority_->gex_group(version_.peer_version(), k.peer_payload, payload);
  if (!group.ok()) {
    const bool malformed = group.error().code() == Errc::kMalformed;
    return fail(malformed ? DisconnectReason::kProtocolError : DisconnectReason::kKeyExchangeFailed, group.error());
  }
  send_now(*group);
  k.step = Kex::Step::kAwaitInit;
  return key::ok_status();
}

key::Status Transport::server_on_init(std::span<const uint8_t> payload) {
  Kex& k = *kex_;
  auto answer = authority_->answer(version_.peer_version(), k.peer_payload, payload);
  if (!answer.ok()) {
    const bool malformed = answer.error().code() == Errc::kMalformed;
    return fail(malformed ? DisconnectReason::kProtocolError : DisconnectReason::kKeyExchangeFailed, answer.error());
  }
  // The authority negotiated from the same two KEXINITs; a difference means
  // it answered some other exchange.
  const Negotiated& n = answer->negotiated;
  if (n.kex != k.negotiated.kex || n.host_key != k.negotiated.host_key || n.cipher_c2s != k.negotiated.cipher_c2s ||
      n.cipher_s2c != k.negotiated.cipher_s2c || n.mac_c2s != k.negotiated.mac_c2s ||
      n.mac_s2c != k.negotiated.mac_s2c) {
    return fail(DisconnectReason::kKeyExchangeFailed,
                Error(Errc::kInvalidArgument, "the key exchange answer is for other algorithms"));
  }
  send_now(answer->reply);
  session_id_ = std::move(answer->session_id);
  return install_keys(std::move(answer->client_to_server), std::move(answer->server_to_client));
}

key::Status Transport::install_keys(DirectionKeys client_to_server, DirectionKeys server_to_client) {
  Kex& k = *kex_;
  const bool first = kex_done_count_ == 0;
  const bool client = config_.is_client;
  const std::string& out_cipher_name = client ? k.negotiated.cipher_c2s : k.negotiated.cipher_s2c;
  const std::string& out_mac_name = client ? k.negotiated.mac_c2s : k.negotiated.mac_s2c;
  const std::string& in_cipher_name = client ? k.negotiated.cipher_s2c : k.negotiated.cipher_c2s;
  const std::string& in_mac_name = client ? k.negotiated.mac_s2c : k.negotiated.mac_c2s;
  DirectionKeys& out_keys = client ? client_to_server : server_to_client;
  DirectionKeys& in_keys = client ? server_to_client : client_to_server;

  DirectionKeys out_copy = out_keys.clone();
  next_in_keys_ = in_keys.clone();
  auto sealer = make_sealer(*find_cipher(out_cipher_name), out_mac_name.empty() ? nullptr : find_mac(out_mac_name),
                            std::move(out_keys));
  auto opener = make_opener(*find_cipher(in_cipher_name), in_mac_name.empty() ? nullptr : find_mac(in_mac_name),
                            std::move(in_keys));
  if (!sealer.ok()) return fail(DisconnectReason::kKeyExchangeFailed, sealer.error());
  if (!opener.ok()) return fail(DisconnectReason::kKeyExchangeFailed, opener.error());
  next_opener_ = std::move(*opener);

  static constexpr uint8_t kNewKeysPayload[] = {msg::kNewKeys};
  send_now(kNewKeysPayload);
  writer_.set_sealer(std::move(*sealer));
  out_keys_ = std::move(out_copy);
  if (strict_) writer_.reset_sequence();
  send_block_limit_ = rekey_block_limit(writer_.block_bytes());
  k.step = Kex::Step::kAwaitNewKeys;
  // The server's EXT_INFO waits for the client's NEWKEYS (it is still the
  // next packet after ours, as RFC 8308 asks): sent then, it carries the
  // ACK of that NEWKEYS at once, and a client whose Nagle holds its
  // SERVICE_REQUEST behind the NEWKEYS (OpenSSH's ssh, without a tty)
  // no longer waits for our delayed ACK (40 ms a login).
  ext_info_due_ = first && !client && peer_ext_info_;
  flush_held();
  return key::ok_status();
}

key::Status Transport::on_newkeys() {
  reader_.set_opener(std::move(next_opener_));
  in_keys_ = std::move(next_in_keys_);
  if (strict_) reader_.reset_sequence();
  receive_block_limit_ = rekey_block_limit(reader_.block_bytes());
  negotiated_ = kex_->negotiated;
  kex_.reset();
  last_kex_time_ = now_;
  const bool first = kex_done_count_++ == 0;
  if (ext_info_due_) {
    ext_info_due_ = false;
    send_ext_info();
  }
  listener_.on_kex_done(*negotiated_);
  if (first) listener_.on_ready();
  return key::ok_status();
}

namespace {

constexpr std::string_view kStateMagic = "tessera-transport-state-1";

void write_direction(key::Writer& w, uint32_t seq, bool wrapped, const TrafficCount& count,
                     const DirectionKeys& keys) {
  w.u32(seq);
  w.boolean(wrapped);
  w.u64(count.packets);
  w.u64(count.bytes);
  w.u64(count.blocks);
  w.string(keys.iv.reveal());
  w.string(keys.encryption_key.reveal());
  w.string(keys.mac_key.reveal());
}

struct DirectionState {
  uint32_t seq = 0;
  bool wrapped = false;
  TrafficCount count;
  DirectionKeys keys;
};

key::Result<DirectionState> read_direction(key::Reader& in) {
  DirectionState d;
  TESSERA_ASSIGN_OR_RETURN(d.seq, in.u32());
  TESSERA_ASSIGN_OR_RETURN(d.wrapped, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(d.count.packets, in.u64());
  TESSERA_ASSIGN_OR_RETURN(d.count.bytes, in.u64());
  TESSERA_ASSIGN_OR_RETURN(d.count.blocks, in.u64());
  TESSERA_ASSIGN_OR_RETURN(auto iv, in.string());
  TESSERA_ASSIGN_OR_RETURN(auto encryption_key, in.string());
  TESSERA_ASSIGN_OR_RETURN(auto mac_key, in.string());
  d.keys.iv = key::SecretBytes::copy_of(iv);
  d.keys.encryption_key = key::SecretBytes::copy_of(encryption_key);
  d.keys.mac_key = key::SecretBytes::copy_of(mac_key);
  return d;
}

}  // namespace

key::Result<key::SecretBytes> Transport::export_state() const {
  if (config_.is_client) return Error(Errc::kUnsupported, "only a server connection can be handed over");
  if (closed_) return Error(Errc::kIo, "connection is closed");
  if (!ready() || kex_) return Error(Errc::kInvalidArgument, "cannot hand over a connection during a key exchange");
  if (reader_.mid_packet()) return Error(Errc::kInvalidArgument, "cannot hand over a connection mid-packet");
  if (!held_.empty()) return Error(Errc::kInvalidArgument, "messages are waiting for a key exchange");
  const Negotiated& n = *negotiated_;
  key::Writer w;
  w.string(kStateMagic);
  w.string(version_.peer_version());
  w.string(session_id_);
  w.u32(static_cast<uint32_t>(kex_done_count_));
  w.boolean(strict_);
  w.boolean(peer_ext_info_);
  w.boolean(peer_ping_);
  for (const std::string* name : {&n.kex, &n.host_key, &n.cipher_c2s, &n.cipher_s2c, &n.mac_c2s, &n.mac_s2c,
                                   &n.compression_c2s, &n.compression_s2c}) {
    w.string(*name);
  }
  write_direction(w, writer_.next_sequence(), writer_.wrapped(), writer_.count(), out_keys_);
  write_direction(w, reader_.next_sequence(), reader_.wrapped(), reader_.count(), in_keys_);
  w.string(reader_.unread());
  w.string(out_.front());
  return key::SecretBytes::copy_of(w.data());
}

key::Result<std::unique_ptr<Transport>> Transport::import(TransportConfig config, TransportListener& listener,
                                                          KexAuthority& authority, std::span<const uint8_t> state,
                                                          Clock::time_point now) {
  auto bad = [](std::string_view what) {
    return Error(Errc::kMalformed, "connection state: " + std::string(what));
  };
  key::Reader in(state);
  auto magic = in.text();
  if (!magic.ok() || *magic != kStateMagic) return bad("not a tessera transport state");
  auto t = std::unique_ptr<Transport>(new Transport(std::move(config), listener, authority));
  TESSERA_ASSIGN_OR_RETURN(std::string_view peer_version, in.text());
  if (peer_version.empty() || peer_version.size() > kMaxVersionLineBytes) return bad("bad peer identification");
  TESSERA_ASSIGN_OR_RETURN(auto session_id, in.string());
  if (session_id.empty() || session_id.size() > 64) return bad("bad session identifier");
  TESSERA_ASSIGN_OR_RETURN(uint32_t exchanges, in.u32());
  if (exchanges == 0) return bad("no key exchange has finished");
  TESSERA_ASSIGN_OR_RETURN(t->strict_, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(t->peer_ext_info_, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(t->peer_ping_, in.boolean());
  Negotiated n;
  for (std::string* name : {&n.kex, &n.host_key, &n.cipher_c2s, &n.cipher_s2c, &n.mac_c2s, &n.mac_s2c,
                            &n.compression_c2s, &n.compression_s2c}) {
    TESSERA_ASSIGN_OR_RETURN(std::string_view text, in.text());
    *name = std::string(text);
  }
  TESSERA_ASSIGN_OR_RETURN(DirectionState out, read_direction(in));
  TESSERA_ASSIGN_OR_RETURN(DirectionState inbound, read_direction(in));
  TESSERA_ASSIGN_OR_RETURN(auto unread, in.string());
  TESSERA_ASSIGN_OR_RETURN(auto pending, in.string());
  if (!in.expect_end().ok()) return bad("trailing data");

  const CipherInfo* out_cipher = find_cipher(n.cipher_s2c);
  const CipherInfo* in_cipher = find_cipher(n.cipher_c2s);
  if (out_cipher == nullptr || in_cipher == nullptr) return bad("unknown cipher");
  const MacInfo* out_mac = n.mac_s2c.empty() ? nullptr : find_mac(n.mac_s2c);
  const MacInfo* in_mac = n.mac_c2s.empty() ? nullptr : find_mac(n.mac_c2s);
  if ((out_mac == nullptr) != out_cipher->aead || (in_mac == nullptr) != in_cipher->aead) return bad("bad MAC");
  auto install = [&](const CipherInfo& cipher, const MacInfo* mac, DirectionState& d, bool outgoing) -> key::Status {
    t->kex_done_count_ = exchanges;  // (set before the limits below are computed)
    if (outgoing) {
      TESSERA_ASSIGN_OR_RETURN(auto at, advance_keys(cipher, d.keys.clone(), d.count.packets, d.count.blocks));
      TESSERA_ASSIGN_OR_RETURN(auto sealer, make_sealer(cipher, mac, std::move(at)));
      t->writer_.set_sealer(std::move(sealer));
      t->writer_.restore(d.seq, d.wrapped, d.count);
      t->out_keys_ = std::move(d.keys);
      t->send_block_limit_ = t->rekey_block_limit(t->writer_.block_bytes());
    } else {
      TESSERA_ASSIGN_OR_RETURN(auto at, advance_keys(cipher, d.keys.clone(), d.count.packets, d.count.blocks));
      TESSERA_ASSIGN_OR_RETURN(auto opener, make_opener(cipher, mac, std::move(at)));
      t->reader_.set_opener(std::move(opener));
      t->reader_.restore(d.seq, d.wrapped, d.count);
      t->in_keys_ = std::move(d.keys);
      t->receive_block_limit_ = t->rekey_block_limit(t->reader_.block_bytes());
    }
    return key::ok_status();
  };
  TESSERA_TRY(install(*out_cipher, out_mac, out, true));
  TESSERA_TRY(install(*in_cipher, in_mac, inbound, false));
  t->version_.restore(std::string(peer_version));
  t->session_id_.assign(session_id.begin(), session_id.end());
  t->negotiated_ = std::move(n);
  t->first_packet_ = false;
  t->now_ = now;
  t->last_kex_time_ = now;
  t->reader_.feed(unread);
  t->out_.append(pending);
  return t;
}

}  // namespace tessera::ssh::transport

