#include "tessera/sys/spawn.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

extern char** environ;

namespace tessera::sys {

namespace {

// posix_spawn's settings, destroyed on every path.
class SpawnSettings {
 public:
  explicit SpawnSettings(const SpawnOptions& options) {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attributes_);
    for (const auto& [from, to] : options.hand_over) posix_spawn_file_actions_adddup2(&actions_, from, to);
    sigset_t defaults, empty;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGHUP, SIGTERM, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attributes_, &defaults);
    posix_spawnattr_setsigmask(&attributes_, &empty);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (options.own_process_group) {
      posix_spawnattr_setpgroup(&attributes_, 0);
      flags |= POSIX_SPAWN_SETPGROUP;
    }
    posix_spawnattr_setflags(&attributes_, flags);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attributes_);
  }
  SpawnSettings(const SpawnSettings&) = delete;
  SpawnSettings& operator=(const SpawnSettings&) = delete;

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attributes() const { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attributes_;
};

bool has_name(std::string_view entry, std::string_view name) {
  return entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=';
}

}  // namespace

Environment Environment::current(std::initializer_list<std::string_view> without) {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool dropped = false;
    for (std::string_view name : without) dropped = dropped || has_name(entry, name);
    if (!dropped) env.entries_.emplace_back(entry);
  }
  return env;
}

void Environment::set(std::string_view name, std::string_view value) {
  std::erase_if(entries_, [&](const std::string& e) { return has_name(e, name); });
  entries_.push_back(std::string(name) + "=" + std::string(value));
}

char* const* Environment::envp() {
  pointers_.clear();
  for (auto& e : entries_) pointers_.push_back(e.data());
  pointers_.push_back(nullptr);
  return pointers_.data();
}

key::Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return key::Error(key::Errc::kInvalidArgument, "no program to run");
  std::vector<std::string> args = argv;  // posix_spawn takes char* const*
  std::vector<char*> arg_pointers;
  for (auto& a : args) arg_pointers.push_back(a.data());
  arg_pointers.push_back(nullptr);
  char* const* envp = options.environment != nullptr ? options.environment->envp() : environ;
  SpawnSettings settings(options);
  pid_t pid = -1;
  int rc = options.search_path
               ? ::posix_spawnp(&pid, args[0].c_str(), settings.actions(), settings.attributes(),
                                arg_pointers.data(), envp)
               : ::posix_spawn(&pid, args[0].c_str(), settings.actions(), settings.attributes(),
                               arg_pointers.data(), envp);
  if (rc != 0) return key::Error(key::Errc::kIo, "cannot run " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  pid_t waited;
  while ((waited = ::waitpid(pid, &status, 0)) == -1 && errno == EINTR) {
  }
  return waited == -1 ? -1 : status;
}

bool exited_cleanly(int wait_status) {
  return wait_status != -1 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

}  // namespace tessera::sys
