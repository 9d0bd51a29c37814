// Fuzzes the connection protocol (ssh/src/connection/connection.h):
// Connection::on_message fed a sequence of messages a peer might send, with
// our own actions on the channels in between.
//
// The transport under the Connection is a real client Transport past its
// key exchange (made once per process); what the Connection sends is
// dropped after each input. Each input starts with a new Connection that
// has opened one "session" channel (our channel 0, not yet confirmed), so
// that CHANNEL_OPEN_CONFIRMATION, data, window adjusts, EOF, close and
// requests reach real code. The peer may open channels of its own:
// "auth-agent@openssh.com" and "forwarded-tcpip" are accepted (with small
// windows, so that flow control bites), every other type refused.
//
// Input: a list of steps, each one byte of action and then one message as
// in ssh_fuzz::MessageList (u16 length, payload). The action's low three
// bits pick something we do first (see act()), bits 3-4 the channel it is
// done on, bit 7 makes a send one call of 300000 bytes (on channel 0, once
// its max-packet is known to be large) instead of 32 KiB pieces; the
// message then goes to Connection::on_message. A failure ends the input,
// as it ends the connection.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connection/connection.h"
#include "ssh_fuzz_common.h"
#include "transport/messages.h"

using namespace tessera::ssh;
namespace key = tessera::key;

namespace {

constexpr uint32_t kSmallWindow = 4096;
constexpr uint32_t kSmallPacket = 1024;

class RecordingHandler final : public connection::ChannelHandler {
 public:
  RecordingHandler(connection::Connection& conn, bool consume) : conn_(conn), consume_(consume) {}
  void set_id(uint32_t id) { id_ = id; }

  void on_open_confirmed() override {
    if (closed_) __builtin_trap();
    confirmed_ = true;
  }
  void on_open_failed(uint32_t, std::string_view description) override {
    if (confirmed_ || closed_) __builtin_trap();
    for (const char c : description) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();  // must be made printable
    }
    closed_ = true;
  }
  void on_data(std::span<const uint8_t> data) override { received(data); }
  void on_extended_data(uint32_t, std::span<const uint8_t> data) override { received(data); }
  void on_eof() override {
    if (closed_) __builtin_trap();
    eof_ = true;
  }
  void on_closed() override {
    if (closed_) __builtin_trap();  // told twice
    closed_ = true;
  }
  bool on_request(std::string_view type, key::Reader& data) override {
    if (closed_) __builtin_trap();
    if (type == "exit-status") {
      auto status = data.u32();
      return status.ok() && data.expect_end().ok();
    }
    return type == "keepalive@openssh.com";
  }
  void on_request_reply(bool) override {
    if (closed_) __builtin_trap();
  }
  void on_send_room() override {
    if (closed_) __builtin_trap();
  }

 private:
  void received(std::span<const uint8_t> data) {
    if (closed_ || eof_) __builtin_trap();  // data after EOF or close
    bytes_ += data.size();
    // Dispose of what came at once, or keep it (a stalled terminal).
    if (consume_) conn_.consumed(id_, data.size());
  }

  connection::Connection& conn_;
  bool consume_;
  uint32_t id_ = 0;
  bool confirmed_ = false, eof_ = false, closed_ = false;
  size_t bytes_ = 0;
};

// What the client's sessions and forwards do when they send (in pieces of
// 256 and 64 KiB, stopping at 4 MiB queued), scaled down so that a 1-byte
// max-packet stays fast here: pieces of at most kPiece bytes, and no more
// while the transport holds kMaxQueued.
constexpr size_t kPiece = 32 * 1024;
constexpr size_t kMaxQueued = 1024 * 1024;

