// tessera-keygen -Y against ssh-keygen 9.2: signatures made by either verify
// under the other (file keys, a key in ssh-agent); verify, check-novalidate,
// find-principals and match-principals print the same and exit alike; -r
// with a KRL from ssh-keygen -k, or a key list, refuses a revoked key in both.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cert_cli.h"
#include "test_support.h"

namespace tessera::certtest {
namespace {

const std::string kMessage = "the message\nwith two lines\n";

class SshsigCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
    message_ = dir_.file("msg");
    test::write_file(message_, kMessage, 0644);
  }

  // Runs the same arguments through both tools and expects the same stdout,
  // stderr (less ssh-keygen's \r) and exit status. Returns ssh-keygen's result.
  CommandResult expect_same(const std::vector<std::string>& args, const std::string& input,
                            const std::string& what, const std::vector<std::string>& env = kEnv) {
    CommandResult theirs = ssh_keygen(args, input, env);
    CommandResult ours = tessera_keygen(args, input, env);
    EXPECT_EQ(ours.exit_code, theirs.exit_code) << what << "\nours: " << ours.err << "\ntheirs: " << theirs.err;
    EXPECT_EQ(ours.out, theirs.out) << what;
    EXPECT_EQ(without_verify_time(ours.err), without_verify_time(without_cr(theirs.err))) << what;
    return theirs;
  }

  // "verify time 2026-12-04T16:29:49" is the clock when each tool ran: the
  // two runs may fall on either side of a second.
  static std::string without_verify_time(std::string text) {
    const std::string label = "verify time ";
    for (size_t at = text.find(label); at != std::string::npos; at = text.find(label, at + label.size())) {
      const size_t end = text.find_first_of(" \n", at + label.size());
      text.replace(at + label.size(), (end == std::string::npos ? text.size() : end) - (at + label.size()), "TIME");
    }
    return text;
  }

  std::string allowed(const std::string& name, const std::string& text) {
    std::string path = dir_.file(name);
    test::write_file(path, text, 0644);
    return path;
  }

  std::vector<std::string> verify_args(const std::string& sig, const std::string& allowed_path,
                                       const std::string& principal) {
    return {"-Y", "verify", "-f", allowed_path, "-I", principal, "-n", "file", "-s", sig};
  }

  test::TempDir dir_;
  std::string message_;
};

TEST_F(SshsigCli, EachToolVerifiesTheOthersSignatures) {
  for (const auto& [type, bits] : std::vector<std::pair<std::string, std::string>>{
           {"ed25519", ""}, {"ecdsa", "384"}, {"rsa", "2048"}}) {
    std::string key = make_key(dir_, "id_" + type, type, bits);
    std::string signers = allowed("allowed_" + type, "alice@example.com " + test::read_file(key + ".pub"));
    for (const std::string& hashalg : {std::string("sha512"), std::string("sha256")}) {
      for (bool ours_signs : {true, false}) {
        std::string file = dir_.file(type + hashalg + (ours_signs ? "_ours" : "_theirs"));
        test::write_file(file, kMessage, 0644);
        std::vector<std::string> args = {"-Y", "sign", "-f", key, "-n", "file", "-O", "hashalg=" + hashalg, file};
        CommandResult signed_ = ours_signs ? tessera_keygen(args) : ssh_keygen(args);
        ASSERT_EQ(signed_.exit_code, 0) << type << signed_.err;
        if (ours_signs) {
          EXPECT_EQ(signed_.err, "Signing file " + file + "\nWrite signature to " + file + ".sig\n");
        }
        CommandResult theirs =
            expect_same(verify_args(file + ".sig", signers, "alice@example.com"), kMessage, type + " " + hashalg);
        EXPECT_EQ(theirs.exit_code, 0) << theirs.err;
        // A changed message, or another namespace, fails in both.
        expect_same(verify_args(file + ".sig", signers, "alice@example.com"), kMessage + "x", type + " changed");
        expect_same({"-Y", "check-novalidate", "-n", "git", "-s", file + ".sig"}, kMessage, type + " namespace");
      }
    }
  }
}

