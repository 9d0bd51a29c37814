// The server embedding API in one process: host keys from files
// (load_host_key_files, shared with tessera-sshd), and a Server driven by
// the library's own Client.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/host_keys_file.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/ssh/client.h"
#include "tessera/ssh/server.h"
#include "test_support.h"
#include "transport/host_key_algorithms.h"

namespace tessera::ssh {
namespace {

using key::KeyType;
using key::PrivateKey;
using test::TempDir;
using test::write_file;

std::string private_key_file(const TempDir& dir, const std::string& name, const PrivateKey& k) {
  const std::string path = dir.file(name);
  write_file(path, *key::format_openssh_private_key(k, "test", key::SecretBytes()));
  return path;
}

key::Certificate certify(const PrivateKey& ca, const PrivateKey& subject, key::CertType type) {
  key::Certificate cert{subject.public_key(), {}, 0, type, {}, {}, 0, UINT64_MAX, {}, {}, {}, ca.public_key(), {}};
  cert.key_id = "test-cert";
  cert.principals = {"localhost"};
  key::PrivateKeySigner signer(ca);
  EXPECT_TRUE(key::sign_certificate(cert, signer, key::default_certificate_algorithm(ca.public_key())).ok());
  return cert;
}

std::string certificate_file(const TempDir& dir, const std::string& name, const key::Certificate& cert) {
  const std::string path = dir.file(name);
  write_file(path, std::string(cert.type_name()) + " " + key::base64_encode(cert.blob()) + " comment\n", 0644);
  return path;
}

bool has(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

TEST(HostKeyFiles, OffersEachKeysAlgorithmsAndCertificateForms) {
  TempDir dir;
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey p384 = *PrivateKey::generate(KeyType::kEcdsaP384);
  const PrivateKey rsa = *PrivateKey::generate(KeyType::kRsa, 2048);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  auto loaded = io::load_host_key_files(
      {private_key_file(dir, "ed", ed), private_key_file(dir, "p384", p384), private_key_file(dir, "rsa", rsa)},
      {certificate_file(dir, "rsa-cert.pub", certify(ca, rsa, key::CertType::kHost))});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_TRUE(loaded->warnings.empty());
  io::HostKeys& keys = *loaded->keys;
  const std::vector<std::string> algorithms = keys.algorithms();
  for (const char* name : {"ssh-ed25519", "ecdsa-sha2-nistp384", "rsa-sha2-512", "rsa-sha2-256",
                           "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com"}) {
    EXPECT_TRUE(has(algorithms, name)) << name;
  }
  for (const char* name : {"ssh-rsa", "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256"}) {
    EXPECT_FALSE(has(algorithms, name)) << name;
  }
  // Every offered algorithm signs as the exchange check expects, with the
  // key or certificate blob it names.
  const key::Bytes hash(32, 0x5a);
  for (const std::string& name : algorithms) {
    const transport::HostKeyAlgorithm* alg = transport::find_host_key_algorithm(name);
    ASSERT_NE(alg, nullptr) << name;
    auto parsed = transport::parse_server_host_key(*alg, keys.host_key_blob(name));
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message();
    EXPECT_EQ(parsed->certificate.has_value(), alg->certificate) << name;
    auto signature = keys.sign(name, hash);
    ASSERT_TRUE(signature.ok()) << name;
    EXPECT_TRUE(transport::verify_exchange_signature(*alg, parsed->key, *signature, hash).ok()) << name;
  }
  EXPECT_FALSE(keys.sign("ssh-ed25519-cert-v01@openssh.com", hash).ok());
  EXPECT_TRUE(keys.host_key_blob("ecdsa-sha2-nistp256").empty());
  const std::vector<key::Bytes> blobs = keys.public_key_blobs();
  ASSERT_EQ(blobs.size(), 3u);
  EXPECT_EQ(blobs[0], ed.public_key().blob());
  EXPECT_EQ(blobs[2], rsa.public_key().blob());
}

TEST(HostKeyFiles, SkipsWhatCannotServeWithAWarningNamingTheFile) {
  TempDir dir;
  const PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey ed2 = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey p256 = *PrivateKey::generate(KeyType::kEcdsaP256);
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEcdsaP256);
  const std::string encrypted = dir.file("encrypted");
  write_file(encrypted, *key::format_openssh_private_key(p256, "", key::SecretBytes::copy_of("secret")));
  write_file(dir.file("garbage"), "not a key\n");
  auto loaded = io::load_host_key_files(
      {private_key_file(dir, "ed", ed), dir.file("missing"), encrypted, dir.file("garbage"),
       private_key_file(dir, "ed2", ed2)},
      {certificate_file(dir, "user-cert.pub", certify(ca, ed, key::CertType::kUser)),
       certificate_file(dir, "other-cert.pub", certify(ca, p256, key::CertType::kHost)),
       certificate_file(dir, "ed-cert.pub", certify(ca, ed, key::CertType::kHost))});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const std::vector<std::string>& w = loaded->warnings;
  ASSERT_EQ(w.size(), 6u);
  EXPECT_NE(w[0].find(dir.file("missing") + ": No such file"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("encrypted"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find(dir.file("garbage")), std::string::npos) << w[2];
  EXPECT_NE(w[3].find("earlier ssh-ed25519"), std::string::npos) << w[3];
  EXPECT_NE(w[4].find("user certificate"), std::string::npos) << w[4];
  EXPECT_NE(w[5].find("no matching private key"), std::string::npos) << w[5];
  EXPECT_EQ(loaded->keys->algorithms(),
            (std::vector<std::string>{"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"}));
  EXPECT_EQ(loaded->keys->host_key_blob("ssh-ed25519"), ed.public_key().blob());
}

TEST(HostKeyFiles, FailsWhenNoKeyLoads) {
  TempDir dir;
  auto loaded = io::load_host_key_files({dir.file("missing")}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message().find("no host key could be loaded"), std::string::npos);
  EXPECT_NE(loaded.error().message().find("missing"), std::string::npos);
  EXPECT_FALSE(io::load_host_key_files({}, {}).ok());
}

TEST(HostKeyFiles, CertificateFileParsingRejectsMismatchesAndBadSignatures) {
  const PrivateKey ca = *PrivateKey::generate(KeyType::kEd25519);
  const PrivateKey host = *PrivateKey::generate(KeyType::kEd25519);
  key::Certificate cert = certify(ca, host, key::CertType::kHost);
  const std::string b64 = key::base64_encode(cert.blob());
  EXPECT_TRUE(io::parse_certificate_file("# comment\n\nssh-ed25519-cert-v01@openssh.com " + b64 + "\n").ok());
  EXPECT_FALSE(io::parse_certificate_file("ecdsa-sha2-nistp256-cert-v01@openssh.com " + b64).ok());
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519 " + b64).ok());
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519-cert-v01@openssh.com !!!").ok());
  EXPECT_FALSE(io::parse_certificate_file("").ok());
  cert.key_id = "changed after signing";
  EXPECT_FALSE(io::parse_certificate_file("ssh-ed25519-cert-v01@openssh.com " + key::base64_encode(cert.blob())).ok());
}

// ---- the Server, with the library's own Client -------------------------------

using namespace std::chrono_literals;

// A Server on 127.0.0.1 serving on a thread of its own for one test.
class ServerApi : public ::testing::Test {
 protected:
  void SetUp() override {
    user_key_ = *PrivateKey::generate(KeyType::kEd25519);
    other_key_ = *PrivateKey::generate(KeyType::kEcdsaP256);
    user_key_file_ = private_key_file(dir_, "id_user", user_key_);
    other_key_file_ = private_key_file(dir_, "id_other", other_key_);
    config_.host_keys.push_back(*PrivateKey::generate(KeyType::kEd25519));
    config_.publickey = [this](const ConnectionInfo& info, std::string_view user, const key::PublicKey& k) {
      EXPECT_EQ(info.remote_address, "127.0.0.1");
      EXPECT_NE(info.client_version.find("SSH-2.0-"), std::string::npos);
      return user == "alice" && k == user_key_.public_key();
    };
  }
  void TearDown() override { stop(); }

  void start() {
    auto server = Server::create(std::move(config_));
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->listen("127.0.0.1:0").ok());
    ASSERT_NE(server_->port(), 0);
    served_ = std::async(std::launch::async, [this] { return server_->serve(); });
  }
  void stop() {
    if (!server_) return;
    server_->shutdown(std::chrono::steady_clock::now() + 2s);
    ASSERT_EQ(served_.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(served_.get().ok());
    server_.reset();
  }

  ClientOptions client_options(const std::string& identity, const std::string& user = "alice") {
    ClientOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.user = user;
    o.agent_socket = "";
    o.identity_files = {identity};
    o.host_key_check = [](const key::PublicKey&) { return key::ok_status(); };
    return o;
  }

  // Exec handler: "upper" upper-cases its input and exits 7; "fail" writes
  // to stderr and exits 3.
  static Handler exec_handler(const ConnectionInfo&, const SessionRequest& request) {
    if (request.kind != SessionRequest::Kind::kExec) return nullptr;
    if (request.command == "upper") {
      return [](Channel& ch) {
        EXPECT_EQ(ch.connection().user, "alice");
        EXPECT_TRUE(ch.connection().key.has_value());
        auto all = ch.read_all(64 << 20);
        ASSERT_TRUE(all.ok());
        std::string out = *all;
        for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        EXPECT_TRUE(ch.write(out).ok());
        ch.exit_status(7);
      };
    }
    if (request.command == "fail") {
      return [](Channel& ch) {
        EXPECT_TRUE(ch.write_stderr("it failed\n").ok());
        ch.exit_status(3);
      };
    }
    return nullptr;
  }

  TempDir dir_;
  PrivateKey user_key_ = *PrivateKey::generate(KeyType::kEd25519);
  PrivateKey other_key_ = user_key_;
  std::string user_key_file_, other_key_file_;
  ServerConfig config_;
  std::unique_ptr<Server> server_;
  std::future<key::Status> served_;
};

TEST_F(ServerApi, PublickeyLogsInAndExecRunsTheHandler) {
  config_.on_session = exec_handler;
  start();
  auto client = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto r = (*client)->run("upper", "hello, server\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "HELLO, SERVER\n");
  EXPECT_EQ(r->exit_status, 7);
  r = (*client)->run("fail");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->err, "it failed\n");
  EXPECT_EQ(r->exit_status, 3);
  // A command no handler takes is refused; the connection goes on.
  EXPECT_FALSE((*client)->run("unknown").ok());
  // A large input crosses both windows several times.
  std::string big(5 * 1024 * 1024 + 17, 'x');
  r = (*client)->run("upper", big);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out.size(), big.size());
  EXPECT_TRUE(r->out == std::string(big.size(), 'X'));
}

TEST_F(ServerApi, AnUnlistedKeyOrUserIsRefused) {
  std::atomic<int> failures{0};
  std::string last_error;
  std::mutex m;
  config_.on_handshake_failed = [&](const ConnectionInfo& info, const key::Error& e) {
    EXPECT_TRUE(info.user.empty());
    std::lock_guard<std::mutex> lock(m);
    last_error = e.message();
    ++failures;
  };
  start();
  auto refused = Client::connect(client_options(other_key_file_));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("Permission denied"), std::string::npos) << refused.error().message();
  EXPECT_FALSE(Client::connect(client_options(user_key_file_, "bob")).ok());
  for (int i = 0; i < 200 && failures < 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(failures, 2);
}

TEST_F(ServerApi, PasswordIsOffOnlyUnlessSet) {
  // Nothing here sends passwords (Client uses keys only): the decider's
  // offer is what the unit can see.
  config_.password = [](const ConnectionInfo&, std::string_view user, std::string_view password) {
    return user == "alice" && password == "secret";
  };
  config_.on_session = exec_handler;
  start();
  auto client = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(client.ok()) << client.error().message();
}

TEST_F(ServerApi, TheConnectionHookRefusesAConnection) {
  std::atomic<int> seen{0};
  config_.on_connection = [&](const ConnectionInfo& info) -> key::Status {
    EXPECT_EQ(info.remote_address, "127.0.0.1");
    EXPECT_NE(info.local_port, 0);
    EXPECT_TRUE(info.client_version.empty());
    if (seen++ == 0) return key::Error(key::Errc::kInvalidArgument, "not you");
    return key::ok_status();
  };
  config_.on_session = exec_handler;
  start();
  auto refused = Client::connect(client_options(user_key_file_));
  ASSERT_FALSE(refused.ok());
  auto accepted = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(accepted.ok()) << accepted.error().message();
  EXPECT_EQ(seen, 2);
}

// A TCP connection that sends nothing.
int silent_connection(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

// Reads until EOF (or 10 s): whether the server closed the connection.
bool closed_by_server(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) return false;
  }
}

TEST_F(ServerApi, TheHandshakeTimeoutDropsASilentClient) {
  config_.handshake_timeout = 300ms;
  std::promise<std::string> failure;
  config_.on_handshake_failed = [&](const ConnectionInfo&, const key::Error& e) { failure.set_value(e.message()); };
  start();
  const auto began = std::chrono::steady_clock::now();
  const int fd = silent_connection(server_->port());
  EXPECT_TRUE(closed_by_server(fd));
  ::close(fd);
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  auto f = failure.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_NE(f.get().find("handshake timed out"), std::string::npos);
}

TEST_F(ServerApi, ShutdownLetsARunningSessionFinishAndRefusesNewConnections) {
  std::mutex m;
  std::condition_variable cv;
  bool running = false, release = false;
  config_.on_session = [&](const ConnectionInfo&, const SessionRequest& r) -> Handler {
    if (r.command != "slow") return nullptr;
    return [&](Channel& ch) {
      {
        std::unique_lock<std::mutex> lock(m);
        running = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
      }
      EXPECT_TRUE(ch.write("finished\n").ok());
      ch.exit_status(0);
    };
  };
  start();
  auto client = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto idle = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(idle.ok());
  auto result = std::async(std::launch::async, [&] { return (*client)->run("slow"); });
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return running; }));
  }
  server_->shutdown(std::chrono::steady_clock::now() + 30s);
  // Not accepting any more; the idle connection is closed at once.
  for (int i = 0; i < 500 && server_->connection_count() > 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->connection_count(), 1u);
  EXPECT_FALSE(Client::connect(client_options(user_key_file_)).ok());
  EXPECT_EQ(served_.wait_for(200ms), std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
    cv.notify_all();
  }
  auto r = result.get();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "finished\n");
  EXPECT_EQ(r->exit_status, 0);
  ASSERT_EQ(served_.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(served_.get().ok());
  server_.reset();
}

