// The SSH transport layer (RFC 4253) as a state machine that does no I/O:
// bytes from the peer go in through receive(), bytes for the peer come out
// of output(), and what the layers above need (their messages, the server's
// host key to judge) reaches them through a TransportListener. A timer
// tick() drives time-based re-keys.
//
// It runs the version exchange, the binary packet protocol, the key
// exchanges (the first and every re-key, started by either side at any
// moment, while the layers above keep sending: their messages wait in a
// queue during an exchange), strict key exchange (kex-strict-*-v00, the
// Terrapin fix), ext-info (server-sig-algs), ping@openssh.com, and
// disconnects.
//
// Single-threaded. A failure returned from receive() or tick() ends the
// connection: output() may still hold a DISCONNECT worth flushing.
#ifndef TESSERA_SSH_TRANSPORT_TRANSPORT_H_
#define TESSERA_SSH_TRANSPORT_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"
#include "transport/byte_queue.h"
#include "transport/cipher.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_authority.h"
#include "transport/kex_method.h"
#include "transport/kexinit.h"
#include "transport/messages.h"
#include "transport/packet.h"
#include "transport/version.h"

namespace tessera::ssh::transport {

using Clock = std::chrono::steady_clock;

struct TransportConfig {
  bool is_client = true;
  // Our algorithms in preference order; empty: the supported defaults.
  std::vector<std::string> kex;
  std::vector<std::string> host_key;
  std::vector<std::string> ciphers;
  std::vector<std::string> macs;
  // RekeyLimit: re-key after this many bytes in either direction (0: the
  // cipher's own limit, as OpenSSH) or this much time (0: never).
  uint64_t rekey_bytes = 0;
  std::chrono::seconds rekey_interval{0};
  // The group size range a group-exchange client asks for.
  unsigned dh_gex_min_bits = kDhGexMinBits;
  unsigned dh_gex_max_bits = kDhGexMaxBits;
};

class TransportListener {
 public:
  virtual ~TransportListener() = default;
  // Client, first key exchange: the server's host key, whose signature over
  // the exchange has verified. Return an error to refuse it (the transport
  // then disconnects with HOST_KEY_NOT_VERIFIABLE and fails with that
  // error). Re-keys do not ask again: the key must be the same.
  virtual key::Status check_host_key(const ServerHostKey& host_key) = 0;
  // A message for the layers above: SERVICE_REQUEST/ACCEPT and every
  // message number from 50 up. payload is valid during the call.
  virtual void on_message(uint32_t seq, std::span<const uint8_t> payload) = 0;
  // The first key exchange is complete: services may be requested.
  virtual void on_ready() {}
  // SSH_MSG_DEBUG from the peer.
  virtual void on_debug(std::string_view /*message*/, bool /*always_display*/) {}
  // A key exchange (the first or a re-key) finished.
  virtual void on_kex_done(const Negotiated& /*algorithms*/) {}
};

class Transport {
 public:
  // A client, or a server whose host keys are in this process: signer is
  // needed by a server (which then runs its exchanges through a
  // LocalKexAuthority over config's lists) and ignored by a client. Both
  // must outlive the Transport.
  Transport(TransportConfig config, TransportListener& listener, HostKeySigner* signer = nullptr);
  // A server whose key exchanges are answered by `authority` (which writes
  // our KEXINITs: config's algorithm lists are not used). It must outlive
  // the Transport.
  Transport(TransportConfig config, TransportListener& listener, KexAuthority& authority);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Queues our identification line and our first KEXINIT.
  void start(Clock::time_point now);

  // Bytes from the peer. Handles every complete packet among them.
  key::Status receive(std::span<const uint8_t> bytes, Clock::time_point now);
  // Starts a time-based re-key when one is due.
  key::Status tick(Clock::time_point now);
  // When tick() next has something to do (nullopt: nothing planned).
  std::optional<Clock::time_point> next_deadline() const;

  // Bytes to write to the peer; the caller consumes what it wrote.
  ByteQueue& output() { return out_; }

  // Sends a message of the layers above (SERVICE_* or number >= 50). During
  // a key exchange it waits in a queue and goes out after NEWKEYS.
  void send(std::span<const uint8_t> payload) { send(payload, {}); }
  // The same for the payload head || body (channel data: its header, then
  // the data, framed without joining them first).
  void send(std::span<const uint8_t> head, std::span<const uint8_t> body);
  void send_unimplemented(uint32_t seq);
  void send_ignore(std::span<const uint8_t> data);
  // Sends DISCONNECT and closes: receive() refuses everything after.
  void disconnect(DisconnectReason reason, std::string_view description);
  // Starts a re-key now (if none is running).
  void request_rekey();
  // Stops handling received packets after the one being handled: what
  // arrives stays queued, unread, until the state is exported (a server
  // hands its connection from one process to another this way).
  void pause_input() { paused_ = true; }
  bool input_paused() const { return paused_; }

  // The state of a server connection between two packets, with no key
  // exchange running: enough for import() to go on in another process
  // (keys at their current position, sequence numbers, traffic counts, the
  // negotiated algorithms, and bytes received but not yet handled or not
  // yet written). Fails while a key exchange runs or a packet is half read.
  key::Result<key::SecretBytes> export_state() const;
  // A server Transport that continues from export_state()'s bytes, with
  // its exchanges answered by authority. The bytes come from another
  // process: they are checked as untrusted input.
  static key::Result<std::unique_ptr<Transport>> import(TransportConfig config, TransportListener& listener,
                                                        KexAuthority& authority,
                                                        std::span<const uint8_t> state, Clock::time_point now);

