// The prompts library: askpass rules and the one askpass runner, pinentry's
// Assuan dialogue, and the wording of PIN prompts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "tessera/pkcs11/protocol.h"
#include "tessera/prompts/askpass.h"
#include "tessera/prompts/pin.h"
#include "tessera/prompts/pinentry.h"
#include "test_support.h"

namespace tessera::prompts {
namespace {

using test::TempDir;
using test::write_file;

TEST(Askpass, RulesOfReadpass) {
  AskpassConfig config;
  config.program = "/bin/true";
  EXPECT_FALSE(config.allowed());  // no display
  config.display = true;
  EXPECT_TRUE(config.allowed());
  config.require = "never";
  EXPECT_FALSE(config.allowed());
  config.display = false;
  config.require = "FORCE";
  EXPECT_TRUE(config.allowed());
  config.require = "prefer";
  EXPECT_FALSE(config.allowed());
  EXPECT_EQ(confirmation_prompt("c", "SHA256:x", ""), "Allow use of key c?\nKey fingerprint SHA256:x.");
  EXPECT_EQ(confirmation_prompt("c", "SHA256:x", "for user"),
            "Allow use of key c?\nKey fingerprint SHA256:x.\nfor user");
}

TEST(PinPrompts, SayTheTokenAndItsPinState) {
  EXPECT_EQ(pin_prompt("main", 0), "Enter PIN for 'main': ");
  EXPECT_NE(pin_prompt("main", pkcs11::kTokenPinCountLow).find("few tries may be left"), std::string::npos);
  std::string last = pin_prompt("main", pkcs11::kTokenPinCountLow | pkcs11::kTokenPinFinalTry);
  EXPECT_EQ(last.rfind("WARNING: this is the LAST try", 0), 0u) << last;
  EXPECT_NE(last.find("Enter PIN for 'main': "), std::string::npos);
  std::string context = context_pin_prompt("aa", "aa-ec256", 0);
  EXPECT_NE(context.find("to sign with key 'aa-ec256'"), std::string::npos);
  EXPECT_EQ(pin_state_text(0), "");
  EXPECT_NE(pin_state_text(pkcs11::kTokenPinLocked | pkcs11::kTokenPinFinalTry).find("locked"), std::string::npos);
  // pkcs11-tool has no --unblock-pin: the SO logs in and sets a new user PIN.
  EXPECT_NE(pin_state_text(pkcs11::kTokenPinLocked).find(pin_unblock_advice()), std::string::npos);
  EXPECT_NE(pin_unblock_advice().find("pkcs11-tool --login --login-type so --init-pin"), std::string::npos);
  // A PIN to be changed is said beside the counter state, and on its own.
  std::string both = pin_state_text(pkcs11::kTokenPinCountLow | pkcs11::kTokenPinToBeChanged);
  EXPECT_NE(both.find("few tries may be left"), std::string::npos) << both;
  EXPECT_NE(both.find("must be changed"), std::string::npos) << both;
  EXPECT_NE(pin_state_text(pkcs11::kTokenPinToBeChanged).find("--change-pin"), std::string::npos);
}

TEST(Pinentry, AssuanEscaping) {
  EXPECT_EQ(assuan_escape("Enter PIN\nfor 'a' (100%)\r"), "Enter PIN%0Afor 'a' (100%25)%0D");
  EXPECT_EQ(assuan_unescape("12%2534")->reveal_text(), "12%34");
  EXPECT_EQ(assuan_unescape("%0a%0D")->reveal_text(), "\n\r");
  EXPECT_FALSE(assuan_unescape("12%2"));
  EXPECT_FALSE(assuan_unescape("%zz"));
  EXPECT_FALSE(assuan_unescape("%"));
}

// A pinentry that speaks just enough Assuan: records SETDESC, acknowledges
// every command, and answers GETPIN with `make`'s PIN (ERR for "cancel"), or
// with `answering`'s lines (printf's format).
class FakePinentry : public ::testing::Test {
 protected:
  std::string make(const std::string& answer) {
    return with_getpin(answer == "cancel" ? "echo 'ERR 83886179 Operation cancelled'"
                                          : "echo 'D " + answer + "'; echo OK");
  }
  std::string answering(const std::string& getpin_reply) { return with_getpin("printf '" + getpin_reply + "'"); }

  TempDir dir_;

