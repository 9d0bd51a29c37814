// The server's session service between a real client and server in
// memory: two transports and two Connections, bytes passed between them on
// the event loop, SessionService on the server side running real
// processes (as the current user: the tests run as root, and the service
// never changes identity).
#include "server/session_channel.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <tuple>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connection_pair.h"
#include "server/child_process.h"
#include "server/direct_tcpip.h"
#include "server/pty.h"
#include "tessera/key/key.h"
#include "tessera/sys/event_loop.h"
#include "transport/transport.h"
#include "test_support.h"

#include <openssl/evp.h>

namespace tessera::ssh::server {
namespace {

using connection::ChannelHandler;
using connection::Connection;
using transport::Transport;
using namespace std::chrono_literals;

using Signer = test::TestHostKey;
using Side = test::ConnectionSide;

// The first 16 hex digits of SHA-256, as `sha256sum | cut -c1-16` prints.
std::string test_sha256_prefix(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < 8; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

SessionPolicy current_user_policy() {
  SessionPolicy p;
  const passwd* pw = getpwuid(getuid());
  p.user.name = pw->pw_name;
  p.user.uid = pw->pw_uid;
  p.user.gid = pw->pw_gid;
  p.user.home = pw->pw_dir;
  // The account's own shell may read rc files that change the
  // environment (Debian's bash reads ~/.bashrc when SSH_CLIENT is set): the
  // tests use /bin/sh, but for one that runs the account's shell.
  p.user.shell = "/bin/sh";
  p.client_ip = "192.0.2.7";
  p.client_port = 50022;
  p.server_ip = "192.0.2.1";
  p.server_port = 22;
  return p;
}

struct Harness;

// The client's end of a channel: records what it hears; consumes data at
// once unless told to hold it.
class ClientChannel final : public ChannelHandler {
 public:
  explicit ClientChannel(Harness& h) : h_(h) {}
  void on_open_confirmed() override { confirmed = true; }
  void on_open_failed(uint32_t reason, std::string_view text) override {
    failed_reason = reason;
    failed_text = std::string(text);
  }
  void on_data(std::span<const uint8_t> d) override;
  void on_extended_data(uint32_t type, std::span<const uint8_t> d) override;
  void on_eof() override {
    eof = true;
    events.push_back("eof");
  }
  void on_closed() override {
    closed = true;
    events.push_back("close");
  }
  bool on_request(std::string_view type, key::Reader& r) override {
    events.emplace_back(type);
    if (type == "exit-status") {
      auto v = r.u32();
      if (v.ok()) exit_status = *v;
    } else if (type == "exit-signal") {
      auto name = r.text();
      auto core = r.boolean();
      auto message = r.text();
      auto language = r.text();
      if (name.ok() && core.ok() && message.ok() && language.ok()) {
        exit_signal = std::string(*name);
        core_dumped = *core;
      }
    }
    return false;
  }
  void on_request_reply(bool ok) override { replies.push_back(ok); }
  void on_send_room() override {
    if (on_room) on_room();
  }
  // Hands held data back: the window opens again.
  void release();

  Harness& h_;
  bool hold = false;
  size_t held = 0;
  bool confirmed = false, eof = false, closed = false, core_dumped = false;
  std::optional<uint32_t> failed_reason;
  std::string failed_text, out, err;
  std::optional<uint32_t> exit_status;
  std::optional<std::string> exit_signal;
  std::vector<bool> replies;
  std::vector<std::string> events;
  std::function<void()> on_room;
};

struct Harness {
  explicit Harness(SessionPolicy policy) : loop(*sys::EventLoop::create()), client(true, nullptr), server(false, &signer) {
    client.transport().start(transport::Clock::now());
    server.transport().start(transport::Clock::now());
    pump();
    ServiceHooks hooks;
    hooks.flush = [this] { schedule_pump(); };
    hooks.pending_bytes = [this] { return server.transport().pending_bytes(); };
    hooks.log = [this](std::string_view line) { log.emplace_back(line); };
    service = std::make_unique<SessionService>(*loop, server.conn, std::move(policy), std::move(hooks));
    service->install();
  }

  void schedule_pump() {
    if (pump_posted) return;
    pump_posted = true;
    loop->post([this] {
      pump_posted = false;
      pump();
    });
  }

  void pump() {
    if (pumping) return;
    pumping = true;
    test::pump_between(client, server, 100000);
    pumping = false;
    if (service) service->output_drained();
  }

  // Runs the loop until done() or the time limit; returns done().
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
    bool expired = false;
    const auto timer = loop->add_timer(loop->now() + limit, [&expired] { expired = true; });
    loop->run_until([&] { return done() || expired; });
    if (!expired) loop->cancel_timer(timer);
    return done();
  }
  void run_for(std::chrono::milliseconds d) {
    run_until([] { return false; }, d);
  }

  ClientChannel& open_session(uint32_t window = connection::kSessionWindow,
                              uint32_t max_packet = connection::kSessionMaxPacket) {
    channels.push_back(std::make_unique<ClientChannel>(*this));
    client.conn.open("session", {}, *channels.back(), window, max_packet);
    pump();
    return *channels.back();
  }
  void request(ClientChannel& c, std::string_view type, const key::Writer& extra = {}, bool want_reply = true) {
    client.conn.send_request(c.channel_id(), type, want_reply, extra.data());
    pump();
  }
  void exec(ClientChannel& c, const std::string& command) {
    key::Writer w;
    w.string(command);
    request(c, "exec", w);
  }
  void send(ClientChannel& c, std::string_view data) {
    EXPECT_EQ(client.conn.send_data(c.channel_id(), key::as_bytes(data)), data.size());
    pump();
  }
  void send_eof(ClientChannel& c) {
    client.conn.send_eof(c.channel_id());
    pump();
  }
  bool finished(ClientChannel& c) {
    return run_until([&] { return c.closed; });
  }

  std::unique_ptr<sys::EventLoop> loop;
  Signer signer;
  Side client, server;
  std::unique_ptr<SessionService> service;
  std::vector<std::unique_ptr<ClientChannel>> channels;
  std::vector<std::string> log;
  bool pump_posted = false;
  bool pumping = false;
};

void ClientChannel::on_data(std::span<const uint8_t> d) {
  out.append(reinterpret_cast<const char*>(d.data()), d.size());
  if (hold) {
    held += d.size();
  } else {
    h_.client.conn.consumed(channel_id(), d.size());
  }
}

void ClientChannel::on_extended_data(uint32_t type, std::span<const uint8_t> d) {
  if (type == connection::kExtendedDataStderr) err.append(reinterpret_cast<const char*>(d.data()), d.size());
  h_.client.conn.consumed(channel_id(), d.size());
}

void ClientChannel::release() {
  hold = false;
  h_.client.conn.consumed(channel_id(), held);
  held = 0;
  h_.schedule_pump();
}

key::Writer pty_request(uint32_t cols, uint32_t rows, const key::Bytes& modes) {
  key::Writer w;
  w.string("xterm");
  w.u32(cols);
  w.u32(rows);
  w.u32(0);
  w.u32(0);
  w.string(modes);
  return w;
}

key::Writer env_request(std::string_view name, std::string_view value) {
  key::Writer w;
  w.string(name);
  w.string(value);
  return w;
}

TEST(SessionService, ExecGivesOutputThenExitStatusEofAndClose) {
  SessionPolicy policy = current_user_policy();
  policy.user.shell = getpwuid(getuid())->pw_shell;
  Harness h(policy);
  ClientChannel& c = h.open_session();
  ASSERT_TRUE(c.confirmed);
  h.exec(c, "echo hello; exit 3");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, std::vector<bool>{true});
  EXPECT_EQ(c.out, "hello\n");
  EXPECT_EQ(c.exit_status, 3u);
  // exit-status comes before CLOSE; EOF before CLOSE (sshd's order).
  ASSERT_GE(c.events.size(), 3u);
  EXPECT_EQ(c.events.back(), "close");
  const auto at = [&](const std::string& e) { return std::find(c.events.begin(), c.events.end(), e) - c.events.begin(); };
  EXPECT_LT(at("exit-status"), at("close"));
  EXPECT_LT(at("eof"), at("close"));
  EXPECT_TRUE(h.run_until([&] { return h.service->session_count() == 0; }));
  EXPECT_FALSE(h.client.failure);
  EXPECT_FALSE(h.server.failure);
}

TEST(SessionService, StderrIsExtendedDataAndStdinEofReachesTheChild) {
  Harness h(current_user_policy());
  ClientChannel& c = h.open_session();
  // Data sent before the exec waits for the child.
  h.send(c, "early ");
  h.exec(c, "echo out; echo err >&2; cat");
  h.send(c, "and late");
  h.send_eof(c);
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.out, "out\nearly and late");
  EXPECT_EQ(c.err, "err\n");
  EXPECT_EQ(c.exit_status, 0u);
}

