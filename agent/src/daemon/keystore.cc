#include "daemon/keystore.h"

#include <utility>

namespace tessera::agent::daemon {

bool KeyStore::put(StoredIdentity identity) {
  std::string index = index_key(identity.blob);
  auto found = by_blob_.find(index);
  if (found != by_blob_.end()) {
    *found->second = std::move(identity);
    return false;
  }
  identities_.push_back(std::move(identity));
  by_blob_.emplace(std::move(index), std::prev(identities_.end()));
  return true;
}

const StoredIdentity* KeyStore::find(std::span<const uint8_t> blob) const {
  auto found = by_blob_.find(index_key(blob));
  return found == by_blob_.end() ? nullptr : &*found->second;
}

bool KeyStore::remove(std::span<const uint8_t> blob) {
  auto found = by_blob_.find(index_key(blob));
  if (found == by_blob_.end()) return false;
  identities_.erase(found->second);
  by_blob_.erase(found);
  return true;
}

size_t KeyStore::remove_all() {
  size_t n = identities_.size();
  by_blob_.clear();
  identities_.clear();
  return n;
}

std::vector<StoredIdentity> KeyStore::expire(Clock::time_point now) {
  std::vector<StoredIdentity> expired;
  for (auto it = identities_.begin(); it != identities_.end();) {
    if (it->expires && *it->expires <= now) {
      by_blob_.erase(index_key(it->blob));
      expired.push_back(std::move(*it));
      it = identities_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::optional<Clock::time_point> KeyStore::next_expiry() const {
  std::optional<Clock::time_point> next;
  for (const auto& id : identities_) {
    if (id.expires && (!next || *id.expires < *next)) next = id.expires;
  }
  return next;
}

}  // namespace tessera::agent::daemon
