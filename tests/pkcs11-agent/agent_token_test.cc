// tessera-agent with keys on SoftHSM2 tokens (softhsm-fixtures/), reached
// through tessera-pkcs11-helper: added with OpenSSH's ssh-add -s and with
// tessera-add -s, used by ssh-add -T and by ssh logging in to sshd; PINs at
// add time and at first use (a test askpass that records every prompt),
// CKA_ALWAYS_AUTHENTICATE keys, wrong PINs; and, through the tessera-p11-fault
// module, token removal and return, a PIN pad, PIN counters down to a locked
// PIN, hung and crashing modules.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "softhsm_tokens.h"
#include "sshd.h"
#include "tessera/agent/client.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kSoftHsm = kSoftHsmModule;
constexpr const char* kPin = kFixturePin;
// Keys of the fixture tokens (softhsm-fixtures/README.md).
const std::vector<std::string> kMainKeys = {"rsa2048", "rsa3072", "ec256", "ec384", "ec521", "ed25519"};
const std::vector<std::string> kAlwaysAuthKeys = {"aa-ec256", "aa-rsa2048"};

size_t count_lines(const std::string& text, const std::string& needle = "") {
  std::istringstream in(text);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

class AgentTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { skip_ = softhsm_missing(); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    softhsm_conf_ = copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(softhsm_conf_.empty());
    socket_ = dir_.file("agent.sock");
    askpass_log_ = dir_.file("askpass.log");
    write_file(dir_.file("pin"), kPin);
    write_file(askpass_log_, "");
    write_file(control_path(), "");
    // Records each prompt (one line, newlines folded) and answers with the
    // contents of the pin file; "cancel" in it makes the dialog fail.
    write_file(dir_.file("askpass"),
               "#!/bin/sh\n"
               "printf '%s\\n' \"$(printf '%s' \"$1\" | tr '\\n' '|')\" >> " + askpass_log_ + "\n" +
                   "pin=$(cat " + dir_.file("pin") + ")\n" +
                   "[ \"$pin\" = cancel ] && exit 1\n"
                   "printf '%s\\n' \"$pin\"\n",
               0755);
  }

  std::vector<std::string> agent_env() const {
    return {"SOFTHSM2_CONF=" + softhsm_conf_, "SSH_ASKPASS=" + dir_.file("askpass"), "SSH_ASKPASS_REQUIRE=force",
            "TESSERA_P11_FAULT_MODULE=" + std::string(kSoftHsm), "TESSERA_P11_FAULT_CONTROL=" + control_path()};
  }

  void start_agent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {tessera_bin("tessera-agent"), "-d", "-a", socket_, "-P",
                                     "/usr/lib*/*," + fault_module_dir() + "/*", "--pkcs11-poll", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    agent_ = std::make_unique<BackgroundProcess>(argv, dir_.file("agent.log"), agent_env());
    ASSERT_TRUE(agent_->started());
    ASSERT_TRUE(wait_for_unix_socket(socket_)) << agent_log();
  }

  static std::string fault_module_dir() {
    return std::filesystem::canonical(std::filesystem::path(TESSERA_P11_FAULT_PATH).parent_path()).string();
  }
  std::string control_path() const { return dir_.file("control"); }
  void control(const std::string& text) {
    write_file_atomically(control_path(), text);
    // The module re-reads a file changed in the last 0.5 s at every call.
  }

  // OpenSSH's ssh-add against the agent; PINs it asks for come from stdin.
  CommandResult ssh_add(const std::vector<std::string>& args, const std::string& input = {}) {
    std::vector<std::string> argv = {"ssh-add"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, {"SSH_AUTH_SOCK=" + socket_, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  }
  CommandResult tessera_add(const std::vector<std::string>& args, const std::string& input = {}) {
    std::vector<std::string> argv = {tessera_bin("tessera-add")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, {"SSH_AUTH_SOCK=" + socket_, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  }

  void add_provider(const std::string& provider, const std::string& pin = kPin) {
    auto added = ssh_add({"-s", provider}, pin + "\n");
    ASSERT_EQ(added.exit_code, 0) << added.out << added.err << agent_log();
    ASSERT_NE(added.err.find("Card added"), std::string::npos) << added.err;
  }

  std::string listed() { return ssh_add({"-L"}).out; }
  size_t listed_count() { return count_lines(ssh_add({"-l"}).out, "pkcs11:"); }

  // A file with the public key of the token key with this label, as ssh-add -L lists it.
  std::string public_key_file(const std::string& label) {
    std::istringstream in(listed());
    for (std::string line; std::getline(in, line);) {
      if (line.find("object=" + label + ";") != std::string::npos ||
          (line.size() >= label.size() + 7 &&
           line.compare(line.size() - label.size() - 7, std::string::npos, "object=" + label) == 0)) {
        std::string path = dir_.file(label + ".pub");
        write_file(path, line + "\n");
        return path;
      }
    }
    ADD_FAILURE() << "no listed key " << label << " in:\n" << listed();
    return {};
  }

  // ssh-add -T: the agent signs with the key and ssh-add verifies it.
  CommandResult sign_with(const std::string& label) { return ssh_add({"-T", public_key_file(label)}); }

  std::vector<std::string> prompts() {
    std::vector<std::string> out;
    std::istringstream in(read_file(askpass_log_));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::string agent_log() { return "\nagent log:\n" + read_file(dir_.file("agent.log")); }

  static inline std::string skip_;
  TempDir dir_;
  std::string softhsm_conf_, socket_, askpass_log_;
  std::unique_ptr<BackgroundProcess> agent_;
};

// ---- SoftHSM2 directly ----

TEST_F(AgentTokenTest, OpenSshAddListsAndSignsWithEveryKeyType) {
  start_agent();
  add_provider(kSoftHsm);
  auto list = ssh_add({"-l"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const auto& label : kMainKeys) EXPECT_NE(list.out.find("object=" + label), std::string::npos) << label;
  EXPECT_EQ(count_lines(list.out, "pkcs11:"), kMainKeys.size() + kAlwaysAuthKeys.size()) << list.out;
  // RSA with each signature algorithm ssh-add -T asks for, ECDSA on three curves, Ed25519.
  for (const auto& label : kMainKeys) {
    auto signed_ok = sign_with(label);
    EXPECT_EQ(signed_ok.exit_code, 0) << label << ": " << signed_ok.err << agent_log();
  }
  EXPECT_TRUE(prompts().empty()) << "the PIN given at add time is used";
}

// A SIGN_REQUEST with as much data as an agent message can carry reaches the
// token and signs, as it does with ssh-agent: the helper protocol has room
// for it (this used to abort the agent at 262,066 bytes for Ed25519).
TEST_F(AgentTokenTest, SignRequestsUpToTheMessageCapSignOnTheToken) {
  start_agent();
  add_provider(kSoftHsm);
  auto client = agent::AgentClient::connect(socket_);
  ASSERT_TRUE(client.ok()) << client.error().message();
  client->set_timeout(60s);
  auto identities = client->list_identities();
  ASSERT_TRUE(identities.ok()) << identities.error().message();
  for (const std::string label : {"ed25519", "ec256", "rsa2048"}) {
    const agent::Identity* found = nullptr;
    for (const auto& id : *identities) {
      if (id.comment.ends_with("object=" + label)) found = &id;
    }
    ASSERT_NE(found, nullptr) << label;
    auto key = key::PublicKey::from_blob(found->key_blob);
    ASSERT_TRUE(key.ok());
    // type, key blob, data, flags: the largest data the agent accepts.
    const size_t most = agent::kMaxMessageBytes - (1 + 4 + found->key_blob.size() + 4 + 4);
    const uint32_t flags = label == "rsa2048" ? agent::kSignFlagRsaSha512 : 0;
    for (size_t size : {size_t{1000}, size_t{262065}, size_t{262066}, most}) {
      if (size > most) continue;
      key::Bytes data(size);
      for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>(i * 7 + size);
      auto signature = client->sign(found->key_blob, data, flags);
      ASSERT_TRUE(signature.ok()) << label << " " << size << ": " << signature.error().message() << agent_log();
      EXPECT_TRUE(key->verify(*signature, data).ok()) << label << " " << size;
    }
  }
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size()) << agent_log();
}

// A token with 800 keys whose labels are 200 characters long: the helper
// lists them in pages of at most one frame, the agent holds them all and
// signs with them, and its identities answer carries those that fit in one
// message (ssh-add refuses a larger one), saying so in its log once.
TEST_F(AgentTokenTest, TokenWithHundredsOfLongLabelledKeysIsServedInPages) {
  constexpr int kKeys = 800;
  const std::vector<std::string> env = {"SOFTHSM2_CONF=" + softhsm_conf_};
  auto init = run({"softhsm2-util", "--init-token", "--free", "--label", "many", "--pin", kPin, "--so-pin",
                   "12345678"},
                  "", env);
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  auto made = run({tessera_bin("softhsm-many-keys"), kSoftHsm, "many", kPin, std::to_string(kKeys), "200"}, "", env);
  ASSERT_EQ(made.exit_code, 0) << made.err;

  start_agent();
  add_provider(kSoftHsm);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("keys came in"), std::string::npos) << agent_log();
  auto list = ssh_add({"-l"});
  ASSERT_EQ(list.exit_code, 0) << list.err << agent_log();
  const size_t listed = count_lines(list.out, "pkcs11:");
  EXPECT_GT(listed, 500u);
  EXPECT_LT(listed, kKeys + kMainKeys.size() + kAlwaysAuthKeys.size());
  EXPECT_NE(read_file(dir_.file("agent.log")).find("do not fit in one answer"), std::string::npos) << agent_log();
  // Said once, not on every listing.
  ASSERT_EQ(ssh_add({"-l"}).exit_code, 0) << agent_log();
  EXPECT_EQ(count_lines(read_file(dir_.file("agent.log")), "do not fit in one answer"), 1u) << agent_log();

  // Keys of the big token sign, and so do those of the others.
  auto client = agent::AgentClient::connect(socket_);
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto identities = client->list_identities();
  ASSERT_TRUE(identities.ok()) << identities.error().message();
  int signed_many = 0;
  for (const auto& id : *identities) {
    if (id.comment.find("object=many-") == std::string::npos || id.comment.size() < 200) continue;
    if (signed_many == 3) break;
    const key::Bytes data = {1, 2, 3, static_cast<uint8_t>(signed_many)};
    auto signature = client->sign(id.key_blob, data);
    ASSERT_TRUE(signature.ok()) << signature.error().message() << agent_log();
    EXPECT_TRUE(key::PublicKey::from_blob(id.key_blob)->verify(*signature, data).ok());
    ++signed_many;
  }
  EXPECT_EQ(signed_many, 3);
  EXPECT_EQ(sign_with("ed25519").exit_code, 0) << agent_log();
  // The agent polls every second; the keys stay, and so does the helper.
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out, "pkcs11:"), listed) << agent_log();
  EXPECT_EQ(read_file(dir_.file("agent.log")).find("closed its connection"), std::string::npos) << agent_log();
}

TEST_F(AgentTokenTest, TesseraAddSmartcardAndTestEveryKey) {
  start_agent();
  auto added = tessera_add({"-s", kSoftHsm}, std::string(kPin) + "\n");
  ASSERT_EQ(added.exit_code, 0) << added.err << agent_log();
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size());
  // tessera-add -T with no key: every key signs and verifies, one line each.
  auto tested = tessera_add({"-T"});
  EXPECT_EQ(tested.exit_code, 0) << tested.out << tested.err << agent_log();
  EXPECT_EQ(count_lines(tested.out, "pkcs11:"), kMainKeys.size() + kAlwaysAuthKeys.size()) << tested.out;
  // The two always-authenticate keys asked for their PIN once each.
  EXPECT_EQ(prompts().size(), 2u);
  // -e removes the provider and its keys.
  auto removed = tessera_add({"-e", kSoftHsm});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(listed_count(), 0u);
  // And it can be added again.
  auto again = tessera_add({"-s", kSoftHsm}, std::string(kPin) + "\n");
  EXPECT_EQ(again.exit_code, 0) << again.err << agent_log();
}

TEST_F(AgentTokenTest, PinAskedAtFirstUseWithTheTokenLabelThenKept) {
  start_agent();
  add_provider(kSoftHsm, "");  // no PIN: ask when needed
  EXPECT_TRUE(prompts().empty());
  ASSERT_EQ(sign_with("ec256").exit_code, 0) << agent_log();
  ASSERT_EQ(prompts().size(), 1u);
  EXPECT_NE(prompts()[0].find("Enter PIN for 'tessera-main'"), std::string::npos) << prompts()[0];
  EXPECT_EQ(sign_with("ed25519").exit_code, 0);
  EXPECT_EQ(sign_with("rsa3072").exit_code, 0);
  EXPECT_EQ(prompts().size(), 1u) << "the PIN is kept for the token once it worked";
}

TEST_F(AgentTokenTest, AlwaysAuthenticateKeyAsksForThePinAtEverySignature) {
  start_agent();
  add_provider(kSoftHsm);
  for (int i = 0; i < 3; ++i) {
    auto r = sign_with("aa-ec256");
    EXPECT_EQ(r.exit_code, 0) << r.err << agent_log();
  }
  EXPECT_EQ(sign_with("aa-rsa2048").exit_code, 0) << agent_log();
  auto asked = prompts();
  ASSERT_EQ(asked.size(), 4u);
  EXPECT_NE(asked[0].find("to sign with key 'aa-ec256'"), std::string::npos) << asked[0];
  EXPECT_NE(asked[3].find("to sign with key 'aa-rsa2048'"), std::string::npos) << asked[3];
  // Cancelling the dialog fails that signature only.
  write_file(dir_.file("pin"), "cancel");
  EXPECT_NE(sign_with("aa-ec256").exit_code, 0);
  EXPECT_EQ(sign_with("ec256").exit_code, 0) << "other keys of the token still sign";
}

TEST_F(AgentTokenTest, PinentryAsksInsteadOfAskpass) {
  std::string pinentry = dir_.file("pinentry");
  write_file(pinentry,
             "#!/bin/sh\necho OK\nwhile read -r cmd rest; do\n  case $cmd in\n"
             "    SETDESC) printf '%s\\n' \"$rest\" >> " + dir_.file("pinentry.log") + "; echo OK ;;\n"
             "    GETPIN) echo 'D 1234'; echo OK ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n",
             0755);
  start_agent({"--pinentry", pinentry});
  add_provider(kSoftHsm, "");
  EXPECT_EQ(sign_with("ec256").exit_code, 0) << agent_log();
  EXPECT_EQ(sign_with("aa-ec256").exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty()) << "SSH_ASKPASS is not used";
  std::string asked = read_file(dir_.file("pinentry.log"));
  // The user PIN of each token, then the PIN for the always-authenticate signature.
  EXPECT_EQ(count_lines(asked, "Enter PIN for"), 3u) << asked;
  EXPECT_EQ(count_lines(asked, "to sign with key 'aa-ec256'"), 1u) << asked;
}

TEST_F(AgentTokenTest, ReusePinOptionSignsAlwaysAuthenticateKeysWithoutPrompts) {
  start_agent({"--pkcs11-reuse-pin"});
  add_provider(kSoftHsm);
  EXPECT_EQ(sign_with("aa-ec256").exit_code, 0) << agent_log();
  EXPECT_EQ(sign_with("aa-rsa2048").exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty());
}

TEST_F(AgentTokenTest, WrongPinAtAddTimeFailsAndLeavesNoKeys) {
  start_agent();
  auto added = ssh_add({"-s", kSoftHsm}, "0000\n");
  EXPECT_NE(added.exit_code, 0);
  EXPECT_EQ(listed_count(), 0u);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("PIN"), std::string::npos) << agent_log();
  add_provider(kSoftHsm);  // the failed add left nothing behind
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size());
}