TEST_F(SshsigCli, StdinSignsToStdoutAndArgumentErrorsMatch) {
  std::string key = make_key(dir_, "id", "ed25519");
  CommandResult r = tessera_keygen({"-Y", "sign", "-f", key, "-n", "git"}, kMessage);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "Signing data on standard input\n");
  std::string sig = dir_.file("stdin.sig");
  test::write_file(sig, r.out);
  expect_same({"-Y", "check-novalidate", "-n", "git", "-s", sig, "-O", "print-pubkey"}, kMessage, "stdin");
  expect_same({"-q", "-Y", "check-novalidate", "-n", "git", "-s", sig}, kMessage, "quiet");

  const std::vector<std::vector<std::string>> cases = {
      {"-Y", "sign", "-f", key, message_},
      {"-Y", "sign", "-n", "file", message_},
      {"-Y", "sign", "-f", key, "-n", "file", "-", message_},
      {"-Y", "sign", "-f", key, "-n", "file", dir_.file("missing")},
      {"-Y", "sign", "-f", dir_.file("nokey"), "-n", "file", message_},
      {"-Y", "sign", "-f", key, "-n", "file", "-O", "bogus", message_},
      {"-Y", "verify", "-n", "file", "-s", sig},
      {"-Y", "verify", "-f", key, "-n", "file", "-s", sig},
      {"-Y", "verify", "-s", sig},
      {"-Y", "verify", "-n", "file", "-I", "a", "-f", key},
      {"-Y", "check-novalidate", "-s", sig},
      {"-Y", "check-novalidate", "-n", "git"},
      {"-Y", "check-novalidate", "-n", "git", "-s", dir_.file("nosig")},
      {"-Y", "check-novalidate", "-n", "git", "-s", sig, "-O", "verify-time=bad"},
      {"-Y", "find-principals", "-f", key},
      {"-Y", "find-principals", "-s", sig},
      {"-Y", "match-principals", "-I", "a"},
      {"-Y", "match-principals", "-f", key},
  };
  for (const auto& args : cases) {
    std::string what;
    for (const auto& a : args) what += a + " ";
    expect_same(args, kMessage, what);
  }
  // An unknown operation: the same first line and status (the usage text names each program).
  CommandResult theirs = ssh_keygen({"-Y", "bogus"});
  CommandResult ours = tessera_keygen({"-Y", "bogus"});
  EXPECT_EQ(ours.exit_code, theirs.exit_code);
  EXPECT_EQ(ours.err.substr(0, ours.err.find('\n')), "Unsupported operation for -Y: \"bogus\"");
}

TEST_F(SshsigCli, PrincipalsAndAllowedSignersFilesMatch) {
  std::string key = make_key(dir_, "id", "ed25519");
  std::string other = make_key(dir_, "other", "ecdsa");
  std::string k = test::read_file(key + ".pub"), o = test::read_file(other + ".pub");
  std::string sig = message_ + ".sig";
  ASSERT_EQ(tessera_keygen({"-q", "-Y", "sign", "-f", key, "-n", "file", message_}).exit_code, 0);
  const std::vector<std::string> files = {
      "alice@example.com " + k,
      "bob@example.com " + o + "alice@example.com,al*@example.org namespaces=\"file\" " + k,
      "*@example.com,!eve@example.com " + k + "alice@example.com " + k,
      "carol@example.com " + o,
      "alice@example.com valid-before=\"20200101\" " + k + "later@example.com " + k,
      "alice@example.com namespaces=\"git\" " + k,
      "broken line\nalice@example.com " + k,
      "# only a comment\n",
  };
  for (size_t i = 0; i < files.size(); ++i) {
    std::string path = allowed("allowed" + std::to_string(i), files[i]);
    expect_same({"-Y", "find-principals", "-s", sig, "-f", path}, {}, files[i]);
    for (std::string principal : {"alice@example.com", "eve@example.com", "bob@example.com", "alice@example.org"}) {
      expect_same({"-Y", "match-principals", "-I", principal, "-f", path}, {}, files[i] + principal);
      expect_same(verify_args(sig, path, principal), kMessage, files[i] + principal);
    }
  }
  std::string broken = allowed("broken", "alice@example.com bad-key\n");
  expect_same({"-Y", "match-principals", "-I", "alice@example.com", "-f", broken}, {}, "malformed line");
  expect_same({"-Y", "match-principals", "-I", "a", "-f", dir_.file("none")}, {}, "no file");
  expect_same({"-Y", "match-principals", "-I", "a", "-f", broken, "-O", "bogus"}, {}, "bad option");
  expect_same({"-Y", "check-novalidate", "-n", "file", "-s", sig}, kMessage, "check-novalidate");
  expect_same({"-Y", "verify", "-n", "file", "-s", sig, "-I", "a", "-f", dir_.file("none")}, kMessage, "no file");
}