// What we do before a message; channel is one of our channel numbers.
// big_ok: the peer's max-packet on this channel is known to be large, so
// that one call with more than a packet can carry costs a few packets
// (with a 1-byte max-packet it would cost 300000, linear but slow).
void act(connection::Connection& conn, transport::Transport& t, uint8_t action, uint32_t channel, bool big_ok) {
  // More than one packet can carry, so that send_data must split it.
  static const std::vector<uint8_t> kData(300000, 'x');
  switch (action & 7) {
    case 0: break;
    case 1:
      if ((action & 0x80) != 0 && big_ok) {
        conn.send_data(channel, kData);
        break;
      }
      for (size_t at = 0; at < kData.size() && t.pending_bytes() < kMaxQueued; at += kPiece) {
        if (conn.send_data(channel, std::span(kData).subspan(at, std::min(kPiece, kData.size() - at))) == 0) break;
      }
      break;
    case 2: conn.send_extended_data(channel, connection::kExtendedDataStderr, std::span(kData).first(5000)); break;
    case 3: conn.send_eof(channel); break;
    case 4: conn.close(channel); break;
    case 5: conn.send_request(channel, "exec", true); break;
    case 6: conn.consumed(channel, 3000); break;
    case 7: conn.send_global_request("keepalive@openssh.com", true); break;
  }
  if (conn.send_room(channel) > 0xffffffffu) __builtin_trap();
}

// The max-packet in a CHANNEL_OPEN_CONFIRMATION for our channel 0.
std::optional<uint32_t> confirmed_max_packet(std::span<const uint8_t> payload) {
  key::Reader in(payload);
  auto type = in.u8();
  auto recipient = in.u32();
  auto sender = in.u32();
  auto window = in.u32();
  auto max_packet = in.u32();
  if (!type.ok() || *type != tessera::ssh::msg::kChannelOpenConfirmation || !recipient.ok() || *recipient != 0 ||
      !sender.ok() || !window.ok() || !max_packet.ok()) {
    return std::nullopt;
  }
  return *max_packet;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssh_fuzz::ConnectedPair& pair = ssh_fuzz::ConnectedPair::instance();
  transport::Transport& t = *pair.client;
  {
    std::vector<std::unique_ptr<RecordingHandler>> handlers;  // outlive the Connection
    connection::Connection conn(t);
    handlers.push_back(std::make_unique<RecordingHandler>(conn, true));
    handlers[0]->set_id(conn.open("session", {}, *handlers[0], kSmallWindow, kSmallPacket));

    conn.on_open_request = [&](std::string_view type, key::Reader&) {
      connection::IncomingChannel in;
      if (type != "auth-agent@openssh.com" && type != "forwarded-tcpip") return in;
      if (handlers.size() >= 64) {
        in.reason = connection::kOpenResourceShortage;
        return in;
      }
      handlers.push_back(std::make_unique<RecordingHandler>(conn, handlers.size() % 2 == 0));
      // The Connection numbers channels in order: ours is 0, the peer's follow.
      handlers.back()->set_id(static_cast<uint32_t>(handlers.size() - 1));
      in.handler = handlers.back().get();
      in.window = kSmallWindow;
      in.max_packet = kSmallPacket;
      return in;
    };
    conn.on_global_request = [](std::string_view name, key::Reader&) -> std::optional<key::Bytes> {
      if (name == "keepalive@openssh.com") return key::Bytes{};
      return std::nullopt;
    };
    size_t replies = 0;
    conn.on_global_reply = [&](bool) { ++replies; };

    std::optional<uint32_t> max_packet_0;
    std::span<const uint8_t> rest(data, size);
    while (!rest.empty()) {
      const uint8_t action = rest[0];
      rest = rest.subspan(1);
      const uint32_t channel = (action >> 3) & 3;
      act(conn, t, action, channel, channel == 0 && max_packet_0.value_or(0) >= 16 * 1024);
      // One message, read as MessageList reads it.
      ssh_fuzz::MessageList one(rest);
      std::span<const uint8_t> payload;
      if (!one.next(payload)) break;
      rest = rest.subspan(static_cast<size_t>(payload.data() + payload.size() - rest.data()));
      if (!max_packet_0) max_packet_0 = confirmed_max_packet(payload);
      if (!conn.on_message(payload).ok()) break;
      if (conn.channel_count() > connection::kMaxChannels) __builtin_trap();
    }
  }
  t.output().clear();
  if (t.closed() || !t.ready()) __builtin_trap();
  return 0;
}