TEST_F(AgentTokenTest, WrongPinAtFirstUseIsNeverRetried) {
  start_agent();
  add_provider(kSoftHsm, "");
  write_file(dir_.file("pin"), "0000");
  EXPECT_NE(sign_with("ec256").exit_code, 0);
  EXPECT_EQ(prompts().size(), 1u) << "one wrong PIN, one try";
  // The error names the token once.
  const std::string log = read_file(dir_.file("agent.log"));
  EXPECT_NE(log.find("token 'tessera-main': "), std::string::npos) << log;
  EXPECT_EQ(log.find("token 'tessera-main': token 'tessera-main'"), std::string::npos) << log;
  // The next use asks again; the right PIN then works.
  write_file(dir_.file("pin"), kPin);
  EXPECT_EQ(sign_with("ec256").exit_code, 0) << agent_log();
  EXPECT_EQ(prompts().size(), 2u);
}

TEST_F(AgentTokenTest, AssociatedCertificatesJoinTheirTokenKeys) {
  start_agent();
  add_provider(kSoftHsm);
  std::string ec256 = public_key_file("ec256");
  ASSERT_EQ(ssh_add({"-e", kSoftHsm}).exit_code, 0);
  std::string ca = dir_.file("ca");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca}).exit_code, 0);
  auto signed_cert = run({"ssh-keygen", "-q", "-s", ca, "-I", "token-user", "-n", "alice", ec256});
  ASSERT_EQ(signed_cert.exit_code, 0) << signed_cert.err;
  std::string cert = dir_.file("ec256-cert.pub");

  // tessera-add -s PROVIDER CERT: the keys and the certificate of ec256.
  auto added = tessera_add({"-s", kSoftHsm, cert}, std::string(kPin) + "\n");
  ASSERT_EQ(added.exit_code, 0) << added.err << agent_log();
  auto list = ssh_add({"-l"}).out;
  EXPECT_EQ(count_lines(list, "pkcs11:"), kMainKeys.size() + kAlwaysAuthKeys.size() + 1) << list;
  EXPECT_EQ(count_lines(list, "ECDSA-CERT"), 1u) << list;
  auto used = ssh_add({"-T", cert});
  EXPECT_EQ(used.exit_code, 0) << used.err << agent_log();

  // -C: only the certificates.
  ASSERT_EQ(ssh_add({"-e", kSoftHsm}).exit_code, 0);
  auto only = tessera_add({"-C", "-s", kSoftHsm, cert}, std::string(kPin) + "\n");
  ASSERT_EQ(only.exit_code, 0) << only.err << agent_log();
  list = ssh_add({"-l"}).out;
  EXPECT_EQ(count_lines(list, "pkcs11:"), 1u) << list;
  EXPECT_EQ(count_lines(list, "ECDSA-CERT"), 1u) << list;
}

