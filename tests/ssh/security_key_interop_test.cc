// Security key logins, both clients against both servers: OpenSSH's ssh and
// tessera-ssh (a key file, SecurityKeyProvider) to OpenSSH's sshd and
// tessera-sshd, with the software middleware (tests/fido/soft_middleware.cc)
// in the authenticator's place. authorized_keys' no-touch-required and
// verify-required decide alike in both servers.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "sshd_interop_support.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using sshd_interop::ensure_user;
using sshd_interop::kUser;
using sshd_interop::ssh_argv;

constexpr const char* kPin = "8080";

class SecurityKeyLogin : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Sshd::unavailable().empty()) GTEST_SKIP() << Sshd::unavailable();
    if (!ensure_user()) GTEST_SKIP() << "no test account";
    soft_ = tessera_bin("tessera-sk-soft.so");
    std::filesystem::create_directories(dir_.file("state"));
    // The PIN a verify-required key needs comes from this askpass.
    write_file(dir_.file("askpass"), std::string("#!/bin/sh\necho ") + kPin + "\n", 0755);
    env_ = {"TESSERA_SK_SOFT_DIR=" + dir_.file("state"), std::string("TESSERA_SK_SOFT_PIN=") + kPin,
            "SSH_ASKPASS=" + dir_.file("askpass"), "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0",
            "SSH_SK_PROVIDER=" + soft_};
    ::chmod(dir_.path().c_str(), 0755);
  }

  std::string make_key(const std::string& name, const std::string& type, const std::vector<std::string>& options) {
    const std::string path = dir_.file(name);
    std::vector<std::string> argv = {"ssh-keygen", "-q", "-t", type, "-w", soft_, "-N", "", "-f", path};
    for (const std::string& o : options) argv.insert(argv.end(), {"-O", o});
    auto made = run(argv, std::string(kPin) + "\n", env_);
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return path;
  }

  // OpenSSH's sshd and tessera-sshd, each with `authorized` as the
  // authorized_keys every account shares.
  std::pair<std::unique_ptr<Sshd>, std::unique_ptr<Sshd>> servers(const std::string& authorized) {
    std::unique_ptr<Sshd> made[2];
    for (int i = 0; i < 2; ++i) {
      const std::string dir = dir_.file(i == 0 ? "openssh" : "tessera");
      std::filesystem::create_directories(dir);
      made[i] = std::make_unique<Sshd>(SshdConfig{.dir = dir,
                                                  .host_key = {},
                                                  .extra = "",
                                                  .pam = false,
                                                  .program = i == 0 ? kSshdPath : tessera_bin("tessera-sshd")});
      if (made[i]->started()) write_file(made[i]->authorized_keys(), authorized, 0644);
    }
    return {std::move(made[0]), std::move(made[1])};
  }

  CommandResult login(const std::string& client, int port, const std::string& key) {
    return run(ssh_argv(client, port, key, {"-o", "SecurityKeyProvider=" + soft_}, "echo in"), "", env_);
  }

  TempDir dir_;
  std::string soft_;
  std::vector<std::string> env_;
};

TEST_F(SecurityKeyLogin, BothClientsLogInToBothServers) {
  const std::string touch = make_key("touch", "ed25519-sk", {});
  const std::string quiet = make_key("quiet", "ecdsa-sk", {"no-touch-required"});
  const std::string verify = make_key("verify", "ed25519-sk", {"verify-required"});
  const std::string authorized = read_file(touch + ".pub") + "no-touch-required " + read_file(quiet + ".pub") +
                                 "verify-required " + read_file(verify + ".pub");
  auto [openssh, tessera] = servers(authorized);
  for (Sshd* server : {openssh.get(), tessera.get()}) {
    ASSERT_TRUE(server->started()) << server->log();
  }
  for (const std::string& client : {std::string("ssh"), tessera_bin("tessera-ssh")}) {
    for (Sshd* server : {openssh.get(), tessera.get()}) {
      for (const std::string& key : {touch, quiet, verify}) {
        SCOPED_TRACE(client + " " + (server == openssh.get() ? "sshd" : "tessera-sshd") + " " + key);
        auto r = login(client, server->port(), key);
        EXPECT_EQ(r.exit_code, 0) << r.err << server->log();
        EXPECT_EQ(r.out, "in\n");
      }
    }
  }
}

// A key that signs without a touch is refused where authorized_keys does not
// say no-touch-required; a key without a PIN, where it says verify-required.
TEST_F(SecurityKeyLogin, BothServersRefuseWhatAuthorizedKeysDoesNotAllow) {
  const std::string quiet = make_key("quiet", "ed25519-sk", {"no-touch-required"});
  const std::string touch = make_key("touch", "ecdsa-sk", {});
  const std::string authorized = read_file(quiet + ".pub") + "verify-required " + read_file(touch + ".pub");
  auto [openssh, tessera] = servers(authorized);
  for (Sshd* server : {openssh.get(), tessera.get()}) {
    ASSERT_TRUE(server->started()) << server->log();
    for (const std::string& key : {quiet, touch}) {
      SCOPED_TRACE(std::string(server == openssh.get() ? "sshd " : "tessera-sshd ") + key);
      auto r = login("ssh", server->port(), key);
      EXPECT_EQ(r.exit_code, 255) << r.out;
      EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
    }
  }
}

}  // namespace
}  // namespace tessera::test
