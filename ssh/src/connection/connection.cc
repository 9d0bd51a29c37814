#include "connection/connection.h"

#include <algorithm>
#include <string>

#include "transport/messages.h"
#include "transport/packet.h"

namespace tessera::ssh::connection {

using key::Errc;
using key::Error;

namespace {

// The largest window a peer can hold (RFC 4254 windows are uint32).
constexpr uint64_t kMaxWindow = 0xffffffffu;
// The header of a CHANNEL_(EXTENDED_)DATA at its largest: the message
// number, the channel, the data type and the length.
constexpr size_t kDataMessageHeaderBytes = 1 + 4 + 4 + 4;
// The most data one such message can carry: what a packet takes, less that.
constexpr size_t kMaxDataPerMessage = transport::kMaxPayloadLength - kDataMessageHeaderBytes;

key::Error protocol_error(std::string what) { return Error(Errc::kMalformed, std::move(what)); }

}  // namespace

Connection::Channel* Connection::find(uint32_t id) {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

const Connection::Channel* Connection::find(uint32_t id) const {
  auto it = channels_.find(id);
  return it == channels_.end() ? nullptr : &it->second;
}

bool Connection::is_open(uint32_t id) const {
  const Channel* c = find(id);
  return c != nullptr && c->confirmed && !c->close_sent && !c->close_received;
}

uint32_t Connection::open(std::string_view type, std::span<const uint8_t> extra, ChannelHandler& handler,
                          uint32_t window, uint32_t max_packet) {
  while (channels_.count(next_id_) != 0) ++next_id_;
  const uint32_t id = next_id_++;
  handler.channel_id_ = id;
  channels_.emplace(id, Channel{.handler = &handler,
                                .local_window = window,
                                .local_window_max = window,
                                .local_max_packet = max_packet});
  key::Writer w;
  w.u8(msg::kChannelOpen);
  w.string(type);
  w.u32(id);
  w.u32(window);
  w.u32(max_packet);
  w.bytes(extra);
  transport_.send(w.data());
  return id;
}

size_t Connection::send_room(uint32_t id) const {
  const Channel* c = find(id);
  if (c == nullptr || !c->confirmed || c->eof_sent || c->close_sent) return 0;
  return static_cast<size_t>(c->remote_window);
}

size_t Connection::send_chunks(uint32_t id, std::optional<uint32_t> extended_type, std::span<const uint8_t> data) {
  Channel* c = find(id);
  if (c == nullptr || !c->confirmed || c->eof_sent || c->close_sent) return 0;
  size_t sent = 0;
  while (sent < data.size() && c->remote_window > 0) {
    // A peer's max-packet (up to kMaxPeerPacket) may not fit in one of our
    // packets once framed: never send more than fits.
    const size_t chunk = std::min<size_t>({data.size() - sent, static_cast<size_t>(c->remote_window),
                                           c->remote_max_packet, kMaxDataPerMessage});
    // The message header (type, recipient, [data type,] string length)
    // here, the data straight from the caller's buffer: one copy, into the
    // packet, where it is sealed in place.
    uint8_t header[kDataMessageHeaderBytes];
    size_t header_size = 0;
    auto put_u32 = [&](uint32_t v) {
      for (int shift = 24; shift >= 0; shift -= 8) header[header_size++] = static_cast<uint8_t>(v >> shift);
    };
    header[header_size++] = extended_type ? msg::kChannelExtendedData : msg::kChannelData;
    put_u32(c->remote_id);
    if (extended_type) put_u32(*extended_type);
    put_u32(static_cast<uint32_t>(chunk));
    transport_.send(std::span<const uint8_t>(header, header_size), data.subspan(sent, chunk));
    c->remote_window -= chunk;
    sent += chunk;
  }
  return sent;
}

size_t Connection::send_data(uint32_t id, std::span<const uint8_t> data) { return send_chunks(id, std::nullopt, data); }

size_t Connection::send_extended_data(uint32_t id, uint32_t type, std::span<const uint8_t> data) {
  return send_chunks(id, type, data);
}

void Connection::send_eof(uint32_t id) {
  Channel* c = find(id);
  if (c == nullptr || !c->confirmed || c->eof_sent || c->close_sent) return;
  c->eof_sent = true;
  key::Writer w;
  w.u8(msg::kChannelEof);
  w.u32(c->remote_id);
  transport_.send(w.data());
}

void Connection::close(uint32_t id) {
  Channel* c = find(id);
  if (c == nullptr || c->close_sent) return;
  if (c->awaiting_our_answer) {
    refuse_open(id, kOpenConnectFailed, "closed before it opened");
    return;
  }
  if (!c->confirmed) {
    // Not open yet: the CLOSE goes out once the confirmation comes.
    c->close_sent = true;
    return;
  }
  c->close_sent = true;
  key::Writer w;
  w.u8(msg::kChannelClose);
  w.u32(c->remote_id);
  transport_.send(w.data());
  maybe_forget(id);
}

void Connection::maybe_forget(uint32_t id) {
  Channel* c = find(id);
  if (c == nullptr || !c->close_sent || !c->close_received) return;
  ChannelHandler* handler = c->handler;
  channels_.erase(id);
  handler->on_closed();
}

void Connection::send_request(uint32_t id, std::string_view type, bool want_reply, std::span<const uint8_t> extra) {
  Channel* c = find(id);
  if (c == nullptr || !c->confirmed || c->close_sent) return;
  key::Writer w;
  w.u8(msg::kChannelRequest);
  w.u32(c->remote_id);
  w.string(type);
  w.boolean(want_reply);
  w.bytes(extra);
  transport_.send(w.data());
  if (want_reply) c->replies_pending++;
}

void Connection::consumed(uint32_t id, size_t n) {
  Channel* c = find(id);
  if (c == nullptr || c->close_sent || c->close_received) return;
  c->local_consumed += n;
  // Open the window again once half of it has been used, in one message
  // (OpenSSH does the same: fewer, larger adjustments).
  if (c->local_window < c->local_window_max / 2 && c->local_consumed > 0) {
    const uint32_t grant = static_cast<uint32_t>(std::min<uint64_t>(c->local_consumed, kMaxWindow - c->local_window));
    c->local_window += grant;
    c->local_consumed -= grant;
    key::Writer w;
    w.u8(msg::kChannelWindowAdjust);
    w.u32(c->remote_id);
    w.u32(grant);
    transport_.send(w.data());
  }
}

void Connection::send_global_request(std::string_view name, bool want_reply, std::span<const uint8_t> extra) {
  key::Writer w;
  w.u8(msg::kGlobalRequest);
  w.string(name);
  w.boolean(want_reply);
  w.bytes(extra);
  transport_.send(w.data());
}

key::Result<Connection::Channel*> Connection::recipient(key::Reader& in, std::string_view what) {
  auto id = in.u32();
  if (!id.ok()) return protocol_error("malformed " + std::string(what));
  Channel* c = find(*id);
  // A deferred open's number has not been given to the peer yet.
  if (c == nullptr || c->awaiting_our_answer) {
    return protocol_error(std::string(what) + " for unknown channel " + std::to_string(*id));
  }
  return c;
}

key::Status Connection::on_channel_open(key::Reader& in) {
  auto type = in.text();
  auto sender = in.u32();
  auto window = in.u32();
  auto max_packet = in.u32();
  if (!type.ok() || !sender.ok() || !window.ok() || !max_packet.ok()) return protocol_error("malformed CHANNEL_OPEN");
  IncomingChannel decision;
  if (channels_.size() >= kMaxChannels) {
    decision.reason = kOpenResourceShortage;
    decision.description = "too many channels";
  } else if (on_open_request) {
    decision = on_open_request(*type, in);
  } else {
    decision.reason = kOpenUnknownChannelType;
    decision.description = "unknown channel type";
  }
  if (decision.handler == nullptr) {
    send_open_failure(*sender, decision.reason, decision.description);
    return key::ok_status();
  }
  while (channels_.count(next_id_) != 0) ++next_id_;
  const uint32_t id = next_id_++;
  decision.handler->channel_id_ = id;
  channels_.emplace(id, Channel{.handler = decision.handler,
                                .remote_id = *sender,
                                .awaiting_our_answer = true,
                                .local_window = decision.window,
                                .local_window_max = decision.window,
                                .local_max_packet = decision.max_packet,
                                .remote_window = *window,
                                .remote_max_packet = std::min(std::max<uint32_t>(*max_packet, 1), kMaxPeerPacket)});
  if (!decision.defer) confirm_open(id);
  return key::ok_status();
}

void Connection::confirm_open(uint32_t id) {
  Channel* c = find(id);
  if (c == nullptr || !c->awaiting_our_answer) return;
  c->awaiting_our_answer = false;
  c->confirmed = true;
  key::Writer w;
  w.u8(msg::kChannelOpenConfirmation);
  w.u32(c->remote_id);
  w.u32(id);
  w.u32(c->local_window);
  w.u32(c->local_max_packet);
  transport_.send(w.data());
  c->handler->on_open_confirmed();
}

void Connection::refuse_open(uint32_t id, uint32_t reason, std::string_view description) {
  Channel* c = find(id);
  if (c == nullptr || !c->awaiting_our_answer) return;
  send_open_failure(c->remote_id, reason, description);
  channels_.erase(id);
}

void Connection::send_open_failure(uint32_t sender, uint32_t reason, std::string_view description) {
  key::Writer w;
  w.u8(msg::kChannelOpenFailure);
  w.u32(sender);
  w.u32(reason);
  w.string(description);
  w.string("");
  transport_.send(w.data());
}

key::Status Connection::on_message(std::span<const uint8_t> payload) {
  const uint8_t type = payload[0];
  key::Reader in(payload.subspan(1));
  switch (type) {
    case msg::kGlobalRequest: {
      auto name = in.text();
      auto want_reply = in.boolean();
      if (!name.ok() || !want_reply.ok()) return protocol_error("malformed GLOBAL_REQUEST");
      const std::optional<key::Bytes> answer =
          on_global_request ? on_global_request(*name, in) : std::optional<key::Bytes>();
      if (*want_reply) {
        key::Writer reply;
        reply.u8(answer ? msg::kRequestSuccess : msg::kRequestFailure);
        if (answer) reply.bytes(*answer);
        transport_.send(reply.data());
      }
      return key::ok_status();
    }
    case msg::kRequestSuccess:
    case msg::kRequestFailure:
      if (on_global_reply) on_global_reply(type == msg::kRequestSuccess);
      return key::ok_status();
    case msg::kChannelOpen:
      return on_channel_open(in);
    case msg::kChannelOpenConfirmation: {
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, "CHANNEL_OPEN_CONFIRMATION"));
      auto sender = in.u32();
      auto window = in.u32();
      auto max_packet = in.u32();
      if (!sender.ok() || !window.ok() || !max_packet.ok()) {
        return protocol_error("malformed CHANNEL_OPEN_CONFIRMATION");
      }
      if (c->confirmed) return protocol_error("second CHANNEL_OPEN_CONFIRMATION");
      c->confirmed = true;
      c->remote_id = *sender;
      c->remote_window = *window;
      c->remote_max_packet = std::min(std::max<uint32_t>(*max_packet, 1), kMaxPeerPacket);
      if (c->close_sent) {
        // Closed while the open was on its way.
        key::Writer w;
        w.u8(msg::kChannelClose);
        w.u32(c->remote_id);
        transport_.send(w.data());
        return key::ok_status();
      }
      c->handler->on_open_confirmed();
      return key::ok_status();
    }
    case msg::kChannelOpenFailure: {
      auto id = in.u32();
      auto reason = in.u32();
      auto description = in.string();
      if (!id.ok() || !reason.ok() || !description.ok()) return protocol_error("malformed CHANNEL_OPEN_FAILURE");
      Channel* c = find(*id);
      if (c == nullptr || c->confirmed || c->awaiting_our_answer) {
        return protocol_error("CHANNEL_OPEN_FAILURE for a channel not being opened");
      }
      ChannelHandler* handler = c->handler;
      channels_.erase(*id);
      std::string text(key::as_text(*description).substr(0, 1024));
      for (char& ch : text) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
      }
      handler->on_open_failed(*reason, text);
      return key::ok_status();
    }
    case msg::kChannelWindowAdjust: {
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, "CHANNEL_WINDOW_ADJUST"));
      auto bytes = in.u32();
      if (!bytes.ok()) return protocol_error("malformed CHANNEL_WINDOW_ADJUST");
      if (!c->confirmed) return protocol_error("CHANNEL_WINDOW_ADJUST before the channel opened");
      // A window beyond 2^32-1 is a peer's mistake; OpenSSH clamps it too.
      c->remote_window = std::min<uint64_t>(c->remote_window + *bytes, kMaxWindow);
      c->handler->on_send_room();
      return key::ok_status();
    }
    case msg::kChannelData:
    case msg::kChannelExtendedData: {
      const bool extended = type == msg::kChannelExtendedData;
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, extended ? "CHANNEL_EXTENDED_DATA" : "CHANNEL_DATA"));
      uint32_t data_type = 0;
      if (extended) {
        auto t = in.u32();
        if (!t.ok()) return protocol_error("malformed CHANNEL_EXTENDED_DATA");
        data_type = *t;
      }
      auto data = in.string();
      if (!data.ok() || !in.expect_end().ok()) return protocol_error("malformed channel data");
      if (!c->confirmed || c->eof_received) return protocol_error("channel data after EOF or before the open");
      if (data->size() > c->local_window) {
        return protocol_error("peer sent " + std::to_string(data->size()) + " bytes on a channel with a window of " +
                              std::to_string(c->local_window));
      }
      if (data->size() > c->local_max_packet) {
        return protocol_error("peer sent " + std::to_string(data->size()) + " bytes in one packet, more than " +
                              std::to_string(c->local_max_packet));
      }
      c->local_window -= static_cast<uint32_t>(data->size());
      if (c->close_sent) return key::ok_status();  // closing: nobody listens
      if (extended) {
        c->handler->on_extended_data(data_type, *data);
      } else {
        c->handler->on_data(*data);
      }
      return key::ok_status();
    }
    case msg::kChannelEof: {
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, "CHANNEL_EOF"));
      if (c->eof_received) return key::ok_status();
      c->eof_received = true;
      if (!c->close_sent) c->handler->on_eof();
      return key::ok_status();
    }
    case msg::kChannelClose: {
      auto id = in.u32();
      if (!id.ok()) return protocol_error("malformed CHANNEL_CLOSE");
      Channel* c = find(*id);
      if (c == nullptr || c->close_received || c->awaiting_our_answer) {
        return protocol_error("CHANNEL_CLOSE for unknown channel");
      }
      c->close_received = true;
      if (!c->close_sent) {
        c->close_sent = true;
        key::Writer w;
        w.u8(msg::kChannelClose);
        w.u32(c->remote_id);
        transport_.send(w.data());
      }
      maybe_forget(*id);
      return key::ok_status();
    }
    case msg::kChannelRequest: {
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, "CHANNEL_REQUEST"));
      auto request = in.text();
      auto want_reply = in.boolean();
      if (!request.ok() || !want_reply.ok()) return protocol_error("malformed CHANNEL_REQUEST");
      const bool ok = !c->close_sent && c->handler->on_request(*request, in);
      if (*want_reply && !c->close_sent) {
        key::Writer w;
        w.u8(ok ? msg::kChannelSuccess : msg::kChannelFailure);
        w.u32(c->remote_id);
        transport_.send(w.data());
      }
      return key::ok_status();
    }
    case msg::kChannelSuccess:
    case msg::kChannelFailure: {
      TESSERA_ASSIGN_OR_RETURN(Channel * c, recipient(in, "CHANNEL_SUCCESS/FAILURE"));
      if (c->replies_pending == 0) return protocol_error("channel request reply nobody asked for");
      c->replies_pending--;
      c->handler->on_request_reply(type == msg::kChannelSuccess);
      return key::ok_status();
    }
    default:
      return protocol_error("unexpected message " + std::to_string(type) + " on the connection");
  }
}

}  // namespace tessera::ssh::connection