TEST_F(AgentTokenTest, ProvidersByP11KitNameAndByUri) {
  start_agent();
  // softhsm2.module names the module: no path needed.
  add_provider("softhsm2");
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size());
  ASSERT_EQ(ssh_add({"-e", "softhsm2"}).exit_code, 0);
  EXPECT_EQ(listed_count(), 0u);
  // A URI selects a token...
  add_provider("pkcs11:token=tessera-main?module-name=softhsm2");
  EXPECT_EQ(listed_count(), kMainKeys.size());
  EXPECT_EQ(sign_with("ed25519").exit_code, 0) << agent_log();
  ASSERT_EQ(ssh_add({"-e", "pkcs11:?module-name=softhsm2"}).exit_code, 0);
  // ... or one object.
  add_provider(std::string("pkcs11:token=tessera-main;object=ec521?module-path=") + kSoftHsm);
  EXPECT_EQ(listed_count(), 1u);
  EXPECT_NE(listed().find("object=ec521"), std::string::npos);
  ASSERT_EQ(ssh_add({"-e", std::string("pkcs11:?module-path=") + kSoftHsm}).exit_code, 0);
  // No module named: p11-kit-proxy, which reaches SoftHSM2 through its .module file.
  add_provider("pkcs11:token=tessera-always-auth");
  EXPECT_EQ(listed_count(), kAlwaysAuthKeys.size());
  // The path form of module-name is not RFC 7512: refused, not silently widened to every module.
  EXPECT_NE(ssh_add({"-s", "pkcs11:module-name=softhsm2;token=tessera-main"}, "1234\n").exit_code, 0);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("belong in the query"), std::string::npos) << agent_log();
}