// A child that closes its stdin: what the client sends after that is
// dropped and its window still opens (no SIGPIPE ends us, nothing stalls).
TEST(SessionService, InputToAChildThatClosedItsStdinIsDropped) {
  Harness h(current_user_policy());
  ClientChannel& c = h.open_session();
  h.exec(c, "exec 0<&-; echo closed; sleep 0.3; echo done");
  ASSERT_TRUE(h.run_until([&] { return c.out == "closed\n"; }));
  const std::string chunk(256 * 1024, 'x');
  size_t sent = 0;
  const size_t total = 3 * 1024 * 1024;  // more than the server's window
  c.on_room = [&] {
    while (sent < total) {
      const size_t n = h.client.conn.send_data(c.channel_id(), key::as_bytes(chunk));
      if (n == 0) break;
      sent += n;
    }
    h.schedule_pump();
  };
  c.on_room();
  ASSERT_TRUE(h.finished(c));
  EXPECT_GE(sent, total);
  EXPECT_EQ(c.out, "closed\ndone\n");
  EXPECT_EQ(c.exit_status, 0u);
  // The client heard, as from sshd, that nothing it sends is written any
  // more (eow@openssh.com), once, before the exit status.
  EXPECT_EQ(std::count(c.events.begin(), c.events.end(), "eow@openssh.com"), 1);
  const auto at = [&](const std::string& e) { return std::find(c.events.begin(), c.events.end(), e) - c.events.begin(); };
  EXPECT_LT(at("eow@openssh.com"), at("exit-status"));
}

