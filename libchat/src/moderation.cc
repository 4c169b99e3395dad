#include "moderation.h"

namespace chat::detail {

Result<bool> ModerationCache::Blocks(UserId user, UserId other) {
  std::uint64_t generation;
  {
    std::shared_lock lock(mu_);
    auto it = blocks_.find(user);
    if (it != blocks_.end()) return it->second->count(other) > 0;
    generation = generation_;
  }
  // Read outside the lock: the store may block, and sends must not queue behind it.
  auto list = store_.ListBlocked(user);
  // A store without blocks (a third-party Store) has nobody blocked.
  if (!list.ok() && list.error().code() != StatusCode::kNotSupported) return list.error();
  auto set = std::make_shared<std::unordered_set<UserId>>();
  if (list.ok()) {
    for (const UserBlock& b : *list) set->insert(b.blocked);
  }
  const bool blocks = set->count(other) > 0;
  std::lock_guard lock(mu_);
  if (generation == generation_) {
    if (blocks_.size() >= kMaxCachedLists) blocks_.clear();
    blocks_[user] = std::move(set);
  }
  return blocks;
}

void ModerationCache::InvalidateBlocks(UserId user) {
  std::lock_guard lock(mu_);
  blocks_.erase(user);
  ++generation_;
}

Status ModerationCache::LoadBansLocked() {
  if (bans_loaded_) return Status::Ok();
  UserId after = 0;
  for (;;) {
    auto page = store_.ListBans(after, 1000);
    if (!page.ok() && page.error().code() == StatusCode::kNotSupported) break;  // A store without bans.
    if (!page.ok()) return page.error();
    for (const UserBan& b : *page) banned_.insert(b.user);
    if (page->size() < 1000) break;
    after = page->back().user;
  }
  bans_loaded_ = true;
  return Status::Ok();
}

Result<bool> ModerationCache::IsBanned(UserId user) {
  {
    std::shared_lock lock(mu_);
    if (bans_loaded_) return banned_.count(user) > 0;
  }
  std::lock_guard lock(mu_);
  // Once per process, under the lock: every caller waits for the one load rather than racing it.
  LIBCHAT_RETURN_IF_ERROR(LoadBansLocked());
  return banned_.count(user) > 0;
}

void ModerationCache::SetBanned(UserId user, bool banned) {
  std::lock_guard lock(mu_);
  if (!bans_loaded_) return;  // The first IsBanned reads the store, which has the change.
  if (banned) {
    banned_.insert(user);
  } else {
    banned_.erase(user);
  }
}

}  // namespace chat::detail