TEST_F(AgentTokenTest, ProviderOutsideTheAllowlistIsRefused) {
  start_agent();
  auto refused = ssh_add({"-s", fault_module_dir() + "/../../build/nonexistent.so"}, "1234\n");
  EXPECT_NE(refused.exit_code, 0);
  // A real module outside -P.
  agent_.reset();
  std::filesystem::remove(socket_);
  agent_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{tessera_bin("tessera-agent"), "-d", "-a", socket_, "-P", "/opt/*"},
      dir_.file("agent.log"), agent_env());
  ASSERT_TRUE(wait_for_unix_socket(socket_));
  EXPECT_NE(ssh_add({"-s", kSoftHsm}, "1234\n").exit_code, 0);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("not allowed by -P"), std::string::npos) << agent_log();
  EXPECT_EQ(listed_count(), 0u);
}

// ---- faults, through tessera-p11-fault in front of SoftHSM2 ----

TEST_F(AgentTokenTest, RemovedTokenKeysLeaveAndComeBack) {
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH);
  size_t all = listed_count();
  ASSERT_EQ(all, kMainKeys.size() + kAlwaysAuthKeys.size());
  ASSERT_EQ(sign_with("ec256").exit_code, 0);
  std::string ec256 = public_key_file("ec256");

  control("removed=1\n");
  EXPECT_TRUE(eventually([&] { return listed_count() == 0; })) << listed() << agent_log();
  EXPECT_NE(ssh_add({"-T", ec256}).exit_code, 0);

  control("removed=0\n");
  EXPECT_TRUE(eventually([&] { return listed_count() == all; })) << listed() << agent_log();
  // No -e/-s dance: the key signs again; the PIN was wiped, so it is asked.
  EXPECT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
  ASSERT_EQ(prompts().size(), 1u);
  EXPECT_NE(prompts()[0].find("tessera-main"), std::string::npos);
}

TEST_F(AgentTokenTest, PinPadLogsInWithoutAPin) {
  control("pinpad=1\npinpad_pin=1234\n");
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH, "");
  EXPECT_EQ(sign_with("ed25519").exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty()) << "the PIN is typed on the PIN pad";
  EXPECT_NE(read_file(dir_.file("agent.log")).find("PIN pad"), std::string::npos) << agent_log();
}

TEST_F(AgentTokenTest, PinCounterStatesAreShownAndALockedPinIsNotTried) {
  control("pin_tries=3\n");
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH, "");
  write_file(dir_.file("pin"), "0000");
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 3 -> 2 tries: count low
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 2 -> 1: final try
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 1 -> 0: locked
  auto asked = prompts();
  ASSERT_EQ(asked.size(), 3u) << agent_log();
  EXPECT_EQ(asked[0].find("tries"), std::string::npos) << asked[0];
  EXPECT_NE(asked[1].find("few tries may be left"), std::string::npos) << asked[1];
  EXPECT_NE(asked[2].find("LAST try"), std::string::npos) << asked[2];
  // Locked: no prompt at all, and the error says what to do.
  write_file(dir_.file("pin"), kPin);
  EXPECT_NE(sign_with("ec256").exit_code, 0);
  EXPECT_EQ(prompts().size(), 3u);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("unblock it with the SO PIN"), std::string::npos) << agent_log();
}

TEST_F(AgentTokenTest, HungTokenTimesOutWithoutHoldingUpOtherKeys) {
  start_agent({"--pkcs11-timeout", "2"});
  add_provider(TESSERA_P11_FAULT_PATH);
  ASSERT_EQ(sign_with("ec256").exit_code, 0);
  std::string soft = dir_.file("soft");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", soft}).exit_code, 0);
  ASSERT_EQ(ssh_add({soft}).exit_code, 0);

  control("hang=C_Sign:forever\n");
  std::string ec256 = public_key_file("ec256");
  CommandResult hung;
  std::thread token_sign([&] { hung = ssh_add({"-T", ec256}); });
  EXPECT_TRUE(eventually([&] {
    return read_file(dir_.file("agent.log")).find("hanging in C_Sign") != std::string::npos;
  })) << agent_log();
  // While the token hangs: listing and the software key answer.
  EXPECT_EQ(ssh_add({"-T", soft + ".pub"}).exit_code, 0);
  EXPECT_EQ(count_lines(ssh_add({"-l"}).out), kMainKeys.size() + kAlwaysAuthKeys.size() + 1);
  token_sign.join();
  EXPECT_NE(hung.exit_code, 0);
  EXPECT_NE(read_file(dir_.file("agent.log")).find("did not answer in time"), std::string::npos) << agent_log();

  // The hang is over: a new helper signs, logging in with the kept PIN.
  control("");
  EXPECT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty());
}

