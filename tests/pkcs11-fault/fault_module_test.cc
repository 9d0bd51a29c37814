// tessera-p11-fault against a SoftHSM2 token made for this test: it forwards,
// and each fault shows as a real token would show it.

#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pcsc.h"
#include "test_support.h"

namespace {

using tessera::test::TempDir;
using tessera::test::write_file;
using tessera::test::write_file_atomically;
using Clock = std::chrono::steady_clock;

constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kUserPin = "1234";
constexpr const char* kTokenLabel = "t";

CK_UTF8CHAR* pin_ptr(const char* pin) { return reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin)); }
CK_ULONG pin_len(const char* pin) { return static_cast<CK_ULONG>(std::strlen(pin)); }

class FaultModuleTest : public ::testing::Test {
 protected:
  // The token and the loaded module last for the whole process: the module
  // reads its environment once, and SoftHSM2 reads its configuration once.
  // Each round of tests (--gtest_repeat) initializes and finalizes again.
  static void SetUpTestSuite() {
    if (!tessera::test::have_program("softhsm2-util") || !std::filesystem::exists(kSoftHsm)) {
      skip_reason_ = "SoftHSM2 is not installed";
      return;
    }
    if (dir_ == nullptr) {
      dir_ = std::make_unique<TempDir>();
      std::filesystem::create_directory(dir_->path() / "tokens");
      write_file(dir_->file("softhsm2.conf"), "directories.tokendir = " + dir_->file("tokens") +
                                                  "\nobjectstore.backend = file\nlog.level = ERROR\n");
      // Every loader of SoftHSM2 in this process, and softhsm2-util, must see this.
      setenv("SOFTHSM2_CONF", dir_->file("softhsm2.conf").c_str(), 1);
      auto init = tessera::test::run({"softhsm2-util", "--init-token", "--free", "--label", kTokenLabel, "--so-pin",
                                      "12345678", "--pin", kUserPin});
      ASSERT_EQ(init.exit_code, 0) << init.err;
      setenv("TESSERA_P11_FAULT_MODULE", kSoftHsm, 1);
      setenv("TESSERA_P11_FAULT_CONTROL", control_path().c_str(), 1);
      write_file(control_path(), "");
      // Never dlclosed: SoftHSM2 does not like being unloaded and loaded again.
      void* library = dlopen(TESSERA_P11_FAULT_PATH, RTLD_NOW | RTLD_LOCAL);
      ASSERT_NE(library, nullptr) << dlerror();
      auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(library, "C_GetFunctionList"));
      ASSERT_NE(get_list, nullptr);
      ASSERT_EQ(get_list(&p11_), CKR_OK);
      key_created_ = false;
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    ASSERT_EQ(p11_->C_Initialize(&args), CKR_OK);
    initialized_ = true;
    slot_ = find_slot();
    if (!key_created_) {
      create_key();
      key_created_ = true;
    }
  }

  static void TearDownTestSuite() {
    if (initialized_) p11_->C_Finalize(nullptr);
    initialized_ = false;
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(initialized_);
    control("");
    std::filesystem::remove(control_path() + ".state");
    // Each test starts with no sessions and nobody logged in.
    p11_->C_CloseAllSessions(slot_);
  }

  void TearDown() override {
    if (!initialized_) return;
    control("");
    p11_->C_CloseAllSessions(slot_);
  }

  static std::string control_path() { return dir_->file("control"); }
  static void control(const std::string& text) { write_file_atomically(control_path(), text); }

  static std::vector<CK_SLOT_ID> slots(bool token_present) {
    CK_ULONG n = 0;
    EXPECT_EQ(p11_->C_GetSlotList(token_present ? CK_TRUE : CK_FALSE, nullptr, &n), CKR_OK);
    std::vector<CK_SLOT_ID> out(n);
    EXPECT_EQ(p11_->C_GetSlotList(token_present ? CK_TRUE : CK_FALSE, out.data(), &n), CKR_OK);
    out.resize(n);
    return out;
  }

