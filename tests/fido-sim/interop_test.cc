// OpenSSH 9.2's own ssh-keygen with tessera-sk-fido2.so as its middleware
// (-w, SSH_SK_PROVIDER) and the simulated authenticator behind the test hook:
// ssh-keygen runs ssh-sk-helper, which inherits the environment and so finds
// the simulator. Keys made this way sign files that ssh-keygen -Y verify
// accepts; resident keys come back with ssh-keygen -K. Label interop.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fido_sim_util.h"
#include "simulator.h"
#include "test_support.h"

namespace tessera::fidotest {
namespace {

using fidosim::SimConfig;
using fidosim::Simulator;

constexpr const char* kPin = "4711";

class InteropSshKeygen : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen is not installed";
    ASSERT_TRUE(sim_.listening());
    module_ = test::tessera_bin("tessera-sk-fido2.so");
    ASSERT_TRUE(std::filesystem::exists(module_));
    askpass_ = dir_.file("askpass");
    test::write_file(askpass_, std::string("#!/bin/sh\necho ") + kPin + "\n", 0700);
  }

  // The environment of every ssh-keygen run: the simulator, and a PIN
  // from askpass should it ask for one.
  std::vector<std::string> env() const {
    return {"TESSERA_FIDO_TEST_DEVICE=" + sim_.socket_path(), "SSH_SK_PROVIDER=" + module_,
            "SSH_ASKPASS=" + askpass_, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"};
  }

  test::CommandResult keygen(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), "ssh-keygen");
    return test::run(args, input, env());
  }

  // Makes a key, signs a file with it and verifies the signature, all with ssh-keygen.
  void make_sign_verify(const std::string& type, const std::vector<std::string>& options = {}) {
    const std::string key = dir_.file("id_" + type);
    std::vector<std::string> args = {"-q", "-t", type, "-w", module_, "-N", "", "-C", "tessera@test", "-f", key};
    for (const auto& o : options) {
      args.push_back("-O");
      args.push_back(o);
    }
    auto made = keygen(args);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const std::string pub = test::read_file(key + ".pub");
    ASSERT_EQ(pub.rfind(type == "ed25519-sk" ? "sk-ssh-ed25519@openssh.com " : "sk-ecdsa-sha2-nistp256@openssh.com ",
                        0),
              0u)
        << pub;
    auto derived = keygen({"-y", "-f", key});
    ASSERT_EQ(derived.exit_code, 0) << derived.err;
    EXPECT_EQ(derived.out.substr(0, derived.out.find(' ', derived.out.find(' ') + 1)),
              pub.substr(0, pub.find(' ', pub.find(' ') + 1)));

    const std::string file = dir_.file("message.txt");
    test::write_file(file, "a message to sign\n");
    auto signed_ = keygen({"-Y", "sign", "-f", key, "-n", "file", file});
    ASSERT_EQ(signed_.exit_code, 0) << signed_.err;
    const std::string allowed = dir_.file("allowed_signers");
    test::write_file(allowed, "tessera@test " + pub);
    auto verified =
        test::run({"ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "tessera@test", "-n", "file", "-s", file + ".sig"},
                  test::read_file(file));
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("Good \"file\" signature for tessera@test"), std::string::npos) << verified.out;
    // A changed file does not verify.
    auto tampered =
        test::run({"ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "tessera@test", "-n", "file", "-s", file + ".sig"},
                  "another message\n");
    EXPECT_NE(tampered.exit_code, 0);
  }

  test::TempDir dir_;
  Simulator sim_;
  std::string module_;
  std::string askpass_;
};

TEST_F(InteropSshKeygen, Ed25519SkKeysSignAndVerify) { make_sign_verify("ed25519-sk"); }

TEST_F(InteropSshKeygen, EcdsaSkKeysSignAndVerify) { make_sign_verify("ecdsa-sk"); }

TEST_F(InteropSshKeygen, NoTouchRequiredKeysSignWithoutATouch) {
  make_sign_verify("ed25519-sk", {"no-touch-required"});
  EXPECT_EQ(sim_.stats().touch_requests, 1) << "only the enrolment asked for a touch";
}

TEST_F(InteropSshKeygen, VerifyRequiredResidentKeysWithAPin) {
  sim_.update([](SimConfig& c) { c.pin = kPin; });
  make_sign_verify("ed25519-sk", {"resident", "verify-required", "application=ssh:interop", "user=tessera"});
  EXPECT_EQ(sim_.resident_count(), 1u);
  EXPECT_GE(sim_.stats().pin_protocol, 1) << "ssh-keygen asked askpass for the PIN and the middleware used it";

  // ssh-keygen -K downloads the resident key again (into the working directory).
  const std::string download = dir_.file("download");
  std::filesystem::create_directory(download);
  auto listed = test::run({"/bin/sh", "-c", "cd \"$0\" && ssh-keygen -K -N '' -w \"$1\"", download, module_}, "", env());
  ASSERT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  const std::string original = test::read_file(dir_.file("id_ed25519-sk.pub"));
  const std::string fetched = test::read_file(download + "/id_ed25519_sk_rk_interop_tessera.pub");
  EXPECT_EQ(fetched.substr(0, fetched.find(' ', fetched.find(' ') + 1)),
            original.substr(0, original.find(' ', original.find(' ') + 1)));
}

