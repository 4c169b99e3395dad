#include "log_limiter.h"

#include <algorithm>

namespace chat::detail {

void LogLimiter::Roll(Window& w, TimeMs now) const {
  if (now - w.start < options_.window_ms) return;
  w.start = now;
  w.lines = 0;
}

LogLimiter::Verdict LogLimiter::Admit(std::string_view key) {
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  if (keys_.size() >= sweep_at_) {
    // Keys whose window is over and that owe no "suppressed" note are as good as absent.
    for (auto it = keys_.begin(); it != keys_.end();) {
      const bool idle = now - it->second.start >= options_.window_ms && it->second.suppressed == 0;
      it = idle ? keys_.erase(it) : std::next(it);
    }
    if (keys_.size() >= options_.max_keys) keys_.clear();
    sweep_at_ = std::max<std::size_t>(1024, keys_.size() * 2);
  }
  Window& w = keys_[std::string(key)];
  Roll(w, now);
  Roll(total_, now);
  if (w.lines >= options_.lines_per_key || total_.lines >= options_.lines_total) {
    ++w.suppressed;
    suppressed_total_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  ++w.lines;
  ++total_.lines;
  Verdict v{true, w.suppressed};
  w.suppressed = 0;
  return v;
}

}  // namespace chat::detail