TEST_F(AgentTokenTest, CrashedHelperFailsItsRequestAndRestartsAtNextUse) {
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH);
  std::string soft = dir_.file("soft");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", soft}).exit_code, 0);
  ASSERT_EQ(ssh_add({soft}).exit_code, 0);
  std::string ed = public_key_file("ed25519");

  control("crash=C_Sign\n");
  EXPECT_NE(ssh_add({"-T", ed}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return read_file(dir_.file("agent.log")).find("SIGABRT") != std::string::npos; }))
      << agent_log();
  EXPECT_EQ(ssh_add({"-T", soft + ".pub"}).exit_code, 0) << "software keys are unaffected";
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size()) << "a crash is not a removal";

  control("");
  EXPECT_EQ(ssh_add({"-T", ed}).exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty()) << "the new helper logs in with the kept PIN";
}

// A module that writes to standard output corrupts the helper's stream to
// the agent, here in the middle of a C_Sign that then hangs: the agent kills
// that helper at once and reaps it on its event loop, so other keys, and the
// token after a restart, keep working (a blocking waitpid froze the agent).
TEST_F(AgentTokenTest, HelperThatBreaksTheProtocolIsKilledWithoutStallingTheAgent) {
  start_agent({"--pkcs11-timeout", "600"});
  add_provider(TESSERA_P11_FAULT_PATH);
  std::string soft = dir_.file("soft");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", soft}).exit_code, 0);
  ASSERT_EQ(ssh_add({soft}).exit_code, 0);
  std::string ed = public_key_file("ed25519");

  control("garbage=C_Sign\nhang=C_Sign:forever\n");
  // A frozen agent would hang these forever: give up after a while instead.
  auto broken = run({"timeout", "60", "ssh-add", "-T", ed}, "", {"SSH_AUTH_SOCK=" + socket_});
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.exit_code, 124) << "the agent did not answer" << agent_log();
  auto soft_signed = run({"timeout", "60", "ssh-add", "-T", soft + ".pub"}, "", {"SSH_AUTH_SOCK=" + socket_});
  EXPECT_EQ(soft_signed.exit_code, 0) << soft_signed.err << agent_log();
  EXPECT_NE(read_file(dir_.file("agent.log")).find("broke the protocol"), std::string::npos) << agent_log();
  EXPECT_TRUE(eventually([&] { return read_file(dir_.file("agent.log")).find("SIGKILL") != std::string::npos; }))
      << agent_log();

  control("");
  EXPECT_EQ(ssh_add({"-T", ed}).exit_code, 0) << agent_log();
}

// The token is pulled out while its PIN is being asked for: the helper's
// login answers "removed" (it used to deadlock on its own login lock, and
// every later request to that helper hung), and once the token is back its
// keys sign again.
TEST_F(AgentTokenTest, TokenRemovedDuringThePinPromptFailsCleanly) {
  // An askpass that pulls the token out, then answers with the PIN.
  write_file(dir_.file("askpass"),
             "#!/bin/sh\n"
             "printf 'removed=1\\n' > " + control_path() + ".new && mv " + control_path() + ".new " +
                 control_path() + "\n" + "printf '%s\\n' '" + kPin + "'\n",
             0755);
  start_agent({"--pkcs11-timeout", "600", "--pkcs11-poll", "600"});
  add_provider(TESSERA_P11_FAULT_PATH, "");  // no PIN: asked at first use
  std::string ec256 = public_key_file("ec256");
  // A hung helper would hold this for ten minutes: give up long before.
  auto removed = run({"timeout", "60", "ssh-add", "-T", ec256}, "", {"SSH_AUTH_SOCK=" + socket_});
  EXPECT_NE(removed.exit_code, 0);
  EXPECT_NE(removed.exit_code, 124) << "the agent did not answer" << agent_log();
  EXPECT_NE(read_file(dir_.file("agent.log")).find("was removed"), std::string::npos) << agent_log();

  // Back in, with an askpass that only answers: the token's keys return at
  // the next listing, which a new add of the provider forces.
  control("");
  write_file(dir_.file("askpass"), "#!/bin/sh\nprintf '%s\\n' '" + std::string(kPin) + "'\n", 0755);
  auto readded = run({"timeout", "60", "ssh-add", "-e", TESSERA_P11_FAULT_PATH}, "", {"SSH_AUTH_SOCK=" + socket_});
  EXPECT_NE(readded.exit_code, 124) << agent_log();
  add_provider(TESSERA_P11_FAULT_PATH);
  auto again = run({"timeout", "60", "ssh-add", "-T", public_key_file("ec256")}, "", {"SSH_AUTH_SOCK=" + socket_});
  EXPECT_EQ(again.exit_code, 0) << again.err << agent_log();
}

TEST_F(AgentTokenTest, KilledHelperIsRestartedAtNextUse) {
  start_agent();
  add_provider(kSoftHsm);
  ASSERT_EQ(sign_with("ec521").exit_code, 0);
  // Kill this agent's helper (not those of tests running beside this one).
  auto killed = run({"pkill", "-KILL", "-P", std::to_string(agent_->pid()), "-f", "tessera-pkcs11-helper"});
  ASSERT_EQ(killed.exit_code, 0) << killed.err;
  EXPECT_TRUE(eventually([&] {
    return read_file(dir_.file("agent.log")).find("SIGKILL") != std::string::npos;
  })) << agent_log();
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size());
  EXPECT_EQ(sign_with("ec521").exit_code, 0) << agent_log();
  EXPECT_EQ(sign_with("rsa3072").exit_code, 0) << agent_log();
  EXPECT_TRUE(prompts().empty()) << "the new helper logs in with the kept PIN";
}

TEST_F(AgentTokenTest, UserNotLoggedInMeansLogInAgain) {
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH);
  control("not_logged_in=C_Sign:once\n");
  EXPECT_EQ(sign_with("rsa2048").exit_code, 0) << agent_log();
  EXPECT_EQ(listed_count(), kMainKeys.size() + kAlwaysAuthKeys.size()) << "never hide the keys";
  EXPECT_TRUE(prompts().empty());
}

// ---- OpenSSH's ssh logs in to sshd with a token key ----

