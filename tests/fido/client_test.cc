// The client library and tessera-sk-helper together, with the software
// middleware (tessera-sk-soft.so) standing in for an authenticator: enrol,
// sign and list for both algorithms with every signature checked by libkey,
// PINs, devices, and every way a middleware can fail.

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tessera/fido/client.h"
#include "tessera/key/ossl.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"
#include "test_support.h"

namespace tessera::fido {
namespace {

using namespace std::chrono_literals;
using key::Writer;

constexpr const char* kSoftVariables[] = {"TESSERA_SK_SOFT_DIR",      "TESSERA_SK_SOFT_PIN",
                                          "TESSERA_SK_SOFT_DEVICE",   "TESSERA_SK_SOFT_DELAY_MS",
                                          "TESSERA_SK_SOFT_FAULT",    "TESSERA_SK_SOFT_LOG",
                                          "TESSERA_SK_HELPER"};

Bytes bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

// The credential's key, built here with OpenSSL and PublicKey::make_security_key.
key::PublicKey security_key(const Credential& credential) {
  key::ossl::PkeyPtr pkey;
  if (credential.alg == Algorithm::kEd25519) {
    pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, credential.public_key.data(),
                                           credential.public_key.size()));
  } else {
    key::ossl::ParamBldPtr build(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, credential.public_key.data(),
                                     credential.public_key.size());
    key::ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(build.get()));
    key::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* made = nullptr;
    EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
    EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &made, EVP_PKEY_PUBLIC_KEY, params.get()), 1);
    pkey.reset(made);
  }
  EXPECT_NE(pkey, nullptr);
  auto key = key::PublicKey::make_security_key(key_type(credential.alg), pkey.get(), credential.application);
  EXPECT_TRUE(key.ok()) << key.error().message();
  return *key;
}

// The SSH signature blob, written here field by field: string algorithm,
// string signature (Ed25519: 64 bytes; ECDSA: mpint r, mpint s), byte
// flags, uint32 counter.
Bytes signature_of(Algorithm alg, const Assertion& assertion) {
  Writer blob;
  blob.string(alg == Algorithm::kEd25519 ? "sk-ssh-ed25519@openssh.com" : "sk-ecdsa-sha2-nistp256@openssh.com");
  if (alg == Algorithm::kEd25519) {
    blob.string(assertion.sig_r);
  } else {
    Writer inner;
    inner.mpint(assertion.sig_r);
    inner.mpint(assertion.sig_s);
    blob.string(inner);
  }
  blob.u8(assertion.flags);
  blob.u32(assertion.counter);
  return blob.take();
}

key::Status verify(const Credential& credential, const Assertion& assertion, std::span<const uint8_t> data) {
  return security_key(credential).verify(signature_of(credential.alg, assertion), data);
}

void expect_code(const key::Error& error, ErrorCode code, std::string_view words = {}) {
  EXPECT_EQ(sk_error_code(error), code) << error_code_name(sk_error_code(error)) << ": " << error.message();
  if (!words.empty()) {
    EXPECT_NE(error.message().find(words), std::string::npos) << error.message();
  }
}

// No child of this process is left, running or zombie.
void expect_no_children() {
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

// Whether a process is gone (or only a zombie that someone else will reap).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || line.size() < paren + 3 || line[paren + 2] == 'Z' || line[paren + 2] == 'X';
}

class FidoClient : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_environment();
    ::setenv("TESSERA_SK_SOFT_DIR", state_.path().c_str(), 1);
    ::setenv("TESSERA_SK_SOFT_LOG", log_path().c_str(), 1);
  }
  void TearDown() override { clear_environment(); }

  static void clear_environment() {
    for (const char* name : kSoftVariables) ::unsetenv(name);
  }

  Target target() const {
    Target t;
    t.provider = TESSERA_SK_SOFT_PATH;
    t.helper_program = test::tessera_bin("tessera-sk-helper");
    t.timeout = 20s;
    return t;
  }
  Target target_with_pin(std::string_view pin) const {
    Target t = target();
    t.pin = SecretBytes::copy_of(pin);
    return t;
  }
  static void fault(const char* faults) { ::setenv("TESSERA_SK_SOFT_FAULT", faults, 1); }
  static void no_fault() { ::unsetenv("TESSERA_SK_SOFT_FAULT"); }
  std::string log_path() const { return state_.file("calls.log"); }
  std::string log() const { return std::filesystem::exists(log_path()) ? test::read_file(log_path()) : ""; }

  Enrolment enrolled(Algorithm alg, uint8_t flags = SSH_SK_USER_PRESENCE_REQD, std::string_view application = "ssh:") {
    auto made = enroll(target(), alg, application, flags, {}, {});
    EXPECT_TRUE(made.ok()) << made.error().message();
    return std::move(made).value();
  }

  test::TempDir state_;
};

