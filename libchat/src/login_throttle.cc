#include "login_throttle.h"

#include <algorithm>

namespace chat::detail {
namespace {

std::string PairKey(std::string_view account, std::string_view address) {
  // '\n' appears in neither a normalised name nor an address key, so pairs cannot collide.
  std::string k = "p:";
  k.append(account).push_back('\n');
  k.append(address);
  return k;
}
std::string AccountKey(std::string_view account) { return "u:" + std::string(account); }
std::string AddressKey(std::string_view address) { return "a:" + std::string(address); }

}  // namespace

LoginThrottle::LoginThrottle(LoginThrottleOptions options, Clock* clock)
    : options_(options), clock_(clock), global_tokens_(options.global_failures.burst) {
  global_updated_ms_ = clock_->NowMs();
}

TimeMs LoginThrottle::AllowedAt(const Record& r) const {
  if (r.failures < options_.free_failures) return 0;
  // Failure free_failures waits base, each further one doubles it: base << (failures - free).
  const std::uint32_t doublings = std::min<std::uint32_t>(r.failures - options_.free_failures, 40);
  const TimeMs delay = std::min(options_.max_delay_ms, options_.base_delay_ms << doublings);
  return r.last_failure_ms + std::max<TimeMs>(delay, 0);
}

LoginThrottle::Record* LoginThrottle::Find(const std::string& key, TimeMs now) {
  auto it = records_.find(key);
  if (it == records_.end()) return nullptr;
  if (now - it->second.last_failure_ms >= options_.forget_after_ms) {
    records_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void LoginThrottle::RefillGlobal(TimeMs now) {
  const RateLimit& g = options_.global_failures;
  if (now > global_updated_ms_) {
    global_tokens_ = std::min(g.burst, global_tokens_ + static_cast<double>(now - global_updated_ms_) *
                                                            g.per_minute / 60000.0);
  }
  global_updated_ms_ = std::max(global_updated_ms_, now);
}

Status LoginThrottle::Check(std::string_view account, std::string_view address) {
  if (!options_.enabled) return Status::Ok();
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  TimeMs allowed = 0;
  const Record* pair = Find(PairKey(account, address), now);
  if (pair != nullptr) allowed = std::max(allowed, AllowedAt(*pair));
  const Record* from = address.empty() ? nullptr : Find(AddressKey(address), now);
  if (from != nullptr) allowed = std::max(allowed, AllowedAt(*from));
  // Other addresses' failures against the name hold back only an address that failed against it
  // too (or an unknown one): the owner at a clean address always gets through.
  const Record* name = Find(AccountKey(account), now);
  if (name != nullptr && (address.empty() || (pair != nullptr && pair->failures > 0))) {
    allowed = std::max(allowed, AllowedAt(*name));
  }
  // The global budget, for addresses with failures of their own.
  const bool dirty = address.empty() ? pair != nullptr : from != nullptr;
  if (dirty && options_.global_failures.burst > 0) {
    RefillGlobal(now);
    if (global_tokens_ < 1) {
      const double per_ms = options_.global_failures.per_minute / 60000.0;
      const TimeMs wait = per_ms > 0 ? static_cast<TimeMs>((1 - global_tokens_) / per_ms) + 1 : options_.max_delay_ms;
      allowed = std::max(allowed, now + wait);
    }
  }
  if (allowed <= now) return Status::Ok();
  // Identical for every account, existing or not: only the delay differs, and it depends on the
  // failures made against that name, which the caller made.
  return Status::ResourceExhausted("too many failed logins; retry later").WithRetryAfter(allowed - now);
}

void LoginThrottle::Fail(std::string key, TimeMs now) {
  Record* r = Find(key, now);
  if (r == nullptr) {
    if (records_.size() >= options_.max_records) {
      // Bounded memory under a spray of names: drop the record whose last failure is oldest.
      auto stalest = std::min_element(records_.begin(), records_.end(), [](const auto& a, const auto& b) {
        return a.second.last_failure_ms < b.second.last_failure_ms;
      });
      if (stalest != records_.end()) records_.erase(stalest);
    }
    r = &records_[std::move(key)];
  }
  ++r->failures;
  r->last_failure_ms = now;
}

void LoginThrottle::Failed(std::string_view account, std::string_view address) {
  if (!options_.enabled) return;
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  Fail(PairKey(account, address), now);
  Fail(AccountKey(account), now);
  if (!address.empty()) Fail(AddressKey(address), now);
  if (options_.global_failures.burst > 0) {
    RefillGlobal(now);
    global_tokens_ = std::max(0.0, global_tokens_ - 1);
  }
}

void LoginThrottle::Succeeded(std::string_view account, std::string_view address) {
  if (!options_.enabled) return;
  const TimeMs now = clock_->NowMs();
  MutexLock lock(&mu_);
  auto pair = records_.find(PairKey(account, address));
  if (pair == records_.end()) return;
  // The owner proved who they are from here: their own earlier typos no longer count against the
  // name; everybody else's still do.
  if (Record* name = Find(AccountKey(account), now)) {
    name->failures -= std::min(name->failures, pair->second.failures);
  }
  records_.erase(pair);
}

std::size_t LoginThrottle::TEST_Records() {
  MutexLock lock(&mu_);
  return records_.size();
}

}  // namespace chat::detail