TEST(SessionService, TheEnvironmentIsSshds) {
  SessionPolicy policy = current_user_policy();
  policy.accept_env = {"LC_*", "TESSERA_OK"};
  policy.set_env = {{"FROM_SETENV", "set"}};
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.request(c, "env", env_request("TESSERA_OK", "yes"));
  h.request(c, "env", env_request("TESSERA_NO", "no"));
  h.request(c, "env", env_request("LC_TEST", "x"));
  h.request(c, "env", env_request("LC_BAD=X", "y"));
  h.exec(c,
         "echo \"$TESSERA_OK/$TESSERA_NO/$LC_TEST/$FROM_SETENV\"; echo \"$USER $LOGNAME $HOME $SHELL\"; "
         "echo \"$SSH_CLIENT|$SSH_CONNECTION|${SSH_TTY-none}|${TERM-none}|$MAIL\"; echo \"$PATH\"; pwd");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{true, false, true, false, true}));
  const SessionPolicy& p = h.service->policy();
  const std::string expected = "yes//x/set\n" + p.user.name + " " + p.user.name + " " + p.user.home + " " +
                               p.user.shell + "\n192.0.2.7 50022 22|192.0.2.7 50022 192.0.2.1 22|none|none|/var/mail/" +
                               p.user.name + "\n" + std::string(p.user.uid == 0 ? kSuperUserPath : kUserPath) + "\n" +
                               p.user.home + "\n";
  EXPECT_EQ(c.out, expected);
  EXPECT_EQ(c.err, "");
}

TEST(SessionService, ForcedCommandRunsWithTheOriginalCommand) {
  SessionPolicy policy = current_user_policy();
  policy.forced_command = "echo \"forced:$SSH_ORIGINAL_COMMAND\"; sleep 0.3";
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.exec(c, "rm -rf /nothing");
  ASSERT_TRUE(h.run_until([&] { return !c.out.empty(); }));
  // Signals to a forced command are refused, as sshd.
  key::Writer sig;
  sig.string("TERM");
  h.request(c, "signal", sig);
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{true, false}));
  EXPECT_EQ(c.out, "forced:rm -rf /nothing\n");
  EXPECT_EQ(c.exit_status, 0u);

  // A shell under a forced command has no SSH_ORIGINAL_COMMAND.
  ClientChannel& shell = h.open_session();
  h.request(shell, "shell");
  h.send_eof(shell);
  ASSERT_TRUE(h.finished(shell));
  EXPECT_EQ(shell.out, "forced:\n");
}

TEST(SessionService, SignalTermGivesExitSignal) {
  Harness h(current_user_policy());
  ClientChannel& c = h.open_session();
  h.exec(c, "sleep 100");
  ASSERT_TRUE(h.run_until([&] { return !c.replies.empty(); }));
  key::Writer sig;
  sig.string("TERM");
  h.request(c, "signal", sig);
  key::Writer unknown;
  unknown.string("WINCH");
  h.request(c, "signal", unknown);
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(c.exit_signal, "TERM");
  EXPECT_FALSE(c.core_dumped);
  EXPECT_FALSE(c.exit_status);
}