TEST_F(SshsigCli, RevokedKeysAreRefusedByBoth) {
  std::string key = make_key(dir_, "id", "ecdsa");
  std::string other = make_key(dir_, "other", "ed25519");
  std::string signers = allowed("allowed", "alice@example.com " + test::read_file(key + ".pub"));
  ASSERT_EQ(tessera_keygen({"-q", "-Y", "sign", "-f", key, "-n", "file", message_}).exit_code, 0);
  std::string sig = message_ + ".sig";

  std::string krl = dir_.file("revoked.krl");
  ASSERT_EQ(ssh_keygen({"-k", "-f", krl, key + ".pub"}).exit_code, 0);
  std::string other_krl = dir_.file("other.krl");
  ASSERT_EQ(ssh_keygen({"-k", "-f", other_krl, other + ".pub"}).exit_code, 0);
  std::string list = allowed("revoked_keys", test::read_file(other + ".pub") + test::read_file(key + ".pub"));
  std::string other_list = allowed("other_keys", "# a comment\n" + test::read_file(other + ".pub"));

  for (const auto& [file, revoked] : std::vector<std::pair<std::string, bool>>{
           {krl, true}, {other_krl, false}, {list, true}, {other_list, false}}) {
    std::vector<std::string> args = verify_args(sig, signers, "alice@example.com");
    args.insert(args.end(), {"-r", file});
    CommandResult theirs = expect_same(args, kMessage, file);
    EXPECT_EQ(theirs.exit_code, revoked ? 255 : 0) << file << theirs.err;
  }
}

// A key in ssh-agent signs: with -U it must be there; without -U it is used
// when there. The private key file is gone, so only the agent can sign.
TEST_F(SshsigCli, AgentKeysSign) {
  if (!test::have_program("ssh-agent") || !test::have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent";
  std::string key = make_key(dir_, "id", "rsa", "2048");
  const std::string socket = dir_.file("agent.sock");
  test::BackgroundProcess agent({"ssh-agent", "-D", "-a", socket}, dir_.file("agent.log"));
  ASSERT_TRUE(test::wait_for_unix_socket(socket));
  const std::vector<std::string> env = {"TZ=UTC", "SSH_AUTH_SOCK=" + socket};
  std::vector<std::string> args = {"-Y", "sign", "-U", "-f", key + ".pub", "-n", "file", message_};
  expect_same(args, {}, "key not in the agent", env);
  expect_same(args, {}, "no agent", {"TZ=UTC", "SSH_AUTH_SOCK=" + dir_.file("none")});
  ASSERT_EQ(test::run({"ssh-add", "-q", key}, {}, env).exit_code, 0);
  std::remove(key.c_str());

  std::string signers = allowed("allowed", "alice@example.com " + test::read_file(key + ".pub"));
  for (bool with_u : {true, false}) {
    std::vector<std::string> sign = {"-Y", "sign", "-f", key + ".pub", "-n", "file", message_};
    if (with_u) sign.insert(sign.begin() + 2, "-U");
    std::remove((message_ + ".sig").c_str());
    CommandResult r = tessera_keygen(sign, {}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    CommandResult theirs = expect_same(verify_args(message_ + ".sig", signers, "alice@example.com"), kMessage,
                                       "agent");
    EXPECT_EQ(theirs.exit_code, 0) << theirs.err;
  }
}

}  // namespace
}  // namespace tessera::certtest
