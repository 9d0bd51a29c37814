// The server embedding API against OpenSSH 9.2's ssh: the example program
// (examples/ssh_echo_server.cc: a subsystem for authorized_keys logins) and
// a Server in this process (exec handlers, ptys, passwords, the connection
// hook, the handshake timeout, shutdown with a deadline).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tessera/key/format.h"
#include "tessera/ssh/server.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using namespace std::chrono_literals;
using ssh::Channel;
using ssh::ConnectionInfo;
using ssh::Handler;
using ssh::SessionRequest;

// A program with its standard input, output and error on pipes, for a
// session that stays open while the test acts.
class Piped {
 public:
  explicit Piped(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    ::signal(SIGPIPE, SIG_IGN);
  }
  ~Piped() {
    close_input();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  Piped(const Piped&) = delete;
  Piped& operator=(const Piped&) = delete;

  bool write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(in_, data.data(), data.size());
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool signal(int number) { return pid_ > 0 && kill(pid_, number) == 0; }
  void close_input() {
    if (in_ >= 0) close(in_);
    in_ = -1;
  }
  // Reads standard output until it holds `bytes` bytes (or `limit` passes).
  std::string read_out(size_t bytes, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out_text_.size() < bytes && pump(deadline)) {
    }
    return out_text_;
  }
  // Closes the input, reads both outputs to their end and returns the exit
  // status (-1 for a signal or a timeout).
  int finish(std::chrono::milliseconds limit = 30s) {
    close_input();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while ((out_ >= 0 || err_ >= 0) && pump(deadline)) {
    }
    if (out_ >= 0 || err_ >= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }

 private:
  bool pump(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        (i == 0 ? out_ : err_) = -1;
        continue;
      }
      (i == 0 ? out_text_ : err_text_).append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string out_text_, err_text_;
};

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string pseudo_random(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

class ServerApiInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_program("ssh") || !have_program("ssh-keygen")) return;
    dir_ = new TempDir();
    for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
             {"host_ed25519", "ed25519"}, {"user", "ed25519"}, {"other", "ecdsa"}}) {
      ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", type, "-f", dir_->file(name)}).exit_code, 0);
    }
    write_file(dir_->file("authorized_keys"), "# the one key that may log in\n" + read_file(dir_->file("user.pub")),
               0644);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!have_program("ssh")) GTEST_SKIP() << "OpenSSH's ssh is not installed";
    ASSERT_NE(dir_, nullptr);
  }

  // OpenSSH's ssh with the test's defaults, `extra` options, then the rest.
  static std::vector<std::string> ssh_argv(int port, const std::string& key, const std::vector<std::string>& extra,
                                           const std::vector<std::string>& rest) {
    // ssh keeps the first value of an option: `extra` goes first.
    std::vector<std::string> argv = {"ssh", "-F", "none"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    for (const char* arg : {"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "LogLevel=ERROR"}) {
      argv.emplace_back(arg);
    }
    argv.insert(argv.end(), {"-p", std::to_string(port), "-i", dir_->file(key)});
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }

  static TempDir* dir_;
};

TempDir* ServerApiInterop::dir_ = nullptr;

// ---- the example program ---------------------------------------------------

class ExampleServer {
 public:
  explicit ExampleServer(const TempDir& dir, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {tessera_bin("ssh-echo-server"), "-k", dir.file("host_ed25519"),
                                     "-a", dir.file("authorized_keys"), "-l", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Piped>(argv);
    // "listening on port N\n"
    for (int i = 0; i < 100 && process_->out().find('\n') == std::string::npos; ++i) {
      process_->read_out(process_->out().size() + 1, 100ms);
    }
    const std::string& out = process_->out();
    const size_t at = out.find("listening on port ");
    if (at != std::string::npos) port_ = std::atoi(out.c_str() + at + 18);
  }
  int port() const { return port_; }
  Piped& process() { return *process_; }

 private:
  std::unique_ptr<Piped> process_;
  int port_ = 0;
};

TEST_F(ServerApiInterop, ExampleEchoesItsSubsystemToAnAuthorizedKey) {
  ExampleServer server(*dir_);
  ASSERT_GT(server.port(), 0) << server.process().err();
  // 8 MiB through the subsystem: every byte back, in order.
  const std::string data = pseudo_random(8 * 1024 * 1024 + 3);
  auto r = run(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "echo"}), data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_EQ(sha256_hex(r.out), sha256_hex(data));
  // Small and empty inputs end as well.
  r = run(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "echo"}), "hello\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  r = run(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "echo"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(ServerApiInterop, ExampleRefusesAnUnlistedKeyAndEverythingButItsSubsystem) {
  ExampleServer server(*dir_);
  ASSERT_GT(server.port(), 0) << server.process().err();
  auto r = run(ssh_argv(server.port(), "other", {"-s"}, {"someone@127.0.0.1", "echo"}), "x");
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << r.err;
  r = run(ssh_argv(server.port(), "user", {}, {"someone@127.0.0.1", "cat /etc/passwd"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exec request failed"), std::string::npos) << r.err;
  r = run(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "sftp"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("subsystem request failed"), std::string::npos) << r.err;
}

TEST_F(ServerApiInterop, ExampleFinishesARunningSessionAfterSigterm) {
  ExampleServer server(*dir_, {"-g", "30"});
  ASSERT_GT(server.port(), 0) << server.process().err();
  Piped session(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "echo"}));
  ASSERT_TRUE(session.write("before\n"));
  ASSERT_EQ(session.read_out(7), "before\n") << session.err();
  // The server stops accepting but lets the session go on to its end.
  ASSERT_TRUE(server.process().signal(SIGTERM));
  std::this_thread::sleep_for(300ms);
  auto refused = run(ssh_argv(server.port(), "user", {"-s"}, {"someone@127.0.0.1", "echo"}), "x");
  EXPECT_EQ(refused.exit_code, 255);
  ASSERT_TRUE(session.write("after\n"));
  EXPECT_EQ(session.finish(), 0) << session.err();
  EXPECT_EQ(session.out(), "before\nafter\n");
  EXPECT_EQ(server.process().finish(), 0) << server.process().err();
  EXPECT_NE(server.process().err().find("stopped"), std::string::npos);
}

// ---- a Server in this process ------------------------------------------------

class ServerApiInProcess : public ServerApiInterop {
 protected:
  void SetUp() override {
    ServerApiInterop::SetUp();
    if (IsSkipped()) return;
    user_key_ = key::parse_public_key_line(read_file(dir_->file("user.pub")))->key;
    config_.host_keys.push_back(*key::PrivateKey::generate(key::KeyType::kEd25519));
    config_.publickey = [this](const ConnectionInfo&, std::string_view user, const key::PublicKey& k) {
      return user == "alice" && k == user_key_;
    };
  }
  void TearDown() override {
    if (server_) {
      server_->shutdown(std::chrono::steady_clock::now() + 1s);
      EXPECT_EQ(served_.wait_for(10s), std::future_status::ready);
      server_.reset();
    }
  }
  void start() {
    auto server = ssh::Server::create(std::move(config_));
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->listen("127.0.0.1:0").ok());
    served_ = std::async(std::launch::async, [this] { return server_->serve(); });
  }
  std::vector<std::string> ssh(const std::vector<std::string>& extra, const std::vector<std::string>& rest,
                               const std::string& key = "user") {
    return ssh_argv(server_->port(), key, extra, rest);
  }

  std::optional<key::PublicKey> user_key_;
  ssh::ServerConfig config_;
  std::unique_ptr<ssh::Server> server_;
  std::future<key::Status> served_;
};

