// Agent locking (SSH_AGENTC_LOCK / UNLOCK): while locked, the agent lists no
// keys and refuses everything but unlocking.
//
// Only a salted PBKDF2-HMAC-SHA512 hash of the passphrase is kept, compared
// in constant time. Wrong passphrases make the agent wait before it answers
// and before it looks at the next attempt (see failure_delay()); the waiting
// is done by the caller with timers, never by sleeping.
#ifndef TESSERA_AGENT_DAEMON_LOCK_H_
#define TESSERA_AGENT_DAEMON_LOCK_H_

#include <chrono>
#include <cstdint>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::agent::daemon {

inline constexpr size_t kLockSaltBytes = 16;
inline constexpr size_t kLockHashBytes = 64;
// Cheap enough to run on the event loop (about a millisecond), while a copy
// of the hash still costs an attacker real work per guess.
inline constexpr int kLockPbkdf2Iterations = 2048;
// Delay after the n-th wrong passphrase in a row: 0.1 s * n^2, at most 10 s.
inline constexpr std::chrono::milliseconds kUnlockDelayStep{100};
inline constexpr std::chrono::milliseconds kMaxUnlockDelay{10000};

class AgentLock {
 public:
  bool locked() const { return locked_; }

  // Locks. kInvalidArgument for an empty passphrase or if already locked;
  // kCrypto if the hash cannot be computed.
  key::Status lock(const key::SecretBytes& passphrase);

  // Unlocks if the passphrase matches. A wrong one counts as a failure; an
  // empty one, or unlocking an unlocked agent, fails without counting.
  key::Status unlock(const key::SecretBytes& passphrase);

  unsigned consecutive_failures() const { return failures_; }
  // How long to wait after the latest wrong passphrase.
  std::chrono::milliseconds failure_delay() const;

 private:
  key::Result<key::SecretBytes> hash(const key::SecretBytes& passphrase) const;

  bool locked_ = false;
  unsigned failures_ = 0;
  uint8_t salt_[kLockSaltBytes] = {};
  key::SecretBytes hash_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_LOCK_H_