TEST_F(ServerApi, TheShutdownDeadlineEndsASessionThatWouldNotFinish) {
  std::promise<std::string> write_error;
  config_.on_session = [&](const ConnectionInfo&, const SessionRequest&) -> Handler {
    return [&](Channel& ch) {
      const std::string chunk(64 * 1024, 'y');
      for (;;) {
        if (auto s = ch.write(chunk); !s.ok()) {
          write_error.set_value(s.error().message());
          return;
        }
      }
    };
  };
  start();
  auto client = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(client.ok());
  auto result = std::async(std::launch::async, [&] { return (*client)->run("endless", "", 1 << 20); });
  std::this_thread::sleep_for(200ms);
  const auto began = std::chrono::steady_clock::now();
  server_->shutdown(began + 300ms);
  ASSERT_EQ(served_.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(served_.get().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - began, 250ms);
  auto f = write_error.get_future();
  ASSERT_EQ(f.wait_for(1s), std::future_status::ready);
  EXPECT_NE(f.get().find("deadline"), std::string::npos);
  EXPECT_FALSE(result.get().ok());
  server_.reset();
}

TEST_F(ServerApi, StreamChannelsAndRefusals) {
  // A custom channel type as a byte stream; everything else refused with
  // the reason given. The library's Client opens only sessions, so this
  // checks the decision path through on_channel with a session refused.
  config_.on_channel = [](const ConnectionInfo& info, std::string_view type, std::span<const uint8_t>) {
    EXPECT_EQ(info.user, "alice");
    if (type == "session") return ChannelDecision::refuse(OpenRefusal::kAdministrativelyProhibited, "no sessions");
    return ChannelDecision::refuse(OpenRefusal::kUnknownChannelType, "unknown");
  };
  start();
  auto client = Client::connect(client_options(user_key_file_));
  ASSERT_TRUE(client.ok());
  auto r = (*client)->run("anything");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("no sessions"), std::string::npos) << r.error().message();
}

