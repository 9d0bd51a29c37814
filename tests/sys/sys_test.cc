#include <fcntl.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tessera/sys/fd.h"
#include "tessera/sys/file.h"
#include "tessera/sys/path.h"
#include "tessera/sys/spawn.h"
#include "tessera/sys/stdfd.h"
#include "test_support.h"

namespace tessera::sys {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(Fd, ClosesOnScopeExitAndMovesOwnership) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd first(raw);
    Fd second(std::move(first));
    EXPECT_FALSE(first.valid());
    EXPECT_EQ(second.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, ReleaseGivesTheDescriptorUp) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  { Fd fd(raw); EXPECT_EQ(fd.release(), raw); }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(Spawn, HandsOverDescriptorsAndEnvironment) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  Environment env = Environment::current({"TESSERA_SYS_TEST"});
  env.set("TESSERA_SYS_TEST", "hello");
  SpawnOptions options;
  options.hand_over = {{pipe->write.get(), STDOUT_FILENO}};
  options.search_path = true;
  options.environment = &env;
  auto pid = spawn({"sh", "-c", "printf '%s' \"$TESSERA_SYS_TEST\""}, options);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  pipe->write.reset();
  char buf[16] = {};
  ssize_t n = ::read(pipe->read.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "hello");
  EXPECT_TRUE(exited_cleanly(wait_for_exit(*pid)));
}

TEST(Spawn, ReportsAProgramThatCannotRun) {
  auto pid = spawn({"/nonexistent/tessera-no-such-program"});
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.error().message().find("cannot run /nonexistent/tessera-no-such-program"), std::string::npos);
}

TEST(Spawn, ReportsAFailedExit) {
  SpawnOptions options;
  options.search_path = true;
  auto pid = spawn({"sh", "-c", "exit 3"}, options);
  ASSERT_TRUE(pid.ok());
  int status = wait_for_exit(*pid);
  EXPECT_FALSE(exited_cleanly(status));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST(Spawn, ChildStartsWithDefaultSignalsEvenWhenWeIgnoreThem) {
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ignore, &previous);
  // A shell started with SIGINT ignored could not be stopped by it.
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  SpawnOptions options;
  options.hand_over = {{pipe->write.get(), STDOUT_FILENO}};
  options.search_path = true;
  auto pid = spawn({"sh", "-c", "kill -INT $$; echo survived"}, options);
  ::sigaction(SIGINT, &previous, nullptr);
  ASSERT_TRUE(pid.ok());
  pipe->write.reset();
  char buf[32] = {};
  ssize_t n = ::read(pipe->read.get(), buf, sizeof buf);
  EXPECT_LE(n, 0) << std::string(buf);
  int status = wait_for_exit(*pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGINT);
}

TEST(StandardFds, SanitiseReopensClosedOnesOnDevNull) {
  // In a child, so the test runner's own descriptors stay as they are.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(STDIN_FILENO);
    ::close(STDERR_FILENO);
    if (!sanitise_standard_fds().ok()) ::_exit(10);
    if (!is_open(STDIN_FILENO) || !is_open(STDERR_FILENO)) ::_exit(11);
    // The next file opened is not a standard descriptor.
    int fd = ::open("/dev/null", O_RDONLY);
    ::_exit(fd > 2 ? 0 : 12);
  }
  EXPECT_TRUE(exited_cleanly(wait_for_exit(pid)));
}

TEST(ReadFile, ReadsUpToTheLimitAndRefusesMore) {
  test::TempDir dir;
  std::ofstream(dir.file("ten")) << "0123456789";
  auto exact = read_file(dir.file("ten"), 10);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(*exact, "0123456789");
  auto over = read_file(dir.file("ten"), 9);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), key::Errc::kTooLarge);
  EXPECT_EQ(over.error().message(), "file larger than 9 bytes");
}

TEST(ReadFile, SaysWhyAFileCannotBeRead) {
  test::TempDir dir;
  auto missing = read_file(dir.file("missing"), 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "No such file or directory");
  auto directory = read_file(dir.path().string(), 100);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().message(), "Is a directory");
}

TEST(ReadFile, BoundsInputsOfUnknownSize) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe.ok());
  ASSERT_TRUE(write_all(pipe->write.get(), std::string(5000, 'x')).ok());
  pipe->write.reset();
  auto read = read_all_secret(pipe->read.get(), 4999);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code(), key::Errc::kTooLarge);
}

TEST(ExpandTilde, ExpandsHomesAndLeavesOtherPathsAlone) {
  EXPECT_EQ(*expand_tilde("/etc/x"), "/etc/x");
  EXPECT_EQ(*expand_tilde("relative/~x"), "relative/~x");
  EXPECT_EQ(*expand_tilde("~/x", "/home/a"), "/home/a/x");
  EXPECT_EQ(*expand_tilde("~", "/home/a"), "/home/a");
  EXPECT_EQ(*expand_tilde("~/x", "/"), "/x");
  const passwd* root = ::getpwuid(0);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(*expand_tilde(std::string("~") + root->pw_name + "/y"), std::string(root->pw_dir) + "/y");
  auto unknown = expand_tilde("~tessera-no-such-user/x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message(), "No such user tessera-no-such-user");
}

}  // namespace
}  // namespace tessera::sys
