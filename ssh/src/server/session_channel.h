// The server side of a connection's channels, as OpenSSH 9.2's sshd runs
// them (session.c, serverloop.c): "session" channels with their requests
// (pty-req, window-change, env, exec, shell, subsystem, signal, break,
// auth-agent-req@openssh.com; x11-req refused), the child each runs
// through the user's login shell, exit-status / exit-signal, EOF and
// CLOSE; forwarded agent connections; and direct-tcpip.
//
// Everything runs on the event loop of the session process, which already
// is the authenticated user: nothing here changes identity. The caller
// keeps the transport and the global requests; SessionService takes the
// channels the client opens.
//
// Flow control reaches both ends: a child's output is read only while the
// client's window has room (and the transport's queue is not full), and
// data from the client is consumed (its window opened again) only once
// written to the child.
#ifndef TESSERA_SSH_SERVER_SESSION_CHANNEL_H_
#define TESSERA_SSH_SERVER_SESSION_CHANNEL_H_

#include <sys/types.h>

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connection/connection.h"
#include "server/agent_forward.h"
#include "server/direct_tcpip.h"
#include "server/pty.h"
#include "server/session_policy.h"
#include "tessera/key/wire.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

// Most env requests one session takes (sshd: 128).
inline constexpr size_t kMaxSessionEnv = 128;

class SessionChannel;

class SessionService {
 public:
  // loop and conn must outlive the service.
  SessionService(sys::EventLoop& loop, connection::Connection& conn, SessionPolicy policy, ServiceHooks hooks);
  // Closes every descriptor of its sessions and relays (a pty's child gets
  // its hang-up; children are not killed, as sshd leaves them), records
  // the logout of pty sessions, and removes the agent socket and its
  // directory. Destroy it once the connection delivers no more messages
  // (the Connection's channels still name its handlers).
  ~SessionService();
  SessionService(const SessionService&) = delete;
  SessionService& operator=(const SessionService&) = delete;

  // Sets conn.on_open_request to on_open().
  void install();
  // The decision on a channel the client opens: "session" and
  // "direct-tcpip"; anything else is refused as sshd refuses it (reason
  // 2, "open failed"). For a caller that wraps on_open_request itself.
  connection::IncomingChannel on_open(std::string_view type, key::Reader& extra);
  // The client sent no-more-sessions@openssh.com: further session opens
  // are refused (sshd disconnects; the caller may, too).
  void refuse_more_sessions() { no_more_sessions_ = true; }
  // The transport's queue has drained (ServiceHooks::pending_bytes fell):
  // read children and sockets again.
  void output_drained();

  // Sessions alive (a channel open, or a child not yet reaped).
  size_t session_count() const { return sessions_.size(); }
  // direct-tcpip and agent connections relayed now.
  size_t relay_count() const { return relays_.size(); }
  // SSH_AUTH_SOCK once agent forwarding is on, else "".
  std::string agent_socket() const { return agent_ ? agent_->socket_path() : std::string(); }
  const SessionPolicy& policy() const { return policy_; }

 private:
  friend class SessionChannel;
  // auth-agent-req@openssh.com: once per connection, as sshd.
  bool enable_agent_forwarding();
  void forget(SessionChannel* session);
  void log(const std::string& line) const;
  void notice(const std::string& line) const;

  sys::EventLoop& loop_;
  connection::Connection& conn_;
  SessionPolicy policy_;
  ServiceHooks hooks_;
  std::shared_ptr<char> alive_;
  RelaySet relays_;
  std::unique_ptr<AgentForwarder> agent_;
  bool agent_requested_ = false;
  bool no_more_sessions_ = false;
  bool installed_ = false;
  int next_session_number_ = 0;
  std::list<std::unique_ptr<SessionChannel>> sessions_;
};

// One "session" channel and its child. Made and owned by SessionService.
class SessionChannel final : public connection::ChannelHandler {
 public:
  SessionChannel(SessionService& service, int number);
  ~SessionChannel() override;

  void on_data(std::span<const uint8_t> data) override;
  void on_extended_data(uint32_t type, std::span<const uint8_t> data) override;
  void on_eof() override;
  void on_closed() override;
  bool on_request(std::string_view type, key::Reader& data) override;
  void on_send_room() override;

  void resume();

 private:
  struct Output {
    explicit Output(sys::EventLoop& loop) : watch(loop) {}
    sys::Fd fd;
    FdWatch watch;
    bool eof = true;       // nothing to read (not started, or EOF seen)
    bool discard = false;  // a subsystem's stderr: read and dropped, as sshd
    bool is_stderr = false;
  };

  bool request_pty(key::Reader& data);
  bool request_window_change(key::Reader& data);
  bool request_env(key::Reader& data);
  bool request_subsystem(key::Reader& data);
  bool request_signal(key::Reader& data);
  bool request_break(key::Reader& data);
  // subsystem: the subsystem's name ("" for exec and shell).
  bool start(std::optional<std::string> command, const std::string& subsystem);

  void read_output(Output& out);
  void write_input();
  void close_stdin();
  void stdin_failed();
  void child_exited(int wait_status);
  void send_eof_and_close();
  void release_pty();
  void close_descriptors();
  void update_watches();
  void gone_if_finished();
  std::string describe() const;

  SessionService& service_;
  int number_;
  std::shared_ptr<char> alive_;

  // Before the start.
  std::optional<Pty> pty_;
  std::string term_;
  std::vector<std::pair<std::string, std::string>> env_;

  // After it.
  bool started_ = false;
  bool forced_ = false;
  bool subsystem_ = false;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool login_recorded_ = false;
  std::string tty_;  // the pty's name, kept for the logout record
  sys::Fd stdin_;
  FdWatch stdin_watch_;
  std::vector<uint8_t> stdin_pending_;  // from the client, not yet written to the child
  bool client_eof_ = false;
  bool stdin_done_ = false;  // closed, or the child is gone: client data is dropped
  Output out_, err_;
  bool paused_for_peer_ = false;

  bool exit_sent_ = false;
  bool eof_sent_ = false;
  bool close_sent_ = false;
  bool channel_gone_ = false;
  bool forgotten_ = false;
};

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_SESSION_CHANNEL_H_
