// tessera-keygen -D with the SoftHSM2 fixture tokens: the key list against
// OpenSSH's ssh-keygen -D, files signed on the token (-Y sign -D) verified by
// ssh-keygen -Y verify, certificates from a CA key on the token (-s -D) read
// by ssh-keygen -L; one PIN prompt per run (a test askpass records them).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "softhsm_tokens.h"
#include "test_support.h"

namespace tessera::test {
namespace {

// "type base64" of each key line (the comment differs: ssh-keygen 9.2 names
// a key found through its certificate by the certificate's subject).
std::multiset<std::string> key_lines(const std::string& text, bool skip_ed25519) {
  std::multiset<std::string> keys;
  std::istringstream in(text);
  for (std::string type, blob, rest; in >> type >> blob && std::getline(in, rest);) {
    if (skip_ed25519 && type == "ssh-ed25519") continue;
    keys.insert(type + " " + blob);
  }
  return keys;
}

std::string line_labelled(const std::string& listing, const std::string& label) {
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    if (line.ends_with(" " + label)) return line + "\n";
  }
  ADD_FAILURE() << "no key " << label << " in\n" << listing;
  return {};
}

class KeygenTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = softhsm_missing(); !missing.empty()) GTEST_SKIP() << missing;
    if (!have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen not installed";
    conf_ = copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(conf_.empty());
    prompts_ = dir_.file("prompts");
    write_file(dir_.file("pin"), kFixturePin);
    write_file(prompts_, "");
    // Records each prompt and answers with the pin file's contents.
    write_file(dir_.file("askpass"),
               "#!/bin/sh\nprintf '%s\\n' \"$1\" >> " + prompts_ + "\ncat " + dir_.file("pin") + "\necho\n", 0755);
  }

  std::vector<std::string> env() const {
    return {"TZ=UTC", "SOFTHSM2_CONF=" + conf_, "SSH_ASKPASS=" + dir_.file("askpass"), "SSH_ASKPASS_REQUIRE=force",
            "SSH_AUTH_SOCK=", "TESSERA_P11_FAULT_CONTROL=" + dir_.file("fault-control")};
  }

  CommandResult tessera(std::vector<std::string> args) {
    args.insert(args.begin(), tessera_bin("tessera-keygen"));
    return run(args, {}, env());
  }
  CommandResult openssh(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), "ssh-keygen");
    return run(args, input, env());
  }

  // The public key line of a fixture key, from tessera-keygen -D.
  std::string token_key(const std::string& label) {
    CommandResult listed = tessera({"-D", kSoftHsmModule});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    std::string path = dir_.file(label + ".pub");
    write_file(path, line_labelled(listed.out, label), 0644);
    return path;
  }

  TempDir dir_;
  std::string conf_;
  std::string prompts_;
};

TEST_F(KeygenTokenTest, ListsTheKeysSshKeygenLists) {
  CommandResult theirs = openssh({"-D", kSoftHsmModule});
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  CommandResult ours = tessera({"-D", kSoftHsmModule});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  EXPECT_EQ(ours.err, "");
  // ssh-keygen 9.2 skips Ed25519 token keys; tessera-keygen lists them.
  EXPECT_EQ(key_lines(ours.out, true), key_lines(theirs.out, false));
  EXPECT_EQ(key_lines(ours.out, false).size(), key_lines(theirs.out, false).size() + 1);
  EXPECT_NE(ours.out.find(" rsa2048\n"), std::string::npos) << ours.out;
  // No PIN is needed to list.
  EXPECT_EQ(read_file(prompts_), "");

  // A pkcs11: URI selects one token's keys.
  CommandResult main_only = tessera({"-D", std::string("pkcs11:token=tessera-main?module-path=") + kSoftHsmModule});
  ASSERT_EQ(main_only.exit_code, 0) << main_only.err;
  EXPECT_EQ(key_lines(main_only.out, false).size(), 6u) << main_only.out;

  CommandResult missing = tessera({"-D", dir_.file("no-such-module.so")});
  EXPECT_EQ(missing.exit_code, 255);
  EXPECT_NE(missing.err.find("no-such-module.so"), std::string::npos) << missing.err;
}

