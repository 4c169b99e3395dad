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

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.h"
#include "mutex.h"

namespace chat::detail {

// A session token's hash, as the service makes it (HashToken: 64 lower-case hex digits), kept as its
// 32 bytes inline: as a std::string it was 80 bytes of heap for every signed-in connection. Any other
// string is kept as it is (on the heap), so that nothing depends on the format.
class TokenHash {
 public:
  TokenHash() = default;
  explicit TokenHash(std::string_view hash) { Set(hash); }

  void Set(std::string_view hash) {
    other_.reset();
    compact_ = hash.size() == 2 * raw_.size();
    for (std::size_t i = 0; compact_ && i < raw_.size(); ++i) {
      const int hi = Digit(hash[2 * i]);
      const int lo = Digit(hash[2 * i + 1]);
      compact_ = hi >= 0 && lo >= 0;
      if (compact_) raw_[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    if (!compact_ && !hash.empty()) other_ = std::make_unique<std::string>(hash);
  }

  bool empty() const { return !compact_ && other_ == nullptr; }

  // The hash as it was set.
  std::string str() const {
    if (!compact_) return other_ != nullptr ? *other_ : std::string();
    return HexEncode(std::string_view(reinterpret_cast<const char*>(raw_.data()), raw_.size()));
  }

  bool operator==(std::string_view other) const {
    if (!compact_) return other_ != nullptr ? *other_ == other : other.empty();
    if (other.size() != 2 * raw_.size()) return false;
    for (std::size_t i = 0; i < raw_.size(); ++i) {
      if (Digit(other[2 * i]) != raw_[i] >> 4 || Digit(other[2 * i + 1]) != (raw_[i] & 0xf)) return false;
    }
    return true;
  }

 private:
  // A lower-case hex digit's value; -1 for anything else (upper case included: it would not print back
  // the same).
  static int Digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  std::array<std::uint8_t, 32> raw_{};
  bool compact_ = false;
  std::unique_ptr<std::string> other_;  // Set when the hash is not 64 lower-case hex digits.
};

class SessionAuth {
 public:
  // The session authenticated with the token hashed as `hash`.
  void SetToken(std::string_view hash) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    token_hash_.Set(hash);
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
    return token_hash_.str();
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
    if (new_token_hash) token_hash_.Set(*new_token_hash);
    bool close = false;
    for (const auto& keep : deferred_) close |= ApplyLocked(keep);
    deferred_.clear();
    return close;
  }

 private:
  bool ApplyLocked(const std::string& keep_token_hash) REQUIRES(mu_) {
    if (revoked_) return false;  // Already closing.
    if (!keep_token_hash.empty() && token_hash_ == keep_token_hash) return false;
    revoked_ = true;
    return true;
  }

  mutable Mutex mu_;
  TokenHash token_hash_ GUARDED_BY(mu_);
  bool revoked_ GUARDED_BY(mu_) = false;
  bool own_change_ GUARDED_BY(mu_) = false;
  std::vector<std::string> deferred_ GUARDED_BY(mu_);
};

}  // namespace chat::detail