  static CK_SLOT_ID find_slot() {
    for (CK_SLOT_ID id : slots(true)) {
      CK_TOKEN_INFO info{};
      if (p11_->C_GetTokenInfo(id, &info) != CKR_OK) continue;
      std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);
      if (label.substr(0, label.find_last_not_of(' ') + 1) == kTokenLabel) return id;
    }
    ADD_FAILURE() << "no token labelled " << kTokenLabel;
    return 0;
  }

  static CK_SESSION_HANDLE open_session() {
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    EXPECT_EQ(p11_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h), CKR_OK);
    return h;
  }

  static CK_RV login(CK_SESSION_HANDLE h, const char* pin) {
    return p11_->C_Login(h, CKU_USER, pin ? pin_ptr(pin) : nullptr, pin ? pin_len(pin) : 0);
  }

  // An EC P-256 key pair on the token, made through the fault module.
  static void create_key() {
    CK_SESSION_HANDLE h = open_session();
    ASSERT_EQ(login(h, kUserPin), CKR_OK);
    CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_BYTE id = 1;
    char label[] = "k";
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, p256, sizeof p256},
                          {CKA_TOKEN, &yes, sizeof yes},
                          {CKA_VERIFY, &yes, sizeof yes},
                          {CKA_ID, &id, sizeof id},
                          {CKA_LABEL, label, 1}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, sizeof yes},
                           {CKA_PRIVATE, &yes, sizeof yes},
                           {CKA_SENSITIVE, &yes, sizeof yes},
                           {CKA_SIGN, &yes, sizeof yes},
                           {CKA_ID, &id, sizeof id},
                           {CKA_LABEL, label, 1}};
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE pub_key = 0, priv_key = 0;
    ASSERT_EQ(p11_->C_GenerateKeyPair(h, &mech, pub, 5, priv, 6, &pub_key, &priv_key), CKR_OK);
    EXPECT_EQ(p11_->C_CloseSession(h), CKR_OK);
  }

  static CK_RV find_private_key(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE& key) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}};
    CK_RV rv = p11_->C_FindObjectsInit(h, tmpl, 1);
    if (rv != CKR_OK) return rv;
    CK_ULONG n = 0;
    rv = p11_->C_FindObjects(h, &key, 1, &n);
    p11_->C_FindObjectsFinal(h);
    if (rv == CKR_OK && n != 1) rv = CKR_OBJECT_HANDLE_INVALID;
    return rv;
  }

  // Signs a digest-sized message with the token key; returns the first failure.
  static CK_RV sign(CK_SESSION_HANDLE h) {
    CK_OBJECT_HANDLE key = 0;
    CK_RV rv = find_private_key(h, key);
    if (rv != CKR_OK) return rv;
    CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
    rv = p11_->C_SignInit(h, &mech, key);
    if (rv != CKR_OK) return rv;
    CK_BYTE digest[32] = {1, 2, 3};
    CK_BYTE sig[128];
    CK_ULONG sig_len = sizeof sig;
    rv = p11_->C_Sign(h, digest, sizeof digest, sig, &sig_len);
    if (rv == CKR_OK && sig_len != 64) rv = CKR_GENERAL_ERROR;
    return rv;
  }

  static CK_FLAGS token_flags() {
    CK_TOKEN_INFO info{};
    EXPECT_EQ(p11_->C_GetTokenInfo(slot_, &info), CKR_OK);
    return info.flags;
  }

  static constexpr CK_FLAGS kPinFlags = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;

  static inline std::string skip_reason_;
  static inline std::unique_ptr<TempDir> dir_;
  static inline CK_FUNCTION_LIST* p11_ = nullptr;
  static inline bool initialized_ = false;
  static inline bool key_created_ = false;
  static inline CK_SLOT_ID slot_ = 0;
};

