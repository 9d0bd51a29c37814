// The handler's side of an embedded server's channel (tessera/ssh/channel.h).
#include "io/server_channel.h"

#include <algorithm>
#include <cstring>

namespace tessera::ssh {

using key::Errc;
using key::Error;

Channel::Channel(std::shared_ptr<io::ChannelCore> core) : core_(std::move(core)) {}
Channel::~Channel() = default;

key::Result<size_t> Channel::read(std::span<uint8_t> buffer) {
  io::ChannelCore& c = *core_;
  std::unique_lock<std::mutex> lock(c.mutex);
  c.changed.wait(lock, [&] { return c.in.size() > c.in_offset || c.in_eof || c.closed; });
  const size_t available = c.in.size() - c.in_offset;
  if (available > 0) {
    if (buffer.empty()) return size_t{0};
    const size_t n = std::min(available, buffer.size());
    std::memcpy(buffer.data(), c.in.data() + c.in_offset, n);
    c.in_offset += n;
    if (c.in_offset == c.in.size()) {
      c.in.clear();
      c.in_offset = 0;
    }
    c.consumed += n;
    if (!c.closed) c.request_service_locked();
    return n;
  }
  // Nothing left to read: an orderly end, or the connection's.
  if (c.gone && !c.in_eof) return Error(Errc::kIo, c.gone->message());
  return size_t{0};
}

key::Result<std::string> Channel::read_all(size_t limit) {
  std::string all;
  uint8_t buf[16384];
  for (;;) {
    TESSERA_ASSIGN_OR_RETURN(size_t n, read(buf));
    if (n == 0) return all;
    if (all.size() + n > limit) return Error(Errc::kTooLarge, "more than " + std::to_string(limit) + " bytes");
    all.append(reinterpret_cast<const char*>(buf), n);
  }
}

key::Status Channel::write_stream(bool standard_error, std::span<const uint8_t> data) {
  io::ChannelCore& c = *core_;
  std::unique_lock<std::mutex> lock(c.mutex);
  while (!data.empty()) {
    c.changed.wait(lock, [&] { return c.out_bytes < kChannelWriteBuffer || c.closed || c.gone; });
    if (c.gone) return Error(Errc::kIo, c.gone->message());
    if (c.closed) return Error(Errc::kIo, "the channel is closed");
    if (c.eof_requested) return Error(Errc::kIo, "write after close_write()");
    const size_t n = std::min(data.size(), kChannelWriteBuffer - c.out_bytes);
    const std::string_view chunk = key::as_text(data.first(n));
    // Consecutive writes to one stream join one segment.
    if (!c.out.empty() && c.out.back().standard_error == standard_error) {
      c.out.back().bytes.append(chunk);
    } else {
      c.out.push_back({standard_error, std::string(chunk)});
    }
    c.out_bytes += n;
    data = data.subspan(n);
    c.request_service_locked();
  }
  return key::ok_status();
}

key::Status Channel::write(std::span<const uint8_t> data) { return write_stream(false, data); }
key::Status Channel::write(std::string_view text) { return write_stream(false, key::as_bytes(text)); }
key::Status Channel::write_stderr(std::string_view text) { return write_stream(true, key::as_bytes(text)); }

void Channel::close_write() {
  io::ChannelCore& c = *core_;
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.eof_requested || c.closed) return;
  c.eof_requested = true;
  c.request_service_locked();
}

void Channel::exit_status(uint32_t status) {
  std::lock_guard<std::mutex> lock(core_->mutex);
  core_->exit_status = status;
}

const ConnectionInfo& Channel::connection() const { return *core_->info; }
const std::string& Channel::type() const { return core_->type; }
std::span<const uint8_t> Channel::open_data() const { return core_->open_data; }
const SessionRequest* Channel::session() const { return core_->session ? &*core_->session : nullptr; }

std::optional<PtyRequest> Channel::terminal() const {
  std::lock_guard<std::mutex> lock(core_->mutex);
  return core_->terminal;
}

}  // namespace tessera::ssh
