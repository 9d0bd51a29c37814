#include "daemon/askpass.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/log.h"
#include "daemon/pinentry.h"
#include "tessera/key/secret.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"

namespace tessera::agent::daemon {

AskpassConfig AskpassConfig::from_environment(const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* { return getenv_fn ? getenv_fn(name) : std::getenv(name); };
  AskpassConfig config;
  if (const char* p = get("SSH_ASKPASS")) config.program = p;
  if (const char* r = get("SSH_ASKPASS_REQUIRE")) config.require = r;
  const char* display = get("DISPLAY");
  const char* wayland = get("WAYLAND_DISPLAY");
  config.display = (display != nullptr && *display != '\0') || (wayland != nullptr && *wayland != '\0');
  return config;
}

bool AskpassConfig::allowed() const {
  bool allow = display;
  if (::strcasecmp(require.c_str(), "force") == 0) allow = true;
  else if (::strcasecmp(require.c_str(), "never") == 0) allow = false;
  return allow && !program.empty();
}

std::string confirmation_prompt(const std::string& comment, const std::string& fingerprint,
                                const std::string& extra) {
  std::string prompt = "Allow use of key " + comment + "?\nKey fingerprint " + fingerprint + ".";
  if (!extra.empty()) prompt += "\n" + extra;
  // ask_permission() formats into a 1024-byte buffer.
  if (prompt.size() > 1023) prompt.resize(1023);
  return prompt;
}

namespace {

// Runs the program with the prompt and returns the first line it printed, or
// nothing if it could not run or did not exit with status 0.
std::optional<key::SecretBytes> run_askpass(const AskpassConfig& config, const std::string& prompt, bool confirm,
                                            const std::function<void(pid_t)>& on_spawn) {
  if (!config.allowed()) {
    log_verbose("cannot run askpass: no askpass program may run (set DISPLAY, or SSH_ASKPASS_REQUIRE=force)");
    return std::nullopt;
  }
  auto pipe = sys::make_pipe();
  if (!pipe.ok()) {
    log_error("askpass: " + pipe.error().message());
    return std::nullopt;
  }
  sys::Environment env = sys::Environment::current({"SSH_ASKPASS_PROMPT"});
  if (confirm) env.set("SSH_ASKPASS_PROMPT", "confirm");
  sys::SpawnOptions options;
  options.hand_over = {{pipe->write.get(), STDOUT_FILENO}};
  options.search_path = true;
  options.environment = &env;
  auto spawned = sys::spawn({config.program, prompt}, options);
  pipe->write.reset();
  if (!spawned.ok()) {
    log_error("askpass: " + spawned.error().message());
    return std::nullopt;
  }
  const pid_t pid = *spawned;
  if (on_spawn) on_spawn(pid);

  key::SecretBytes answer(kMaxAskpassAnswerBytes);
  size_t len = 0;
  while (len < kMaxAskpassAnswerBytes) {
    ssize_t n = ::read(pipe->read.get(), answer.reveal_mutable().data() + len, kMaxAskpassAnswerBytes - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  pipe->read.reset();
  const int status = sys::wait_for_exit(pid);
  if (on_spawn) on_spawn(-1);
  if (!sys::exited_cleanly(status)) return std::nullopt;

  std::string_view text = answer.reveal_text().substr(0, len);
  text = text.substr(0, text.find_first_of("\r\n"));
  return key::SecretBytes::copy_of(text);
}

}  // namespace

bool ask_permission(const AskpassConfig& config, const std::string& prompt,
                    const std::function<void(pid_t)>& on_spawn) {
  auto answer = run_askpass(config, prompt, /*confirm=*/true, on_spawn);
  if (!answer) return false;
  std::string_view text = answer->reveal_text();
  return text.empty() || (text.size() == 3 && ::strncasecmp(text.data(), "yes", 3) == 0);
}

std::optional<key::SecretBytes> ask_secret(const AskpassConfig& config, const std::string& prompt,
                                           const std::function<void(pid_t)>& on_spawn) {
  return run_askpass(config, prompt, /*confirm=*/false, on_spawn);
}

Confirmer::Confirmer(AskpassConfig config, unsigned threads)
    : config_(std::move(config)), pool_(threads, "tessera-confirm") {}

Confirmer::~Confirmer() { shutdown(); }

std::function<void(pid_t)> Confirmer::child_tracker(pid_t* mine) {
  return [this, mine](pid_t pid) {
    std::lock_guard<std::mutex> guard(children_mutex_);
    if (pid > 0) {
      *mine = pid;
      children_.insert(pid);
      if (stopping_) ::kill(pid, SIGTERM);  // spawned while shutting down
    } else {
      children_.erase(*mine);
    }
  };
}

void Confirmer::ask(uint64_t lane, std::string prompt, std::function<void(bool)> done) {
  pool_.submit(lane, [this, prompt = std::move(prompt), done = std::move(done)] {
    pid_t mine = -1;
    done(ask_permission(config_, prompt, child_tracker(&mine)));
  });
}

void Confirmer::ask_pin(uint64_t lane, std::string prompt,
                        std::function<void(std::optional<key::SecretBytes>)> done) {
  pool_.submit(lane, [this, prompt = std::move(prompt), done = std::move(done)] {
    pid_t mine = -1;
    if (!config_.pinentry.empty()) return done(ask_pinentry(config_.pinentry, prompt, child_tracker(&mine)));
    done(ask_secret(config_, prompt, child_tracker(&mine)));
  });
}

void Confirmer::shutdown() {
  {
    std::lock_guard<std::mutex> guard(children_mutex_);
    stopping_ = true;
    for (pid_t pid : children_) ::kill(pid, SIGTERM);
  }
  pool_.shutdown();
}

}  // namespace tessera::agent::daemon