TEST_F(FaultModuleTest, ForwardsEveryFunctionToTheRealModule) {
  EXPECT_EQ(p11_->version.major, 2);
  EXPECT_EQ(p11_->version.minor, 40);
  // All 68 entries of the PKCS#11 2.40 list are filled in.
  constexpr size_t kFunctions = 68;
  static_assert(sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize) == kFunctions * sizeof(void*));
  CK_C_Initialize const* first = &p11_->C_Initialize;
  for (size_t i = 0; i < kFunctions; ++i) {
    void* fn = nullptr;
    std::memcpy(&fn, reinterpret_cast<const char*>(first) + i * sizeof(void*), sizeof fn);
    EXPECT_NE(fn, nullptr) << "entry " << i;
  }
  CK_INFO info{};
  EXPECT_EQ(p11_->C_GetInfo(&info), CKR_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(info.manufacturerID), 9), "SoftHSM  ");

  CK_SESSION_HANDLE h = open_session();
  EXPECT_EQ(login(h, kUserPin), CKR_OK);
  EXPECT_EQ(sign(h), CKR_OK);
  EXPECT_EQ(p11_->C_Logout(h), CKR_OK);
  EXPECT_EQ(p11_->C_CloseSession(h), CKR_OK);
  EXPECT_EQ(p11_->C_CloseSession(h), CKR_SESSION_HANDLE_INVALID);
  EXPECT_EQ(token_flags() & (kPinFlags | CKF_PROTECTED_AUTHENTICATION_PATH), 0u);
  CK_FLAGS event_flags = 0;
  CK_SLOT_ID event_slot = 0;
  EXPECT_EQ(p11_->C_WaitForSlotEvent(event_flags, &event_slot, nullptr), CKR_FUNCTION_NOT_SUPPORTED);
}

TEST_F(FaultModuleTest, TokenRemovalAndReturn) {
  CK_SESSION_HANDLE before = open_session();
  ASSERT_EQ(login(before, kUserPin), CKR_OK);
  ASSERT_EQ(sign(before), CKR_OK);

  control("removed=1\n");
  auto present = slots(true);
  EXPECT_EQ(std::count(present.begin(), present.end(), slot_), 0);
  auto all = slots(false);
  EXPECT_EQ(std::count(all.begin(), all.end(), slot_), 1);
  CK_SLOT_INFO slot_info{};
  ASSERT_EQ(p11_->C_GetSlotInfo(slot_, &slot_info), CKR_OK);
  EXPECT_EQ(slot_info.flags & CKF_TOKEN_PRESENT, 0u);
  EXPECT_NE(slot_info.flags & CKF_REMOVABLE_DEVICE, 0u);
  CK_TOKEN_INFO token_info{};
  EXPECT_EQ(p11_->C_GetTokenInfo(slot_, &token_info), CKR_TOKEN_NOT_PRESENT);
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  EXPECT_EQ(p11_->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &h), CKR_TOKEN_NOT_PRESENT);
  EXPECT_EQ(sign(before), CKR_DEVICE_REMOVED);
  CK_SESSION_INFO session_info{};
  EXPECT_EQ(p11_->C_GetSessionInfo(before, &session_info), CKR_DEVICE_REMOVED);
  CK_SLOT_ID event_slot = 0;
  EXPECT_EQ(p11_->C_WaitForSlotEvent(CKF_DONT_BLOCK, &event_slot, nullptr), CKR_FUNCTION_NOT_SUPPORTED);

  control("removed=0\n");
  present = slots(true);
  EXPECT_EQ(std::count(present.begin(), present.end(), slot_), 1);
  ASSERT_EQ(p11_->C_GetSlotInfo(slot_, &slot_info), CKR_OK);
  EXPECT_NE(slot_info.flags & CKF_TOKEN_PRESENT, 0u);
  // The session from before the removal stays dead, as on a real token.
  EXPECT_EQ(p11_->C_GetSessionInfo(before, &session_info), CKR_SESSION_HANDLE_INVALID);
  EXPECT_EQ(sign(before), CKR_SESSION_HANDLE_INVALID);
  // A new session works, but the login went with the token.
  CK_SESSION_HANDLE after = open_session();
  EXPECT_NE(after, before);
  ASSERT_EQ(p11_->C_GetSessionInfo(after, &session_info), CKR_OK);
  EXPECT_EQ(session_info.state, CKS_RW_PUBLIC_SESSION);
  EXPECT_EQ(login(after, kUserPin), CKR_OK);
  EXPECT_EQ(sign(after), CKR_OK);
  EXPECT_EQ(p11_->C_CloseSession(before), CKR_SESSION_HANDLE_INVALID);
}

