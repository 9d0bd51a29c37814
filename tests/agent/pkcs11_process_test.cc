// tessera-agent's side of a PKCS#11 helper process (daemon/pkcs11_process.h),
// with stand-in programs instead of tessera-pkcs11-helper: a request too
// large to frame is refused before anything is sent, and a helper whose
// stream does not parse is killed and reaped on the event loop.
#include "daemon/pkcs11_process.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace tessera::agent::daemon {
namespace {

using namespace std::chrono_literals;

bool process_exists(pid_t pid) { return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

TEST(HelperProcess, ARequestTooLargeToFrameIsRefusedAndNothingIsSent) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  // sleep stands in for the helper: it reads nothing and answers nothing.
  auto process = HelperProcess::spawn(**loop, "/bin/sleep", "60", [](const std::string&) {});
  ASSERT_TRUE(process.ok()) << process.error().message();
  pkcs11::Sign sign{pkcs11::KeyId{{"serial", "slot"}, {1}}, key::Bytes(pkcs11::kMaxFrameBytes), "ssh-ed25519",
                    std::nullopt};
  std::optional<key::Result<pkcs11::ReplyBody>> answer;
  (*process)->request(std::move(sign), 10s, [&](key::Result<pkcs11::ReplyBody> reply) { answer = std::move(reply); });
  ASSERT_TRUE(answer.has_value()) << "refused at once, not sent";
  ASSERT_FALSE(answer->ok());
  EXPECT_EQ(answer->error().code(), key::Errc::kTooLarge);
  EXPECT_TRUE((*process)->alive()) << "the helper itself is fine";
  EXPECT_EQ((*process)->pending(), 0u);
}

TEST(HelperProcess, AStreamThatDoesNotParseEndsTheHelperWithoutWaitingForIt) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  EventLoop& l = **loop;
  // cat sends the request back: a Hello is no reply, so the stream is broken.
  std::string exited;
  auto process = HelperProcess::spawn(l, "/bin/cat", "-", [&](const std::string& why) { exited = why; });
  ASSERT_TRUE(process.ok()) << process.error().message();
  const pid_t pid = (*process)->pid();
  std::optional<key::Result<pkcs11::ReplyBody>> answer;
  (*process)->request(pkcs11::Hello{}, 60s, [&](key::Result<pkcs11::ReplyBody> reply) { answer = std::move(reply); });
  // Serve until the process is gone (reaped by the loop), for at most 30 s.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::function<void()> check = [&] {
    if (!process_exists(pid) || std::chrono::steady_clock::now() > deadline) return l.stop();
    l.add_timer(l.now() + 10ms, check);
  };
  l.add_timer(l.now(), check);
  l.run();
  ASSERT_TRUE(answer.has_value());
  ASSERT_FALSE(answer->ok());
  EXPECT_NE(answer->error().message().find("broke the protocol"), std::string::npos) << answer->error().message();
  EXPECT_NE(exited.find("broke the protocol"), std::string::npos) << exited;
  EXPECT_FALSE((*process)->alive());
  EXPECT_FALSE(process_exists(pid)) << "killed and reaped by the event loop";
}

}  // namespace
}  // namespace tessera::agent::daemon
