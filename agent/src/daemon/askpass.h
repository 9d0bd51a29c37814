// The agent's prompts: confirmation for keys added with the confirm
// constraint and token PINs, through the prompts library (askpass.h,
// pinentry.h: the programs are run exactly as OpenSSH's readpass.c runs them).
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
#include "tessera/prompts/askpass.h"

namespace tessera::agent::daemon {

// Most confirmation dialogs open at once; more wait their turn.
inline constexpr unsigned kConfirmThreads = 4;

using prompts::AskpassConfig;

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