TEST_F(InteropSshKeygen, AnExistingResidentKeyIsOverwrittenOnlyWhenConfirmed) {
  sim_.update([](SimConfig& c) { c.pin = kPin; });
  // ssh-keygen reads its "Overwrite key in token (y/n)?" answer from stdin.
  auto make = [&](const std::string& name, const std::string& answer) {
    return keygen({"-q", "-t", "ecdsa-sk", "-w", module_, "-N", "", "-O", "resident", "-O", "user=same", "-f",
                   dir_.file(name)},
                  answer);
  };
  auto first = make("first", "");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // The middleware says the credential exists; ssh-keygen asks whether to
  // overwrite it ("n" here) and gives up.
  auto refused = make("second", "n\n");
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.out.find("already exists"), std::string::npos) << refused.out << refused.err;
  EXPECT_EQ(sim_.resident_count(), 1u);
  // Answered "y", ssh-keygen retries with the force flag and the credential
  // is replaced.
  auto replaced = make("third", "y\n");
  ASSERT_EQ(replaced.exit_code, 0) << replaced.out << replaced.err;
  EXPECT_EQ(sim_.resident_count(), 1u);
  EXPECT_NE(test::read_file(dir_.file("third.pub")), test::read_file(dir_.file("first.pub")));
}

// The whole chain through tessera's programs: a key OpenSSH's ssh-keygen
// made with tessera's middleware is read by tessera-keygen and added by
// OpenSSH's ssh-add -S to tessera-agent, which signs with it; a key
// tessera-keygen made with its built-in middleware is read by ssh-keygen and
// signs under it.
TEST_F(InteropSshKeygen, TesseraProgramsAndOpenSshShareKeysOnTheAuthenticator) {
  const std::string theirs = dir_.file("made_by_ssh_keygen");
  ASSERT_EQ(keygen({"-q", "-t", "ed25519-sk", "-w", module_, "-N", "", "-C", "chain", "-f", theirs}).exit_code, 0);
  auto read_by_us = test::run({test::tessera_bin("tessera-keygen"), "-y", "-f", theirs}, "", env());
  ASSERT_EQ(read_by_us.exit_code, 0) << read_by_us.err;
  EXPECT_EQ(read_by_us.out, test::read_file(theirs + ".pub"));

  const std::string socket = dir_.file("agent.sock");
  std::vector<std::string> agent_env = env();
  test::BackgroundProcess agent({test::tessera_bin("tessera-agent"), "-D", "-a", socket, "-P",
                                 std::filesystem::path(module_).parent_path().string() + "/*"},
                                dir_.file("agent.log"), agent_env);
  ASSERT_TRUE(test::wait_for_unix_socket(socket)) << test::read_file(dir_.file("agent.log"));
  agent_env.push_back("SSH_AUTH_SOCK=" + socket);
  auto added = test::run({"ssh-add", "-S", module_, theirs}, "", agent_env);
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string file = dir_.file("through-the-agent.txt");
  test::write_file(file, "signed through tessera-agent\n");
  auto signed_ = test::run({"ssh-keygen", "-Y", "sign", "-f", theirs + ".pub", "-n", "file", file}, "", agent_env);
  ASSERT_EQ(signed_.exit_code, 0) << signed_.err << test::read_file(dir_.file("agent.log"));
  const std::string allowed = dir_.file("allowed_chain");
  test::write_file(allowed, "chain " + test::read_file(theirs + ".pub"));
  auto verified = test::run({"ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "chain", "-n", "file", "-s",
                             file + ".sig"},
                            test::read_file(file));
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  const std::string ours = dir_.file("made_by_tessera_keygen");
  auto made = test::run({test::tessera_bin("tessera-keygen"), "-q", "-t", "ecdsa-sk", "-N", "", "-f", ours}, "", env());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto read_by_them = keygen({"-y", "-f", ours});
  ASSERT_EQ(read_by_them.exit_code, 0) << read_by_them.err;
  EXPECT_EQ(read_by_them.out, test::read_file(ours + ".pub"));
  auto signed_by_them = keygen({"-Y", "sign", "-f", ours, "-n", "file", file});
  EXPECT_EQ(signed_by_them.exit_code, 0) << signed_by_them.err;
}

TEST_F(InteropSshKeygen, NoAuthenticatorIsAClearError) {
  auto r = test::run({"ssh-keygen", "-q", "-t", "ed25519-sk", "-w", module_, "-N", "", "-f", dir_.file("none")}, "",
                     {"TESSERA_FIDO_TEST_DEVICE=" + dir_.file("no-such.sock"), "TESSERA_FIDO_TEST_TIMEOUT_MS=1000"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tessera-sk-fido2: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("device not found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera::fidotest
