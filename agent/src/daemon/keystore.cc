#include "daemon/keystore.h"

#include <utility>

namespace tessera::agent::daemon {

void KeyStore::track(Entry it) {
  if (it->expires) expiries_.emplace(*it->expires, &*it);
  if (!it->destinations.empty()) ++constrained_;
}

void KeyStore::untrack(Entry it) {
  if (it->expires) expiries_.erase({*it->expires, &*it});
  if (!it->destinations.empty()) --constrained_;
}

bool KeyStore::put(StoredIdentity identity) {
  changed();
  auto found = by_blob_.find(index_key(identity.blob));
  if (found != by_blob_.end()) {
    untrack(found->second);
    *found->second = std::move(identity);
    track(found->second);
    return false;
  }
  identities_.push_back(std::move(identity));
  Entry it = std::prev(identities_.end());
  by_blob_.emplace(std::string(index_key(it->blob)), it);
  track(it);
  return true;
}

const StoredIdentity* KeyStore::find(std::span<const uint8_t> blob) const {
  auto found = by_blob_.find(index_key(blob));
  return found == by_blob_.end() ? nullptr : &*found->second;
}

bool KeyStore::remove(std::span<const uint8_t> blob) {
  auto found = by_blob_.find(index_key(blob));
  if (found == by_blob_.end()) return false;
  changed();
  untrack(found->second);
  identities_.erase(found->second);
  by_blob_.erase(found);
  return true;
}

size_t KeyStore::remove_all() {
  changed();
  size_t n = identities_.size();
  by_blob_.clear();
  expiries_.clear();
  constrained_ = 0;
  identities_.clear();
  return n;
}

std::vector<StoredIdentity> KeyStore::expire(Clock::time_point now) {
  std::vector<StoredIdentity> expired;
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    // The identity's blob finds its place in the list.
    auto found = by_blob_.find(index_key(expiries_.begin()->second->blob));
    Entry it = found->second;
    untrack(it);
    by_blob_.erase(found);
    expired.push_back(std::move(*it));
    identities_.erase(it);
  }
  if (!expired.empty()) changed();
  return expired;
}

std::optional<Clock::time_point> KeyStore::next_expiry() const {
  if (expiries_.empty()) return std::nullopt;
  return expiries_.begin()->first;
}

const IdentitiesListing& KeyStore::listing() const {
  if (!listing_) listing_ = listing([](const StoredIdentity&) { return true; });
  return *listing_;
}

IdentitiesListing KeyStore::listing(const std::function<bool(const StoredIdentity&)>& visible) const {
  IdentitiesAnswer answer;
  size_t size = 1 + 4;  // type byte, count
  size_t left_out = 0;
  for (const auto& id : identities_) {
    if (!visible(id)) continue;
    const size_t entry = 4 + id.blob.size() + 4 + id.comment.size();
    if (left_out > 0 || size + entry > kMaxMessageBytes) {
      ++left_out;
      continue;
    }
    size += entry;
    answer.identities.push_back(Identity{id.blob, id.comment});
  }
  return IdentitiesListing{
      .payload = serialize_response(answer), .listed = answer.identities.size(), .left_out = left_out};
}

}  // namespace tessera::agent::daemon
