#include "daemon/askpass.h"

#include <signal.h>

#include <string>

#include "daemon/log.h"
#include "tessera/key/secret.h"
#include "tessera/prompts/pinentry.h"

namespace tessera::agent::daemon {

namespace {

// A prompt that could not be shown is logged: the request fails as if refused.
// A program that cannot run is an error; a cancel, or no program allowed to
// run (no display), is routine.
template <typename T>
std::optional<T> logged(key::Result<T> answer, const char* what) {
  if (answer.ok()) return std::move(*answer);
  if (answer.error().code() != key::Errc::kIo) {
    log_verbose(std::string(what) + ": " + answer.error().message());
  } else {
    log_error(std::string(what) + ": " + answer.error().message());
  }
  return std::nullopt;
}

}  // namespace

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
    done(logged(prompts::ask_permission(config_, prompt, child_tracker(&mine)), "askpass").value_or(false));
  });
}

void Confirmer::ask_pin(uint64_t lane, std::string prompt,
                        std::function<void(std::optional<key::SecretBytes>)> done) {
  pool_.submit(lane, [this, prompt = std::move(prompt), done = std::move(done)] {
    pid_t mine = -1;
    if (!config_.pinentry.empty()) {
      return done(logged(prompts::ask_pinentry(config_.pinentry, prompt, child_tracker(&mine)), "pinentry"));
    }
    done(logged(prompts::ask_secret(config_, prompt, child_tracker(&mine)), "askpass"));
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
