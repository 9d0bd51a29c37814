// SessionService behind the server I/O layer, with OpenSSH's own ssh and
// sftp as clients: commands and exit codes, a pty, a subsystem
// (sftp-server), -W and -L (direct-tcpip) and -A (agent forwarding), the way
// tessera-sshd's session process will run them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/server_auth.h"
#include "io/server_connection.h"
#include "server/session_channel.h"
#include "test_support.h"
#include "tessera/key/key.h"
#include "tessera/sys/event_loop.h"
#include "transport/kex_authority.h"

namespace tessera::ssh::server {
namespace {

using namespace std::chrono_literals;

class HostKey final : public transport::HostKeySigner {
 public:
  HostKey() : key_(*key::PrivateKey::generate(key::KeyType::kEd25519)) {}
  std::vector<std::string> algorithms() const override { return {"ssh-ed25519"}; }
  key::Bytes host_key_blob(std::string_view) const override { return key_.public_key().blob(); }
  key::Result<key::Bytes> sign(std::string_view, std::span<const uint8_t> hash) override { return key_.sign(hash); }

 private:
  key::PrivateKey key_;
};

// Any key whose signature verifies logs in (the test's own key).
class AnyKey final : public auth::ServerAuthDecider {
 public:
  explicit AnyKey(transport::LocalKexAuthority& authority) : authority_(authority) {}
  auth::AuthDecision publickey(const auth::PublickeyAttempt& attempt) override {
    auth::AuthDecision d;
    d.accepted = !attempt.signature || auth::verify_publickey_signature(authority_.session_id(), attempt).ok();
    return d;
  }

 private:
  transport::LocalKexAuthority& authority_;
};

// A one-connection server on 127.0.0.1: the I/O layer, authentication by
// any key, and SessionService for the channels.
class Server {
 public:
  explicit Server(SessionPolicy policy) : loop_(*sys::EventLoop::create()), policy_(std::move(policy)) {
    listener_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listener_.get(), 4), 0);
    EXPECT_EQ(getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    EXPECT_TRUE(loop_->add_fd(listener_.get(), EPOLLIN, [this](uint32_t) { accept_one(); }).ok());
  }
  ~Server() {
    loop_->remove_fd(listener_.get());
    service_.reset();
    connection_.reset();
  }

  int port() const { return port_; }
  sys::EventLoop& loop() { return *loop_; }

  // Runs `argv` (a client) on another thread while this one serves.
  test::CommandResult client(const std::vector<std::string>& argv, const std::string& input = {},
                             const std::vector<std::string>& env = {}) {
    std::atomic<bool> done{false};
    test::CommandResult result;
    std::thread t([&] {
      result = test::run(argv, input, env);
      done = true;
      loop_->post([] {});
    });
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    const auto tick = loop_->add_timer(loop_->now() + 60s, [] {});
    loop_->run_until([&] { return done.load() || std::chrono::steady_clock::now() > deadline; });
    loop_->cancel_timer(tick);
    t.join();
    // The connection is over (or about to be): clean up before the next.
    loop_->run_until([&] { return connection_ == nullptr || connection_->closed(); });
    service_.reset();
    connection_.reset();
    return result;
  }

 private:
  void accept_one() {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0 || connection_) {
      if (fd >= 0) close(fd);
      return;
    }
    sys::Fd in(fd);
    sys::Fd out(dup(fd));
    io::ServerIoConfig config;
    config.transport.is_client = false;
    io::ServerCallbacks callbacks;
    callbacks.on_closed = [this, generation = ++generation_](std::optional<key::Error>) {
      // The Connection's channels name the service's handlers: the
      // service goes first (from the loop, outside the connection's call).
      loop_->post([this, generation] {
        if (generation == generation_) service_.reset();
      });
    };
    // Each connection has its own exchange, session id and decisions.
    authority_ = std::make_unique<transport::LocalKexAuthority>(transport::ServerKexConfig{}, host_key_);
    decider_ = std::make_unique<AnyKey>(*authority_);
    connection_ = std::make_unique<io::ServerConnection>(*loop_, std::move(in), std::move(out), config, *authority_,
                                                         *decider_, callbacks);
    ServiceHooks hooks;
    hooks.flush = [this] {
      if (connection_) connection_->flush();
    };
    hooks.log = [](std::string_view line) { (void)line; };
    service_ = std::make_unique<SessionService>(*loop_, connection_->connection(), policy_, std::move(hooks));
    service_->install();
    EXPECT_TRUE(connection_->start().ok());
  }

  std::unique_ptr<sys::EventLoop> loop_;
  HostKey host_key_;
  SessionPolicy policy_;
  sys::Fd listener_;
  int port_ = 0;
  std::unique_ptr<transport::LocalKexAuthority> authority_;
  std::unique_ptr<AnyKey> decider_;
  std::unique_ptr<io::ServerConnection> connection_;
  std::unique_ptr<SessionService> service_;
  int generation_ = 0;  // connections so far
};

