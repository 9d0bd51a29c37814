#include "daemon/lock.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

namespace tessera::agent::daemon {

using key::Errc;
using key::Error;

namespace {
// Failures past this no longer lengthen the delay (it is capped anyway).
constexpr unsigned kMaxCountedFailures = 100;
}  // namespace

key::Result<key::SecretBytes> AgentLock::hash(const key::SecretBytes& passphrase) const {
  key::SecretBytes out(kLockHashBytes);
  auto text = passphrase.reveal_text();
  if (PKCS5_PBKDF2_HMAC(text.data(), static_cast<int>(text.size()), salt_, sizeof salt_, kLockPbkdf2Iterations,
                        EVP_sha512(), static_cast<int>(kLockHashBytes), out.reveal_mutable().data()) != 1) {
    return Error(Errc::kCrypto, "PBKDF2 failed");
  }
  return out;
}

key::Status AgentLock::lock(const key::SecretBytes& passphrase) {
  if (passphrase.empty()) return Error(Errc::kInvalidArgument, "empty lock passphrase not supported");
  if (locked_) return Error(Errc::kInvalidArgument, "agent is already locked");
  if (RAND_bytes(salt_, sizeof salt_) != 1) return Error(Errc::kCrypto, "no random bytes for the lock salt");
  auto h = hash(passphrase);
  if (!h.ok()) return h.error();
  hash_ = std::move(*h);
  locked_ = true;
  failures_ = 0;
  return key::ok_status();
}

key::Status AgentLock::unlock(const key::SecretBytes& passphrase) {
  if (!locked_) return Error(Errc::kInvalidArgument, "agent is not locked");
  if (passphrase.empty()) return Error(Errc::kInvalidArgument, "empty unlock passphrase not supported");
  auto h = hash(passphrase);
  if (!h.ok()) return h.error();
  if (!h->equals(hash_)) {
    failures_ = std::min(failures_ + 1, kMaxCountedFailures);
    return Error(Errc::kWrongPassphrase, "wrong unlock passphrase");
  }
  locked_ = false;
  failures_ = 0;
  hash_ = key::SecretBytes();  // frees (and so wipes) the old hash
  return key::ok_status();
}

std::chrono::milliseconds AgentLock::failure_delay() const {
  if (failures_ == 0) return std::chrono::milliseconds(0);
  auto delay = kUnlockDelayStep * (static_cast<int64_t>(failures_) * failures_);
  return std::min(delay, kMaxUnlockDelay);
}

}  // namespace tessera::agent::daemon