TEST_F(FaultModuleTest, RemovalCanBeLimitedToOneSlot) {
  CK_SESSION_HANDLE h = open_session();
  control("slot=" + std::to_string(slot_ + 1) + "\nremoved=1\n");
  auto present = slots(true);
  EXPECT_EQ(std::count(present.begin(), present.end(), slot_), 1);
  EXPECT_EQ(login(h, kUserPin), CKR_OK);
  EXPECT_EQ(sign(h), CKR_OK);
}

// reader=NAME makes the slot a PC/SC reader's, as OpenSC shows one: the
// reader's name as slot description, and a token only while pcscd has a card
// in that reader. Here the reader is vpcd's under a pcscd of the test's own,
// and the card is vicc.
TEST_F(FaultModuleTest, ReaderFollowsACardInARealPcscReader) {
  if (auto why = tessera::test::VirtualReader::unavailable(); !why.empty()) GTEST_SKIP() << why;
  // libpcsclite reads PCSCLITE_CSOCK_NAME once per process: the same path
  // serves every round of this test (--gtest_repeat).
  tessera::test::VirtualReader pcsc(dir_->file("pcsc"));
  ASSERT_TRUE(pcsc.started()) << pcsc.log();
  setenv("PCSCLITE_CSOCK_NAME", pcsc.socket().c_str(), 1);
  const std::string reader = pcsc.reader();
  auto has_token = [&] {
    auto present = slots(true);
    return std::count(present.begin(), present.end(), slot_) == 1;
  };
  auto within = [](std::chrono::seconds limit, const std::function<bool()>& condition) {
    const auto deadline = Clock::now() + limit;
    while (!condition()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  };

  control("slot=" + std::to_string(slot_) + "\nreader=" + reader + "\n");
  CK_SLOT_INFO info{};
  ASSERT_EQ(p11_->C_GetSlotInfo(slot_, &info), CKR_OK);
  std::string description(reinterpret_cast<const char*>(info.slotDescription), sizeof info.slotDescription);
  std::string manufacturer(reinterpret_cast<const char*>(info.manufacturerID), sizeof info.manufacturerID);
  EXPECT_EQ(description, reader + std::string(sizeof info.slotDescription - reader.size(), ' '));
  EXPECT_EQ(manufacturer.substr(0, manufacturer.find_last_not_of(' ') + 1), "tessera-p11-fault PC/SC");
  EXPECT_NE(info.flags & CKF_HW_SLOT, 0u);
  // No card yet: no token.
  EXPECT_EQ(info.flags & CKF_TOKEN_PRESENT, 0u);
  EXPECT_FALSE(has_token());
  CK_TOKEN_INFO token_info{};
  EXPECT_EQ(p11_->C_GetTokenInfo(slot_, &token_info), CKR_TOKEN_NOT_PRESENT);
  // Another slot keeps its own description.
  for (CK_SLOT_ID other : slots(false)) {
    if (other == slot_) continue;
    CK_SLOT_INFO other_info{};
    ASSERT_EQ(p11_->C_GetSlotInfo(other, &other_info), CKR_OK);
    EXPECT_NE(std::string(reinterpret_cast<const char*>(other_info.slotDescription), reader.size()), reader);
  }

  ASSERT_TRUE(pcsc.insert_card()) << pcsc.log();
  ASSERT_TRUE(within(std::chrono::seconds(15), has_token)) << "the card never showed\n" << pcsc.log();
  CK_SESSION_HANDLE before = open_session();
  ASSERT_EQ(login(before, kUserPin), CKR_OK);
  ASSERT_EQ(sign(before), CKR_OK);

  pcsc.remove_card();
  ASSERT_TRUE(within(std::chrono::seconds(10), [&] { return !has_token(); })) << pcsc.log();
  EXPECT_EQ(sign(before), CKR_DEVICE_REMOVED);
  EXPECT_EQ(p11_->C_GetTokenInfo(slot_, &token_info), CKR_TOKEN_NOT_PRESENT);

  ASSERT_TRUE(pcsc.insert_card()) << pcsc.log();
  ASSERT_TRUE(within(std::chrono::seconds(15), has_token)) << pcsc.log();
  // As after any removal: the old session is dead and the login is gone.
  EXPECT_EQ(sign(before), CKR_SESSION_HANDLE_INVALID);
  CK_SESSION_HANDLE after = open_session();
  CK_SESSION_INFO session_info{};
  ASSERT_EQ(p11_->C_GetSessionInfo(after, &session_info), CKR_OK);
  EXPECT_EQ(session_info.state, CKS_RW_PUBLIC_SESSION);
  ASSERT_EQ(login(after, kUserPin), CKR_OK);
  EXPECT_EQ(sign(after), CKR_OK);

  // Without pcscd a PC/SC module sees no token, card or not.
  pcsc.stop_pcscd();
  EXPECT_TRUE(within(std::chrono::seconds(5), [&] { return !has_token(); }));
  EXPECT_EQ(sign(after), CKR_DEVICE_REMOVED);
  ASSERT_TRUE(pcsc.start_pcscd()) << pcsc.log();
  ASSERT_TRUE(pcsc.insert_card()) << pcsc.log();
  EXPECT_TRUE(within(std::chrono::seconds(15), has_token)) << pcsc.log();

  // Without reader= the slot is SoftHSM2's again.
  control("");
  ASSERT_EQ(p11_->C_GetSlotInfo(slot_, &info), CKR_OK);
  description.assign(reinterpret_cast<const char*>(info.slotDescription), sizeof info.slotDescription);
  EXPECT_EQ(description.find(reader), std::string::npos);
}

TEST_F(FaultModuleTest, PinPad) {
  control("pinpad=1\npinpad_pin=1234\n");
  EXPECT_NE(token_flags() & CKF_PROTECTED_AUTHENTICATION_PATH, 0u);
  CK_SESSION_HANDLE h = open_session();
  EXPECT_EQ(login(h, nullptr), CKR_OK);
  EXPECT_EQ(sign(h), CKR_OK);
  EXPECT_EQ(p11_->C_Logout(h), CKR_OK);

  control("pinpad=1\npinpad_pin=9999\n");
  EXPECT_EQ(login(h, nullptr), CKR_PIN_INCORRECT);
  control("pinpad=1\n");  // the user cancels on the keypad
  EXPECT_EQ(login(h, nullptr), CKR_FUNCTION_CANCELED);
  control("");
  EXPECT_EQ(token_flags() & CKF_PROTECTED_AUTHENTICATION_PATH, 0u);
}

TEST_F(FaultModuleTest, PinCounterGoesToFinalTryThenLocked) {
  control("pin_tries=3\n");
  EXPECT_EQ(token_flags() & kPinFlags, 0u);
  CK_SESSION_HANDLE h = open_session();

  EXPECT_EQ(login(h, "0000"), CKR_PIN_INCORRECT);
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_COUNT_LOW);
  EXPECT_EQ(login(h, "0000"), CKR_PIN_INCORRECT);
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
  EXPECT_EQ(login(h, "0000"), CKR_PIN_INCORRECT);
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED);
  // Locked: even the right PIN is refused, and the counter survives other control changes.
  EXPECT_EQ(login(h, kUserPin), CKR_PIN_LOCKED);
  control("pin_tries=3\nremoved=1\n");
  control("pin_tries=3\n");
  h = open_session();
  EXPECT_EQ(login(h, kUserPin), CKR_PIN_LOCKED);
  EXPECT_NE(token_flags() & CKF_USER_PIN_LOCKED, 0u);

  // A different start value (or deleting the .state file) gives a fresh counter.
  control("pin_tries=5\n");
  EXPECT_EQ(token_flags() & kPinFlags, 0u);
  EXPECT_EQ(login(h, kUserPin), CKR_OK);
}

