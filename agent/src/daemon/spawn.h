// posix_spawn settings for the programs the agent starts (askpass dialogs,
// PKCS#11 helpers): descriptors to hand over, and signals back to their
// defaults (the agent ignores SIGPIPE and may ignore SIGINT) with nothing
// blocked.
#ifndef TESSERA_AGENT_DAEMON_SPAWN_H_
#define TESSERA_AGENT_DAEMON_SPAWN_H_

#include <spawn.h>

namespace tessera::agent::daemon {

class SpawnSettings {
 public:
  // own_process_group: the child leads a new process group, so a terminal's
  // ^C meant for the agent does not reach it.
  explicit SpawnSettings(bool own_process_group = false);
  ~SpawnSettings();
  SpawnSettings(const SpawnSettings&) = delete;
  SpawnSettings& operator=(const SpawnSettings&) = delete;

  // The child's descriptor `to` is a copy of the agent's `from`.
  void hand_over(int from, int to) { posix_spawn_file_actions_adddup2(&actions_, from, to); }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attributes() const { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attributes_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_SPAWN_H_
