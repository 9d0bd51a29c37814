// KeyStore on its own: order, replacement, the expiry index and the cached
// identities answer, each checked against what the store holds.
#include "daemon/keystore.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace tessera::agent::daemon {
namespace {

using key::KeyType;
using key::PrivateKey;
using std::chrono::seconds;

const Clock::time_point kStart{seconds(1000)};

// Keys are slow to make: a few per test binary, made once.
const PrivateKey& key_number(int i) {
  static std::map<int, PrivateKey> keys;
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard(mutex);
  auto it = keys.find(i);
  if (it == keys.end()) {
    auto made = PrivateKey::generate(KeyType::kEd25519);
    if (!made.ok()) std::abort();
    it = keys.emplace(i, std::move(*made)).first;
  }
  return it->second;
}

StoredIdentity identity(int i, std::string comment, std::optional<Clock::time_point> expires = std::nullopt) {
  const PrivateKey& k = key_number(i);
  return StoredIdentity{.blob = k.public_key().blob(),
                        .key = k.public_key(),
                        .certificate = std::nullopt,
                        .comment = std::move(comment),
                        .shielded = std::nullopt,
                        .token = std::nullopt,
                        .expires = expires,
                        .confirm = false,
                        .destinations = {},
                        .sk_provider = std::nullopt};
}

// The comments of the identities a listing answer holds, in order.
std::vector<std::string> listed_comments(const IdentitiesListing& listing) {
  auto parsed = parse_response(listing.payload);
  EXPECT_TRUE(parsed.ok());
  std::vector<std::string> comments;
  if (!parsed.ok() || !std::holds_alternative<IdentitiesAnswer>(*parsed)) return comments;
  for (const auto& id : std::get<IdentitiesAnswer>(*parsed).identities) comments.push_back(id.comment);
  EXPECT_EQ(comments.size(), listing.listed);
  return comments;
}

using Comments = std::vector<std::string>;

TEST(KeyStore, ListingFollowsEveryChange) {
  KeyStore store;
  EXPECT_EQ(listed_comments(store.listing()), Comments{});
  store.put(identity(0, "a"));
  store.put(identity(1, "b"));
  EXPECT_EQ(listed_comments(store.listing()), (Comments{"a", "b"}));
  // Replaced in place: same position, new comment.
  EXPECT_FALSE(store.put(identity(0, "a2")));
  EXPECT_EQ(listed_comments(store.listing()), (Comments{"a2", "b"}));
  EXPECT_TRUE(store.remove(key_number(0).public_key().blob()));
  EXPECT_EQ(listed_comments(store.listing()), Comments{"b"});
  store.put(identity(2, "c", kStart + seconds(5)));
  EXPECT_EQ(listed_comments(store.listing()), (Comments{"b", "c"}));
  EXPECT_TRUE(store.expire(kStart + seconds(4)).empty());
  EXPECT_EQ(store.expire(kStart + seconds(5)).size(), 1u);
  EXPECT_EQ(listed_comments(store.listing()), Comments{"b"});
  EXPECT_EQ(store.remove_all(), 1u);
  EXPECT_EQ(listed_comments(store.listing()), Comments{});
}

TEST(KeyStore, ExpiryIndexFollowsReplaceAndRemove) {
  KeyStore store;
  store.put(identity(0, "late", kStart + seconds(30)));
  store.put(identity(1, "early", kStart + seconds(10)));
  store.put(identity(2, "forever"));
  EXPECT_EQ(store.next_expiry(), kStart + seconds(10));
  // Replacing "early" with a key that never expires drops its deadline.
  store.put(identity(1, "early, now forever"));
  EXPECT_EQ(store.next_expiry(), kStart + seconds(30));
  // Replacing "late" moves its deadline.
  store.put(identity(0, "sooner", kStart + seconds(20)));
  EXPECT_EQ(store.next_expiry(), kStart + seconds(20));
  EXPECT_TRUE(store.expire(kStart + seconds(19)).empty());
  auto gone = store.expire(kStart + seconds(20));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].comment, "sooner");
  EXPECT_FALSE(store.next_expiry());
  // A removed key leaves the index with it.
  store.put(identity(3, "brief", kStart + seconds(1)));
  EXPECT_TRUE(store.remove(key_number(3).public_key().blob()));
  EXPECT_FALSE(store.next_expiry());
  EXPECT_TRUE(store.expire(kStart + seconds(3600)).empty());
  EXPECT_EQ(store.size(), 2u);
}

TEST(KeyStore, SameDeadlineExpiresTogether) {
  KeyStore store;
  for (int i = 0; i < 4; ++i) store.put(identity(i, "k" + std::to_string(i), kStart + seconds(7)));
  EXPECT_EQ(store.expire(kStart + seconds(7)).size(), 4u);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.find(key_number(2).public_key().blob()), nullptr);
}

TEST(KeyStore, DestinationConstraintsAreCounted) {
  KeyStore store;
  auto restricted = identity(0, "restricted");
  restricted.destinations.push_back(DestinationConstraint{});
  store.put(std::move(restricted));
  store.put(identity(1, "free"));
  EXPECT_TRUE(store.has_destination_constraints());
  // A replacement without constraints lifts them.
  store.put(identity(0, "restricted no more"));
  EXPECT_FALSE(store.has_destination_constraints());
  auto again = identity(1, "free no more");
  again.destinations.push_back(DestinationConstraint{});
  store.put(std::move(again));
  EXPECT_TRUE(store.has_destination_constraints());
  EXPECT_TRUE(store.remove(key_number(1).public_key().blob()));
  EXPECT_FALSE(store.has_destination_constraints());
  // The per-connection listing applies its filter, in order.
  store.put(identity(2, "c"));
  auto odd = store.listing([](const StoredIdentity& id) { return id.comment != "c"; });
  EXPECT_EQ(listed_comments(odd), Comments{"restricted no more"});
}

TEST(KeyStore, ListingStopsAtTheMessageLimit) {
  KeyStore store;
  // Comments of 100 KiB: two fit in one answer of 256 KiB, the third does not.
  for (int i = 0; i < 4; ++i) store.put(identity(i, std::string(100 * 1024, static_cast<char>('a' + i))));
  const IdentitiesListing& listing = store.listing();
  EXPECT_EQ(listing.listed, 2u);
  EXPECT_EQ(listing.left_out, 2u);
  EXPECT_LE(listing.payload.size(), kMaxMessageBytes);
  EXPECT_EQ(listed_comments(listing).size(), 2u);
}

}  // namespace
}  // namespace tessera::agent::daemon
