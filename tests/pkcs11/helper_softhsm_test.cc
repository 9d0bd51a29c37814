// tessera-pkcs11-helper against the SoftHSM2 tokens of softhsm-fixtures,
// spoken to over a socketpair as the agent will.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/key.h"
#include "tessera/pkcs11/protocol.h"
#include "test_support.h"

namespace tessera::pkcs11 {
namespace {

using test::TempDir;

constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";

// One helper process on one end of a socketpair.
class HelperProcess {
 public:
  explicit HelperProcess(const std::string& module = kSoftHsm) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return;
    const std::string path = test::tessera_bin("tessera-pkcs11-helper");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 0);
      dup2(fds[1], 1);
      execl(path.c_str(), path.c_str(), module.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~HelperProcess() {
    if (fd_ >= 0) close(fd_);  // the helper sees the end of its input and exits
    if (pid_ <= 0) return;
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }

  void send(const Request& request) {
    auto framed = frame_request(request);
    ASSERT_TRUE(framed.ok()) << framed.error().message();
    send_raw(framed->reveal());
  }

  void send_raw(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
      ASSERT_GT(n, 0);
      done += static_cast<size_t>(n);
    }
  }

  // The next reply, or a failed test after 20 s.
  Reply receive() {
    for (;;) {
      std::span<const uint8_t> payload;
      if (peek_frame(buffer_, &payload) == FrameStatus::kComplete) {
        auto reply = parse_reply(payload);
        EXPECT_TRUE(reply.ok()) << reply.error().message();
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(4 + payload.size()));
        if (!reply.ok()) return Reply{0, ErrorReply{}};
        return std::move(reply).value();
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20000) != 1) {
        ADD_FAILURE() << "no reply from the helper";
        return Reply{0, ErrorReply{}};
      }
      uint8_t chunk[65536];
      ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n <= 0) {
        ADD_FAILURE() << "the helper closed the connection";
        return Reply{0, ErrorReply{}};
      }
      buffer_.insert(buffer_.end(), chunk, chunk + n);
    }
  }

  ReplyBody call(RequestBody body) {
    const uint32_t id = next_id_++;
    send(Request{id, std::move(body)});
    Reply reply = receive();
    EXPECT_EQ(reply.id, id);
    return std::move(reply.body);
  }

  uint32_t next_id() { return next_id_++; }

 private:
  int fd_ = -1;
  int pid_ = -1;
  int status_ = 0;
  uint32_t next_id_ = 1;
  Bytes buffer_;
};

std::string describe(const ReplyBody& body) {
  if (auto* e = std::get_if<ErrorReply>(&body)) {
    return std::string(error_code_name(e->code)) + ": " + e->message;
  }
  return "reply type " + std::to_string(body.index());
}

class HelperSoftHsmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_program("softhsm2-util") || !test::have_program("pkcs11-tool") ||
        !std::filesystem::exists(kSoftHsm)) {
      skip_ = "SoftHSM2 or OpenSC is not installed";
      return;
    }
    dir_ = new TempDir();
    auto made = test::run({std::string(TESSERA_SOURCE_DIR) + "/softhsm-fixtures/make-tokens.sh", dir_->path().string()});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    ASSERT_NE(made.out.find("export SOFTHSM2_CONF="), std::string::npos);
    // The helper children and ssh-keygen inherit this.
    setenv("SOFTHSM2_CONF", dir_->file("softhsm2.conf").c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }

  static std::vector<KeyInfo> list(HelperProcess& helper) {
    auto body = helper.call(ListKeys{});
    auto* keys = std::get_if<KeyList>(&body);
    EXPECT_NE(keys, nullptr) << describe(body);
    return keys ? keys->keys : std::vector<KeyInfo>{};
  }
  static const KeyInfo* find(const std::vector<KeyInfo>& keys, const std::string& label) {
    for (const auto& k : keys) {
      if (k.label == label) return &k;
    }
    return nullptr;
  }
  static ReplyBody login(HelperProcess& helper, const TokenId& token, const char* pin = "1234") {
    return helper.call(Login{token, SecretBytes::copy_of(std::string_view(pin))});
  }
  // Logs in to every token; returns the key list afterwards.
  static std::vector<KeyInfo> login_all(HelperProcess& helper) {
    std::set<TokenId> tokens;
    for (const auto& k : list(helper)) tokens.insert(k.id.token);
    EXPECT_EQ(tokens.size(), 2u);
    for (const auto& t : tokens) {
      auto body = login(helper, t);
      EXPECT_TRUE(std::holds_alternative<Ok>(body)) << describe(body);
    }
    return list(helper);
  }
  static void expect_signs(HelperProcess& helper, const KeyInfo& key, const std::string& algorithm,
                           const char* context_pin = nullptr) {
    Bytes data = {'t', 'e', 's', 's', 'e', 'r', 'a', static_cast<uint8_t>(algorithm.size())};
    std::optional<SecretBytes> pin;
    if (context_pin) pin = SecretBytes::copy_of(std::string_view(context_pin));
    auto body = helper.call(Sign{key.id, data, algorithm, std::move(pin)});
    auto* sig = std::get_if<SignatureReply>(&body);
    ASSERT_NE(sig, nullptr) << key.label << " " << algorithm << ": " << describe(body);
    auto pub = key::PublicKey::from_blob(key.public_key);
    ASSERT_TRUE(pub.ok());
    auto verified = pub->verify(sig->signature, data);
    EXPECT_TRUE(verified.ok()) << key.label << " " << algorithm << ": " << verified.error().message();
    EXPECT_EQ(*key::signature_algorithm_name(sig->signature), algorithm);
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string skip_;
};

TEST_F(HelperSoftHsmTest, HelloAndListBeforeLogin) {
  HelperProcess helper;
  auto hello = helper.call(Hello{});
  ASSERT_TRUE(std::holds_alternative<HelloReply>(hello)) << describe(hello);
  EXPECT_EQ(std::get<HelloReply>(hello).version, kProtocolVersion);
  EXPECT_NE(std::get<HelloReply>(hello).module.find("SoftHSM"), std::string::npos);

  auto keys = list(helper);
  ASSERT_EQ(keys.size(), 8u);
  const std::map<std::string, std::string> expected = {
      {"rsa2048", "ssh-rsa"},           {"rsa3072", "ssh-rsa"},           {"ec256", "ecdsa-sha2-nistp256"},
      {"ec384", "ecdsa-sha2-nistp384"}, {"ec521", "ecdsa-sha2-nistp521"}, {"ed25519", "ssh-ed25519"},
      {"aa-ec256", "ecdsa-sha2-nistp256"}, {"aa-rsa2048", "ssh-rsa"}};
  for (const auto& [label, type] : expected) {
    const KeyInfo* k = find(keys, label);
    ASSERT_NE(k, nullptr) << label;
    auto pub = key::PublicKey::from_blob(k->public_key);
    ASSERT_TRUE(pub.ok()) << label;
    EXPECT_EQ(pub->ssh_name(), type);
    EXPECT_EQ(k->token_label, label.rfind("aa-", 0) == 0 ? "tessera-always-auth" : "tessera-main");
    EXPECT_FALSE(k->id.token.serial.empty());
    EXPECT_FALSE(k->id.token.slot_description.empty());
    EXPECT_EQ(k->uri.rfind("pkcs11:", 0), 0u) << k->uri;
    EXPECT_NE(k->uri.find("id=%"), std::string::npos) << k->uri;
    EXPECT_TRUE(k->flags & kTokenLoginRequired);
    EXPECT_FALSE(k->flags & kTokenLoggedIn);
  }
  EXPECT_EQ(find(keys, "rsa3072")->public_key.size() > find(keys, "rsa2048")->public_key.size(), true);
  EXPECT_EQ(find(keys, "rsa2048")->id.cka_id, Bytes{0x01});
  EXPECT_EQ(find(keys, "ed25519")->id.cka_id, Bytes{0x06});
}

