#include "shared_rates.h"

#include <sstream>

#include "crypto.h"
#include "libchat/clock.h"

namespace chat::detail {

SharedRates::SharedRates(std::shared_ptr<SharedKv> kv, TokenBuckets& buckets, std::int64_t period_ms)
    : kv_(std::move(kv)), buckets_(buckets), period_ms_(period_ms), self_key_("s." + RandomHex(8)) {
  watch_ = kv_->Watch([this](const SharedKv::Change& c) { OnChange(c); });
  thread_ = std::thread([this] { Run(); });
}

SharedRates::~SharedRates() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
  watch_.Reset();
}

void SharedRates::Run() {
  for (;;) {
    {
      MutexLock lock(&mu_);
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(period_ms_);
      while (!stop_ && std::chrono::steady_clock::now() < until) wake_.WaitUntil(&mu_, until);
      if (stop_) return;
    }
    // No watch (the engine did not answer when the constructor asked): asked again each period, or
    // this node would never hear of the others' spends.
    if (!watch_.active()) watch_ = kv_->Watch([this](const SharedKv::Change& c) { OnChange(c); });
    auto spent = buckets_.TakeSpent();
    if (spent.empty()) continue;
    // "<wall ms>\n" then "LIMIT OWNER UNITS\n" per bucket.
    std::string batch = std::to_string(SystemClock()->NowMs()) + "\n";
    for (const auto& [key, units] : spent) {
      batch += std::to_string(key.limit) + " " + std::to_string(key.owner) + " " + std::to_string(units) + "\n";
    }
    // Lost if the engine is away: over-admission of this batch (the header's contract).
    kv_->Put(self_key_, batch).status().IgnoreError();
  }
}

void SharedRates::OnChange(const SharedKv::Change& change) {
  if (change.key.rfind("s.", 0) != 0 || change.key == self_key_ || !change.value) return;
  std::istringstream in(*change.value);
  TimeMs at = 0;
  if (!(in >> at)) return;
  // A batch from before this node started listening (the watch's first values) or long delayed:
  // its tokens have refilled since, on every node.
  if (SystemClock()->NowMs() - at > 10 * period_ms_ + 1000) return;
  std::uint32_t limit = 0;
  std::uint64_t owner = 0;
  double units = 0;
  while (in >> limit >> owner >> units) {
    buckets_.ApplyRemote(BucketKey{limit, owner}, units);
    applied_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace chat::detail