TEST_F(ServerApi, CreateFailsForAnUnusableHostKeyFileAndListenForABadAddress) {
  ServerConfig bad;
  bad.host_key_files = {dir_.file("missing")};
  auto server = Server::create(std::move(bad));
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message().find(dir_.file("missing")), std::string::npos);
  EXPECT_FALSE(Server::create(ServerConfig{}).ok());
  ServerConfig good;
  good.host_keys.push_back(*PrivateKey::generate(KeyType::kEd25519));
  auto ok = Server::create(std::move(good));
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE((*ok)->listen("no-port").ok());
  EXPECT_FALSE((*ok)->listen("::1:22").ok());
  EXPECT_FALSE((*ok)->listen("127.0.0.1:99999").ok());
  EXPECT_FALSE((*ok)->serve().ok());  // nothing to serve
  EXPECT_FALSE((*ok)->serve(0).ok());  // not a listening socket
  ASSERT_TRUE((*ok)->listen("[::1]:0").ok() || (*ok)->listen("127.0.0.1:0").ok());
  EXPECT_NE((*ok)->port(), 0);
  // Shut down before serving: serve() returns at once.
  (*ok)->shutdown(std::chrono::steady_clock::now());
  EXPECT_TRUE((*ok)->serve().ok());
}

}  // namespace
}  // namespace tessera::ssh