TEST(SessionService, PtySessionHasATerminalThatFollowsTheWindow) {
  SessionPolicy policy = current_user_policy();
  std::vector<std::tuple<std::string, pid_t, bool>> records;
  policy.record_login = [&](const std::string& tty, pid_t pid, bool login) { records.emplace_back(tty, pid, login); };
  Harness h(policy);
  ClientChannel& c = h.open_session();
  // Modes: ECHO off (53 = 0), VINTR ^B (1 = 2), then TTY_OP_END.
  key::Writer modes;
  modes.u8(53);
  modes.u32(0);
  modes.u8(1);
  modes.u32(2);
  modes.u8(0);
  h.request(c, "pty-req", pty_request(80, 24, modes.take()));
  h.exec(c, "tty; stty size; stty -a | grep -o -e 'intr = [^;]*' -e ' -echo '; "
            "echo \"$TERM $SSH_TTY\"; read line; stty size; exit 5");
  ASSERT_TRUE(h.run_until([&] { return c.out.find("24 80") != std::string::npos; }));
  key::Writer size;
  size.u32(100);
  size.u32(40);
  size.u32(0);
  size.u32(0);
  h.request(c, "window-change", size, false);
  h.send(c, "go\n");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{true, true}));
  EXPECT_EQ(c.out.rfind("/dev/pts/", 0), 0u) << c.out;
  const std::string tty = c.out.substr(0, c.out.find('\r'));
  EXPECT_NE(c.out.find("\r\n24 80\r\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(" -echo "), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("intr = ^B"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("xterm " + tty + "\r\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("go"), std::string::npos) << "echo was off: " << c.out;
  EXPECT_NE(c.out.find("40 100\r\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.exit_status, 5u);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(std::get<0>(records[0]), tty);
  EXPECT_TRUE(std::get<2>(records[0]));
  EXPECT_EQ(std::get<1>(records[1]), std::get<1>(records[0]));
  EXPECT_FALSE(std::get<2>(records[1]));
  EXPECT_EQ(c.err, "");
}

TEST(SessionService, PtyRefusedWhenNotPermittedAndTwice) {
  SessionPolicy policy = current_user_policy();
  policy.permit_pty = false;
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.request(c, "pty-req", pty_request(80, 24, {}));
  h.request(c, "x11-req");
  h.request(c, "break", [] {
    key::Writer w;
    w.u32(0);
    return w;
  }());
  h.exec(c, "tty");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(c.out, "not a tty\n");
  EXPECT_EQ(c.exit_status, 1u);
}

TEST(SessionService, ClosingAPtySessionHangsUpItsChild) {
  SessionPolicy policy = current_user_policy();
  int logouts = 0;
  policy.record_login = [&](const std::string&, pid_t, bool login) { logouts += login ? 0 : 1; };
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.request(c, "pty-req", pty_request(80, 24, {}));
  h.exec(c, "sleep 100");
  ASSERT_TRUE(h.run_until([&] { return c.replies.size() == 2; }));
  h.client.conn.close(c.channel_id());
  h.pump();
  EXPECT_TRUE(c.closed);
  // The hang-up ends sleep; the session goes once its child is reaped.
  EXPECT_TRUE(h.run_until([&] { return h.service->session_count() == 0; }, 10s));
  EXPECT_EQ(logouts, 1);
}

TEST(SessionService, LargeOutputWaitsForTheWindowAndLosesNothing) {
  Harness h(current_user_policy());
  // A small window: 64 KiB in packets of 16 KiB.
  ClientChannel& c = h.open_session(64 * 1024, 16 * 1024);
  c.hold = true;
  h.exec(c, "seq 1 2700000");
  ASSERT_TRUE(h.run_until([&] { return c.out.size() >= 64u * 1024; }));
  h.run_for(300ms);
  // The window is spent and nothing more came: the child waits.
  EXPECT_EQ(c.out.size(), 64u * 1024);
  EXPECT_FALSE(c.exit_status);
  EXPECT_EQ(h.server.conn.send_room(0), 0u);
  c.release();
  ASSERT_TRUE(h.finished(c));
  std::string expected;
  expected.reserve(20 * 1024 * 1024);
  for (int i = 1; i <= 2700000; ++i) {
    expected += std::to_string(i);
    expected += '\n';
  }
  EXPECT_EQ(c.out.size(), expected.size());
  EXPECT_TRUE(c.out == expected);
  EXPECT_EQ(c.exit_status, 0u);
}

TEST(SessionService, LargeInputIsConsumedAsTheChildReadsIt) {
  Harness h(current_user_policy());
  ClientChannel& c = h.open_session();
  h.exec(c, "sha256sum | cut -c1-16");
  const size_t total = 20 * 1024 * 1024;
  std::string input(total, '\0');
  for (size_t i = 0; i < total; ++i) input[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  size_t sent = 0;
  auto push = [&] {
    while (sent < total) {
      const size_t n = h.client.conn.send_data(c.channel_id(), key::as_bytes(input).subspan(sent));
      if (n == 0) break;
      sent += n;
    }
    if (sent == total) h.client.conn.send_eof(c.channel_id());
    h.schedule_pump();
  };
  c.on_room = [&] {
    if (sent < total) push();
  };
  push();
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(sent, total);
  const auto expected = test_sha256_prefix(input);
  EXPECT_EQ(c.out, expected + "\n");
}

TEST(SessionService, SubsystemsRunTheirCommandAndInternalSftpIsRefused) {
  SessionPolicy policy = current_user_policy();
  policy.subsystems = {{"echo", "cat"},
                       {"noisy", "echo out; echo err >&2"},
                       {"sftp", "/usr/lib/openssh/sftp-server"},
                       {"internal", "internal-sftp -l INFO"}};
  Harness h(policy);
  auto subsystem = [](std::string_view name) {
    key::Writer w;
    w.string(name);
    return w;
  };
  ClientChannel& echo = h.open_session();
  h.request(echo, "subsystem", subsystem("echo"));
  h.send(echo, "ping");
  h.send_eof(echo);
  ASSERT_TRUE(h.finished(echo));
  EXPECT_EQ(echo.replies, std::vector<bool>{true});
  EXPECT_EQ(echo.out, "ping");

  // A subsystem's stderr is read and dropped, as sshd does.
  ClientChannel& noisy = h.open_session();
  h.request(noisy, "subsystem", subsystem("noisy"));
  ASSERT_TRUE(h.finished(noisy));
  EXPECT_EQ(noisy.out, "out\n");
  EXPECT_EQ(noisy.err, "");

  // OpenSSH's sftp-server answers SSH_FXP_INIT with SSH_FXP_VERSION 3.
  ClientChannel& sftp = h.open_session();
  h.request(sftp, "subsystem", subsystem("sftp"));
  h.send(sftp, std::string("\0\0\0\5\1\0\0\0\3", 9));
  ASSERT_TRUE(h.run_until([&] { return sftp.out.size() >= 9; }));
  EXPECT_EQ(sftp.out[4], '\2');
  EXPECT_EQ(sftp.out.substr(5, 4), std::string("\0\0\0\3", 4));
  h.send_eof(sftp);
  ASSERT_TRUE(h.finished(sftp));
  EXPECT_EQ(sftp.exit_status, 0u);

  for (const char* refused : {"internal", "nothing"}) {
    ClientChannel& c = h.open_session();
    h.request(c, "subsystem", subsystem(refused));
    ASSERT_TRUE(h.run_until([&] { return !c.replies.empty(); }));
    EXPECT_EQ(c.replies, std::vector<bool>{false}) << refused;
    h.client.conn.close(c.channel_id());
    h.pump();
  }
}

TEST(SessionService, ExecFailuresLookAsTheyDoUnderSshd) {
  SessionPolicy policy = current_user_policy();
  policy.user.home = "/nonexistent-home";
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.exec(c, "pwd");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.err, "Could not chdir to home directory /nonexistent-home: No such file or directory\n");
  EXPECT_EQ(c.out, "/\n");

  policy.user.shell = "/nonexistent/shell";
  Harness h2(policy);
  ClientChannel& c2 = h2.open_session();
  h2.exec(c2, "true");
  ASSERT_TRUE(h2.finished(c2));
  EXPECT_EQ(c2.replies, std::vector<bool>{true});
  EXPECT_NE(c2.err.find("/nonexistent/shell: No such file or directory\n"), std::string::npos) << c2.err;
  EXPECT_EQ(c2.exit_status, 1u);
}

// sshd without PAM: while /etc/nologin exists, a user's session prints it
// and exits 254; root still gets in.
TEST(SessionService, NologinKeepsUsersButRootOut) {
  test::TempDir dir;
  const std::string nologin = dir.file("nologin");
  test::write_file(nologin, "The system is going down for maintenance.\n", 0644);
  SessionPolicy policy = current_user_policy();
  policy.nologin_file = nologin;
  policy.user.uid = 4242;  // as if the user were not root
  {
    Harness h(policy);
    ClientChannel& c = h.open_session();
    h.exec(c, "echo should not run");
    ASSERT_TRUE(h.finished(c));
    EXPECT_EQ(c.out, "");
    EXPECT_EQ(c.err, "The system is going down for maintenance.\n");
    EXPECT_EQ(c.exit_status, 254u);
    EXPECT_NE(std::find(h.log.begin(), h.log.end(),
                        "User " + policy.user.name + " not allowed because " + nologin + " exists"),
              h.log.end());
  }
  policy.user.uid = 0;
  Harness root(policy);
  ClientChannel& r = root.open_session();
  root.exec(r, "echo in");
  ASSERT_TRUE(root.finished(r));
  EXPECT_EQ(r.out, "in\n");
  EXPECT_EQ(r.exit_status, 0u);
}

// ~/.ssh/rc runs before the command, in the home directory with the
// session's environment and an empty stdin; /etc/ssh/sshrc instead when
// the user's may not run, for subsystems, or when there is none.
TEST(SessionService, RcFilesRunFirstAsSshdPicksThem) {
  test::TempDir home;
  ASSERT_EQ(mkdir(home.file(".ssh").c_str(), 0700), 0);
  test::write_file(home.file(".ssh/rc"), "echo \"user rc in $(pwd) for $USER\"; cat; echo rc-err >&2\n", 0644);
  const std::string system_rc = home.file("sshrc");
  test::write_file(system_rc, "echo system rc\n", 0644);
  SessionPolicy policy = current_user_policy();
  policy.user.home = home.path().string();
  policy.system_rc = system_rc;
  policy.subsystems = {{"echo", "cat"}};
  auto run = [](SessionPolicy p, const char* kind) {
    Harness h(p);
    ClientChannel& c = h.open_session();
    if (std::string_view(kind) == "subsystem") {
      key::Writer w;
      w.string("echo");
      h.request(c, "subsystem", w);
      h.send(c, "ping");
    } else {
      h.exec(c, "echo command");
    }
    h.send_eof(c);
    EXPECT_TRUE(h.finished(c));
    EXPECT_EQ(c.exit_status, 0u);
    return c.out + "|" + c.err;
  };
  EXPECT_EQ(run(policy, "exec"), "user rc in " + home.path().string() + " for " + policy.user.name + "\ncommand\n|rc-err\n");
  EXPECT_EQ(run(policy, "subsystem"), "system rc\nping|");
  SessionPolicy no_user_rc = policy;
  no_user_rc.permit_user_rc = false;
  EXPECT_EQ(run(no_user_rc, "exec"), "system rc\ncommand\n|");
  SessionPolicy neither = no_user_rc;
  neither.system_rc = home.file("missing");
  EXPECT_EQ(run(neither, "exec"), "command\n|");
}

TEST(SessionService, MaxSessionsAndNoMoreSessions) {
  SessionPolicy policy = current_user_policy();
  policy.max_sessions = 1;
  Harness h(policy);
  ClientChannel& first = h.open_session();
  EXPECT_TRUE(first.confirmed);
  ClientChannel& second = h.open_session();
  EXPECT_EQ(second.failed_reason, connection::kOpenConnectFailed);
  EXPECT_EQ(second.failed_text, "open failed");
  // Unknown channel types get sshd's answer too.
  ClientChannel x11(h);
  h.client.conn.open("x11", {}, x11);
  h.pump();
  EXPECT_EQ(x11.failed_reason, connection::kOpenConnectFailed);
  h.client.conn.close(first.channel_id());
  h.pump();
  ASSERT_TRUE(h.run_until([&] { return h.service->session_count() == 0; }));
  h.service->refuse_more_sessions();
  ClientChannel& third = h.open_session();
  EXPECT_TRUE(third.failed_reason);
}

// A TCP listener on 127.0.0.1 that echoes what one connection sends, then
// closes when that connection says EOF.
class EchoServer {
 public:
  EchoServer() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(listener_, 4) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "echo server: " << std::strerror(errno);
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (write(fd, buf, static_cast<size_t>(n)) != n) break;
      }
      close(fd);
    });
  }
  ~EchoServer() {
    shutdown(listener_, SHUT_RDWR);
    thread_.join();
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

key::Writer direct_tcpip(std::string_view host, uint32_t port) {
  key::Writer w;
  w.string(host);
  w.u32(port);
  w.string("127.0.0.1");
  w.u32(40000);
  return w;
}

TEST(SessionService, DirectTcpipRelaysToAPermittedTarget) {
  EchoServer echo;
  SessionPolicy policy = current_user_policy();
  policy.permit_open = std::vector<PermitOpen>{{"127.0.0.1", echo.port()}};
  Harness h(policy);
  ClientChannel c(h);
  h.client.conn.open("direct-tcpip", direct_tcpip("127.0.0.1", echo.port()).data(), c, connection::kTcpWindow,
                     connection::kTcpMaxPacket);
  // Answered once the connect is done.
  h.pump();
  ASSERT_TRUE(h.run_until([&] { return c.confirmed || c.failed_reason.has_value(); }));
  ASSERT_TRUE(c.confirmed) << c.failed_text;
  const std::string big(300 * 1024, 'z');
  h.send(c, "hello through the tunnel ");
  h.send(c, big);
  ASSERT_TRUE(h.run_until([&] { return c.out.size() == 25 + big.size(); }));
  EXPECT_EQ(c.out, "hello through the tunnel " + big);
  h.send_eof(c);
  ASSERT_TRUE(h.finished(c));
  EXPECT_TRUE(c.eof);
  EXPECT_TRUE(h.run_until([&] { return h.service->relay_count() == 0; }));
}

TEST(SessionService, DirectTcpipRefusalsGiveSshdsReasons) {
  EchoServer echo;  // something listening, so a refusal is the policy's
  SessionPolicy policy = current_user_policy();
  policy.permit_open = std::vector<PermitOpen>{{"localhost", PermitOpen::kAnyPort}, {"*", 1}};
  Harness h(policy);
  auto open = [&](std::string_view host, uint32_t port) {
    h.channels.push_back(std::make_unique<ClientChannel>(h));
    ClientChannel& c = *h.channels.back();
    h.client.conn.open("direct-tcpip", direct_tcpip(host, port).data(), c);
    h.pump();
    EXPECT_TRUE(h.run_until([&] { return c.confirmed || c.failed_reason.has_value(); }));
    return &c;
  };
  // Not in PermitOpen (the host is compared as written, not resolved).
  ClientChannel* denied = open("127.0.0.1", echo.port());
  EXPECT_EQ(denied->failed_reason, connection::kOpenAdministrativelyProhibited);
  EXPECT_EQ(denied->failed_text, "open failed");
  // Permitted (any host, port 1), but nothing listens there.
  ClientChannel* refused = open("127.0.0.1", 1);
  EXPECT_EQ(refused->failed_reason, connection::kOpenConnectFailed);
  EXPECT_EQ(refused->failed_text, "Connection refused");
  // Every address of the name is tried (localhost: ::1 and 127.0.0.1) before
  // the refusal.
  ClientChannel* refused_by_name = open("localhost", 1);
  EXPECT_EQ(refused_by_name->failed_reason, connection::kOpenConnectFailed);
  EXPECT_EQ(refused_by_name->failed_text, "Connection refused");
  EXPECT_EQ(h.service->relay_count(), 0u);
  ClientChannel* bad_port = open("localhost", 70000);
  EXPECT_EQ(bad_port->failed_reason, connection::kOpenAdministrativelyProhibited);
  EXPECT_NE(std::find_if(h.log.begin(), h.log.end(),
                         [](const std::string& l) { return l.find("but the request was denied") != std::string::npos; }),
            h.log.end());

  SessionPolicy off = current_user_policy();
  off.permit_tcp_forwarding = false;
  Harness h2(off);
  ClientChannel c(h2);
  h2.client.conn.open("direct-tcpip", direct_tcpip("127.0.0.1", echo.port()).data(), c);
  h2.pump();
  EXPECT_EQ(c.failed_reason, connection::kOpenAdministrativelyProhibited);
}

// The client's side of forwarded agent connections: accepts
// auth-agent@openssh.com channels.
struct AgentSide {
  explicit AgentSide(Harness& harness) : h(harness) {
    h.client.conn.on_open_request = [this](std::string_view type, key::Reader&) {
      connection::IncomingChannel in;
      types.emplace_back(type);
      if (type == "auth-agent@openssh.com") {
        channels.push_back(std::make_unique<ClientChannel>(this->h));
        channels.back()->confirmed = true;
        in.handler = channels.back().get();
      }
      return in;
    };
  }
  Harness& h;
  std::vector<std::string> types;
  std::vector<std::unique_ptr<ClientChannel>> channels;
};

TEST(SessionService, AgentForwardingMakesAPrivateSocketWhoseConnectionsOpenChannels) {
  Harness h(current_user_policy());
  AgentSide agent(h);
  ClientChannel& c = h.open_session();
  h.request(c, "auth-agent-req@openssh.com");
  h.request(c, "auth-agent-req@openssh.com");  // once per connection
  h.exec(c, "echo \"$SSH_AUTH_SOCK\"");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{true, false, true}));
  const std::string path = h.service->agent_socket();
  ASSERT_FALSE(path.empty());
  EXPECT_EQ(c.out, path + "\n");
  const std::string dir = path.substr(0, path.rfind('/'));
  EXPECT_EQ(dir.rfind("/tmp/ssh-", 0), 0u);
  EXPECT_EQ(dir.size(), std::string("/tmp/ssh-XXXXXXXXXX").size());
  EXPECT_EQ(path.substr(dir.size()), "/agent." + std::to_string(getpid()));
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  // A program of the session connects: a channel opens back to the client
  // and bytes pass both ways untouched.
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_TRUE(h.run_until([&] { return agent.channels.size() == 1; }));
  EXPECT_EQ(agent.types, std::vector<std::string>{"auth-agent@openssh.com"});
  const std::string request("\0\0\0\1\x0b", 5);  // SSH_AGENTC_REQUEST_IDENTITIES
  ASSERT_EQ(write(fd, request.data(), request.size()), 5);
  ClientChannel& relayed = *agent.channels[0];
  ASSERT_TRUE(h.run_until([&] { return relayed.out.size() == 5; }));
  EXPECT_EQ(relayed.out, request);
  const std::string answer("\0\0\0\5\x0c\0\0\0\0", 9);
  h.send(relayed, answer);
  std::string got(9, '\0');
  size_t have = 0;
  ASSERT_TRUE(h.run_until([&] {
    const ssize_t n = recv(fd, got.data() + have, got.size() - have, MSG_DONTWAIT);
    if (n > 0) have += static_cast<size_t>(n);
    return have == got.size();
  }));
  EXPECT_EQ(got, answer);
  // The agent connection ends: EOF and close reach the client.
  close(fd);
  ASSERT_TRUE(h.run_until([&] { return relayed.eof; }));
  h.send_eof(relayed);
  ASSERT_TRUE(h.run_until([&] { return relayed.closed; }));

  h.service.reset();
  EXPECT_NE(stat(path.c_str(), &st), 0);
  EXPECT_NE(stat(dir.c_str(), &st), 0);
}

