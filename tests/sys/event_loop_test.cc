// The event loop: descriptors epoll refuses (a regular file is ready on
// every round, as poll(2) says, so a reader gets to its end), and tasks
// deferred to the end of a round.
#include "tessera/sys/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "test_support.h"

namespace tessera::sys {
namespace {

TEST(EventLoop, RegularFilesAreAlwaysReady) {
  test::TempDir dir;
  const std::string path = dir.file("data");
  test::write_file(path, std::string(100000, 'x'));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  size_t total = 0;
  int rounds = 0;
  ASSERT_TRUE((*loop)->add_fd(fd, EPOLLIN, [&](uint32_t events) {
                      EXPECT_TRUE(events & EPOLLIN);
                      ++rounds;
                      char buf[4096];
                      const ssize_t n = ::read(fd, buf, sizeof buf);
                      if (n > 0) {
                        total += static_cast<size_t>(n);
                        return;
                      }
                      (*loop)->remove_fd(fd);
                      (*loop)->stop();
                    }).ok());
  (*loop)->run();
  ::close(fd);
  EXPECT_EQ(total, 100000u);
  EXPECT_GT(rounds, 24);
  // /dev/null the same way: EOF at once (a new loop: the first one stopped).
  loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  bool eof = false;
  ASSERT_TRUE((*loop)->add_fd(null_fd, EPOLLIN, [&](uint32_t) {
                      char c;
                      eof = ::read(null_fd, &c, 1) == 0;
                      (*loop)->remove_fd(null_fd);
                    }).ok());
  (*loop)->run_until([&] { return eof; });
  ::close(null_fd);
  EXPECT_TRUE(eof);
}

// A deferred task runs after every handler of its round, once, before the
// loop waits again; one it defers in turn runs in the same round.
TEST(EventLoop, DeferredTasksRunAtTheEndOfTheRound) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop.ok());
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  std::string order;
  ASSERT_TRUE((*loop)->add_fd(fds[0], EPOLLIN, [&](uint32_t) {
                      order += "handler ";
                      (*loop)->defer([&] {
                        order += "deferred ";
                        (*loop)->defer([&] { order += "again "; });
                      });
                      (*loop)->remove_fd(fds[0]);
                    }).ok());
  (*loop)->add_timer((*loop)->now(), [&] { order += "timer "; });
  bool rounds_done = false;
  (*loop)->run_until([&] {
    rounds_done = order.find("again") != std::string::npos;
    return rounds_done;
  });
  EXPECT_TRUE(rounds_done);
  EXPECT_EQ(order, "handler timer deferred again ");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace tessera::sys
