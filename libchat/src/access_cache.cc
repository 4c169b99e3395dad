#include "access_cache.h"

namespace chat::detail {

namespace {

Status SessionEnded() { return Status::Unauthenticated("session ended: log in again"); }

}  // namespace

Status AccessCache::CheckUser(UserId user) {
  std::uint64_t generation;
  {
    MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it != users_.end()) return it->second;
    generation = generation_;
  }
  // Read without the lock: the store may block, and other checks must not queue behind it.
  Status s;
  auto u = store_.GetUser(user);
  if (!u.ok()) {
    s = u.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user) + " does not exist") : u.error();
  } else if (u->disabled) {
    const bool banned = store_.GetBan(user).ok();
    s = Status::PermissionDenied("account '" + u->username + (banned ? "' is banned" : "' is disabled"));
  }
  // Only answers that are facts about the account are kept; a read error is tried again next time.
  const bool keep = s.ok() || s.IsNotFound() || s.code() == StatusCode::kPermissionDenied;
  MutexLock lock(&mu_);
  if (keep && generation == generation_) {
    if (users_.size() >= kMaxEntries) users_.clear();
    users_.emplace(user, s);
  }
  return s;
}

Status AccessCache::CheckDevice(UserId user, DeviceId device) {
  std::uint64_t generation;
  {
    MutexLock lock(&mu_);
    auto it = devices_.find(device);
    if (it != devices_.end()) {
      if (it->second.user != user || !it->second.has_token) return SessionEnded();
      generation = 0;  // Known: go on to the account.
    } else {
      generation = generation_ + 1;  // Not known: load below (+1 so that 0 means "known").
    }
  }
  if (generation != 0) {
    auto d = store_.GetDevice(device);
    DeviceEntry entry;
    if (d.ok()) {
      entry.user = d->user;
      entry.has_token = !d->token_hash.empty();
    } else if (!d.error().IsNotFound()) {
      return d.error();
    }
    // A device that is gone stays gone (ids are never reused): an entry with user 0 remembers it.
    {
      MutexLock lock(&mu_);
      if (generation - 1 == generation_) {
        if (devices_.size() >= kMaxEntries) devices_.clear();
        devices_[device] = entry;
      }
    }
    if (entry.user != user || !entry.has_token) return SessionEnded();
  }
  return CheckUser(user);
}

void AccessCache::Invalidate(UserId user, DeviceId device) {
  MutexLock lock(&mu_);
  ++generation_;
  users_.erase(user);
  if (device != 0) {
    devices_.erase(device);
    return;
  }
  for (auto it = devices_.begin(); it != devices_.end();) {
    it = it->second.user == user ? devices_.erase(it) : std::next(it);
  }
}

}  // namespace chat::detail