TEST_F(FaultModuleTest, RightPinResetsTheCounter) {
  control("pin_tries=2\n");
  CK_SESSION_HANDLE h = open_session();
  EXPECT_EQ(login(h, "0000"), CKR_PIN_INCORRECT);
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
  EXPECT_EQ(login(h, kUserPin), CKR_OK);
  EXPECT_EQ(token_flags() & kPinFlags, 0u);
  EXPECT_EQ(p11_->C_Logout(h), CKR_OK);
}

TEST_F(FaultModuleTest, CountLowFlag) {
  control("count_low=1\n");
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_COUNT_LOW);
  control("pin_tries=1\n");  // starting on the final try
  EXPECT_EQ(token_flags() & kPinFlags, CKF_USER_PIN_FINAL_TRY);
}

TEST_F(FaultModuleTest, PinToBeChangedFlag) {
  EXPECT_EQ(token_flags() & CKF_USER_PIN_TO_BE_CHANGED, 0u);
  control("pin_to_be_changed=1\ncount_low=1\n");
  EXPECT_EQ(token_flags() & (kPinFlags | CKF_USER_PIN_TO_BE_CHANGED),
            CKF_USER_PIN_TO_BE_CHANGED | CKF_USER_PIN_COUNT_LOW);
}

TEST_F(FaultModuleTest, SignHangsForOneSecond) {
  CK_SESSION_HANDLE h = open_session();
  ASSERT_EQ(login(h, kUserPin), CKR_OK);
  control("hang=C_Sign:1\n");
  auto start = Clock::now();
  EXPECT_EQ(sign(h), CKR_OK);
  // The hang happened (a lower bound of the module's own sleep, not a latency).
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1000));
}

