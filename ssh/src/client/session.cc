#include "client/session.h"

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tessera/sys/fd.h"

namespace tessera::ssh::client {

namespace {

// Bytes read from stdin at once, and most held for the server before we
// stop reading (the window and the connection's queue both count).
constexpr size_t kStdinChunk = 256 * 1024;
constexpr size_t kMaxQueuedForServer = 4 * 1024 * 1024;
// The capacity asked for when stdin is a pipe smaller than this (Linux's
// default is 64 KiB; 1 MiB is what pipe-max-size lets anyone ask for).
constexpr int kStdinPipeBytes = 1024 * 1024;

// A pipe on stdin holds 64 KiB by default: a bulk writer and we would take
// turns at 64 KiB each, a wake-up and often a context switch per turn, and
// every channel packet batch would be that small. A larger pipe lets each
// read take up to kStdinChunk. Only the buffer changes (not what is read,
// nor its order), only ever upwards; when the kernel refuses (the user's
// pipe page limit), the pipe stays as it was.
void grow_stdin_pipe() {
  struct stat st {};
  if (fstat(0, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  const int size = fcntl(0, F_GETPIPE_SZ);
  if (size < 0 || size >= kStdinPipeBytes) return;
  (void)fcntl(0, F_SETPIPE_SZ, kStdinPipeBytes);
}

// RFC 4254 section 8 terminal modes from the local terminal.
key::Bytes encode_modes(int fd) {
  key::Writer w;
  struct termios t {};
  if (tcgetattr(fd, &t) == 0) {
    auto put = [&](uint8_t op, uint32_t v) {
      w.u8(op);
      w.u32(v);
    };
    const struct {
      uint8_t op;
      int index;
    } chars[] = {{1, VINTR}, {2, VQUIT}, {3, VERASE}, {4, VKILL}, {5, VEOF}, {6, VEOL}, {7, VEOL2},
                 {8, VSTART}, {9, VSTOP}, {10, VSUSP}, {12, VREPRINT}, {13, VWERASE}, {14, VLNEXT},
                 {18, VDISCARD}};
    for (const auto& c : chars) put(c.op, t.c_cc[c.index]);
    auto flag = [&](uint8_t op, tcflag_t field, tcflag_t bit) { put(op, (field & bit) ? 1 : 0); };
    flag(30, t.c_iflag, IGNPAR);
    flag(31, t.c_iflag, PARMRK);
    flag(32, t.c_iflag, INPCK);
    flag(33, t.c_iflag, ISTRIP);
    flag(34, t.c_iflag, INLCR);
    flag(35, t.c_iflag, IGNCR);
    flag(36, t.c_iflag, ICRNL);
    flag(37, t.c_iflag, IUCLC);
    flag(38, t.c_iflag, IXON);
    flag(39, t.c_iflag, IXANY);
    flag(40, t.c_iflag, IXOFF);
    flag(41, t.c_iflag, IMAXBEL);
    flag(42, t.c_iflag, IUTF8);
    flag(50, t.c_lflag, ISIG);
    flag(51, t.c_lflag, ICANON);
    flag(53, t.c_lflag, ECHO);
    flag(54, t.c_lflag, ECHOE);
    flag(55, t.c_lflag, ECHOK);
    flag(56, t.c_lflag, ECHONL);
    flag(57, t.c_lflag, NOFLSH);
    flag(58, t.c_lflag, TOSTOP);
    flag(59, t.c_lflag, IEXTEN);
    flag(60, t.c_lflag, ECHOCTL);
    flag(61, t.c_lflag, ECHOKE);
    flag(62, t.c_lflag, PENDIN);
    flag(70, t.c_oflag, OPOST);
    flag(71, t.c_oflag, OLCUC);
    flag(72, t.c_oflag, ONLCR);
    flag(73, t.c_oflag, OCRNL);
    flag(74, t.c_oflag, ONOCR);
    flag(75, t.c_oflag, ONLRET);
    flag(90, t.c_cflag, CS7);
    flag(91, t.c_cflag, CS8);
    flag(92, t.c_cflag, PARENB);
    flag(93, t.c_cflag, PARODD);
    put(128, static_cast<uint32_t>(cfgetispeed(&t)));
    put(129, static_cast<uint32_t>(cfgetospeed(&t)));
  }
  w.u8(0);  // TTY_OP_END
  return w.take();
}

}  // namespace

Session::Session(sys::EventLoop& loop, io::ClientConnection& conn, SessionSettings settings,
                 std::function<void(int exit_code)> on_done)
    : loop_(loop), conn_(conn), settings_(std::move(settings)), on_done_(std::move(on_done)) {}

Session::~Session() {
  watch_stdin(false);
  for (Output* o : {&out_, &err_}) {
    if (o->watched) loop_.remove_fd(o->fd);
  }
  leave_raw_mode();
  sys::set_nonblocking(0, false);
  sys::set_nonblocking(1, false);
  sys::set_nonblocking(2, false);
}

void Session::start() {
  conn_.connection().open("session", {}, *this, connection::kSessionWindow, connection::kSessionMaxPacket);
  conn_.flush();
}

void Session::on_open_confirmed() {
  open_ = true;
  auto& c = conn_.connection();
  if (settings_.forward_agent) c.send_request(channel_id(), "auth-agent-req@openssh.com", false);
  if (settings_.want_tty) {
    struct winsize ws {};
    ioctl(0, TIOCGWINSZ, &ws);
    key::Writer w;
    w.string(settings_.term.empty() ? std::string("vt100") : settings_.term);
    w.u32(ws.ws_col ? ws.ws_col : 80);
    w.u32(ws.ws_row ? ws.ws_row : 24);
    w.u32(ws.ws_xpixel);
    w.u32(ws.ws_ypixel);
    w.string(encode_modes(0));
    c.send_request(channel_id(), "pty-req", true, w.data());
    replies_expected_++;
  }
  for (const auto& [name, value] : settings_.env) {
    key::Writer w;
    w.string(name);
    w.string(value);
    c.send_request(channel_id(), "env", false, w.data());
  }
  key::Writer w;
  switch (settings_.kind) {
    case SessionSettings::Kind::kShell:
      c.send_request(channel_id(), "shell", true);
      break;
    case SessionSettings::Kind::kExec:
      w.string(settings_.command);
      c.send_request(channel_id(), "exec", true, w.data());
      break;
    case SessionSettings::Kind::kSubsystem:
      w.string(settings_.command);
      c.send_request(channel_id(), "subsystem", true, w.data());
      break;
  }
  replies_expected_++;
  if (settings_.want_tty) enter_raw_mode();
  sys::set_nonblocking(1, true);
  sys::set_nonblocking(2, true);
  if (settings_.stdin_null) {
    stdin_eof_ = true;
    c.send_eof(channel_id());
  } else {
    sys::set_nonblocking(0, true);
    grow_stdin_pipe();
    watch_stdin(true);
  }
  conn_.flush();
}

void Session::on_open_failed(uint32_t reason, std::string_view description) {
  std::string text = "channel 0: open failed: ";
  text += reason == connection::kOpenAdministrativelyProhibited ? "administratively prohibited"
          : reason == connection::kOpenConnectFailed           ? "connect failed"
          : reason == connection::kOpenUnknownChannelType       ? "unknown channel type"
                                                                : "resource shortage";
  text += ": " + std::string(description) + "\n";
  (void)!write(2, text.data(), text.size());
  closed_ = true;
  done();
}

void Session::on_request_reply(bool success) {
  if (replies_expected_ == 0) return;
  replies_expected_--;
  const bool last = replies_expected_ == 0;
  if (success) return;
  if (!last) {
    // The pty request.
    static constexpr std::string_view kMsg = "PTY allocation request failed on channel 0\r\n";
    (void)!write(2, kMsg.data(), kMsg.size());
    leave_raw_mode();
    return;
  }
  const std::string what = settings_.kind == SessionSettings::Kind::kSubsystem ? "subsystem" :
                           settings_.kind == SessionSettings::Kind::kExec      ? "exec"
                                                                                : "shell";
  const std::string text = what + " request failed on channel 0\n";
  (void)!write(2, text.data(), text.size());
  conn_.connection().close(channel_id());
  conn_.flush();
}

void Session::watch_stdin(bool on) {
  if (on == stdin_watched_ || stdin_eof_) {
    if (!on && stdin_watched_) {
      loop_.remove_fd(0);
      stdin_watched_ = false;
    }
    return;
  }
  if (on) {
    if (loop_.add_fd(0, EPOLLIN, [this](uint32_t) { read_stdin(); }).ok()) stdin_watched_ = true;
  } else {
    loop_.remove_fd(0);
    stdin_watched_ = false;
  }
}

void Session::on_drained() {
  if (open_ && !closed_ && !stdin_eof_ && stdin_pending_.empty()) watch_stdin(true);
}

void Session::on_send_room() {
  if (!stdin_pending_.empty()) {
    // send_input() may queue part of it again: swap it out first. Both
    // buffers keep their capacity, so a window that keeps closing under a
    // bulk upload costs no allocation (and no fresh pages) per opening.
    sending_.swap(stdin_pending_);
    send_input(sending_);
    sending_.clear();
  }
  if (stdin_pending_.empty() && !stdin_eof_ && open_ && !closed_) watch_stdin(true);
  if (stdin_pending_.empty() && stdin_eof_) conn_.connection().send_eof(channel_id());
}

void Session::send_input(std::span<const uint8_t> data) {
  const size_t sent = conn_.connection().send_data(channel_id(), data);
  if (sent < data.size()) {
    stdin_pending_.insert(stdin_pending_.end(), data.begin() + static_cast<std::ptrdiff_t>(sent), data.end());
    watch_stdin(false);  // until the window opens
  }
}

void Session::read_stdin() {
  uint8_t buf[kStdinChunk];
  const ssize_t n = read(0, buf, sizeof(buf));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
  }
  if (n <= 0) {
    stdin_eof_ = true;
    watch_stdin(false);
    if (stdin_pending_.empty()) conn_.connection().send_eof(channel_id());
    conn_.flush();
    return;
  }
  std::span<const uint8_t> in(buf, static_cast<size_t>(n));
  if (settings_.want_tty && settings_.escape_char && raw_) {
    std::vector<uint8_t> filtered;
    if (!handle_escapes(in, filtered)) return;  // ~. : the connection is going away
    send_input(filtered);
  } else {
    send_input(in);
  }
  conn_.flush();
  if (conn_.pending_bytes() > kMaxQueuedForServer) watch_stdin(false);  // resumes in on_drained()
}

bool Session::handle_escapes(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  const uint8_t esc = *settings_.escape_char;
  for (const uint8_t c : in) {
    if (after_escape_) {
      after_escape_ = false;
      if (c == '.') {
        const std::string msg = "\r\nConnection closed.\r\n";  // ssh: "Connection to HOST closed."
        leave_raw_mode();
        (void)!write(2, msg.data(), msg.size());
        conn_.disconnect("disconnected by user");
        return false;
      }
      if (c == esc) {
        out.push_back(esc);
        at_line_start_ = false;
        continue;
      }
      if (c == '?') {
        const std::string help = std::string("\r\nSupported escape sequences:\r\n") + static_cast<char>(esc) +
                                 ".   - terminate connection\r\n" + static_cast<char>(esc) +
                                 "R   - request rekey\r\n" + static_cast<char>(esc) + "?   - this message\r\n" +
                                 static_cast<char>(esc) + static_cast<char>(esc) +
                                 "  - send the escape character by typing it twice\r\n"
                                 "(Note that escapes are only recognized immediately after newline.)\r\n";
        (void)!write(2, help.data(), help.size());
        continue;
      }
      if (c == 'R') {
        conn_.transport().request_rekey();
        continue;
      }
      out.push_back(esc);
      out.push_back(c);
      at_line_start_ = c == '\r' || c == '\n';
      continue;
    }
    if (at_line_start_ && c == esc) {
      after_escape_ = true;
      continue;
    }
    out.push_back(c);
    at_line_start_ = c == '\r' || c == '\n';
  }
  return true;
}

void Session::write_out(Output& out, std::span<const uint8_t> data, bool count_for_window) {
  size_t written = 0;
  if (out.pending.empty()) {
    while (written < data.size()) {
      const ssize_t n = write(out.fd, data.data() + written, data.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) written = data.size();  // a closed pipe: the data has nowhere to go
        break;
      }
      written += static_cast<size_t>(n);
    }
  }
  if (count_for_window && written > 0) conn_.connection().consumed(channel_id(), written);
  if (written < data.size()) {
    out.pending.insert(out.pending.end(), data.begin() + static_cast<std::ptrdiff_t>(written), data.end());
    if (!out.watched && loop_.add_fd(out.fd, EPOLLOUT, [this, &out](uint32_t) { flush_out(out); }).ok()) {
      out.watched = true;
    }
  }
}

void Session::flush_out(Output& out) {
  size_t written = 0;
  while (written < out.pending.size()) {
    const ssize_t n = write(out.fd, out.pending.data() + written, out.pending.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) written = out.pending.size();
      break;
    }
    written += static_cast<size_t>(n);
  }
  out.pending.erase(out.pending.begin(), out.pending.begin() + static_cast<std::ptrdiff_t>(written));
  conn_.connection().consumed(channel_id(), written);
  conn_.flush();
  if (out.pending.empty() && out.watched) {
    loop_.remove_fd(out.fd);
    out.watched = false;
    if (closed_) done();
  }
}