  bool ready() const { return kex_done_count_ > 0; }
  bool closed() const { return closed_; }
  bool kex_in_progress() const { return kex_ != nullptr; }
  // Bytes of the layers above that wait for a key exchange to end, plus
  // bytes waiting in output(): for back-pressure.
  size_t pending_bytes() const { return held_bytes_ + out_.size(); }
  size_t key_exchanges() const { return kex_done_count_; }

  const key::Bytes& session_id() const { return session_id_; }
  const std::string& peer_version() const { return version_.peer_version(); }
  const std::vector<std::string>& peer_banner() const { return version_.banner_lines(); }
  const std::optional<Negotiated>& negotiated() const { return negotiated_; }
  bool strict_kex() const { return strict_; }
  // The peer's server-sig-algs extension (RFC 8308), if it sent one.
  const std::optional<std::vector<std::string>>& server_sig_algs() const { return server_sig_algs_; }
  bool peer_supports_ping() const { return peer_ping_; }
  // The server's host key from the first key exchange (client side), and
  // its signature over that exchange's hash (the session id): the proof an
  // agent's session-bind@openssh.com wants.
  const std::optional<ServerHostKey>& server_host_key() const { return host_key_; }
  const key::Bytes& session_signature() const { return session_signature_; }
  // Why the connection ended, if the peer said so.
  std::optional<DisconnectReason> peer_disconnect_reason() const { return peer_disconnect_reason_; }
  // Its description, control characters shown as '?'.
  const std::string& peer_disconnect_description() const { return peer_disconnect_description_; }

  // The traffic counts of the current keys, for tests and -v.
  const TrafficCount& sent_count() const { return writer_.count(); }
  const TrafficCount& received_count() const { return reader_.count(); }

 private:
  struct Kex;

  key::Status handle_packet(uint32_t seq, std::span<const uint8_t> payload);
  key::Status handle_kex_message(uint8_t type, std::span<const uint8_t> payload);
  key::Status handle_transport_message(uint8_t type, uint32_t seq, std::span<const uint8_t> payload);
  key::Status on_peer_kexinit(std::span<const uint8_t> payload);
  key::Status client_on_reply(std::span<const uint8_t> payload);
  key::Status client_on_gex_group(std::span<const uint8_t> payload);
  key::Status server_on_gex_request(std::span<const uint8_t> payload);
  key::Status server_on_init(std::span<const uint8_t> payload);
  key::Status install_keys(DirectionKeys client_to_server, DirectionKeys server_to_client);
  key::Status on_newkeys();
  key::Status on_ext_info(std::span<const uint8_t> payload);
  void start_kex();
  void send_now(std::span<const uint8_t> payload);
  void send_ext_info();
  void flush_held();
  key::Status check_rekey_due(Clock::time_point now);
  key::Status fail(DisconnectReason reason, key::Error error);
  uint64_t rekey_block_limit(size_t block_bytes) const;

  TransportConfig config_;
  TransportListener& listener_;
  std::unique_ptr<KexAuthority> own_authority_;  // a server's, when given a signer
  KexAuthority* authority_ = nullptr;             // servers only

  VersionReader version_;
  PacketWriter writer_;
  PacketReader reader_;
  ByteQueue out_;

  std::unique_ptr<Kex> kex_;  // while an exchange runs
  size_t kex_done_count_ = 0;
  bool first_packet_ = true;  // nothing received yet (strict kex wants KEXINIT first)
  bool received_before_kexinit_ = false;
  bool strict_ = false;
  bool peer_ext_info_ = false;  // the peer asked for EXT_INFO (ext-info-c / -s)
  bool ext_info_due_ = false;   // server: EXT_INFO goes out when the client's NEWKEYS arrives
  bool peer_ping_ = false;
  bool closed_ = false;
  bool paused_ = false;
  key::Bytes session_id_;
  key::Bytes session_signature_;
  std::optional<Negotiated> negotiated_;
  std::optional<ServerHostKey> host_key_;
  std::optional<std::vector<std::string>> server_sig_algs_;
  std::optional<DisconnectReason> peer_disconnect_reason_;
  std::string peer_disconnect_description_;

  // Messages of the layers above held during a key exchange.
  std::deque<key::Bytes> held_;
  size_t held_bytes_ = 0;

  // Pending keys: ours go live when we send NEWKEYS, the peer's when its
  // NEWKEYS arrives.
  std::unique_ptr<PacketOpener> next_opener_;
  // Copies of the keys in use (and the peer's next ones), for export_state().
  DirectionKeys out_keys_, in_keys_, next_in_keys_;
  uint64_t send_block_limit_ = 0, receive_block_limit_ = 0;

  Clock::time_point now_{};
  Clock::time_point last_kex_time_{};
};

// The preference lists a side offers by default.
std::vector<std::string> default_kex_names();
std::vector<std::string> default_host_key_names();
std::vector<std::string> default_cipher_names();
std::vector<std::string> default_mac_names();

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_TRANSPORT_H_