TEST_F(AgentTokenTest, SshLogsInToSshdWithATokenKey) {
  if (auto why = Sshd::unavailable(); !why.empty()) GTEST_SKIP() << why;
  start_agent();
  add_provider(kSoftHsm);
  Sshd sshd({.dir = dir_.path().string(), .host_key = "", .extra = "LogLevel DEBUG1\n"});
  ASSERT_TRUE(sshd.started()) << sshd.log();
  for (const std::string label : {"ed25519", "ec384", "rsa2048"}) {
    // Only this key is authorized, so the login proves the token signed.
    write_file(sshd.authorized_keys(), read_file(public_key_file(label)), 0644);
    auto r = run({"ssh", "-p", std::to_string(sshd.port()), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o",
                  "IdentityFile=" + public_key_file(label), "-o", "IdentityAgent=" + socket_, "-o", "LogLevel=ERROR",
                  "root@127.0.0.1", "echo logged-in"});
    EXPECT_EQ(r.exit_code, 0) << label << ": " << r.err << sshd.log() << agent_log();
    EXPECT_EQ(r.out, "logged-in\n") << label;
  }
}


// ---- tessera-add --status: the report, field by field ----

// The status report as text and as JSON, and values picked out of the JSON
// by Python's json module (a real parser: the output must be valid JSON).
class AgentStatusTest : public AgentTokenTest {
 protected:
  struct Report {
    CommandResult text;
    CommandResult json;
    std::vector<std::string> values;  // one per expression asked for
  };

  // exprs are Python expressions over `d` (the parsed JSON) and the helpers
  // token(label), key(comment_suffix), failures(cause), kinds() below.
  Report status(const std::vector<std::string>& exprs = {}) {
    Report report;
    report.text = tessera_add({"--status"});
    report.json = tessera_add({"--status", "--json"});
    std::string program =
        "import json, sys\n"
        "d = json.load(sys.stdin)\n"
        "def token(label): return [t for p in d['providers'] for t in p['tokens'] if t['label'] == label][0]\n"
        "def key(suffix): return [k for k in d['keys'] if k['comment'].endswith(suffix)][0]\n"
        "def failures(cause): return d['counters']['failures'].get(cause, 0)\n"
        "def kinds(): return ','.join(sorted(set(p['kind'] for p in d['problems'])))\n";
    for (const auto& expr : exprs) program += "print(" + expr + ")\n";
    auto picked = run({python(), "-c", program}, report.json.out);
    EXPECT_EQ(picked.exit_code, 0) << picked.err << "\nJSON: " << report.json.out << report.json.err;
    std::istringstream lines(picked.out);
    for (std::string line; std::getline(lines, line);) report.values.push_back(line);
    if (report.values.size() != exprs.size()) {
      ADD_FAILURE() << "asked " << exprs.size() << " values, got " << picked.out;
      report.values.resize(exprs.size());
    }
    return report;
  }

  static std::string python() { return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3"; }

  std::string fault_module() const { return std::filesystem::canonical(TESSERA_P11_FAULT_PATH).string(); }

  // A text line of the report that holds both needles.
  static bool has_line(const std::string& text, const std::string& a, const std::string& b = "") {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return true;
    }
    return false;
  }
};

TEST(AgentStatusNoAgent, ExitsTwoWithSshAddsMessage) {
  auto unset = run({tessera_bin("tessera-add"), "--status"}, "", {"SSH_AUTH_SOCK="});
  EXPECT_EQ(unset.exit_code, 2);
  EXPECT_EQ(unset.err, "Could not open a connection to your authentication agent.\n");
  EXPECT_EQ(unset.out, "");
  test::TempDir dir;
  auto gone = run({tessera_bin("tessera-add"), "--status", "--json"}, "", {"SSH_AUTH_SOCK=" + dir.file("none")});
  EXPECT_EQ(gone.exit_code, 2);
  EXPECT_NE(gone.err.find("Error connecting to agent"), std::string::npos) << gone.err;
  EXPECT_EQ(gone.out, "");
  // OpenSSH's agent does not know the extension: a refusal, status 1.
  auto agent = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{"ssh-agent", "-D", "-a", dir.file("ssh-agent.sock")}, dir.file("ssh-agent.log"));
  ASSERT_TRUE(wait_for_unix_socket(dir.file("ssh-agent.sock")));
  auto refused = run({tessera_bin("tessera-add"), "--status"}, "", {"SSH_AUTH_SOCK=" + dir.file("ssh-agent.sock")});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("refused the status request"), std::string::npos) << refused.err;
  auto usage = run({tessera_bin("tessera-add"), "--status", "-l"}, "", {"SSH_AUTH_SOCK=" + dir.file("none")});
  EXPECT_EQ(usage.exit_code, 1);
}