TEST_F(HelperSoftHsmTest, PublicKeysMatchOpenSsh) {
  HelperProcess helper;
  auto keys = list(helper);
  auto result = test::run({"ssh-keygen", "-D", kSoftHsm});
  std::set<Bytes> openssh;
  std::istringstream lines(result.out);
  std::string type, b64;
  while (lines >> type >> b64) {
    std::string rest;
    std::getline(lines, rest);
    auto blob = key::base64_decode(b64);
    ASSERT_TRUE(blob.ok());
    openssh.insert(*blob);
  }
  // OpenSSH 9.2 lists RSA and ECDSA keys, from public key objects and certificates.
  EXPECT_EQ(openssh.size(), 7u) << result.out << result.err;
  size_t compared = 0;
  for (const auto& k : keys) {
    auto pub = key::PublicKey::from_blob(k.public_key);
    ASSERT_TRUE(pub.ok());
    if (pub->type() == key::KeyType::kEd25519) continue;
    EXPECT_EQ(openssh.count(k.public_key), 1u) << k.label;
    ++compared;
  }
  EXPECT_EQ(compared, 7u);
}

TEST_F(HelperSoftHsmTest, SignsWithEveryKeyAndAlgorithm) {
  HelperProcess helper;
  auto keys = login_all(helper);
  ASSERT_EQ(keys.size(), 8u);
  for (const auto& k : keys) {
    EXPECT_TRUE(k.flags & kTokenLoggedIn) << k.label;
    EXPECT_EQ((k.flags & kKeyAlwaysAuthenticate) != 0, k.label.rfind("aa-", 0) == 0) << k.label;
  }
  for (const char* label : {"rsa2048", "rsa3072"}) {
    for (const char* alg : {"rsa-sha2-256", "rsa-sha2-512", "ssh-rsa"}) expect_signs(helper, *find(keys, label), alg);
  }
  expect_signs(helper, *find(keys, "ec256"), "ecdsa-sha2-nistp256");
  expect_signs(helper, *find(keys, "ec384"), "ecdsa-sha2-nistp384");
  expect_signs(helper, *find(keys, "ec521"), "ecdsa-sha2-nistp521");
  expect_signs(helper, *find(keys, "ed25519"), "ssh-ed25519");

  // An algorithm that does not fit the key.
  auto body = helper.call(Sign{find(keys, "ec256")->id, Bytes{1}, "rsa-sha2-256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body));
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kUnsupported);
}

TEST_F(HelperSoftHsmTest, NotLoggedInAndUnknownKeys) {
  HelperProcess helper;
  auto keys = list(helper);
  const KeyInfo* ec = find(keys, "ec256");
  ASSERT_NE(ec, nullptr);
  auto body = helper.call(Sign{ec->id, Bytes{1}, "ecdsa-sha2-nistp256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body)) << describe(body);
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kNotLoggedIn) << describe(body);

  KeyId missing = ec->id;
  missing.cka_id = Bytes{0x7f};
  ASSERT_TRUE(std::holds_alternative<Ok>(login(helper, ec->id.token)));
  body = helper.call(Sign{missing, Bytes{1}, "ecdsa-sha2-nistp256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body));
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kKeyNotFound) << describe(body);

  missing.token.serial = "no-such-serial";
  body = helper.call(Sign{missing, Bytes{1}, "ecdsa-sha2-nistp256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body));
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kTokenNotFound) << describe(body);

  // Logged out again, the key cannot sign.
  ASSERT_TRUE(std::holds_alternative<Ok>(helper.call(Logout{ec->id.token})));
  body = helper.call(Sign{ec->id, Bytes{1}, "ecdsa-sha2-nistp256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body));
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kNotLoggedIn) << describe(body);
}

TEST_F(HelperSoftHsmTest, WrongPinIsReportedAndNotRetried) {
  HelperProcess helper;
  auto keys = list(helper);
  const KeyInfo* ec = find(keys, "ec256");
  ASSERT_NE(ec, nullptr);
  auto body = login(helper, ec->id.token, "0000");
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body)) << describe(body);
  const auto& error = std::get<ErrorReply>(body);
  EXPECT_EQ(error.code, ErrorCode::kPinIncorrect) << describe(body);
  // SoftHSM2 sets only CKF_USER_PIN_COUNT_LOW after a wrong PIN.
  EXPECT_TRUE(error.token_flags & kTokenPinCountLow);
  EXPECT_FALSE(error.token_flags & kTokenLoggedIn);
  EXPECT_NE(error.message.find("tessera-main"), std::string::npos) << error.message;
  // Nothing logged in behind the scenes.
  body = helper.call(Sign{ec->id, Bytes{1}, "ecdsa-sha2-nistp256", std::nullopt});
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(body));
  EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kNotLoggedIn) << describe(body);
  // The right PIN still works (and SoftHSM2 resets its counter).
  ASSERT_TRUE(std::holds_alternative<Ok>(login(helper, ec->id.token)));
  expect_signs(helper, *ec, "ecdsa-sha2-nistp256");
}

TEST_F(HelperSoftHsmTest, AlwaysAuthenticateKeysNeedAContextPin) {
  HelperProcess helper;
  auto keys = login_all(helper);
  for (const char* label : {"aa-ec256", "aa-rsa2048"}) {
    const KeyInfo* k = find(keys, label);
    ASSERT_NE(k, nullptr);
    EXPECT_TRUE(k->flags & kKeyAlwaysAuthenticate);
    const std::string alg = label == std::string("aa-ec256") ? "ecdsa-sha2-nistp256" : "rsa-sha2-256";
    auto body = helper.call(Sign{k->id, Bytes{1}, alg, std::nullopt});
    ASSERT_TRUE(std::holds_alternative<ErrorReply>(body)) << describe(body);
    EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kNotLoggedIn) << describe(body);
    // Twice in a row, each with its own context login.
    expect_signs(helper, *k, alg, "1234");
    expect_signs(helper, *k, alg, "1234");
    body = helper.call(Sign{k->id, Bytes{1}, alg, SecretBytes::copy_of(std::string_view("9999"))});
    ASSERT_TRUE(std::holds_alternative<ErrorReply>(body)) << describe(body);
    EXPECT_EQ(std::get<ErrorReply>(body).code, ErrorCode::kPinIncorrect) << describe(body);
  }
  // The failures did not poison the token's other key or the main token.
  expect_signs(helper, *find(keys, "aa-ec256"), "ecdsa-sha2-nistp256", "1234");
  expect_signs(helper, *find(keys, "ec256"), "ecdsa-sha2-nistp256");
}

