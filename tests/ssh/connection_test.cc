// The connection protocol between two Connection objects over transports
// in memory: flow control, EOF and close, requests and their replies, and
// the peer's mistakes that end the connection.
#include "connection/connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection_pair.h"
#include "tessera/key/key.h"
#include "transport/messages.h"
#include "transport/transport.h"

namespace tessera::ssh::connection {
namespace {

using transport::Clock;
using transport::Transport;

using Signer = test::TestHostKey;
using Side = test::ConnectionSide;

// Records everything a channel hears; consumes data only when told.
class Recorder final : public ChannelHandler {
 public:
  void on_open_confirmed() override { confirmed = true; }
  void on_open_failed(uint32_t r, std::string_view d) override {
    failed_reason = r;
    failed_text = std::string(d);
  }
  void on_data(std::span<const uint8_t> d) override { data.append(reinterpret_cast<const char*>(d.data()), d.size()); }
  void on_extended_data(uint32_t, std::span<const uint8_t> d) override {
    err.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  void on_eof() override { eof = true; }
  void on_closed() override { closed = true; }
  bool on_request(std::string_view type, key::Reader&) override {
    requests.emplace_back(type);
    return type == "ok";
  }
  void on_request_reply(bool success) override { replies.push_back(success); }
  void on_send_room() override { room_events++; }

  bool confirmed = false, eof = false, closed = false;
  std::optional<uint32_t> failed_reason;
  std::string failed_text, data, err;
  std::vector<std::string> requests;
  std::vector<bool> replies;
  int room_events = 0;
};

struct Pair {
  Pair() : client(true, nullptr), server(false, &signer) {
    client.transport().start(Clock::now());
    server.transport().start(Clock::now());
    pump();
  }
  void pump() { test::pump_between(client, server, 10000); }
  Signer signer;
  Side client, server;
};

// The server accepts "session" channels with a Recorder of its own.
struct Accepting {
  explicit Accepting(Pair& p, uint32_t window = kSessionWindow) {
    p.server.conn.on_open_request = [this, window](std::string_view type, key::Reader&) {
      IncomingChannel in;
      if (type == "session") {
        in.handler = &server_side;
        in.window = window;
        in.max_packet = 16 * 1024;
      } else {
        in.reason = kOpenUnknownChannelType;
        in.description = "no " + std::string(type);
      }
      return in;
    };
  }
  Recorder server_side;
};

TEST(Connection, DataFlowsWithinTheWindowAndWaitsForAdjustments) {
  Pair p;
  Accepting a(p, 64 * 1024);
  Recorder client_side;
  const uint32_t id = p.client.conn.open("session", {}, client_side);
  p.pump();
  ASSERT_TRUE(client_side.confirmed);
  ASSERT_TRUE(a.server_side.confirmed);
  // The server's window is 64 KiB: no more goes out until it opens again.
  const std::string big(200 * 1024, 'x');
  size_t sent = p.client.conn.send_data(id, key::as_bytes(big));
  EXPECT_EQ(sent, 64u * 1024);
  EXPECT_EQ(p.client.conn.send_room(id), 0u);
  p.pump();
  EXPECT_EQ(a.server_side.data.size(), 64u * 1024);
  // The data arrived in packets of the server's max packet size at most.
  // Consuming it opens the window (an adjustment once half is used).
  p.server.conn.consumed(a.server_side.channel_id(), a.server_side.data.size());
  p.pump();
  EXPECT_GE(client_side.room_events, 1);
  EXPECT_EQ(p.client.conn.send_room(id), 64u * 1024);
  sent += p.client.conn.send_data(id, key::as_bytes(big).subspan(sent));
  EXPECT_EQ(sent, 128u * 1024);
  EXPECT_FALSE(p.client.failure);
  EXPECT_FALSE(p.server.failure);
}

TEST(Connection, EofAndCloseBothWaysForgetTheChannel) {
  Pair p;
  Accepting a(p);
  Recorder client_side;
  const uint32_t id = p.client.conn.open("session", {}, client_side);
  p.pump();
  p.client.conn.send_data(id, key::as_bytes(std::string("hello")));
  p.client.conn.send_eof(id);
  p.pump();
  EXPECT_EQ(a.server_side.data, "hello");
  EXPECT_TRUE(a.server_side.eof);
  // After EOF nothing more is sent.
  EXPECT_EQ(p.client.conn.send_data(id, key::as_bytes(std::string("late"))), 0u);
  p.server.conn.send_extended_data(a.server_side.channel_id(), kExtendedDataStderr,
                                   key::as_bytes(std::string("warning")));
  p.server.conn.close(a.server_side.channel_id());
  p.pump();
  EXPECT_EQ(client_side.err, "warning");
  EXPECT_TRUE(client_side.closed);
  EXPECT_TRUE(a.server_side.closed);
  EXPECT_EQ(p.client.conn.channel_count(), 0u);
  EXPECT_EQ(p.server.conn.channel_count(), 0u);
}

// A peer may offer any max-packet; what we send must still fit a packet
// (a 256 KiB offer once made the packet layer's invariant check fire).
TEST(Connection, AHugeMaxPacketOfferIsClamped) {
  Pair p;
  Recorder server_side;
  p.server.conn.on_open_request = [&](std::string_view, key::Reader&) {
    IncomingChannel in;
    in.handler = &server_side;
    in.window = 4 * 1024 * 1024;
    in.max_packet = 0xffffffff;
    return in;
  };
  Recorder client_side;
  const uint32_t id = p.client.conn.open("session", {}, client_side);
  p.pump();
  ASSERT_TRUE(client_side.confirmed);
  const std::string big(1024 * 1024, 'x');
  EXPECT_EQ(p.client.conn.send_data(id, key::as_bytes(big)), big.size());
  p.pump();
  EXPECT_EQ(server_side.data.size(), big.size());
  EXPECT_FALSE(p.client.failure);
  EXPECT_FALSE(p.server.failure);
  EXPECT_FALSE(p.client.transport().closed());
}

TEST(Connection, RequestRepliesComeInOrder) {
  Pair p;
  Accepting a(p);
  Recorder client_side;
  const uint32_t id = p.client.conn.open("session", {}, client_side);
  p.pump();
  p.client.conn.send_request(id, "ok", true);
  p.client.conn.send_request(id, "no", true);
  p.client.conn.send_request(id, "quiet", false);
  p.client.conn.send_request(id, "ok", true);
  p.pump();
  EXPECT_EQ(a.server_side.requests, (std::vector<std::string>{"ok", "no", "quiet", "ok"}));
  EXPECT_EQ(client_side.replies, (std::vector<bool>{true, false, true}));
}

TEST(Connection, RefusedOpensSayWhy) {
  Pair p;
  Accepting a(p);
  Recorder client_side;
  p.client.conn.open("x11", {}, client_side);
  p.pump();
  EXPECT_EQ(client_side.failed_reason, kOpenUnknownChannelType);
  EXPECT_EQ(client_side.failed_text, "no x11");
  EXPECT_EQ(p.client.conn.channel_count(), 0u);
  // Nobody set a policy: every open is refused.
  Recorder other;
  p.server.conn.open("session", {}, other);
  p.pump();
  EXPECT_EQ(other.failed_reason, kOpenUnknownChannelType);
}

// Messages a broken or hostile peer might send: each ends the connection
// with a reason, none crashes.
TEST(Connection, PeerMistakesAreProtocolErrors) {
  Pair p;
  Accepting a(p, 1024);
  Recorder client_side;
  p.client.conn.open("session", {}, client_side);
  p.pump();
  const uint32_t server_id = a.server_side.channel_id();
  struct Case {
    std::string name;
    key::Bytes message;
    std::string expect;
  };
  auto data = [&](uint32_t to, size_t n) {
    key::Writer w;
    w.u8(msg::kChannelData);
    w.u32(to);
    w.string(std::string(n, 'd'));
    return w.take();
  };
  auto simple = [](uint8_t type, uint32_t to) {
    key::Writer w;
    w.u8(type);
    w.u32(to);
    return w.take();
  };
  const std::vector<Case> cases = {
      {"unknown channel", data(999, 1), "unknown channel 999"},
      {"beyond the window", data(server_id, 2048), "window of 1024"},
      {"truncated", key::Bytes{msg::kChannelData, 0, 0}, "malformed"},
      {"reply nobody asked for", simple(msg::kChannelSuccess, server_id), "nobody asked for"},
      {"close of unknown channel", simple(msg::kChannelClose, 77), "unknown channel"},
  };
  for (const Case& c : cases) {
    auto s = p.server.conn.on_message(c.message);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_NE(s.error().message().find(c.expect), std::string::npos) << c.name << ": " << s.error().message();
  }
  // Data after EOF.
  ASSERT_TRUE(p.server.conn.on_message(simple(msg::kChannelEof, server_id)).ok());
  auto after = p.server.conn.on_message(data(server_id, 1));
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.error().message().find("after EOF"), std::string::npos);
}

// An open answered later (a connect that must finish first): the peer hears
// nothing until then, cannot address the channel, and gets the answer given.
TEST(Connection, DeferredOpensAreAnsweredLater) {
  Pair p;
  Recorder server_side[3];
  int next = 0;
  p.server.conn.on_open_request = [&](std::string_view, key::Reader&) {
    IncomingChannel in;
    in.handler = &server_side[next++];
    in.defer = true;
    return in;
  };
  Recorder confirmed_later, refused_later, closed_first;
  p.client.conn.open("direct-tcpip", {}, confirmed_later);
  p.client.conn.open("direct-tcpip", {}, refused_later);
  p.client.conn.open("direct-tcpip", {}, closed_first);
  p.pump();
  ASSERT_EQ(next, 3);
  EXPECT_FALSE(confirmed_later.confirmed);
  EXPECT_FALSE(server_side[0].confirmed);
  EXPECT_FALSE(confirmed_later.failed_reason.has_value());
  const uint32_t id0 = server_side[0].channel_id();
  EXPECT_FALSE(p.server.conn.is_open(id0));
  EXPECT_EQ(p.server.conn.send_data(id0, key::Bytes{1, 2, 3}), 0u);

  // A peer that guesses the number of a channel not confirmed yet breaks
  // the protocol, whatever it sends.
  for (uint8_t type : {msg::kChannelOpenConfirmation, msg::kChannelData, msg::kChannelWindowAdjust,
                       msg::kChannelEof, msg::kChannelClose, msg::kChannelOpenFailure}) {
    key::Writer w;
    w.u8(type);
    w.u32(id0);
    w.u32(7);
    w.u32(1024);
    w.u32(1024);
    auto s = p.server.conn.on_message(w.data());
    EXPECT_FALSE(s.ok()) << int(type);
  }
  EXPECT_FALSE(server_side[0].confirmed);
  EXPECT_FALSE(server_side[0].failed_reason.has_value());

  p.server.conn.confirm_open(id0);
  p.server.conn.refuse_open(server_side[1].channel_id(), kOpenConnectFailed, "Connection refused");
  p.server.conn.close(server_side[2].channel_id());
  p.pump();
  EXPECT_TRUE(confirmed_later.confirmed);
  EXPECT_TRUE(server_side[0].confirmed);
  EXPECT_EQ(refused_later.failed_reason, kOpenConnectFailed);
  EXPECT_EQ(refused_later.failed_text, "Connection refused");
  EXPECT_EQ(closed_first.failed_reason, kOpenConnectFailed);
  EXPECT_EQ(p.server.conn.channel_count(), 1u);
  EXPECT_EQ(p.client.conn.channel_count(), 1u);
  // Answering twice, or a channel that is not deferred, does nothing.
  p.server.conn.confirm_open(id0);
  p.server.conn.refuse_open(id0, kOpenConnectFailed, "late");
  p.pump();
  EXPECT_TRUE(p.server.conn.is_open(id0));
  EXPECT_FALSE(confirmed_later.failed_reason.has_value());
  EXPECT_EQ(p.server.conn.send_data(id0, key::Bytes{'h', 'i'}), 2u);
  p.pump();
  EXPECT_EQ(confirmed_later.data, "hi");
}

}  // namespace
}  // namespace tessera::ssh::connection
