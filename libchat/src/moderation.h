// Who blocks whom, kept in memory for the hot path: every send in a two-member chat asks whether the
// other member blocks the sender. The store stays the truth; this only saves the reads. (Whether an
// account is banned or disabled is AccessCache's.)
//
// Blocks are loaded per user on first use and dropped when that user blocks or unblocks through this
// process. Another process sharing the store (a second chatd on a multi-node bus) does not invalidate
// these: see docs/security.md.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "libchat/store.h"
#include "mutex.h"

namespace chat::detail {

class ModerationCache {
 public:
  explicit ModerationCache(Store& store) : store_(store) {}

  // True if `user` blocks `other`. Thread-safe.
  Result<bool> Blocks(UserId user, UserId other);
  // Forgets the cached block list of `user`; call after every change to it. Thread-safe.
  void InvalidateBlocks(UserId user);

 private:
  // Null: the user blocks nobody, which is most users (every user who comes online is looked up,
  // for the presence announcement), so that an empty list costs them no set of their own.
  using BlockSet = std::shared_ptr<const std::unordered_set<UserId>>;
  // More lists than this and the cache starts over: memory stays bounded however many users send.
  static constexpr std::size_t kMaxCachedLists = 100000;

  Store& store_;
  // Shared for the lookups every send makes, exclusive for changes and loads.
  SharedMutex mu_;
  std::unordered_map<UserId, BlockSet> blocks_ GUARDED_BY(mu_);
  // Raised by every invalidation: a load that raced one is not cached.
  std::uint64_t generation_ GUARDED_BY(mu_) = 0;
};

}  // namespace chat::detail
