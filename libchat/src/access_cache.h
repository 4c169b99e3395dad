// AccessCache: whether a device may still act for its user, and a user at all, answered from memory
// on the hot paths (every send, sync, ack) and read from the store on a miss.
//
// A device may act while it exists, belongs to the user, holds a session token, and the account is
// neither disabled nor banned. Every change that ends sessions (RemoveDevice, ChangePassword, bans,
// disabling) invalidates the affected entries before the call that made it returns, and the
// service does the same for the kSessionRevoked events other nodes publish. A load that raced an
// invalidation is used once but not kept (a generation counter), so a stale "may act" is never
// cached. Bounded: past kMaxEntries the cache starts over.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "libchat/store.h"
#include "mutex.h"

namespace chat::detail {

class AccessCache {
 public:
  explicit AccessCache(Store& store) : store_(store) {}

  // OK if `device` may act for `user`. Unauthenticated ("session ended") if the device is gone, is
  // not the user's or its token was forgotten; PermissionDenied if the account is disabled or banned.
  Status CheckDevice(UserId user, DeviceId device) EXCLUDES(mu_);
  // OK if the account exists and is open; PermissionDenied if disabled or banned, NotFound if absent.
  Status CheckUser(UserId user) EXCLUDES(mu_);
  // Forgets what is known of `device` (0: of every device of the user) and of the user.
  void Invalidate(UserId user, DeviceId device) EXCLUDES(mu_);

 private:
  static constexpr std::size_t kMaxEntries = 200000;
  struct DeviceEntry {
    UserId user = 0;
    bool has_token = false;
  };

  Store& store_;
  Mutex mu_;
  std::unordered_map<DeviceId, DeviceEntry> devices_ GUARDED_BY(mu_);
  std::unordered_map<UserId, Status> users_ GUARDED_BY(mu_);  // OK, or why the account cannot act.
  std::uint64_t generation_ GUARDED_BY(mu_) = 0;
};

}  // namespace chat::detail