SessionPolicy policy_for_current_user() {
  SessionPolicy p;
  const passwd* pw = getpwuid(getuid());
  p.user = {.name = pw->pw_name, .uid = pw->pw_uid, .gid = pw->pw_gid, .home = pw->pw_dir, .shell = "/bin/sh"};
  p.client_ip = "127.0.0.1";
  p.server_ip = "127.0.0.1";
  p.subsystems = {{"sftp", "/usr/lib/openssh/sftp-server"}};
  return p;
}

class SessionInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh") || !test::have_program("ssh-keygen")) GTEST_SKIP() << "no OpenSSH client";
    key_ = dir_.file("id_ed25519");
    auto r = test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::vector<std::string> ssh_args(const Server& s, std::vector<std::string> extra) const {
    std::vector<std::string> argv = {"ssh",      "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                                     "-o",       "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                                     "-o",       "LogLevel=ERROR", "-i", key_, "-p", std::to_string(s.port())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  test::TempDir dir_;
  std::string key_;
};

TEST_F(SessionInterop, CommandsAndExitCodes) {
  Server s(policy_for_current_user());
  auto r = s.client(ssh_args(s, {"127.0.0.1", "echo out; echo err >&2; cat; exit 7"}), "from stdin\n");
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\nfrom stdin\n");
  EXPECT_EQ(r.err, "err\n");
  // Killed by a signal: ssh says so and exits 255.
  auto k = s.client(ssh_args(s, {"127.0.0.1", "echo before; kill -TERM $$"}));
  EXPECT_EQ(k.out, "before\n");
  EXPECT_EQ(k.exit_code, 255);
}

TEST_F(SessionInterop, PtyWithSshTT) {
  Server s(policy_for_current_user());
  auto r = s.client(ssh_args(s, {"-tt", "127.0.0.1", "tty; echo \"[$TERM]\"; exit 3"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out.rfind("/dev/pts/", 0), 0u) << r.out;
  const char* term = getenv("TERM");
  if (term != nullptr && *term != '\0') {
    EXPECT_NE(r.out.find(std::string("\r\n[") + term + "]\r\n"), std::string::npos) << r.out;
  }
}

TEST_F(SessionInterop, SftpThroughTheSubsystem) {
  if (!test::have_program("sftp")) GTEST_SKIP() << "no sftp";
  Server s(policy_for_current_user());
  std::string contents;
  for (int i = 0; i < 200000; ++i) contents += std::to_string(i) + "\n";
  test::write_file(dir_.file("up"), contents);
  test::write_file(dir_.file("batch"), "put " + dir_.file("up") + " " + dir_.file("remote") + "\nget " +
                                           dir_.file("remote") + " " + dir_.file("down") + "\n");
  auto r = s.client({"sftp", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o",
                     "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-i", key_, "-P",
                     std::to_string(s.port()), "-b", dir_.file("batch"), "127.0.0.1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(dir_.file("down")), contents);
}

TEST_F(SessionInterop, StdioForwardingWithW) {
  // An echo service on 127.0.0.1 for -W to reach.
  sys::Fd echo(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(bind(echo.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(echo.get(), 1), 0);
  ASSERT_EQ(getsockname(echo.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::thread t([&] {
    const int fd = accept(echo.get(), nullptr, nullptr);
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
      if (write(fd, buf, static_cast<size_t>(n)) != n) break;
    }
    if (fd >= 0) close(fd);
  });
  Server s(policy_for_current_user());
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto r = s.client(ssh_args(s, {"-W", target, "127.0.0.1"}), "echo me\n");
  t.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "echo me\n");

  // Refused by PermitOpen: ssh reports the open failure.
  SessionPolicy limited = policy_for_current_user();
  limited.permit_open = std::vector<PermitOpen>{{"localhost", 1}};
  Server s2(limited);
  auto refused = s2.client(ssh_args(s2, {"-W", target, "127.0.0.1"}), "x");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("stdio forwarding failed"), std::string::npos) << refused.err;
}

TEST_F(SessionInterop, AgentForwardingReachesTheClientsAgent) {
  if (!test::have_program("ssh-agent") || !test::have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent";
  const std::string sock = dir_.file("agent.sock");
  test::BackgroundProcess agent({"ssh-agent", "-D", "-a", sock}, dir_.file("agent.log"));
  ASSERT_TRUE(test::wait_for_unix_socket(sock));
  auto add = test::run({"ssh-add", key_}, "", {"SSH_AUTH_SOCK=" + sock});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  Server s(policy_for_current_user());
  // The session's ssh-add lists the key through the forwarded socket.
  auto r = s.client(ssh_args(s, {"-A", "127.0.0.1", "echo \"$SSH_AUTH_SOCK\"; ssh-add -l"}), "",
                    {"SSH_AUTH_SOCK=" + sock});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("/tmp/ssh-", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("ED25519"), std::string::npos) << r.out;
  // Without -A the session has no agent.
  auto none = s.client(ssh_args(s, {"127.0.0.1", "echo \"${SSH_AUTH_SOCK-none}\""}), "", {"SSH_AUTH_SOCK=" + sock});
  EXPECT_EQ(none.out, "none\n") << none.exit_code << " " << none.err;
}

}  // namespace
}  // namespace tessera::ssh::server