TEST(SessionService, AgentForwardingRefusedWhenNotPermitted) {
  SessionPolicy policy = current_user_policy();
  policy.permit_agent_forwarding = false;
  Harness h(policy);
  ClientChannel& c = h.open_session();
  h.request(c, "auth-agent-req@openssh.com");
  h.exec(c, "echo \"${SSH_AUTH_SOCK-unset}\"");
  ASSERT_TRUE(h.finished(c));
  EXPECT_EQ(c.replies, (std::vector<bool>{false, true}));
  EXPECT_EQ(c.out, "unset\n");
}

TEST(TerminalModes, ParsedAsSshdParsesThem) {
  key::Writer w;
  w.u8(53);  // ECHO
  w.u32(0);
  w.u8(3);  // VERASE
  w.u32(0x7f);
  w.u8(4);  // VKILL disabled
  w.u32(255);
  w.u8(128);  // ISPEED
  w.u32(38400);
  w.u8(129);  // OSPEED
  w.u32(38400);
  w.u8(99);  // unknown but defined range: skipped
  w.u32(1);
  w.u8(0);  // TTY_OP_END
  w.u8(53);  // after the end: ignored
  w.u32(1);
  auto modes = parse_terminal_modes(w.data());
  ASSERT_TRUE(modes.ok());
  ASSERT_EQ(modes->size(), 6u);
  termios t{};
  t.c_lflag = ECHO | ICANON;
  apply_terminal_modes(*modes, t);
  EXPECT_EQ(t.c_lflag, static_cast<tcflag_t>(ICANON));
  EXPECT_EQ(t.c_cc[VERASE], 0x7f);
  EXPECT_EQ(t.c_cc[VKILL], static_cast<cc_t>(_POSIX_VDISABLE));
  EXPECT_EQ(cfgetispeed(&t), static_cast<speed_t>(B38400));
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B38400));
  // A number that is no rate is 9600, as sshd's baud_to_speed has it.
  apply_terminal_modes({{129, 12345}}, t);
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B9600));

  // Opcodes from 160 up stop parsing; an argument cut short is malformed.
  const key::Bytes stop = {53, 0, 0, 0, 1, 200, 1, 2};
  auto stopped = parse_terminal_modes(stop);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->size(), 1u);
  const key::Bytes cut = {53, 0, 0};
  auto bad = parse_terminal_modes(cut);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), key::Errc::kMalformed);
  EXPECT_TRUE(parse_terminal_modes({}).ok());
  key::Bytes many;
  for (int i = 0; i < 300; ++i) many.insert(many.end(), {53, 0, 0, 0, 1});
  EXPECT_EQ(parse_terminal_modes(many).error().code(), key::Errc::kTooLarge);
}