class FidoClientAlgorithms : public FidoClient, public ::testing::WithParamInterface<Algorithm> {};

TEST_P(FidoClientAlgorithms, EnrolsAndSigns) {
  const Algorithm alg = GetParam();
  auto made = enroll(target(), alg, "ssh:tessera-test", SSH_SK_USER_PRESENCE_REQD, bytes("challenge"), {});
  ASSERT_TRUE(made.ok()) << made.error().message();
  const Credential& credential = made->credential;
  EXPECT_EQ(credential.alg, alg);
  EXPECT_EQ(credential.flags, SSH_SK_USER_PRESENCE_REQD);
  EXPECT_EQ(credential.application, "ssh:tessera-test");
  EXPECT_EQ(credential.public_key.size(), alg == Algorithm::kEd25519 ? 32u : 65u);
  EXPECT_FALSE(credential.key_handle.empty());
  EXPECT_FALSE(made->attestation_signature.empty());
  EXPECT_FALSE(made->authdata.empty());
  auto ssh_key = public_key(credential);
  ASSERT_TRUE(ssh_key.ok()) << ssh_key.error().message();
  EXPECT_TRUE(*ssh_key == security_key(credential));
  EXPECT_EQ(ssh_key->sk_application(), "ssh:tessera-test");

  uint32_t last_counter = 0;
  for (const std::string& message : std::vector<std::string>{"first message", "", std::string(100000, 'x')}) {
    auto signed_ = sign(target(), alg, credential.application, credential.key_handle.reveal(), credential.flags,
                        bytes(message));
    ASSERT_TRUE(signed_.ok()) << signed_.error().message();
    EXPECT_EQ(signed_->flags, 0x01);  // user present
    EXPECT_GT(signed_->counter, last_counter);
    last_counter = signed_->counter;
    auto checked = verify(credential, *signed_, bytes(message));
    EXPECT_TRUE(checked.ok()) << checked.error().message();
    EXPECT_EQ(*signature_blob(alg, *signed_), signature_of(alg, *signed_));
    // Another message does not verify.
    EXPECT_FALSE(verify(credential, *signed_, bytes(message + "!")).ok());
  }
}

TEST_P(FidoClientAlgorithms, SignsWithoutTouchWhenTheKeyAllowsIt) {
  Enrolment made = enrolled(GetParam(), 0);
  EXPECT_EQ(made.credential.flags, 0);
  auto signed_ = sign(target(), GetParam(), "ssh:", made.credential.key_handle.reveal(), 0, bytes("data"));
  ASSERT_TRUE(signed_.ok()) << signed_.error().message();
  EXPECT_EQ(signed_->flags, 0x00);
  EXPECT_TRUE(verify(made.credential, *signed_, bytes("data")).ok());
}