TEST_F(AgentStatusTest, HealthyLoggedInTokenAndSignatureCounters) {
  start_agent({"--pkcs11-poll", "600"});  // no listing in flight while the report is read
  add_provider(TESSERA_P11_FAULT_PATH);
  auto before = status({"key('object=ec256')['signatures']", "d['counters']['signatures']"});
  EXPECT_EQ(before.values, (std::vector<std::string>{"0", "0"}));
  constexpr int kSignatures = 3;
  for (int i = 0; i < kSignatures; ++i) ASSERT_EQ(sign_with("ec256").exit_code, 0) << agent_log();
  ASSERT_EQ(sign_with("ed25519").exit_code, 0) << agent_log();

  auto r = status({"d['version']", "len(d['providers'])", "d['providers'][0]['module']",
                   "d['providers'][0]['helper']['state']", "d['providers'][0]['helper']['pid'] > 0",
                   "d['providers'][0]['helper']['restarts']", "d['providers'][0]['helper']['in_flight']",
                   "d['providers'][0]['helper']['usual_answer_us'] > 0", "d['providers'][0]['last_error']",
                   "token('tessera-main')['present']", "token('tessera-main')['logged_in']",
                   "token('tessera-main')['pin_cached']", "token('tessera-main')['keys']",
                   "token('tessera-main')['model']", "token('tessera-main')['manufacturer']",
                   "token('tessera-main')['serial'] != ''", "token('tessera-main')['slot'] != ''",
                   "token('tessera-main')['flags']", "token('tessera-main')['advice']",
                   "token('tessera-always-auth')['keys']", "d['keys_total']", "len(d['keys'])",
                   "key('object=ec256')['source']", "key('object=ec256')['location'] == d['providers'][0]['module']",
                   "key('object=ec256')['signatures']", "key('object=ec256')['failures']",
                   "key('object=ed25519')['signatures']", "key('object=ec256')['always_authenticate']",
                   "key('object=aa-ec256')['always_authenticate']", "key('object=ec256')['lifetime_left']",
                   "d['counters']['signatures']", "d['counters']['failures']", "d['problems']",
                   "d['readers']['service'] in ('running', 'absent')", "d['agent']['pid'] == " + std::to_string(agent_->pid()),
                   "d['agent']['uptime_seconds'] >= 0"});
  EXPECT_EQ(r.json.exit_code, 0) << r.json.err;
  const std::vector<std::string> expected = {
      "1", "1", fault_module(), "running", "True", "0", "0", "True", "None",
      "True", "True", "True", "6", "SoftHSM v2", "SoftHSM project", "True", "True", "['login_required']", "[]",
      "2", "8", "8", "token", "True", std::to_string(kSignatures), "0", "1", "False", "True", "None",
      std::to_string(kSignatures + 1), "{}", "[]", "True", "True", "True"};
  ASSERT_EQ(r.values.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(r.values[i], expected[i]) << "value " << i;

  // The text report says the same, aligned.
  const std::string& text = r.text.out;
  EXPECT_EQ(r.text.exit_code, 0) << r.text.err;
  EXPECT_TRUE(has_line(text, "PKCS#11 provider " + fault_module())) << text;
  EXPECT_TRUE(has_line(text, "  helper         running, pid ")) << text;
  EXPECT_TRUE(has_line(text, "  token 'tessera-main'")) << text;
  EXPECT_TRUE(has_line(text, "    model          SoftHSM v2 by SoftHSM project")) << text;
  EXPECT_TRUE(has_line(text, "    state          present, logged in, PIN cached, 6 keys")) << text;
  EXPECT_TRUE(has_line(text, "    PIN            ok")) << text;
  EXPECT_TRUE(has_line(text, "      signatures     3 ok, 0 failed")) << text;
  EXPECT_TRUE(has_line(text, "      flags          always-authenticate")) << text;
  EXPECT_TRUE(has_line(text, "  signatures     4")) << text;
  EXPECT_TRUE(has_line(text, "No problem found.")) << text;
}

TEST_F(AgentStatusTest, PinCountLowThenLockedWithAdviceAndFailuresByCause) {
  control("pin_tries=3\n");
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH, "");  // the PIN is asked at first use
  write_file(dir_.file("pin"), "0000");
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 3 -> 2 tries: count low

  auto low = status({"token('tessera-main')['flags']", "token('tessera-main')['pin_cached']",
                     "token('tessera-main')['logged_in']", "kinds()", "failures('pin_incorrect')",
                     "key('object=ec256')['failures']"});
  EXPECT_EQ(low.values, (std::vector<std::string>{"['login_required', 'count_low']", "False", "False",
                                                  "pin_count_low", "1", "1"}));
  EXPECT_EQ(low.json.exit_code, 3);
  EXPECT_EQ(low.text.exit_code, 3);
  EXPECT_TRUE(has_line(low.text.out, "    PIN            count low")) << low.text.out;
  EXPECT_TRUE(has_line(low.text.out, "    advice         a wrong PIN was entered")) << low.text.out;
  EXPECT_TRUE(has_line(low.text.out, "    state          present, not logged in, no PIN cached")) << low.text.out;

  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 2 -> 1: final try
  EXPECT_EQ(status({"kinds()"}).values[0], "pin_final_try");
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // 1 -> 0: locked
  write_file(dir_.file("pin"), kPin);
  EXPECT_NE(sign_with("ec256").exit_code, 0);  // locked: not even tried

  auto locked = status({"token('tessera-main')['flags']", "kinds()", "d['problems'][0]['advice']",
                        "failures('pin_incorrect')", "failures('pin_locked')", "key('object=ec256')['failures']",
                        "d['counters']['signatures']", "d['providers'][0]['last_error']['message']",
                        "d['providers'][0]['last_error']['time'] >= d['agent']['started']"});
  EXPECT_EQ(locked.values[0], "['login_required', 'count_low', 'locked']");
  EXPECT_EQ(locked.values[1], "pin_locked");
  EXPECT_NE(locked.values[2].find("unblock it with the SO PIN"), std::string::npos) << locked.values[2];
  EXPECT_EQ(locked.values[3], "3");
  EXPECT_EQ(locked.values[4], "1");
  EXPECT_EQ(locked.values[5], "4");
  EXPECT_EQ(locked.values[6], "0");
  EXPECT_NE(locked.values[7].find("tessera-main"), std::string::npos) << locked.values[7];
  EXPECT_EQ(locked.values[8], "True");
  EXPECT_EQ(locked.json.exit_code, 3);
  EXPECT_TRUE(has_line(locked.text.out, "    PIN            locked")) << locked.text.out;
  EXPECT_TRUE(has_line(locked.text.out, "    advice         PIN locked: unblock it with the SO PIN")) << locked.text.out;
  EXPECT_TRUE(has_line(locked.text.out, "Problems: 1")) << locked.text.out;
  EXPECT_TRUE(has_line(locked.text.out, "    pin_incorrect  3")) << locked.text.out;
  EXPECT_TRUE(has_line(locked.text.out, "    pin_locked     1")) << locked.text.out;
}

TEST_F(AgentStatusTest, PinToBeChangedIsShownWithAdvice) {
  control("pin_to_be_changed=1\n");
  start_agent();
  add_provider(TESSERA_P11_FAULT_PATH);
  auto r = status({"'to_be_changed' in token('tessera-main')['flags']", "kinds()"});
  EXPECT_EQ(r.values, (std::vector<std::string>{"True", "pin_to_be_changed"}));
  EXPECT_TRUE(has_line(r.text.out, "    PIN            ok, to be changed")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "--change-pin")) << r.text.out;
}

TEST_F(AgentStatusTest, RemovedTokenIsShownAbsentAndItsFailureCounted) {
  // No polling: the removal is found by the signature that fails on it.
  start_agent({"--pkcs11-poll", "600"});
  add_provider(TESSERA_P11_FAULT_PATH);
  ASSERT_EQ(sign_with("ec256").exit_code, 0) << agent_log();
  std::string ec256 = public_key_file("ec256");
  control("removed=1\n");
  EXPECT_NE(ssh_add({"-T", ec256}).exit_code, 0);

  auto r = status({"token('tessera-main')['present']", "token('tessera-main')['absent_since'] >= d['agent']['started']",
                   "token('tessera-main')['keys']", "token('tessera-main')['pin_cached']", "kinds()",
                   "failures('token_removed')", "d['counters']['signatures']", "d['keys_total']",
                   "[k['comment'] for k in d['keys'] if 'tessera-main' in k['comment']]"});
  EXPECT_EQ(r.values, (std::vector<std::string>{"False", "True", "0", "False", "token_absent", "1", "1", "2", "[]"}));
  EXPECT_EQ(r.json.exit_code, 3);
  EXPECT_TRUE(has_line(r.text.out, "    state          ABSENT since")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "token 'tessera-main': not present: insert it")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "    token_removed  1")) << r.text.out;
}