TEST_F(FaultModuleTest, HangForeverEndsWhenLifted) {
  CK_SESSION_HANDLE h = open_session();
  ASSERT_EQ(login(h, kUserPin), CKR_OK);
  control("hang=C_FindObjects:forever,C_Login:forever\n");
  std::atomic<bool> lifted = false;
  std::thread release([&lifted] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    lifted = true;
    control("");
  });
  EXPECT_EQ(sign(h), CKR_OK);
  EXPECT_TRUE(lifted) << "the call returned before the hang was lifted";
  release.join();
}

TEST_F(FaultModuleTest, HangedSessionSeesRemoval) {
  CK_SESSION_HANDLE h = open_session();
  ASSERT_EQ(login(h, kUserPin), CKR_OK);
  control("hang=C_Sign:forever\n");
  std::thread pull([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    control("removed=1\n");
  });
  EXPECT_EQ(sign(h), CKR_DEVICE_REMOVED);
  pull.join();
}

TEST_F(FaultModuleTest, UserNotLoggedInFromSign) {
  CK_SESSION_HANDLE h = open_session();
  ASSERT_EQ(login(h, kUserPin), CKR_OK);
  control("not_logged_in=C_Sign\n");
  EXPECT_EQ(sign(h), CKR_USER_NOT_LOGGED_IN);
  EXPECT_EQ(sign(h), CKR_USER_NOT_LOGGED_IN);  // and the operation ended each time

  control("not_logged_in=C_Sign:once\n");
  EXPECT_EQ(sign(h), CKR_USER_NOT_LOGGED_IN);
  EXPECT_EQ(sign(h), CKR_OK);
  EXPECT_EQ(sign(h), CKR_OK);
}

TEST_F(FaultModuleTest, CrashAbortsInsideSign) {
  CK_SESSION_HANDLE h = open_session();
  ASSERT_EQ(login(h, kUserPin), CKR_OK);
  control("crash=C_Sign\n");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit no_core {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    sign(h);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  control("");
  EXPECT_EQ(sign(h), CKR_OK);  // the parent's session is untouched
}

TEST_F(FaultModuleTest, ThreadsSignInParallel) {
  std::vector<std::thread> threads;
  std::vector<CK_RV> results(4, CKR_GENERAL_ERROR);
  CK_SESSION_HANDLE first = open_session();
  ASSERT_EQ(login(first, kUserPin), CKR_OK);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([i, &results] {
      CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
      CK_RV rv = p11_->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &h);
      for (int n = 0; n < 50 && rv == CKR_OK; ++n) rv = sign(h);
      if (rv == CKR_OK) rv = p11_->C_CloseSession(h);
      results[i] = rv;
    });
  }
  for (auto& t : threads) t.join();
  for (CK_RV rv : results) EXPECT_EQ(rv, CKR_OK);
}

}  // namespace