void Session::on_data(std::span<const uint8_t> data) { write_out(out_, data, true); }

void Session::on_extended_data(uint32_t type, std::span<const uint8_t> data) {
  if (type == connection::kExtendedDataStderr) {
    write_out(err_, data, true);
  } else {
    conn_.connection().consumed(channel_id(), data.size());
  }
}

void Session::on_eof() {}

bool Session::on_request(std::string_view type, key::Reader& data) {
  if (type == "exit-status") {
    auto status = data.u32();
    if (status.ok()) exit_code_ = static_cast<int>(*status & 0xff);
    return true;
  }
  if (type == "exit-signal") return true;  // no exit status: 255, as OpenSSH's ssh
  if (type == "eow@openssh.com") {
    // The server writes nothing more to the command's input: stop reading
    // ours (what waits for the window is dropped), as OpenSSH's ssh.
    stdin_eof_ = true;
    stdin_pending_.clear();
    watch_stdin(false);
    return false;  // sent without want-reply
  }
  return false;  // keepalive@openssh.com and anything unknown
}

void Session::on_closed() {
  closed_ = true;
  watch_stdin(false);
  if (!out_.watched && !err_.watched) done();
}

void Session::done() {
  if (!on_done_) return;
  auto cb = std::move(on_done_);
  on_done_ = nullptr;
  leave_raw_mode();
  cb(exit_code());
}