TEST_P(FidoClientAlgorithms, ResidentKeysWithAPin) {
  const Algorithm alg = GetParam();
  ::setenv("TESSERA_SK_SOFT_PIN", "4321", 1);
  const uint8_t flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY;
  const Bytes user = bytes("alice");

  auto without_pin = enroll(target(), alg, "ssh:rk", flags, {}, user);
  ASSERT_FALSE(without_pin.ok());
  expect_code(without_pin.error(), ErrorCode::kPinRequired, "needs its PIN");
  EXPECT_EQ(without_pin.error().code(), key::Errc::kPassphraseRequired);
  auto wrong_pin = enroll(target_with_pin("1111"), alg, "ssh:rk", flags, {}, user);
  ASSERT_FALSE(wrong_pin.ok());
  expect_code(wrong_pin.error(), ErrorCode::kPinRequired, "refused the PIN");

  auto made = enroll(target_with_pin("4321"), alg, "ssh:rk", flags, {}, user);
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(made->credential.user_id, user);
  auto again = enroll(target_with_pin("4321"), alg, "ssh:rk", flags, {}, user);
  ASSERT_FALSE(again.ok());
  expect_code(again.error(), ErrorCode::kCredentialExists, "already holds a resident credential for ssh:rk");
  // Replacing it is the caller's choice (OpenSSH's SSH_SK_FORCE_OPERATION).
  auto replaced = enroll(target_with_pin("4321"), alg, "ssh:rk", flags | SSH_SK_FORCE_OPERATION, {}, user);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message();
  EXPECT_EQ(replaced->credential.flags, flags);
  auto other_user = enroll(target_with_pin("4321"), alg, "ssh:rk", flags, {}, bytes("bob"));
  ASSERT_TRUE(other_user.ok()) << other_user.error().message();

  auto list_without_pin = load_resident_keys(target());
  ASSERT_FALSE(list_without_pin.ok());
  expect_code(list_without_pin.error(), ErrorCode::kPinRequired);
  auto listed = load_resident_keys(target_with_pin("4321"));
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 2u);
  bool found = false;
  for (const Credential& credential : *listed) {
    EXPECT_EQ(credential.alg, alg);
    EXPECT_EQ(credential.application, "ssh:rk");
    EXPECT_EQ(credential.flags, SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY);
    if (credential.user_id != user) continue;
    found = true;
    EXPECT_EQ(credential.public_key, replaced->credential.public_key);
    // The listed key handle signs.
    auto signed_ = sign(target(), alg, "ssh:rk", credential.key_handle.reveal(), credential.flags, bytes("m"));
    ASSERT_TRUE(signed_.ok()) << signed_.error().message();
    EXPECT_TRUE(verify(credential, *signed_, bytes("m")).ok());
  }
  EXPECT_TRUE(found);
}