TEST_F(HelperSoftHsmTest, ParallelRequestsInFlight) {
  HelperProcess helper;
  auto keys = login_all(helper);
  struct Pending {
    const KeyInfo* key;
    std::string algorithm;
    Bytes data;
  };
  std::map<uint32_t, Pending> pending;
  const std::vector<std::pair<std::string, std::string>> plan = {
      {"ec256", "ecdsa-sha2-nistp256"}, {"ed25519", "ssh-ed25519"}, {"rsa2048", "rsa-sha2-512"},
      {"ec384", "ecdsa-sha2-nistp384"}, {"rsa3072", "rsa-sha2-256"}, {"ec521", "ecdsa-sha2-nistp521"}};
  for (int i = 0; i < 48; ++i) {
    const auto& [label, alg] = plan[static_cast<size_t>(i) % plan.size()];
    const KeyInfo* k = find(keys, label);
    ASSERT_NE(k, nullptr);
    const uint32_t id = helper.next_id();
    Bytes data = {static_cast<uint8_t>(i), 'p'};
    pending[id] = Pending{k, alg, data};
    helper.send(Request{id, Sign{k->id, data, alg, std::nullopt}});
  }
  std::vector<uint32_t> order;
  while (!pending.empty()) {
    Reply reply = helper.receive();
    auto it = pending.find(reply.id);
    ASSERT_NE(it, pending.end()) << "unexpected reply id " << reply.id;
    auto* sig = std::get_if<SignatureReply>(&reply.body);
    ASSERT_NE(sig, nullptr) << describe(reply.body);
    auto pub = key::PublicKey::from_blob(it->second.key->public_key);
    EXPECT_TRUE(pub->verify(sig->signature, it->second.data).ok()) << it->second.key->label;
    order.push_back(reply.id);
    pending.erase(it);
  }
  EXPECT_EQ(order.size(), 48u);
}