void Session::window_changed() {
  if (!open_ || closed_ || !settings_.want_tty) return;
  struct winsize ws {};
  if (ioctl(0, TIOCGWINSZ, &ws) != 0) return;
  key::Writer w;
  w.u32(ws.ws_col);
  w.u32(ws.ws_row);
  w.u32(ws.ws_xpixel);
  w.u32(ws.ws_ypixel);
  conn_.connection().send_request(channel_id(), "window-change", false, w.data());
  conn_.flush();
}

void Session::enter_raw_mode() {
  if (raw_ || !isatty(0) || tcgetattr(0, &saved_termios_) != 0) return;
  struct termios raw = saved_termios_;
  // As OpenSSH's enter_raw_mode: no input processing, no echo, no signals
  // from keys (they go to the remote side), output processing off.
  raw.c_iflag |= IGNPAR;
  raw.c_iflag &= ~static_cast<tcflag_t>(ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXANY | IXOFF | IUCLC);
  raw.c_lflag &= ~static_cast<tcflag_t>(ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHONL | IEXTEN);
  raw.c_oflag &= ~static_cast<tcflag_t>(OPOST);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(0, TCSADRAIN, &raw) == 0) raw_ = true;
}

void Session::leave_raw_mode() {
  if (!raw_) return;
  tcsetattr(0, TCSADRAIN, &saved_termios_);
  raw_ = false;
}

}  // namespace tessera::ssh::client
