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
#include "daemon/spawn.h"
#include "tessera/key/secret.h"

extern char** environ;

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

// The environment for the program: ours, with SSH_ASKPASS_PROMPT=confirm for
// a yes/no question, and without it for a PIN or passphrase.
std::vector<std::string> askpass_environment(bool confirm) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "SSH_ASKPASS_PROMPT=", 19) == 0) continue;
    env.emplace_back(*e);
  }
  if (confirm) env.emplace_back("SSH_ASKPASS_PROMPT=confirm");
  return env;
}

// Runs the program with the prompt and returns the first line it printed, or
// nothing if it could not run or did not exit with status 0.
std::optional<key::SecretBytes> run_askpass(const AskpassConfig& config, const std::string& prompt, bool confirm,
                                            const std::function<void(pid_t)>& on_spawn) {
  if (!config.allowed()) {
    log_verbose("cannot run askpass: no askpass program may run (set DISPLAY, or SSH_ASKPASS_REQUIRE=force)");
    return std::nullopt;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    log_error(std::string("askpass: pipe: ") + std::strerror(errno));
    return std::nullopt;
  }
  SpawnSettings spawn;
  spawn.hand_over(pipe_fds[1], STDOUT_FILENO);

  std::vector<std::string> env = askpass_environment(confirm);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string program = config.program;
  std::string argument = prompt;
  char* argv[] = {program.data(), argument.data(), nullptr};

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, program.c_str(), spawn.actions(), spawn.attributes(), argv, envp.data());
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    log_error("askpass: cannot run " + config.program + ": " + std::strerror(rc));
    return std::nullopt;
  }
  if (on_spawn) on_spawn(pid);

  key::SecretBytes answer(kMaxAskpassAnswerBytes);
  size_t len = 0;
  while (len < kMaxAskpassAnswerBytes) {
    ssize_t n = ::read(pipe_fds[0], answer.reveal_mutable().data() + len, kMaxAskpassAnswerBytes - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(pipe_fds[0]);
  int status = 0;
  pid_t waited;
  while ((waited = ::waitpid(pid, &status, 0)) == -1 && errno == EINTR) {
  }
  if (on_spawn) on_spawn(-1);
  if (waited == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;

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