// While one thread of the helper is stuck in C_Sign, the others read and
// answer what comes next; the stuck signature still completes afterwards.
TEST_F(HelperSoftHsmTest, OtherRequestsAreAnsweredWhileASignatureHangs) {
  const std::string control = dir_->file("fault-control");
  test::write_file(control, "");
  setenv("TESSERA_P11_FAULT_CONTROL", control.c_str(), 1);
  HelperProcess helper(TESSERA_P11_FAULT_PATH);
  unsetenv("TESSERA_P11_FAULT_CONTROL");
  auto keys = login_all(helper);
  const KeyInfo* ec = find(keys, "ec256");
  const KeyInfo* ed = find(keys, "ed25519");
  ASSERT_NE(ec, nullptr);
  ASSERT_NE(ed, nullptr);

  test::write_file(control, "hang=C_Sign:forever\n");
  const uint32_t hung = helper.next_id();
  helper.send(Request{hung, Sign{ec->id, Bytes{1, 2, 3}, "ecdsa-sha2-nistp256", std::nullopt}});
  const uint32_t hello = helper.next_id();
  helper.send(Request{hello, Hello{}});
  const uint32_t listing = helper.next_id();
  helper.send(Request{listing, ListKeys{0, false}});
  Reply first = helper.receive();
  Reply second = helper.receive();
  EXPECT_EQ(std::set<uint32_t>({first.id, second.id}), std::set<uint32_t>({hello, listing}));

  test::write_file(control, "");
  Reply last = helper.receive();
  EXPECT_EQ(last.id, hung);
  auto* sig = std::get_if<SignatureReply>(&last.body);
  ASSERT_NE(sig, nullptr) << describe(last.body);
  auto pub = key::PublicKey::from_blob(ec->public_key);
  EXPECT_TRUE(pub->verify(sig->signature, Bytes{1, 2, 3}).ok());
  // And the helper goes on signing.
  expect_signs(helper, *ed, "ssh-ed25519");
}

TEST_F(HelperSoftHsmTest, MalformedRequestGetsBadRequest) {
  HelperProcess helper;
  // A Logout whose token id is cut short, framed correctly.
  Bytes payload = {static_cast<uint8_t>(MessageType::kLogout), 0, 0, 0, 42, 0, 0, 0, 9, 'x'};
  auto framed = frame_secret(SecretBytes::copy_of(payload));
  ASSERT_TRUE(framed.ok());
  helper.send_raw(framed->reveal());
  Reply reply = helper.receive();
  EXPECT_EQ(reply.id, 42u);
  ASSERT_TRUE(std::holds_alternative<ErrorReply>(reply.body));
  EXPECT_EQ(std::get<ErrorReply>(reply.body).code, ErrorCode::kBadRequest);
  // The helper keeps serving.
  EXPECT_TRUE(std::holds_alternative<HelloReply>(helper.call(Hello{})));
}

}  // namespace
}  // namespace tessera::pkcs11