TEST_F(KeygenTokenTest, SignsFilesThatSshKeygenVerifies) {
  std::string message = dir_.file("msg");
  write_file(message, "signed on a token\n", 0644);
  std::string allowed;
  std::vector<std::string> files;
  for (const std::string label : {"ec256", "rsa2048", "ed25519"}) {
    std::string pub = token_key(label);
    allowed += label + "@example.com " + read_file(pub);
    std::string file = dir_.file("msg-" + label);
    write_file(file, "signed on a token\n", 0644);
    files.push_back(file);
    CommandResult r = tessera({"-Y", "sign", "-D", kSoftHsmModule, "-f", pub, "-n", "file", file});
    ASSERT_EQ(r.exit_code, 0) << label << ": " << r.err;
    EXPECT_EQ(r.err, "Signing file " + file + "\nWrite signature to " + file + ".sig\n");
  }
  write_file(dir_.file("allowed"), allowed, 0644);
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string label = i == 0 ? "ec256" : i == 1 ? "rsa2048" : "ed25519";
    CommandResult v = openssh({"-Y", "verify", "-f", dir_.file("allowed"), "-I", label + "@example.com", "-n", "file",
                               "-s", files[i] + ".sig"},
                              "signed on a token\n");
    EXPECT_EQ(v.exit_code, 0) << label << ": " << v.out << v.err;
  }
  // One login per run: one prompt each.
  EXPECT_EQ(read_file(prompts_),
            "Enter PIN for 'tessera-main': \nEnter PIN for 'tessera-main': \nEnter PIN for 'tessera-main': \n");

  // Two files in one run: one prompt.
  write_file(prompts_, "");
  std::string pub = dir_.file("ec256.pub");
  std::string a = dir_.file("a"), b = dir_.file("b");
  write_file(a, "a", 0644);
  write_file(b, "b", 0644);
  CommandResult two = tessera({"-q", "-Y", "sign", "-D", kSoftHsmModule, "-f", pub, "-n", "file", a, b});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(read_file(prompts_), "Enter PIN for 'tessera-main': \n");

  // A key that is not on the token, and a wrong PIN.
  CommandResult other = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file("other")});
  ASSERT_EQ(other.exit_code, 0);
  CommandResult absent = tessera({"-Y", "sign", "-D", kSoftHsmModule, "-f", dir_.file("other.pub"), "-n", "file", a});
  EXPECT_EQ(absent.exit_code, 255);
  EXPECT_NE(absent.err.find("is not on a token"), std::string::npos) << absent.err;
  write_file(dir_.file("pin"), "9999");
  CommandResult wrong = tessera({"-Y", "sign", "-D", kSoftHsmModule, "-f", pub, "-n", "file", a});
  EXPECT_EQ(wrong.exit_code, 255);
  EXPECT_NE(wrong.err.find("wrong PIN for token 'tessera-main'"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("passphrase"), std::string::npos) << wrong.err;
}

// Through tessera-p11-fault (SoftHSM2 underneath): a PIN counter that runs
// out. Each failure says what happened, never "incorrect passphrase supplied
// to decrypt private key".
TEST_F(KeygenTokenTest, LoginFailuresSayWhatHappened) {
  const std::string fault = TESSERA_P11_FAULT_PATH;
  std::string pub = token_key("ec256");
  std::string file = dir_.file("msg");
  write_file(file, "m", 0644);
  const std::vector<std::string> sign = {"-Y", "sign", "-D", fault, "-f", pub, "-n", "file", file};

  write_file(dir_.file("fault-control"), "pin_tries=2\n");
  write_file(dir_.file("pin"), "9999");
  CommandResult wrong = tessera(sign);
  EXPECT_EQ(wrong.exit_code, 255);
  EXPECT_NE(wrong.err.find("wrong PIN for token 'tessera-main'"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("passphrase"), std::string::npos) << wrong.err;
  // The last try: the prompt warns, the error says the PIN is now locked.
  CommandResult last = tessera(sign);
  EXPECT_EQ(last.exit_code, 255);
  EXPECT_NE(read_file(prompts_).find("LAST try"), std::string::npos) << read_file(prompts_);
  CommandResult locked = tessera(sign);
  EXPECT_EQ(locked.exit_code, 255);
  EXPECT_NE(locked.err.find("the PIN of token 'tessera-main' is locked"), std::string::npos) << locked.err;
  EXPECT_EQ(locked.err.find("passphrase"), std::string::npos) << locked.err;

  // The token pulled out while its PIN is asked for (the askpass does it).
  const std::string control = dir_.file("fault-control");
  write_file(control, "");
  write_file(dir_.file("pin"), kFixturePin);
  write_file(dir_.file("askpass"),
             "#!/bin/sh\nprintf 'removed=1\\n' > " + control + ".new && mv " + control + ".new " + control +
                 "\ncat " + dir_.file("pin") + "\necho\n",
             0755);
  CommandResult absent = run({"timeout", "60", tessera_bin("tessera-keygen"), "-Y", "sign", "-D", fault, "-f", pub,
                              "-n", "file", file},
                             {}, env());
  EXPECT_EQ(absent.exit_code, 255) << absent.err;
  EXPECT_NE(absent.err.find("token 'tessera-main' is not present"), std::string::npos) << absent.err;
  EXPECT_EQ(absent.err.find("passphrase"), std::string::npos) << absent.err;
}

TEST_F(KeygenTokenTest, CertifiesWithACaKeyOnTheToken) {
  std::string ca = token_key("rsa3072");
  std::vector<std::string> subjects;
  for (const std::string name : {"user1", "user2"}) {
    CommandResult made = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file(name)});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    subjects.push_back(dir_.file(name) + ".pub");
  }
  CommandResult r = tessera({"-s", ca, "-D", kSoftHsmModule, "-I", "token-issued", "-n", "alice", "-z", "+7",
                             subjects[0], subjects[1]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(prompts_), "Enter PIN for 'tessera-main': \n");
  for (const std::string name : {"user1", "user2"}) {
    CommandResult listed = openssh({"-L", "-f", dir_.file(name) + "-cert.pub"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("Signing CA: RSA"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("(using rsa-sha2-512)"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("Key ID: \"token-issued\""), std::string::npos) << listed.out;
  }
  // The CA's public key must be on the token.
  CommandResult absent = tessera({"-s", subjects[0], "-D", kSoftHsmModule, "-I", "x", subjects[1]});
  EXPECT_EQ(absent.exit_code, 255);
  EXPECT_NE(absent.err.find("not found on a token"), std::string::npos) << absent.err;
}

}  // namespace
}  // namespace tessera::test
