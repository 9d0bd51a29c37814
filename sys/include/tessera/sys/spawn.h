// Starting another program: askpass dialogs, pinentry, tessera-pkcs11-helper.
// Always through posix_spawn, so nothing allocates, takes a lock or changes
// the environment between fork and exec; everything the child gets (argv,
// environment, descriptors) is prepared before. The child starts with the
// signals a program may expect (SIGPIPE, SIGINT, SIGHUP, SIGTERM and SIGCHLD
// at their defaults, even where the parent ignores them) and nothing blocked.
#ifndef TESSERA_SYS_SPAWN_H_
#define TESSERA_SYS_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/key/error.h"

namespace tessera::sys {

// An environment for a child, built before it starts: the strings and the
// NULL-terminated array of pointers to them that exec takes.
class Environment {
 public:
  // The calling process's environment without the variables named in
  // `without`.
  static Environment current(std::initializer_list<std::string_view> without = {});

  // Adds (or replaces) NAME=VALUE.
  void set(std::string_view name, std::string_view value);
  // The array for exec; valid until this object changes or goes.
  char* const* envp();

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

struct SpawnOptions {
  // Pairs (from, to): the child's descriptor `to` is a copy of ours `from`
  // (a copy that stays open across exec). Every other descriptor of ours
  // should be close-on-exec.
  std::vector<std::pair<int, int>> hand_over;
  // The child leads a new process group, so a terminal's ^C meant for us
  // does not reach it.
  bool own_process_group = false;
  // Look argv[0] up in PATH when it has no slash (as execvp).
  bool search_path = false;
  // The child's environment; nullptr: ours.
  Environment* environment = nullptr;
};

// Starts argv[0] with `argv`. Returns its pid; the caller reaps it
// (wait_for_exit). kIo "cannot run PROGRAM: reason", kInvalidArgument for an
// empty argv.
key::Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Waits for `pid` to end, retrying after signals. Its wait status
// (WIFEXITED...), or -1 if it is not our child.
int wait_for_exit(pid_t pid);

// Whether a wait status says "exited with status 0".
bool exited_cleanly(int wait_status);

}  // namespace tessera::sys

#endif  // TESSERA_SYS_SPAWN_H_
