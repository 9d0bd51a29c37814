// The one way tessera runs an askpass program (SSH_ASKPASS), for every
// program that asks: tessera-add and tessera-keygen through read_passphrase(),
// the agent for confirmations and token PINs. As OpenSSH's readpass.c: the
// program gets the prompt as its only argument, and SSH_ASKPASS_PROMPT=confirm
// in its environment for a yes/no question (never for a passphrase); the first
// line it prints is the answer, and only an exit status of 0 counts.
#ifndef TESSERA_PROMPTS_ASKPASS_H_
#define TESSERA_PROMPTS_ASKPASS_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::prompts {

// Where the askpass program used when SSH_ASKPASS is not set lives on Debian.
inline constexpr const char* kDefaultAskpassProgram = "/usr/bin/ssh-askpass";
// Largest answer read from the program (as readpass.c's buffer).
inline constexpr size_t kMaxAskpassAnswerBytes = 1023;

struct AskpassConfig {
  std::string program = kDefaultAskpassProgram;  // SSH_ASKPASS
  std::string require;                           // SSH_ASKPASS_REQUIRE ("", "never", "prefer", "force")
  bool display = false;                          // DISPLAY or WAYLAND_DISPLAY set and non-empty
  std::string pinentry;                          // --pinentry: PINs through this program, not SSH_ASKPASS

  // Reads SSH_ASKPASS, SSH_ASKPASS_REQUIRE, DISPLAY and WAYLAND_DISPLAY
  // through `getenv` (the process environment by default).
  static AskpassConfig from_environment(const std::function<const char*(const char*)>& getenv_fn = nullptr);

  // Whether the program may run at all: as readpass.c, a display is needed
  // unless SSH_ASKPASS_REQUIRE=force; "never" forbids it.
  bool allowed() const;
};

// Told the child's pid once it runs (for a shutdown to end it), and -1 once
// it has been reaped.
using ChildTracker = std::function<void(pid_t)>;

// Runs `program` with `prompt` and waits for it (blocking: never on an event
// loop). The first line it printed, without its line ending. kIo "cannot run
// PROGRAM: reason"; kPassphraseRequired "PROGRAM gave no answer" for a
// non-zero exit or a signal (the user cancelled).
key::Result<key::SecretBytes> run_askpass(const std::string& program, const std::string& prompt, bool confirm,
                                          const ChildTracker& on_spawn = nullptr);

// "Allow use of key COMMENT?\nKey fingerprint FP." plus "\nEXTRA" if extra is
// not empty (ssh-agent's confirm_key()).
std::string confirmation_prompt(const std::string& comment, const std::string& fingerprint,
                                const std::string& extra);

// A yes/no question through the configured program: true for exit status 0
// with an empty answer or "yes" (any case). kInvalidArgument if no program
// may run (config.allowed()); run_askpass's errors.
key::Result<bool> ask_permission(const AskpassConfig& config, const std::string& prompt,
                                 const ChildTracker& on_spawn = nullptr);

// A PIN or passphrase through the configured program; errors as
// ask_permission.
key::Result<key::SecretBytes> ask_secret(const AskpassConfig& config, const std::string& prompt,
                                         const ChildTracker& on_spawn = nullptr);

// A notice the user reads while something waits ("Confirm user presence
// for key ..." while an authenticator waits for a touch), as OpenSSH's
// notify_start(): the askpass program with the text and
// SSH_ASKPASS_PROMPT=none, its output discarded. It stays up until the
// Notice goes (the program is sent SIGTERM and reaped). No program runs when
// config.allowed() says none may; the Notice is then empty.
class Notice {
 public:
  Notice() = default;
  static Notice show(const AskpassConfig& config, const std::string& text);
  ~Notice() { close(); }
  Notice(Notice&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  Notice& operator=(Notice&& other) noexcept;
  Notice(const Notice&) = delete;
  Notice& operator=(const Notice&) = delete;

  // Ends the program now (idempotent).
  void close();
  bool shown() const { return pid_ > 0; }

 private:
  explicit Notice(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

}  // namespace tessera::prompts

#endif  // TESSERA_PROMPTS_ASKPASS_H_
