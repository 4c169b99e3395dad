#include "typing_gate.h"

#include <algorithm>

namespace chat::detail {

TypingGate::TypingGate(RateLimit per_user, TimeMs coalesce_ms, bool rate_limited, Clock* clock)
    : per_user_(per_user), coalesce_ms_(coalesce_ms), rate_limited_(rate_limited), clock_(clock), buckets_(clock) {}

Result<bool> TypingGate::Admit(UserId user, ChatId chat, bool typing) {
  const TimeMs now = clock_->NowMs();
  // The check and the record happen under one lock, so two concurrent repeats publish once.
  MutexLock lock(&mu_);
  if (last_.size() >= sweep_at_) {
    for (auto it = last_.begin(); it != last_.end();) {
      it = now - it->second.at >= coalesce_ms_ ? last_.erase(it) : std::next(it);
    }
    sweep_at_ = std::max<std::size_t>(1024, last_.size() * 2);
  }
  auto it = last_.find(Key{user, chat});
  if (it != last_.end() && it->second.typing == typing && now - it->second.at < coalesce_ms_) return false;
  if (rate_limited_) {
    LIBCHAT_RETURN_IF_ERROR(buckets_.Take({{{0, user}, &per_user_}}, 1, "typing events"));
  }
  last_[Key{user, chat}] = Published{typing, now};
  return true;
}

}  // namespace chat::detail