TEST_F(AgentStatusTest, HungHelperThenOneThatEndedAndWasRestarted) {
  // No polls: no listing in flight beside the hung signature, and no restart
  // of the crashed helper but by the next use.
  start_agent({"--pkcs11-timeout", "60", "--pkcs11-poll", "600"});
  add_provider(TESSERA_P11_FAULT_PATH);
  ASSERT_EQ(sign_with("ec256").exit_code, 0);
  std::string ec256 = public_key_file("ec256");

  control("hang=C_Sign:forever\n");
  CommandResult hung_sign;
  std::thread token_sign([&] { hung_sign = ssh_add({"-T", ec256}); });
  Report hung;
  EXPECT_TRUE(eventually([&] {
    hung = status({"d['providers'][0]['helper']['state']", "d['providers'][0]['helper']['in_flight']",
                   "d['providers'][0]['helper']['oldest_request_ms'] >= 3000", "kinds()"});
    // The text is asked for first: it may still have said "running".
    return hung.values[0] == "hung" && has_line(hung.text.out, "  helper         HUNG, pid");
  })) << hung.json.out << hung.text.out << agent_log();
  EXPECT_EQ(hung.values, (std::vector<std::string>{"hung", "1", "True", "helper_hung"}));
  EXPECT_EQ(hung.json.exit_code, 3);
  EXPECT_TRUE(has_line(hung.text.out, "1 in flight (oldest waiting")) << hung.text.out;
  control("");  // the hang ends, and the signature with it
  token_sign.join();
  EXPECT_EQ(hung_sign.exit_code, 0) << hung_sign.err << agent_log();
  EXPECT_EQ(status({"d['providers'][0]['helper']['state']"}).values[0], "running");

  // A module that crashes: the helper ends, its request fails, and a new
  // helper starts at the next use.
  control("crash=C_Sign\n");
  EXPECT_NE(ssh_add({"-T", ec256}).exit_code, 0);
  auto ended = status({"d['providers'][0]['helper']['state']", "d['providers'][0]['helper']['pid']",
                       "d['providers'][0]['helper']['restarts']", "'closed its connection' in "
                       "d['providers'][0]['last_error']['message']",
                       "failures('helper_failed')", "kinds()"});
  EXPECT_EQ(ended.values, (std::vector<std::string>{"restarting", "None", "0", "True", "1", "helper_not_running"}));
  EXPECT_TRUE(has_line(ended.text.out, "  helper         not running")) << ended.text.out;
  control("");
  EXPECT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
  auto restarted = status({"d['providers'][0]['helper']['state']", "d['providers'][0]['helper']['restarts']",
                           "key('object=ec256')['signatures']", "key('object=ec256')['failures']"});
  EXPECT_EQ(restarted.values, (std::vector<std::string>{"running", "1", "3", "1"}));
  EXPECT_TRUE(has_line(restarted.text.out, "  restarts       1")) << restarted.text.out;
}

TEST_F(AgentStatusTest, FileKeysWithLifetimeConfirmAndDestinationConstraints) {
  start_agent({"--no-reader-events"});
  const std::string key = dir_.file("soft");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "soft key", "-f", key}).exit_code, 0);
  const std::string host = dir_.file("host");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host}).exit_code, 0);
  write_file(dir_.file("known_hosts"), "[127.0.0.1]:2222 " + read_file(host + ".pub"));
  const std::string bound = dir_.file("bound");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "bound key", "-f", bound}).exit_code, 0);
  ASSERT_EQ(ssh_add({"-t", "600", "-c", key}).exit_code, 0) << agent_log();
  auto constrained = ssh_add({"-H", dir_.file("known_hosts"), "-h", "alice@[127.0.0.1]:2222", bound});
  ASSERT_EQ(constrained.exit_code, 0) << constrained.err << agent_log();

  // The confirmation dialog (the test askpass) says no, then yes twice.
  write_file(dir_.file("pin"), "cancel");
  EXPECT_NE(ssh_add({"-T", key + ".pub"}).exit_code, 0);
  write_file(dir_.file("pin"), "yes");
  EXPECT_EQ(ssh_add({"-T", key + ".pub"}).exit_code, 0) << agent_log();
  EXPECT_EQ(ssh_add({"-T", key + ".pub"}).exit_code, 0) << agent_log();

  auto r = status({"key('soft key')['source']", "key('soft key')['confirm']", "key('soft key')['certificate']",
                   "590 < key('soft key')['lifetime_left'] <= 600", "key('soft key')['destinations']",
                   "key('soft key')['signatures']", "key('soft key')['failures']", "failures('confirm_denied')",
                   "key('bound key')['destinations']", "key('bound key')['destination_summary']",
                   "key('bound key')['lifetime_left']", "key('bound key')['type']", "d['providers']", "d['problems']",
                   "d['readers']"});
  EXPECT_EQ(r.values, (std::vector<std::string>{"file", "True", "False", "True", "0", "2", "1", "1", "1",
                                                "alice@[127.0.0.1]:2222", "None", "ecdsa-sha2-nistp256", "[]",
                                                "[]", "{'service': 'not_watched', 'readers': []}"}));
  EXPECT_EQ(r.json.exit_code, 0);
  EXPECT_TRUE(has_line(r.text.out, "      where          file (held by the agent, shielded)")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "      flags          confirm")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "      lifetime       ", " left")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "      destinations   1: alice@[127.0.0.1]:2222")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "      signatures     2 ok, 1 failed")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "    confirm_denied 1")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "PKCS#11 providers: none")) << r.text.out;
  EXPECT_TRUE(has_line(r.text.out, "Readers (PC/SC): not watched")) << r.text.out;
}

}  // namespace
}  // namespace tessera::test
