#include "moderation.h"

namespace chat::detail {

Result<bool> ModerationCache::Blocks(UserId user, UserId other) {
  std::uint64_t generation;
  {
    ReaderLock lock(&mu_);
    auto it = blocks_.find(user);
    if (it != blocks_.end()) return it->second != nullptr && it->second->count(other) > 0;
    generation = generation_;
  }
  // Read outside the lock: the store may block, and sends must not queue behind it.
  auto list = store_.ListBlocked(user);
  // A store without blocks (a third-party Store) has nobody blocked.
  if (!list.ok() && list.error().code() != StatusCode::kNotSupported) return list.error();
  std::shared_ptr<std::unordered_set<UserId>> set;
  if (list.ok() && !list->empty()) {
    set = std::make_shared<std::unordered_set<UserId>>();
    for (const UserBlock& b : *list) set->insert(b.blocked);
  }
  const bool blocks = set != nullptr && set->count(other) > 0;
  WriterLock lock(&mu_);
  if (generation == generation_) {
    if (blocks_.size() >= kMaxCachedLists) blocks_.clear();
    blocks_[user] = std::move(set);
  }
  return blocks;
}

void ModerationCache::InvalidateBlocks(UserId user) {
  WriterLock lock(&mu_);
  blocks_.erase(user);
  ++generation_;
}

}  // namespace chat::detail
