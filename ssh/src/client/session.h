// The interactive or command session of tessera-ssh: one "session" channel
// joined to the local standard descriptors, as OpenSSH's clientloop does:
// exec, shell or subsystem; a pty in raw mode with window-change and the
// escape character (~. ~? ~~ ~# ~R at the start of a line); environment
// (SendEnv, SetEnv); stdin EOF; the remote exit status as ours.
#ifndef TESSERA_SSH_CLIENT_SESSION_H_
#define TESSERA_SSH_CLIENT_SESSION_H_

#include <termios.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "connection/connection.h"
#include "io/client_connection.h"
#include "tessera/sys/event_loop.h"

namespace tessera::ssh::client {

struct SessionSettings {
  enum class Kind : uint8_t { kShell, kExec, kSubsystem };
  Kind kind = Kind::kShell;
  std::string command;  // exec command or subsystem name
  bool want_tty = false;
  std::string term;     // $TERM for the pty
  std::vector<std::pair<std::string, std::string>> env;  // SendEnv and SetEnv, in that order
  bool forward_agent = false;
  bool stdin_null = false;
  std::optional<uint8_t> escape_char = '~';
  bool quiet = false;
};

class Session final : public connection::ChannelHandler {
 public:
  Session(sys::EventLoop& loop, io::ClientConnection& conn, SessionSettings settings,
          std::function<void(int exit_code)> on_done);
  ~Session() override;

  // Opens the channel; call once authenticated.
  void start();
  // The connection's output drained: take more from stdin.
  void on_drained();
  // SIGWINCH arrived: tell the server.
  void window_changed();
  // The exit code so far (255 until the server sends exit-status).
  int exit_code() const { return exit_code_.value_or(255); }

  void on_open_confirmed() override;
  void on_open_failed(uint32_t reason, std::string_view description) override;
  void on_data(std::span<const uint8_t> data) override;
  void on_extended_data(uint32_t type, std::span<const uint8_t> data) override;
  void on_eof() override;
  void on_closed() override;
  bool on_request(std::string_view type, key::Reader& data) override;
  void on_request_reply(bool success) override;
  void on_send_room() override;

 private:
  struct Output {
    int fd;
    std::vector<uint8_t> pending;
    bool watched = false;
  };

  void read_stdin();
  void watch_stdin(bool on);
  void write_out(Output& out, std::span<const uint8_t> data, bool count_for_window);
  void flush_out(Output& out);
  void send_input(std::span<const uint8_t> data);
  bool handle_escapes(std::span<const uint8_t> in, std::vector<uint8_t>& out);
  void enter_raw_mode();
  void leave_raw_mode();
  void done();

  sys::EventLoop& loop_;
  io::ClientConnection& conn_;
  SessionSettings settings_;
  std::function<void(int)> on_done_;

  bool open_ = false;
  bool closed_ = false;
  bool stdin_watched_ = false;
  bool stdin_eof_ = false;
  std::vector<uint8_t> stdin_pending_;  // read but not yet sent (no window)
  std::vector<uint8_t> sending_;        // stdin_pending_ being sent, swapped out
  Output out_{1, {}, false};
  Output err_{2, {}, false};
  size_t replies_expected_ = 0;
  std::optional<int> exit_code_;
  bool at_line_start_ = true;
  bool after_escape_ = false;
  bool raw_ = false;
  struct termios saved_termios_ {};
};

}  // namespace tessera::ssh::client

#endif  // TESSERA_SSH_CLIENT_SESSION_H_