TEST_P(FidoClientAlgorithms, VerifyRequiredNeedsThePin) {
  const Algorithm alg = GetParam();
  const uint8_t flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_USER_VERIFICATION_REQD;
  // An authenticator without a PIN cannot verify its user.
  auto no_pin_set = enroll(target(), alg, "ssh:", flags, {}, {});
  ASSERT_FALSE(no_pin_set.ok());
  expect_code(no_pin_set.error(), ErrorCode::kUnsupported, "verify-required");

  ::setenv("TESSERA_SK_SOFT_PIN", "123456", 1);
  auto made = enroll(target_with_pin("123456"), alg, "ssh:", flags, {}, {});
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(made->credential.flags, flags);
  const auto handle = made->credential.key_handle.reveal();

  auto without = sign(target(), alg, "ssh:", handle, flags, bytes("d"));
  ASSERT_FALSE(without.ok());
  expect_code(without.error(), ErrorCode::kPinRequired, "needs its PIN");
  auto wrong = sign(target_with_pin("000000"), alg, "ssh:", handle, flags, bytes("d"));
  ASSERT_FALSE(wrong.ok());
  expect_code(wrong.error(), ErrorCode::kPinRequired, "refused the PIN");
  auto right = sign(target_with_pin("123456"), alg, "ssh:", handle, flags, bytes("d"));
  ASSERT_TRUE(right.ok()) << right.error().message();
  EXPECT_EQ(right->flags, 0x05);  // present and verified
  EXPECT_TRUE(verify(made->credential, *right, bytes("d")).ok());
  EXPECT_NE(log().find("pin=yes"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(BothAlgorithms, FidoClientAlgorithms,
                         ::testing::Values(Algorithm::kEd25519, Algorithm::kEcdsaP256),
                         [](const auto& param_info) { return param_info.param == Algorithm::kEd25519 ? "Ed25519" : "Ecdsa"; });

TEST_F(FidoClient, PassesDeviceAndUserOptions) {
  ::setenv("TESSERA_SK_SOFT_DEVICE", "/dev/soft0", 1);
  Target elsewhere = target();
  elsewhere.device = "/dev/hidraw9";
  auto missing = enroll(elsewhere, Algorithm::kEd25519, "ssh:", 1, {}, bytes("carol"));
  ASSERT_FALSE(missing.ok());
  expect_code(missing.error(), ErrorCode::kDeviceNotFound, "no FIDO authenticator at /dev/hidraw9");

  Target there = target();
  there.device = "/dev/soft0";
  auto made = enroll(there, Algorithm::kEd25519, "ssh:", 1, {}, bytes("carol"));
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_NE(log().find("device=/dev/soft0 user=carol"), std::string::npos) << log();
  auto signed_ = sign(there, Algorithm::kEd25519, "ssh:", made->credential.key_handle.reveal(), 1, bytes("x"));
  ASSERT_TRUE(signed_.ok()) << signed_.error().message();
  auto bad_user = enroll(there, Algorithm::kEd25519, "ssh:", 1, {}, Bytes{'a', 0, 'b'});
  ASSERT_FALSE(bad_user.ok());
  expect_code(bad_user.error(), ErrorCode::kBadRequest, "user id");
}

TEST_F(FidoClient, TheHelperIsHardened) {
  // A descriptor this process leaks (no close-on-exec) must not reach the middleware.
  const int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  const int high = ::fcntl(leaked, F_DUPFD, 40);
  ::close(leaked);
  enrolled(Algorithm::kEd25519);
  ::close(high);
  const std::string line = log();
  EXPECT_NE(line.find("dumpable=0 nnp=1 core=0 fds=0,1,2,3 stdout_is_stderr=yes"), std::string::npos) << line;
}

TEST_F(FidoClient, AKeyHandleIsBoundToItsApplication) {
  Enrolment made = enrolled(Algorithm::kEcdsaP256, 1, "ssh:one");
  auto other = sign(target(), Algorithm::kEcdsaP256, "ssh:two", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_FALSE(other.ok());
  expect_code(other.error(), ErrorCode::kDeviceNotFound);
}

TEST_F(FidoClient, RefusesApplicationsThatAreNotSsh) {
  auto made = enroll(target(), Algorithm::kEd25519, "https://example.com", 1, {}, {});
  ASSERT_FALSE(made.ok());
  expect_code(made.error(), ErrorCode::kBadRequest, "does not start with \"ssh:\"");
  auto signed_ = sign(target(), Algorithm::kEd25519, "webauthn:x", Bytes(8, 1), 1, bytes("d"));
  ASSERT_FALSE(signed_.ok());
  expect_code(signed_.error(), ErrorCode::kBadRequest, "does not start with \"ssh:\"");
  EXPECT_EQ(log(), "");  // the middleware was never called
}

TEST_F(FidoClient, ProviderErrors) {
  Target missing = target();
  missing.provider = state_.file("no-such-middleware.so");
  auto a = enroll(missing, Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_FALSE(a.ok());
  expect_code(a.error(), ErrorCode::kProviderError, "No such file or directory");

  Target relative = target();
  relative.provider = "tessera-sk-soft.so";
  auto b = enroll(relative, Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_FALSE(b.ok());
  expect_code(b.error(), ErrorCode::kBadRequest, "\"tessera-sk-soft.so\" is not an absolute path");

  Target partial = target();
  partial.provider = TESSERA_SK_SOFT_PARTIAL_PATH;
  auto c = load_resident_keys(partial);
  ASSERT_FALSE(c.ok());
  expect_code(c.error(), ErrorCode::kProviderError, "has no sk_load_resident_keys");

  fault("bad-version");
  auto d = enroll(target(), Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_FALSE(d.ok());
  expect_code(d.error(), ErrorCode::kProviderError,
              std::string("Provider \"") + TESSERA_SK_SOFT_PATH +
                  "\" implements unsupported version 0x00090000 (supported: 0x000a0000)");

  Target no_helper = target();
  no_helper.helper_program = state_.file("no-such-helper");
  auto e = enroll(no_helper, Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_FALSE(e.ok());
  expect_code(e.error(), ErrorCode::kHelperFailed, "TESSERA_SK_HELPER");
  expect_no_children();
}

TEST_F(FidoClient, InternalIsTheMiddlewareBesideTheHelper) {
  test::TempDir install;
  namespace fs = std::filesystem;
  fs::copy_file(test::tessera_bin("tessera-sk-helper"), install.file("tessera-sk-helper"));
  fs::copy_file(TESSERA_SK_SOFT_PATH, install.file("tessera-sk-fido2.so"));
  Target internal = target();
  internal.provider = "internal";
  internal.helper_program = install.file("tessera-sk-helper");
  auto made = enroll(internal, Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_TRUE(made.ok()) << made.error().message();
  // TESSERA_SK_HELPER names the helper when the caller does not.
  ::setenv("TESSERA_SK_HELPER", install.file("tessera-sk-helper").c_str(), 1);
  EXPECT_EQ(default_helper_program(), install.file("tessera-sk-helper"));
  internal.helper_program.clear();
  auto signed_ = sign(internal, Algorithm::kEd25519, "ssh:", made->credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_TRUE(signed_.ok()) << signed_.error().message();
  EXPECT_TRUE(verify(made->credential, *signed_, bytes("d")).ok());
}

TEST_F(FidoClient, AHangingMiddlewareIsKilledAtTheDeadline) {
  Enrolment made = enrolled(Algorithm::kEd25519);
  fault("hang");
  Target impatient = target();
  impatient.timeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  auto signed_ = sign(impatient, Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(signed_.ok());
  expect_code(signed_.error(), ErrorCode::kTimeout, "the security key did not answer within 0.5 s");
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);
  expect_no_children();

  impatient.timeout = 1000ms;
  auto listed = load_resident_keys(impatient);
  ASSERT_FALSE(listed.ok());
  expect_code(listed.error(), ErrorCode::kTimeout, "within 1 s");
  expect_no_children();
}

TEST_F(FidoClient, WhatTheHelperStartedDiesWithIt) {
  fault("hang-child");
  Target impatient = target();
  impatient.timeout = 1000ms;
  auto made = enroll(impatient, Algorithm::kEd25519, "ssh:", 1, {}, {});
  ASSERT_FALSE(made.ok());
  expect_code(made.error(), ErrorCode::kTimeout);
  expect_no_children();
  const std::string pid_text = test::read_file(state_.file("child.pid"));
  const pid_t child = static_cast<pid_t>(std::stol(pid_text));
  ASSERT_GT(child, 0);
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = process_gone(child);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the middleware's child " << child << " outlived the deadline";
}

TEST_F(FidoClient, ASlowTouchWithinTheDeadlineIsFine) {
  ::setenv("TESSERA_SK_SOFT_DELAY_MS", "300", 1);
  Target t = target();
  t.timeout = 5s;
  auto made = enroll(t, Algorithm::kEcdsaP256, "ssh:", 1, {}, {});
  ASSERT_TRUE(made.ok()) << made.error().message();
}

TEST_F(FidoClient, ACrashIsReported) {
  Enrolment made = enrolled(Algorithm::kEcdsaP256);
  fault("crash");
  auto signed_ = sign(target(), Algorithm::kEcdsaP256, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_FALSE(signed_.ok());
  expect_code(signed_.error(), ErrorCode::kCrashed,
              std::string("security key middleware \"") + TESSERA_SK_SOFT_PATH + "\" crashed (signal 11)");
  expect_no_children();

  fault("exit");
  auto exited = enroll(target(), Algorithm::kEcdsaP256, "ssh:", 1, {}, {});
  ASSERT_FALSE(exited.ok());
  expect_code(exited.error(), ErrorCode::kHelperFailed, "exited with status 3 without answering");
  expect_no_children();
}

TEST_F(FidoClient, StdoutNoiseDoesNotCorruptTheReply) {
  fault("stdout-noise");
  for (Algorithm alg : {Algorithm::kEd25519, Algorithm::kEcdsaP256}) {
    Enrolment made = enrolled(alg);
    auto signed_ = sign(target(), alg, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
    ASSERT_TRUE(signed_.ok()) << signed_.error().message();
    EXPECT_TRUE(verify(made.credential, *signed_, bytes("d")).ok());
  }
}

TEST_F(FidoClient, MiddlewareErrorCodes) {
  struct Case {
    const char* fault;
    ErrorCode code;
    const char* words;
  };
  for (const Case& c : {Case{"error-general", ErrorCode::kGeneral, "failed to make a credential (error -1)"},
                        Case{"error-weird", ErrorCode::kGeneral, "(error -42)"},
                        Case{"error-unsupported", ErrorCode::kUnsupported, "cannot make a credential as asked"},
                        Case{"error-device-not-found", ErrorCode::kDeviceNotFound, "no FIDO authenticator found: insert one"},
                        Case{"error-credential-exists", ErrorCode::kCredentialExists, "already holds"}}) {
    fault(c.fault);
    auto made = enroll(target(), Algorithm::kEd25519, "ssh:", 1, {}, {});
    ASSERT_FALSE(made.ok()) << c.fault;
    expect_code(made.error(), c.code, c.words);
  }
}

TEST_F(FidoClient, InvalidResponsesAreRefused) {
  struct Case {
    const char* fault;
    Algorithm alg;
    const char* words;
  };
  for (const Case& c : {Case{"short-public-key", Algorithm::kEd25519, "31 bytes"},
                        Case{"short-public-key", Algorithm::kEcdsaP256, "uncompressed P-256 point"},
                        Case{"bad-point", Algorithm::kEcdsaP256, "the public key"},
                        Case{"null-public-key", Algorithm::kEd25519, "the public key is NULL"},
                        Case{"null-key-handle", Algorithm::kEd25519, "the key handle is NULL"},
                        Case{"long-key-handle", Algorithm::kEd25519, "the key handle is 4096 bytes, over the limit"},
                        Case{"lying-length", Algorithm::kEcdsaP256, "buffer is smaller"},
                        Case{"null-response", Algorithm::kEcdsaP256, "returned no enrolment"}}) {
    fault(c.fault);
    auto made = enroll(target(), c.alg, "ssh:", 1, {}, {});
    ASSERT_FALSE(made.ok()) << c.fault;
    expect_code(made.error(), ErrorCode::kBadResponse, c.words);
    EXPECT_NE(made.error().message().find(TESSERA_SK_SOFT_PATH), std::string::npos) << made.error().message();
  }
  no_fault();
  Enrolment ed = enrolled(Algorithm::kEd25519);
  Enrolment ec = enrolled(Algorithm::kEcdsaP256);
  fault("null-signature");
  auto a = sign(target(), Algorithm::kEd25519, "ssh:", ed.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_FALSE(a.ok());
  expect_code(a.error(), ErrorCode::kBadResponse, "the Ed25519 signature is NULL");
  fault("long-signature");
  auto b = sign(target(), Algorithm::kEcdsaP256, "ssh:", ec.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_FALSE(b.ok());
  expect_code(b.error(), ErrorCode::kBadResponse, "100 bytes");
}

TEST_F(FidoClient, ResidentKeyListsAreCheckedAndFiltered) {
  ::setenv("TESSERA_SK_SOFT_PIN", "0000", 1);
  auto made = enroll(target_with_pin("0000"), Algorithm::kEd25519, "ssh:mine", 0x21, {}, {});
  ASSERT_TRUE(made.ok()) << made.error().message();
  fault("foreign-resident-keys");
  auto listed = load_resident_keys(target_with_pin("0000"));
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);  // the "web:" one and the unknown algorithm are dropped
  EXPECT_EQ((*listed)[0].application, "ssh:mine");
  EXPECT_EQ((*listed)[0].user_id, Bytes(32, 0));  // the middleware's default user id

  for (const auto& [faults, words] : std::vector<std::pair<const char*, const char*>>{
           {"many-resident-keys", "more than 128 resident SSH keys"},
           {"null-application", "resident key 0's application is missing"},
           {"short-public-key", "resident key 0"}}) {
    fault(faults);
    auto bad = load_resident_keys(target_with_pin("0000"));
    ASSERT_FALSE(bad.ok()) << faults;
    expect_code(bad.error(), ErrorCode::kBadResponse, words);
  }
}

TEST_F(FidoClient, BadSignaturesAndCountersAreTheVerifiersToCatch) {
  Enrolment made = enrolled(Algorithm::kEd25519);
  auto first = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  auto second = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(second->counter, first->counter + 1);

  fault("bad-signature");
  auto bad = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_TRUE(bad.ok()) << bad.error().message();
  EXPECT_EQ(verify(made.credential, *bad, bytes("d")).error().code(), key::Errc::kBadSignature);

  fault("wrong-key-handle");
  auto wrong = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_TRUE(wrong.ok()) << wrong.error().message();
  EXPECT_FALSE(verify(made.credential, *wrong, bytes("d")).ok());

  fault("counter-backwards");
  auto backwards = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1, bytes("d"));
  ASSERT_TRUE(backwards.ok());
  EXPECT_LT(backwards->counter, wrong->counter);
  EXPECT_TRUE(verify(made.credential, *backwards, bytes("d")).ok());
}

TEST_F(FidoClient, ConcurrentSignsFromThreads) {
  Enrolment ed = enrolled(Algorithm::kEd25519);
  Enrolment ec = enrolled(Algorithm::kEcdsaP256);
  constexpr int kThreads = 8, kSigns = 3;
  std::mutex mu;
  std::set<uint32_t> counters;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  const Target shared = target();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Enrolment& made = t % 2 == 0 ? ed : ec;
      for (int i = 0; i < kSigns; ++i) {
        const Bytes data = bytes("thread " + std::to_string(t) + " sign " + std::to_string(i));
        auto signed_ = sign(shared, made.credential.alg, "ssh:", made.credential.key_handle.reveal(), 1, data);
        std::lock_guard lock(mu);
        if (!signed_.ok()) {
          failures.push_back(signed_.error().message());
          continue;
        }
        if (!verify(made.credential, *signed_, data).ok()) failures.push_back("a signature did not verify");
        counters.insert(signed_->counter);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(counters.size(), static_cast<size_t>(kThreads * kSigns));  // the counter file is shared under a lock
  expect_no_children();
}

TEST_F(FidoClient, DataOverTheLimitIsRefused) {
  Enrolment made = enrolled(Algorithm::kEd25519);
  auto at_limit = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1,
                       Bytes(kMaxSignDataBytes, 'a'));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().message();
  EXPECT_TRUE(verify(made.credential, *at_limit, Bytes(kMaxSignDataBytes, 'a')).ok());
  auto over = sign(target(), Algorithm::kEd25519, "ssh:", made.credential.key_handle.reveal(), 1,
                   Bytes(kMaxSignDataBytes + 1, 'a'));
  ASSERT_FALSE(over.ok());
  expect_code(over.error(), ErrorCode::kBadRequest, "over the limit");
}

// The helper binary on its own: a broken request gets an error reply.
TEST_F(FidoClient, TheHelperAnswersBrokenRequests) {
  auto talk = [](const Bytes& input) {
    auto sockets = sys::make_socket_pair();
    EXPECT_TRUE(sockets.ok());
    sys::SpawnOptions options;
    options.hand_over = {{sockets->theirs.get(), 0}, {sockets->theirs.get(), 1}};
    auto pid = sys::spawn({test::tessera_bin("tessera-sk-helper")}, options);
    EXPECT_TRUE(pid.ok());
    sockets->theirs.reset();
    EXPECT_TRUE(sys::send_all(sockets->ours.get(), key::as_text(input)).ok());
    ::shutdown(sockets->ours.get(), SHUT_WR);
    Bytes output;
    uint8_t chunk[4096];
    ssize_t n;
    while ((n = ::read(sockets->ours.get(), chunk, sizeof chunk)) > 0) output.insert(output.end(), chunk, chunk + n);
    sys::wait_for_exit(*pid);
    return output;
  };
  auto error_of = [](const Bytes& output) -> ErrorReply {
    std::span<const uint8_t> body;
    EXPECT_EQ(peek_frame(output, &body), FrameStatus::kComplete);
    auto reply = parse_reply(body);
    EXPECT_TRUE(reply.ok());
    if (!reply.ok() || !std::holds_alternative<ErrorReply>(reply->body)) return {};
    return std::get<ErrorReply>(reply->body);
  };
  ErrorReply zero = error_of(talk(Bytes{0, 0, 0, 0}));
  EXPECT_EQ(zero.code, ErrorCode::kBadRequest);
  EXPECT_NE(zero.message.find("bad length"), std::string::npos);
  ErrorReply garbage = error_of(talk(Bytes{0, 0, 0, 3, 'a', 'b', 'c'}));
  EXPECT_EQ(garbage.code, ErrorCode::kBadRequest);
  EXPECT_NE(garbage.message.find("malformed request"), std::string::npos) << garbage.message;
  Writer version;
  version.u32(99);
  version.u8(3);
  auto framed = frame(SecretBytes::copy_of(version.data()));
  ASSERT_TRUE(framed.ok());
  const ErrorReply future = error_of(talk(Bytes(framed->reveal().begin(), framed->reveal().end())));
  EXPECT_NE(future.message.find("protocol version 99"), std::string::npos) << future.message;
  EXPECT_TRUE(talk(Bytes{0, 0, 1}).empty());  // cut short: no reply
  expect_no_children();
}

}  // namespace
}  // namespace tessera::fido
