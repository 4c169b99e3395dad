// Who blocks whom and who is banned, kept in memory for the hot paths: every send in a two-member chat
// asks whether the other member blocks the sender, and every send whether the sender is banned. The
// store stays the truth; this only saves the reads.
//
// Blocks are loaded per user on first use and dropped when that user blocks or unblocks through this
// process. Bans are loaded once (there are few) and kept in step by SetBanned. Another process sharing
// the store (a second chatd on a multi-node bus) does not invalidate these: see docs/security.md.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "libchat/store.h"

namespace chat::detail {

class ModerationCache {
 public:
  explicit ModerationCache(Store& store) : store_(store) {}

  // True if `user` blocks `other`. Thread-safe.
  Result<bool> Blocks(UserId user, UserId other);
  // Forgets the cached block list of `user`; call after every change to it. Thread-safe.
  void InvalidateBlocks(UserId user);

  // True if `user` is banned. Thread-safe.
  Result<bool> IsBanned(UserId user);
  // Records a ban or unban already written to the store. Thread-safe.
  void SetBanned(UserId user, bool banned);

 private:
  using BlockSet = std::shared_ptr<const std::unordered_set<UserId>>;
  // More lists than this and the cache starts over: memory stays bounded however many users send.
  static constexpr std::size_t kMaxCachedLists = 100000;

  Status LoadBansLocked();

  Store& store_;
  // Shared for the lookups every send makes, exclusive for changes and loads.
  std::shared_mutex mu_;
  std::unordered_map<UserId, BlockSet> blocks_;
  std::uint64_t generation_ = 0;  // Raised by every invalidation: a load that raced one is not cached.
  bool bans_loaded_ = false;
  std::unordered_set<UserId> banned_;
};

}  // namespace chat::detail
