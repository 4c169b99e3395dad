#include "login_throttle.h"

#include <algorithm>

namespace chat::detail {
namespace {

std::string AccountKey(std::string_view account) { return "u:" + std::string(account); }
std::string AddressKey(std::string_view address) { return "a:" + std::string(address); }

}  // namespace

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

Status LoginThrottle::Check(std::string_view account, std::string_view address) {
  if (!options_.enabled) return Status::Ok();
  const TimeMs now = clock_->NowMs();
  std::lock_guard lock(mu_);
  TimeMs allowed = 0;
  if (const Record* r = Find(AccountKey(account), now)) allowed = std::max(allowed, AllowedAt(*r));
  if (!address.empty()) {
    if (const Record* r = Find(AddressKey(address), now)) allowed = std::max(allowed, AllowedAt(*r));
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
  std::lock_guard lock(mu_);
  Fail(AccountKey(account), now);
  if (!address.empty()) Fail(AddressKey(address), now);
}

void LoginThrottle::Succeeded(std::string_view account) {
  if (!options_.enabled) return;
  std::lock_guard lock(mu_);
  records_.erase(AccountKey(account));
}

std::size_t LoginThrottle::TEST_Records() {
  std::lock_guard lock(mu_);
  return records_.size();
}

}  // namespace chat::detail
