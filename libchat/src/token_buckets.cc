#include "token_buckets.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace chat::detail {
namespace {

double PerMs(const RateLimit& limit) { return limit.per_minute / 60'000.0; }

}  // namespace

TokenBuckets::Bucket& TokenBuckets::Refilled(const BucketKey& key, const RateLimit& limit, TimeMs now) {
  limits_[key.limit] = limit;
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{limit.burst, now});
  Bucket& b = it->second;
  if (!fresh && now > b.updated_ms) {
    b.tokens = std::min(limit.burst, b.tokens + PerMs(limit) * static_cast<double>(now - b.updated_ms));
    b.updated_ms = now;
  }
  return b;
}

void TokenBuckets::SweepFull(TimeMs now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const RateLimit& limit = limits_[it->first.limit];
    const double tokens = it->second.tokens + PerMs(limit) * static_cast<double>(now - it->second.updated_ms);
    it = tokens >= limit.burst ? buckets_.erase(it) : std::next(it);
  }
  // Sweep again when the map has doubled: amortised O(1) per new bucket.
  sweep_at_ = std::max<std::size_t>(1024, buckets_.size() * 2);
}

Status TokenBuckets::Take(std::initializer_list<Charge> charges, double units, std::string_view what) {
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  if (buckets_.size() >= sweep_at_) SweepFull(now);
  Bucket* taken[2] = {nullptr, nullptr};
  BucketKey keys[2];
  double cost[2] = {0, 0};
  TimeMs wait_ms = 0;
  std::size_t n = 0;
  for (const Charge& c : charges) {
    if (n == 2) break;
    if (c.limit == nullptr || c.limit->burst <= 0) continue;
    Bucket& b = Refilled(c.key, *c.limit, now);
    const double need = std::min(units, c.limit->burst);
    if (b.tokens < need) {
      // A bucket that never refills (per_minute 0) would wait forever; say a minute, the unit the
      // limits are expressed in.
      const double per_ms = PerMs(*c.limit);
      const TimeMs w = per_ms > 0 ? static_cast<TimeMs>(std::ceil((need - b.tokens) / per_ms)) : 60'000;
      wait_ms = std::max(wait_ms, std::max<TimeMs>(w, 1));
    }
    taken[n] = &b;
    keys[n] = c.key;
    cost[n] = need;
    ++n;
  }
  if (wait_ms > 0) {
    return Status::ResourceExhausted("rate limit: too many " + std::string(what) + "; retry in " +
                                     std::to_string(wait_ms) + " ms")
        .WithRetryAfter(wait_ms);
  }
  for (std::size_t i = 0; i < n; ++i) {
    taken[i]->tokens -= cost[i];
    if (track_) spent_[keys[i]] += cost[i];
  }
  return Status::Ok();
}

void TokenBuckets::TrackSpent(const std::vector<std::pair<std::uint32_t, RateLimit>>& limits) {
  MutexLock lock(&mu_);
  track_ = true;
  for (const auto& [id, limit] : limits) limits_[id] = limit;
}

std::vector<std::pair<BucketKey, double>> TokenBuckets::TakeSpent() {
  std::unordered_map<BucketKey, double, KeyHash> spent;
  {
    MutexLock lock(&mu_);
    spent.swap(spent_);
  }
  return {spent.begin(), spent.end()};
}

void TokenBuckets::ApplyRemote(const BucketKey& key, double units) {
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  auto limit = limits_.find(key.limit);
  if (limit == limits_.end() || limit->second.burst <= 0) return;
  // Debt is bounded (a burst's worth below zero per node at most would do; twice the burst keeps a
  // flood from other nodes from locking the owner out for long).
  Bucket& b = Refilled(key, limit->second, now);
  b.tokens = std::max(-2 * limit->second.burst, b.tokens - units);
}

}  // namespace chat::detail