TEST(PermitOpen, ParsedAndMatchedAsSshdDoes) {
  auto p = parse_permit_open("example.com:443");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->host, "example.com");
  EXPECT_EQ(p->port, 443);
  auto v6 = parse_permit_open("[::1]:22");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  auto any = parse_permit_open("*:*");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "*");
  EXPECT_EQ(any->port, PermitOpen::kAnyPort);
  auto named = parse_permit_open("localhost:ssh");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->port, 22);
  for (const char* bad : {"nohost", ":22", "host:0", "host:65536", "[::1]22", "host:nosuchservice"}) {
    EXPECT_FALSE(parse_permit_open(bad).ok()) << bad;
  }

  SessionPolicy policy;
  EXPECT_TRUE(open_permitted(policy, "anything", 1));  // PermitOpen any, no key limit
  policy.permit_open = std::vector<PermitOpen>{};  // none
  EXPECT_FALSE(open_permitted(policy, "anything", 1));
  policy.permit_open = std::vector<PermitOpen>{{"*", 80}, {"db", PermitOpen::kAnyPort}};
  EXPECT_TRUE(open_permitted(policy, "web", 80));
  EXPECT_TRUE(open_permitted(policy, "db", 5432));
  EXPECT_FALSE(open_permitted(policy, "DB", 5432));  // exact, as sshd's strcmp
  EXPECT_FALSE(open_permitted(policy, "web", 81));
  policy.key_permit_open = {{"web", 80}};  // both lists must agree
  EXPECT_TRUE(open_permitted(policy, "web", 80));
  EXPECT_FALSE(open_permitted(policy, "db", 5432));
}