// "status N": its input's length and the env on stdout, "to stderr" on
// stderr, exit N; "term": the pty's terminal type.
Handler command_handler(const ConnectionInfo&, const SessionRequest& request) {
  if (request.kind != SessionRequest::Kind::kExec) return nullptr;
  if (request.command.rfind("status ", 0) == 0) {
    const uint32_t status = static_cast<uint32_t>(std::stoul(request.command.substr(7)));
    return [status](Channel& ch) {
      auto input = ch.read_all(64 << 20);
      ASSERT_TRUE(input.ok()) << input.error().message();
      std::string out = "read " + std::to_string(input->size()) + " bytes, user " + ch.connection().user + "\n";
      for (const auto& [name, value] : ch.session()->env) out += name + "=" + value + "\n";
      EXPECT_TRUE(ch.write(out).ok());
      EXPECT_TRUE(ch.write_stderr("to stderr\n").ok());
      ch.exit_status(status);
    };
  }
  if (request.command == "term") {
    return [](Channel& ch) {
      auto pty = ch.terminal();
      EXPECT_TRUE(ch.write(pty ? "term=" + pty->term + " columns=" + std::to_string(pty->columns) + "\n"
                               : std::string("no pty\n")).ok());
    };
  }
  return nullptr;
}

TEST_F(ServerApiInProcess, ExecHandlersOutputAndExitStatusReachOpenSsh) {
  config_.on_session = command_handler;
  start();
  const std::string input = pseudo_random(3 * 1024 * 1024);
  auto r = run(ssh({"-o", "SetEnv=GREETING=hello"}, {"alice@127.0.0.1", "status 42"}), input);
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_EQ(r.out, "read " + std::to_string(input.size()) + " bytes, user alice\nGREETING=hello\n");
  EXPECT_EQ(r.err, "to stderr\n");
  r = run(ssh({}, {"alice@127.0.0.1", "status 0"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run(ssh({}, {"alice@127.0.0.1", "no such command"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exec request failed"), std::string::npos) << r.err;
  // A pty request (ssh -tt: the terminal type is the test's own TERM)
  // reaches the handler.
  const char* term = std::getenv("TERM");
  r = run(ssh({"-tt"}, {"alice@127.0.0.1", "term"}));
  EXPECT_EQ(r.out.rfind("term=" + std::string(term != nullptr ? term : "") + " columns=", 0), 0u)
      << r.out << r.err;
  r = run(ssh({"-T"}, {"alice@127.0.0.1", "term"}));
  EXPECT_EQ(r.out, "no pty\n") << r.err;
}

TEST_F(ServerApiInProcess, PublickeyRefusesAnUnlistedKeyAndPasswordIsOffUnlessSet) {
  config_.on_session = command_handler;
  start();
  auto r = run(ssh({}, {"alice@127.0.0.1", "status 0"}, "other"));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)."), std::string::npos) << r.err;
  r = run(ssh({}, {"bob@127.0.0.1", "status 0"}));
  EXPECT_EQ(r.exit_code, 255);
}

// Group exchange only with a moduli file: OpenSSH's ssh asking for it alone
// is refused without one and logs in with one.
TEST_F(ServerApiInProcess, GroupExchangeNeedsAModuliFile) {
  config_.on_session = command_handler;
  const std::vector<std::string> gex = {"-o", "KexAlgorithms=diffie-hellman-group-exchange-sha256"};
  {
    ssh::ServerConfig without = config_;
    std::swap(config_, without);
    start();
    auto r = run(ssh(gex, {"alice@127.0.0.1", "status 0"}));
    EXPECT_EQ(r.exit_code, 255) << r.err;  // no method in common
    server_->shutdown(std::chrono::steady_clock::now() + 1s);
    EXPECT_EQ(served_.wait_for(10s), std::future_status::ready);
    server_.reset();
    config_ = std::move(without);
  }
  config_.moduli_file = "/etc/ssh/moduli";
  start();
  auto r = run(ssh(gex, {"alice@127.0.0.1", "status 7"}));
  EXPECT_EQ(r.exit_code, 7) << r.err;
}

TEST_F(ServerApiInProcess, PasswordLoginsWhenACallbackIsSet) {
  config_.on_session = command_handler;
  config_.password = [](const ConnectionInfo& info, std::string_view user, std::string_view password) {
    EXPECT_EQ(info.remote_address, "127.0.0.1");
    return user == "alice" && password == "correct horse";
  };
  start();
  const std::string askpass = dir_->file("askpass.sh");
  write_file(askpass, "#!/bin/sh\necho \"$TEST_PASSWORD\"\n", 0755);
  const std::vector<std::string> password_only = {"-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
                                                  "-o", "PreferredAuthentications=password",
                                                  "-o", "NumberOfPasswordPrompts=1"};
  const std::vector<std::string> env = {"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"};
  std::vector<std::string> good = env;
  good.push_back("TEST_PASSWORD=correct horse");
  auto r = run(ssh(password_only, {"alice@127.0.0.1", "status 5"}), "", good);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(r.err, "to stderr\n");
  std::vector<std::string> bad = env;
  bad.push_back("TEST_PASSWORD=wrong");
  r = run(ssh(password_only, {"alice@127.0.0.1", "status 5"}), "", bad);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey,password)."), std::string::npos) << r.err;
}

TEST_F(ServerApiInProcess, TheConnectionHookRefusesAConnection) {
  std::atomic<int> connections{0};
  config_.on_connection = [&](const ConnectionInfo& info) -> key::Status {
    EXPECT_EQ(info.remote_address, "127.0.0.1");
    if (connections++ == 0) return key::Error(key::Errc::kInvalidArgument, "not now");
    return key::ok_status();
  };
  config_.on_session = command_handler;
  start();
  auto r = run(ssh({}, {"alice@127.0.0.1", "status 3"}));
  EXPECT_EQ(r.exit_code, 255);
  // Closed before the server's identification (a reset when the client's
  // own line was still unread).
  EXPECT_NE(r.err.find("kex_exchange_identification"), std::string::npos) << r.err;
  r = run(ssh({}, {"alice@127.0.0.1", "status 3"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(connections, 2);
}

TEST_F(ServerApiInProcess, TheHandshakeTimeoutDropsASilentClientAndOpenSshSeesIt) {
  config_.handshake_timeout = 500ms;
  std::promise<std::string> failed;
  std::atomic<bool> reported{false};
  config_.on_handshake_failed = [&](const ConnectionInfo&, const key::Error& e) {
    if (!reported.exchange(true)) failed.set_value(e.message());
  };
  start();
  // A client that connects and says nothing.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(server_->port());
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  const auto began = std::chrono::steady_clock::now();
  char buf[4096];
  ssize_t n;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while ((n = read(fd, buf, sizeof buf)) > 0) {
  }
  EXPECT_EQ(n, 0);  // closed by the server, not timed out here
  close(fd);
  EXPECT_GE(std::chrono::steady_clock::now() - began, 400ms);
  auto f = failed.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_NE(f.get().find("handshake timed out"), std::string::npos);
  // An OpenSSH client that does not authenticate in time (it waits for a
  // password prompt nobody answers) is dropped too.
  const std::string askpass = dir_->file("slow-askpass.sh");
  write_file(askpass, "#!/bin/sh\nsleep 5\necho x\n", 0755);
  auto r = run(ssh({"-o", "BatchMode=no", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"},
                   {"alice@127.0.0.1", "status 0"}),
               "", {"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"});
  EXPECT_EQ(r.exit_code, 255) << r.err;
}

TEST_F(ServerApiInProcess, ShutdownLetsASessionFinishThenItsDeadlineEndsTheRest) {
  std::atomic<int> read_errors{0};
  config_.on_session = [&](const ConnectionInfo&, const SessionRequest& request) -> Handler {
    if (request.command != "cat") return nullptr;
    return [&](Channel& ch) {
      uint8_t buf[4096];
      for (;;) {
        auto n = ch.read(buf);
        if (!n.ok()) {
          ++read_errors;
          return;
        }
        if (*n == 0) break;
        if (!ch.write(std::span<const uint8_t>(buf, *n)).ok()) return;
      }
      ch.exit_status(0);
    };
  };
  start();
  Piped finishing(ssh({}, {"alice@127.0.0.1", "cat"}));
  Piped lingering(ssh({}, {"alice@127.0.0.1", "cat"}));
  ASSERT_TRUE(finishing.write("one\n") && lingering.write("two\n"));
  ASSERT_EQ(finishing.read_out(4), "one\n") << finishing.err();
  ASSERT_EQ(lingering.read_out(4), "two\n") << lingering.err();
  const auto began = std::chrono::steady_clock::now();
  server_->shutdown(began + 1500ms);
  std::this_thread::sleep_for(200ms);
  // Running sessions go on; new connections are refused.
  auto refused = run(ssh({}, {"alice@127.0.0.1", "status 0"}));
  EXPECT_EQ(refused.exit_code, 255);
  ASSERT_TRUE(finishing.write("more\n"));
  EXPECT_EQ(finishing.finish(), 0) << finishing.err();
  EXPECT_EQ(finishing.out(), "one\nmore\n");
  EXPECT_EQ(served_.wait_for(100ms), std::future_status::timeout);
  // The other never ends its input: at the deadline its handler's read fails
  // and the connection is closed.
  ASSERT_EQ(served_.wait_for(10s), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - began, 1400ms);
  EXPECT_TRUE(served_.get().ok());
  EXPECT_EQ(read_errors, 1);
  EXPECT_EQ(lingering.finish(), 255);
  server_.reset();
}

TEST_F(ServerApiInProcess, OpenSshLearnsTheOtherHostKeysThroughHostkeys00) {
  // Two host keys; the client knows only the Ed25519 one and, with
  // UpdateHostKeys, adds the ECDSA key once the server has proved it.
  const key::PrivateKey ecdsa = *key::PrivateKey::generate(key::KeyType::kEcdsaP256);
  config_.host_keys.push_back(ecdsa);
  const key::PublicKey ed25519 = config_.host_keys.front().public_key();
  config_.on_session = command_handler;
  start();
  const std::string known_hosts = dir_->file("known_hosts_update");
  const std::string host = "[127.0.0.1]:" + std::to_string(server_->port());
  write_file(known_hosts, host + " " + key::format_public_key_line(ed25519, "") + "\n", 0644);
  auto r = run(ssh({"-o", "UserKnownHostsFile=" + known_hosts, "-o", "StrictHostKeyChecking=yes",
                    "-o", "UpdateHostKeys=yes", "-o", "HostKeyAlgorithms=ssh-ed25519,ecdsa-sha2-nistp256"},
                   {"alice@127.0.0.1", "status 0"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("failed to confirm"), std::string::npos) << r.err;
  const std::string learned = read_file(known_hosts);
  const std::string ecdsa_line = key::format_public_key_line(ecdsa.public_key(), "");
  EXPECT_NE(learned.find(ecdsa_line.substr(0, ecdsa_line.find(' ', 20))), std::string::npos) << learned;
}

}  // namespace
}  // namespace tessera::test
