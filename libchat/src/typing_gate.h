// TypingGate: what keeps `typing` from being a fan-out amplifier (docs/security.md, "Rate limits").
//
// One typing request reaches every other member's devices. Two rules bound that:
//  * coalescing: a user's typing state in a chat is published when it changes, and a repeat of the
//    same state only after Limits::typing_coalesce_ms; a repeat within it is accepted and dropped;
//  * a token bucket per user (Limits::typing_per_user) on what is published after coalescing.
//
// Thread-safe (one mutex); Admit does not block. Memory: one entry per (user, chat) with a typing
// state in the last window; older entries are swept when the map doubles.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/result.h"
#include "libchat/types.h"
#include "token_buckets.h"
#include "mutex.h"

namespace chat::detail {

class TypingGate {
 public:
  // `rate_limited` false: coalescing only (ServiceOptions::enforce_rate_limits off). `clock` is not
  // owned and must outlive this.
  TypingGate(RateLimit per_user, TimeMs coalesce_ms, bool rate_limited, Clock* clock);

  // True if `user`'s typing state `typing` in `chat` is to be published now, false if it repeats what
  // was published within the coalescing window (accept it and send nothing). ResourceExhausted with
  // retry_after_ms() when the user's bucket is empty; the state is then not recorded.
  Result<bool> Admit(UserId user, ChatId chat, bool typing);

 private:
  struct Key {
    UserId user;
    ChatId chat;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<std::uint64_t>()(k.user * 0x9e3779b97f4a7c15ULL ^ k.chat);
    }
  };
  struct Published {
    bool typing = false;
    TimeMs at = 0;
  };

  const RateLimit per_user_;
  const TimeMs coalesce_ms_;
  const bool rate_limited_;
  Clock* const clock_;
  TokenBuckets buckets_;
  Mutex mu_;
  std::unordered_map<Key, Published, KeyHash> last_ GUARDED_BY(mu_);
  std::size_t sweep_at_ GUARDED_BY(mu_) = 1024;
};

}  // namespace chat::detail
