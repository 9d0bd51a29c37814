// A channel of an embedded SSH server (tessera/ssh/server.h), as its
// handler sees it: a byte stream to and from the client, read and written
// with blocking calls from the handler's own thread.
//
//   void echo(tessera::ssh::Channel& channel) {
//     uint8_t buf[16384];
//     for (;;) {
//       auto n = channel.read(buf);
//       if (!n.ok() || *n == 0) break;            // gone, or the client's EOF
//       if (!channel.write(std::span(buf, *n)).ok()) break;
//     }
//     channel.exit_status(0);
//   }                                              // returning closes the channel
//
// Every call is safe from the handler's thread while the server's event
// loop runs on another: data crosses between them in bounded buffers (what
// the client sends waits in the channel's window; what the handler writes
// waits, at most kChannelWriteBuffer bytes of it, until the client's window
// takes it), so a slow reader on either side stalls only its own channel.
#ifndef TESSERA_SSH_CHANNEL_H_
#define TESSERA_SSH_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/key/key.h"

namespace tessera::ssh {

namespace io {
struct ChannelCore;  // the state a channel's handler thread shares with the event loop
}

// Bytes a handler's writes may hold ahead of the client's window before
// write() waits.
inline constexpr size_t kChannelWriteBuffer = 256 * 1024;

// Who is on the other end of a connection.
struct ConnectionInfo {
  uint64_t id = 0;             // unique among the Server's connections
  std::string remote_address;  // numeric: "192.0.2.7", "2001:db8::1"
  uint16_t remote_port = 0;
  std::string local_address;
  uint16_t local_port = 0;
  // The client's identification line ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
  // empty until it has arrived. Untrusted: the client says what it likes.
  std::string client_version;
  // After authentication: the user, and the key that proved it (nullopt
  // after a password).
  std::string user;
  std::optional<key::PublicKey> key;
};

// A pty-req (RFC 4254 section 6.2). The server allocates no terminal: a
// handler that wants one reads this and does its own line discipline.
struct PtyRequest {
  std::string term;  // TERM, "xterm-256color"
  uint32_t columns = 0, rows = 0, width_pixels = 0, height_pixels = 0;
  std::string modes;  // the encoded terminal modes, as sent
};

// What a session channel was asked to run.
struct SessionRequest {
  enum class Kind : uint8_t { kShell, kExec, kSubsystem };
  Kind kind = Kind::kShell;
  // exec: the command line; subsystem: its name; shell: empty.
  std::string command;
  // env requests before it, in order (the client's own choice of names and
  // values: treat as untrusted input), at most kMaxSessionEnv of them.
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<PtyRequest> pty;
};
inline constexpr size_t kMaxSessionEnv = 64;

class Channel {
 public:
  // Made by the Server for each handler; the handler only borrows it.
  explicit Channel(std::shared_ptr<io::ChannelCore> core);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Waits for data from the client and reads up to buffer.size() bytes of
  // it: the count read; 0 once the client has sent EOF or closed the
  // channel (after everything it sent before); kIo, saying why, when the
  // connection has ended (the client went, or the server's shutdown
  // deadline passed).
  key::Result<size_t> read(std::span<uint8_t> buffer);
  // Everything up to the client's EOF; kTooLarge beyond `limit` bytes.
  key::Result<std::string> read_all(size_t limit);

  // Queues all of data for the client, waiting while the buffer is full.
  // kIo when the channel or its connection has closed, or after
  // close_write().
  key::Status write(std::span<const uint8_t> data);
  key::Status write(std::string_view text);
  // The same on the session's standard error (extended data 1).
  key::Status write_stderr(std::string_view text);
  // Sends EOF after what was written: the client sees the end of the
  // stream. The client may go on sending.
  void close_write();
  // The exit status a session reports when its handler returns (exit-status
  // after the data and EOF, before the close). A session whose handler
  // never sets one reports 0; other channel types send none.
  void exit_status(uint32_t status);

  const ConnectionInfo& connection() const;
  // The channel type ("session", "direct-tcpip", ...) and the type-specific
  // data of the client's CHANNEL_OPEN.
  const std::string& type() const;
  std::span<const uint8_t> open_data() const;
  // A session channel's request (exec, subsystem or shell); nullptr for
  // other channel types.
  const SessionRequest* session() const;
  // The session's terminal with the size of the latest window-change
  // (nullopt: no pty-req).
  std::optional<PtyRequest> terminal() const;

 private:
  key::Status write_stream(bool standard_error, std::span<const uint8_t> data);
  std::shared_ptr<io::ChannelCore> core_;
};

}  // namespace tessera::ssh

#endif  // TESSERA_SSH_CHANNEL_H_
