// Prompts through SSH_ASKPASS: confirmation for keys added with the confirm
// constraint, exactly as OpenSSH's ask_permission() (readpass.c) does (the
// program gets the prompt as its only argument and SSH_ASKPASS_PROMPT=confirm
// in its environment; an exit status of 0 with an empty answer or "yes" (any
// case) allows, anything else refuses), and token PINs, asked as
// read_passphrase() asks with RP_USE_ASKPASS (no SSH_ASKPASS_PROMPT; the first
// line of the program's output is the answer).
//
// Prompts run on threads of their own (never the event loop, never the
// signing workers): a dialog nobody answers holds only its own request.
#ifndef TESSERA_AGENT_DAEMON_ASKPASS_H_
#define TESSERA_AGENT_DAEMON_ASKPASS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "daemon/worker_pool.h"
#include "tessera/key/secret.h"

namespace tessera::agent::daemon {

// Where the askpass program used when SSH_ASKPASS is not set lives on Debian.
inline constexpr const char* kDefaultAskpassProgram = "/usr/bin/ssh-askpass";
// Most confirmation dialogs open at once; more wait their turn.
inline constexpr unsigned kConfirmThreads = 4;
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

  // Whether ask_permission may run the program at all: as readpass.c, a
  // display is needed unless SSH_ASKPASS_REQUIRE=force; "never" forbids it.
  bool allowed() const;
};

// "Allow use of key COMMENT?\nKey fingerprint FP." plus "\nEXTRA" if extra is
// not empty (ssh-agent's confirm_key()).
std::string confirmation_prompt(const std::string& comment, const std::string& fingerprint,
                                const std::string& extra);

// Runs the program and waits for it. Blocking: never call on the event loop.
// `on_spawn` (if set) gets the child's pid (for shutdown to end it) and is
// called again with -1 once it has been reaped.
bool ask_permission(const AskpassConfig& config, const std::string& prompt,
                    const std::function<void(pid_t)>& on_spawn = nullptr);

// Runs the program for a PIN or passphrase and waits for it. Blocking. Nothing
// if the program may not run, fails or is cancelled.
std::optional<key::SecretBytes> ask_secret(const AskpassConfig& config, const std::string& prompt,
                                           const std::function<void(pid_t)>& on_spawn = nullptr);

// Runs confirmation and PIN prompts on its own threads.
class Confirmer {
 public:
  explicit Confirmer(AskpassConfig config, unsigned threads = kConfirmThreads);
  ~Confirmer();

  void start() { pool_.start(); }
  // `done` runs on a confirmation thread with the user's decision.
  void ask(uint64_t lane, std::string prompt, std::function<void(bool allowed)> done);
  // `done` runs on a confirmation thread with the PIN, or nothing if the
  // user cancelled or no program could run. Asked through the pinentry
  // program if one is configured, else through SSH_ASKPASS.
  void ask_pin(uint64_t lane, std::string prompt, std::function<void(std::optional<key::SecretBytes>)> done);
  // Ends open dialogs (SIGTERM) and waits for the threads.
  void shutdown();

  const AskpassConfig& config() const { return config_; }

 private:
  // Records the program's pid (in *mine) while it runs, so shutdown() can end it.
  std::function<void(pid_t)> child_tracker(pid_t* mine);

  AskpassConfig config_;
  std::mutex children_mutex_;
  std::set<pid_t> children_;
  bool stopping_ = false;  // guarded by children_mutex_
  WorkerPool pool_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_ASKPASS_H_
