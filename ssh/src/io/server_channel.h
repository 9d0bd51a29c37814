// What a channel's handler thread and the embedded server's event loop
// share (tessera/ssh/channel.h is the handler's side). The loop puts the
// client's data in and takes the handler's writes out; each side wakes the
// other: the loop through the condition variable, the handler by asking for
// a service task on the loop (request_service()), at most one pending at a
// time.
#ifndef TESSERA_SSH_IO_SERVER_CHANNEL_H_
#define TESSERA_SSH_IO_SERVER_CHANNEL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "tessera/key/error.h"
#include "tessera/key/wire.h"
#include "tessera/ssh/channel.h"

namespace tessera::ssh::io {

struct ChannelCore {
  // Fixed before the handler starts.
  std::shared_ptr<const ConnectionInfo> info;
  std::string type;
  key::Bytes open_data;
  std::optional<SessionRequest> session;
  // Posts a service task for this channel to the loop (thread-safe).
  std::function<void()> post_service;

  mutable std::mutex mutex;
  std::condition_variable changed;

  // From the client: bytes not yet read (from `in_offset` on), and how many
  // have been read since the loop last opened the window for them.
  std::string in;
  size_t in_offset = 0;
  size_t consumed = 0;
  bool in_eof = false;          // the client sent EOF
  bool closed = false;          // the channel is closed (no more either way)
  std::optional<key::Error> gone;  // the connection ended: why

  // To the client, in order; out_bytes is their total.
  struct Segment {
    bool standard_error;
    std::string bytes;
  };
  std::deque<Segment> out;
  size_t out_bytes = 0;
  bool eof_requested = false;
  std::optional<uint32_t> exit_status;
  bool handler_done = false;
  std::optional<PtyRequest> terminal;  // with the latest window-change

  bool service_pending = false;

  // With the mutex held: asks the loop to service the channel.
  void request_service_locked() {
    if (service_pending) return;
    service_pending = true;
    post_service();
  }
  // The connection ended (or the channel was forgotten): wakes the handler.
  void end(key::Error why) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!gone) gone = std::move(why);
    closed = true;
    changed.notify_all();
  }
};

}  // namespace tessera::ssh::io

#endif  // TESSERA_SSH_IO_SERVER_CHANNEL_H_