TEST(SessionEnvironment, LaterSettingsReplaceEarlierOnesInPlace) {
  SessionPolicy policy;
  policy.user = {.name = "alice", .uid = 1000, .gid = 1000, .home = "/home/alice", .shell = ""};
  policy.key_environment = {{"EDITOR", "vi"}, {"PATH", "/opt/bin"}};
  policy.set_env = {{"EDITOR", "ed"}};
  policy.client_ip = "::1";
  policy.client_port = 1;
  policy.server_ip = "::1";
  policy.server_port = 2;
  SessionEnvironment session;
  session.accepted = {{"LANG", "C.UTF-8"}, {"USER", "mallory"}};
  session.original_command = "ls";
  const auto env = session_environment(policy, session);
  std::vector<std::string> expected = {"LANG=C.UTF-8",      "USER=alice",
                                       "LOGNAME=alice",     "HOME=/home/alice",
                                       "PATH=/opt/bin",     "MAIL=/var/mail/alice",
                                       "SHELL=/bin/sh"};
  if (const char* tz = getenv("TZ"); tz != nullptr) expected.push_back(std::string("TZ=") + tz);
  for (const char* e : {"EDITOR=ed", "SSH_CLIENT=::1 1 2", "SSH_CONNECTION=::1 1 ::1 2", "SSH_ORIGINAL_COMMAND=ls"}) {
    expected.emplace_back(e);
  }
  EXPECT_EQ(env, expected);
  EXPECT_EQ(shell_argv("/bin/bash", std::nullopt), std::vector<std::string>{"-bash"});
  EXPECT_EQ(shell_argv("/bin/bash", "ls -l"), (std::vector<std::string>{"bash", "-c", "ls -l"}));
  EXPECT_EQ(signal_from_name("TERM"), SIGTERM);
  EXPECT_FALSE(signal_from_name("SIGTERM"));
  EXPECT_EQ(signal_name(SIGSEGV), "SEGV");
  EXPECT_EQ(signal_name(SIGWINCH), "SIG@openssh.com");
}

}  // namespace
}  // namespace tessera::ssh::server
