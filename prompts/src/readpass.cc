#include "tessera/prompts/readpass.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <strings.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>

#include "tessera/prompts/askpass.h"
#include "tessera/sys/fd.h"

namespace tessera::prompts {

namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

// Signals that end a prompt: the terminal is restored, then the signal is
// delivered again (as readpassphrase(3) does).
constexpr int kPromptSignals[] = {SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM};
volatile sig_atomic_t g_prompt_signal = 0;
extern "C" void on_prompt_signal(int signo) { g_prompt_signal = signo; }

// readpassphrase(3): the terminal when there is one, else (unless a tty is
// required) standard input with the prompt on standard error.
std::optional<key::SecretBytes> read_from_terminal(std::string_view prompt, bool echo, bool require_tty) {
  std::fflush(stdout);
  sys::Fd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  int in = tty.get(), out = tty.get();
  if (in < 0) {
    if (require_tty) return std::nullopt;
    in = STDIN_FILENO;
    out = STDERR_FILENO;
  }
  struct sigaction previous[std::size(kPromptSignals)] = {};
  termios saved{};
  bool handlers_installed = false;
  bool restore = false;
  g_prompt_signal = 0;
  if (::isatty(in) && ::tcgetattr(in, &saved) == 0) {
    struct sigaction sa {};
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a signal interrupts the read
    for (size_t i = 0; i < std::size(kPromptSignals); ++i) {
      ::sigaction(kPromptSignals[i], nullptr, &previous[i]);
      // An ignored signal stays ignored: it must not cut the prompt short.
      if (previous[i].sa_handler != SIG_IGN) ::sigaction(kPromptSignals[i], &sa, nullptr);
    }
    handlers_installed = true;
    if (!echo) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
      restore = ::tcsetattr(in, TCSAFLUSH, &quiet) == 0;
    }
  }
  (void)sys::write_all(out, prompt);
  key::SecretBytes answer(kMaxPassphraseBytes);
  size_t got = 0;
  bool error = false;
  for (;;) {
    char c;
    ssize_t n = ::read(in, &c, 1);
    if (n < 0 && errno == EINTR && g_prompt_signal == 0) continue;
    if (n < 0) {
      error = true;
      break;
    }
    if (n == 0 || c == '\n' || c == '\r') break;
    if (got < answer.size()) answer.reveal_mutable()[got++] = static_cast<uint8_t>(c);
    key::secure_wipe(&c, 1);
  }
  if (restore) {
    ::tcsetattr(in, TCSAFLUSH, &saved);
    (void)sys::write_all(out, "\n");
  }
  if (handlers_installed) {
    for (size_t i = 0; i < std::size(kPromptSignals); ++i) ::sigaction(kPromptSignals[i], &previous[i], nullptr);
  }
  if (g_prompt_signal != 0) {
    int signo = g_prompt_signal;
    answer.clear();
    ::raise(signo);
    return std::nullopt;
  }
  if (error) return std::nullopt;
  answer.resize(got);
  return answer;
}

}  // namespace

std::optional<key::SecretBytes> read_passphrase(std::string_view prompt, unsigned flags) {
  bool allow_askpass = env_set("DISPLAY") || env_set("WAYLAND_DISPLAY");
  bool use_askpass = false;
  if (const char* require = std::getenv("SSH_ASKPASS_REQUIRE"); require != nullptr) {
    if (::strcasecmp(require, "force") == 0) {
      use_askpass = true;
      allow_askpass = true;
    } else if (::strcasecmp(require, "prefer") == 0) {
      use_askpass = allow_askpass;
    } else if (::strcasecmp(require, "never") == 0) {
      allow_askpass = false;
    }
  }
  bool require_tty = false;
  if (use_askpass) {
    // requested by SSH_ASKPASS_REQUIRE
  } else if ((flags & kReadUseAskpass) != 0) {
    use_askpass = true;
  } else if ((flags & kReadAllowStdin) != 0) {
    if (!::isatty(STDIN_FILENO)) use_askpass = true;
  } else {
    require_tty = true;
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
    } else {
      use_askpass = true;
    }
  }
  auto empty_or_eof = [&]() -> std::optional<key::SecretBytes> {
    if ((flags & kReadAllowEof) != 0) return std::nullopt;
    return key::SecretBytes();
  };
  if ((flags & kReadUseAskpass) != 0 && !allow_askpass) return empty_or_eof();
  if (use_askpass && allow_askpass) {
    const char* program = std::getenv("SSH_ASKPASS");
    auto answer = run_askpass(program != nullptr ? program : kDefaultAskpassProgram, std::string(prompt),
                              (flags & kReadAskPermission) != 0);
    if (!answer.ok()) {
      // As readpass.c, a cancelled dialog is no error; one that cannot run is.
      if (answer.error().code() != key::Errc::kPassphraseRequired) {
        (void)sys::write_all(STDERR_FILENO, answer.error().message() + "\n");
      }
      return empty_or_eof();
    }
    return std::move(*answer);
  }
  auto answer = read_from_terminal(prompt, (flags & kReadEcho) != 0, require_tty);
  if (!answer) return empty_or_eof();
  return answer;
}

}  // namespace tessera::prompts