 private:
  std::string with_getpin(const std::string& getpin) {
    std::string path = dir_.file("pinentry");
    write_file(path,
               "#!/bin/sh\necho 'OK Pleased to meet you'\n"
               "while read -r cmd rest; do\n"
               "  case $cmd in\n"
               "    SETDESC) printf '%s\\n' \"$rest\" >> " + dir_.file("desc") + "; echo OK ;;\n"
               "    GETPIN) " + getpin + " ;;\n"
               "    BYE) echo OK; exit 0 ;;\n"
               "    *) echo OK ;;\n"
               "  esac\n"
               "done\n",
               0755);
    return path;
  }
};

TEST_F(FakePinentry, GivesThePinAndShowsTheDescription) {
  auto pin = ask_pinentry(make("12%2534"), "Enter PIN for 'main':\nsecond line");
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->reveal_text(), "12%34");
  EXPECT_EQ(test::read_file(dir_.file("desc")), "Enter PIN for 'main':%0Asecond line\n");
}

TEST_F(FakePinentry, CancelAndMissingProgramGiveNothing) {
  EXPECT_FALSE(ask_pinentry(make("cancel"), "x"));
  EXPECT_FALSE(ask_pinentry(dir_.file("no-such-pinentry"), "x"));
  write_file(dir_.file("mute"), "#!/bin/sh\nexit 0\n", 0755);
  EXPECT_FALSE(ask_pinentry(dir_.file("mute"), "x"));
}


TEST_F(FakePinentry, ABrokenEscapeIsAnErrorNotAnEmptyPin) {
  for (const char* reply : {"D 12%%2\\nOK\\n", "D %%zz\\nOK\\n", "D %%\\nOK\\n", "D 1%%G4\\nOK\\n"}) {
    auto pin = ask_pinentry(answering(reply), "x");
    ASSERT_FALSE(pin.ok()) << reply;
    EXPECT_EQ(pin.error().code(), key::Errc::kMalformed) << reply;
    EXPECT_NE(pin.error().message().find("broken %-escape"), std::string::npos) << pin.error().message();
  }
}

TEST_F(FakePinentry, AnAnswerOutsideTheProtocolIsAnError) {
  for (const char* reply : {"DX1234\\nOK\\n", "garbage\\n", "INQUIRE PIN\\nOK\\n"}) {
    auto pin = ask_pinentry(answering(reply), "x");
    EXPECT_FALSE(pin.ok()) << reply;
  }
}

TEST_F(FakePinentry, DataLinesJoinAndStatusLinesAreSkipped) {
  auto pin = ask_pinentry(answering("S PASSWORD_FROM_CACHE\\n# note\\nD 12\\nD 34%%25\\nOK\\n"), "x");
  ASSERT_TRUE(pin.ok()) << pin.error().message();
  EXPECT_EQ(pin->reveal_text(), "1234%");
}

TEST_F(FakePinentry, OkWithoutDataIsTheEmptyAnswerTheUserGave) {
  auto pin = ask_pinentry(answering("OK\\n"), "x");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->size(), 0u);
}

TEST(GetpinReply, StatesFollowTheLines) {
  GetpinReply cancelled;
  EXPECT_EQ(cancelled.feed("D 12"), GetpinReply::State::kMore);
  EXPECT_EQ(cancelled.feed("ERR 83886179 Operation cancelled <Pinentry>"), GetpinReply::State::kCancelled);
  EXPECT_EQ(cancelled.problem(), "PIN entry cancelled");
  EXPECT_EQ(cancelled.take_pin().size(), 0u);
  GetpinReply twice;
  EXPECT_EQ(twice.feed("OK"), GetpinReply::State::kPin);
  EXPECT_EQ(twice.feed("OK"), GetpinReply::State::kError);
  EXPECT_EQ(twice.take_pin().size(), 0u);
  GetpinReply too_long;
  std::string chunk = "D " + std::string(kMaxPinentryLineBytes - 2, 'x');
  GetpinReply::State state = GetpinReply::State::kMore;
  for (size_t i = 0; i < 3 && state == GetpinReply::State::kMore; ++i) state = too_long.feed(chunk);
  EXPECT_EQ(state, GetpinReply::State::kError);
}

TEST(RunAskpass, GivesTheFirstLineAndSaysWhenItCannotRun) {
  TempDir dir;
  std::string program = dir.file("askpass");
  write_file(program, "#!/bin/sh\nprintf '%s|%s\\nsecond\\n' \"$1\" \"$SSH_ASKPASS_PROMPT\"\n", 0755);
  auto secret = run_askpass(program, "Enter PIN: ", /*confirm=*/false);
  ASSERT_TRUE(secret.ok()) << secret.error().message();
  EXPECT_EQ(secret->reveal_text(), "Enter PIN: |");
  auto confirm = run_askpass(program, "Allow?", /*confirm=*/true);
  ASSERT_TRUE(confirm.ok());
  EXPECT_EQ(confirm->reveal_text(), "Allow?|confirm");
  auto missing = run_askpass(dir.file("missing"), "x", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), key::Errc::kIo);
  write_file(dir.file("cancel"), "#!/bin/sh\necho 1234\nexit 1\n", 0755);
  auto cancelled = run_askpass(dir.file("cancel"), "x", false);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.error().code(), key::Errc::kPassphraseRequired);
}

// The notice stays up while the operation waits and is ended with it; it
// gets the text and SSH_ASKPASS_PROMPT=none, as OpenSSH's notify_start().
TEST(Notice, ShowsTheTextUntilItGoes) {
  TempDir dir;
  const std::string program = dir.file("askpass");
  const std::string seen = dir.file("seen");
  write_file(program,
             "#!/bin/sh\nprintf '%s|%s\\n' \"$1\" \"$SSH_ASKPASS_PROMPT\" > " + seen +
                 ".tmp\nmv " + seen + ".tmp " + seen + "\necho on-stdout\nexec sleep 30\n",
             0755);
  AskpassConfig config;
  config.program = program;
  config.display = true;
  auto started = std::chrono::steady_clock::now();
  {
    Notice notice = Notice::show(config, "Confirm user presence for key ED25519-SK SHA256:abc");
    ASSERT_TRUE(notice.shown());
    for (int i = 0; i < 500 && !std::filesystem::exists(seen); ++i) usleep(10000);
    EXPECT_EQ(test::read_file(seen), "Confirm user presence for key ED25519-SK SHA256:abc|none\n");
  }
  // Gone at once (SIGTERM), not after the program's 30 s.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));

  config.display = false;  // nowhere to show it: nothing runs
  EXPECT_FALSE(Notice::show(config, "x").shown());
  config.display = true;
  config.program = dir.file("missing");
  EXPECT_FALSE(Notice::show(config, "x").shown());
}

}  // namespace
}  // namespace tessera::prompts
