#include "tessera/prompts/askpass.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"

namespace tessera::prompts {

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

key::Result<key::SecretBytes> run_askpass(const std::string& program, const std::string& prompt, bool confirm,
                                          const ChildTracker& on_spawn) {
  TESSERA_ASSIGN_OR_RETURN(sys::Pipe pipe, sys::make_pipe());
  // Everything the child gets is ready before it starts.
  sys::Environment env = sys::Environment::current({"SSH_ASKPASS_PROMPT"});
  if (confirm) env.set("SSH_ASKPASS_PROMPT", "confirm");
  sys::SpawnOptions options;
  options.hand_over = {{pipe.write.get(), STDOUT_FILENO}};
  options.search_path = true;
  options.environment = &env;
  auto spawned = sys::spawn({program, prompt}, options);
  pipe.write.reset();
  if (!spawned.ok()) return spawned.error();
  const pid_t pid = *spawned;
  if (on_spawn) on_spawn(pid);

  key::SecretBytes answer(kMaxAskpassAnswerBytes);
  size_t len = 0;
  while (len < kMaxAskpassAnswerBytes) {
    ssize_t n = ::read(pipe.read.get(), answer.reveal_mutable().data() + len, kMaxAskpassAnswerBytes - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  pipe.read.reset();
  const int status = sys::wait_for_exit(pid);
  if (on_spawn) on_spawn(-1);
  if (!sys::exited_cleanly(status)) {
    return key::Error(key::Errc::kPassphraseRequired, program + " gave no answer (it failed or was cancelled)");
  }

  std::string_view text = answer.reveal_text().substr(0, len);
  answer.resize(text.find_first_of("\r\n") == std::string_view::npos ? len : text.find_first_of("\r\n"));
  return answer;
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

key::Status check_allowed(const AskpassConfig& config) {
  if (config.allowed()) return {};
  return key::Error(key::Errc::kInvalidArgument,
                    "no askpass program may run (set DISPLAY, or SSH_ASKPASS_REQUIRE=force, and SSH_ASKPASS)");
}

}  // namespace

key::Result<bool> ask_permission(const AskpassConfig& config, const std::string& prompt,
                                 const ChildTracker& on_spawn) {
  TESSERA_TRY(check_allowed(config));
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes answer, run_askpass(config.program, prompt, /*confirm=*/true, on_spawn));
  std::string_view text = answer.reveal_text();
  return text.empty() || (text.size() == 3 && ::strncasecmp(text.data(), "yes", 3) == 0);
}

key::Result<key::SecretBytes> ask_secret(const AskpassConfig& config, const std::string& prompt,
                                         const ChildTracker& on_spawn) {
  TESSERA_TRY(check_allowed(config));
  return run_askpass(config.program, prompt, /*confirm=*/false, on_spawn);
}

Notice Notice::show(const AskpassConfig& config, const std::string& text) {
  if (!config.allowed() || config.program.empty()) return Notice();
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) return Notice();
  sys::Environment env = sys::Environment::current({"SSH_ASKPASS_PROMPT"});
  env.set("SSH_ASKPASS_PROMPT", "none");
  sys::SpawnOptions options;
  options.hand_over = {{null_fd, STDOUT_FILENO}};
  options.search_path = true;
  options.environment = &env;
  auto spawned = sys::spawn({config.program, text}, options);
  ::close(null_fd);
  // A notice that cannot be shown is no reason to refuse the operation.
  return spawned.ok() ? Notice(*spawned) : Notice();
}

Notice& Notice::operator=(Notice&& other) noexcept {
  if (this != &other) {
    close();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

void Notice::close() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  sys::wait_for_exit(pid_);
  pid_ = -1;
}

}  // namespace tessera::prompts
