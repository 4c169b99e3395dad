// SessionAuth: whether one connection's session may still act. Shared between the connection's lane
// (which checks it before every command) and the thread that revokes sessions (the router, on the
// bus's thread), so that a revocation takes effect for every command that starts after the call that
// published it returned, not only once the close reaches the lane.
//
// A session is bound to the token it authenticated with: a revocation of its device spares only
// sessions holding the token it names (a password change keeps the asking connection's new token;
// every copy of the old one ends). While a command that changes the connection's own credentials is
// in flight (changePassword, logout, removeDevice of itself), a revocation waits for the command's
// outcome instead of being applied or dropped: the command may be what the revocation is about.
//
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mutex.h"

namespace chat::detail {

class SessionAuth {
 public:
  // The session authenticated with the token hashed as `hash`.
  void SetToken(std::string hash) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    token_hash_ = std::move(hash);
  }

  // A revocation of the session's device (or user), sparing sessions with `keep_token_hash` (if not
  // empty). True if the session must close now; false if spared or deferred.
  bool Revoke(const std::string& keep_token_hash) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (own_change_) {
      deferred_.push_back(keep_token_hash);
      return false;
    }
    return ApplyLocked(keep_token_hash);
  }

  // The token (hashed) the session authenticated with, or was rotated to; empty before that.
  std::string token_hash() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return token_hash_;
  }

  bool revoked() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return revoked_;
  }

  // A command changing this connection's own credentials begins.
  void BeginOwnChange() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    own_change_ = true;
  }

  // That command ended; `new_token_hash` is set if it gave the connection a new token. True if a
  // revocation deferred meanwhile applies now (the session must close).
  bool EndOwnChange(const std::optional<std::string>& new_token_hash) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    own_change_ = false;
    if (new_token_hash) token_hash_ = *new_token_hash;
    bool close = false;
    for (const auto& keep : deferred_) close |= ApplyLocked(keep);
    deferred_.clear();
    return close;
  }

 private:
  bool ApplyLocked(const std::string& keep_token_hash) REQUIRES(mu_) {
    if (revoked_) return false;  // Already closing.
    if (!keep_token_hash.empty() && keep_token_hash == token_hash_) return false;
    revoked_ = true;
    return true;
  }

  mutable Mutex mu_;
  std::string token_hash_ GUARDED_BY(mu_);
  bool revoked_ GUARDED_BY(mu_) = false;
  bool own_change_ GUARDED_BY(mu_) = false;
  std::vector<std::string> deferred_ GUARDED_BY(mu_);
};

}  // namespace chat::detail
