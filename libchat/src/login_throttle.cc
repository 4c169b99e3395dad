#include "login_throttle.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "crypto.h"

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

// The bucket's key of a record: names and addresses are client strings, never keys as they are.
std::string SharedKey(const std::string& key) { return "t." + Sha256Hex(key).substr(0, 40); }

std::string EncodeRecord(std::uint32_t failures, TimeMs last) {
  return std::to_string(failures) + " " + std::to_string(last);
}

bool DecodeRecord(const std::string& v, std::uint32_t* failures, TimeMs* last) {
  unsigned long f = 0;
  long long l = 0;
  if (std::sscanf(v.c_str(), "%lu %lld", &f, &l) != 2) return false;
  *failures = static_cast<std::uint32_t>(f);
  *last = static_cast<TimeMs>(l);
  return true;
}

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

bool LoginThrottle::SharedAnswering() const { return clock_->NowMs() >= shared_paused_until_.load(); }

void LoginThrottle::PauseShared() { shared_paused_until_.store(clock_->NowMs() + kSharedPauseMs); }

std::optional<LoginThrottle::Record> LoginThrottle::Pull(const std::string& key, TimeMs now) {
  Result<SharedKv::Entry> got = Status::Unavailable("paused");
  if (SharedAnswering()) {
    got = shared_->Get(SharedKey(key));
    if (!got.ok() && !got.error().IsNotFound()) PauseShared();
  }
  if (!got.ok()) {
    if (got.error().IsNotFound()) return std::nullopt;
    // The engine is away: this node's own view decides (it keeps what it pushed).
    MutexLock lock(&mu_);
    const Record* r = Find(key, now);
    return r != nullptr ? std::optional<Record>(*r) : std::nullopt;
  }
  Record r;
  if (!DecodeRecord(got->value, &r.failures, &r.last_failure_ms)) return std::nullopt;
  if (now - r.last_failure_ms >= options_.forget_after_ms) return std::nullopt;
  return r;
}

void LoginThrottle::Push(const std::string& key, TimeMs now, const std::function<bool(Record&)>& change) {
  const std::string shared_key = SharedKey(key);
  for (int attempt = 0; attempt < 8 && SharedAnswering(); ++attempt) {
    auto got = shared_->Get(shared_key);
    if (!got.ok() && !got.error().IsNotFound()) return PauseShared();
    Record r;
    std::uint64_t rev = 0;
    if (got.ok()) {
      rev = got->revision;
      if (!DecodeRecord(got->value, &r.failures, &r.last_failure_ms) ||
          now - r.last_failure_ms >= options_.forget_after_ms) {
        r = Record{};
      }
    }
    const bool keep = change(r);
    Status s = keep ? shared_->Swap(shared_key, EncodeRecord(r.failures, r.last_failure_ms), rev).status()
                    : (rev == 0 ? Status::Ok() : shared_->Erase(shared_key, rev));
    if (s.code() == StatusCode::kFailedPrecondition) continue;  // Another node's failure came first.
    if (!s.ok()) PauseShared();
    return;
  }
}

Status LoginThrottle::Check(std::string_view account, std::string_view address) {
  if (!options_.enabled) return Status::Ok();
  const TimeMs now = clock_->NowMs();
  std::optional<Record> pair, from, name;
  if (shared_) {
    // The cluster's records, before deciding (a round trip each, off the lock).
    pair = Pull(PairKey(account, address), now);
    if (!address.empty()) from = Pull(AddressKey(address), now);
    name = Pull(AccountKey(account), now);
  }
  MutexLock lock(&mu_);
  if (!shared_) {
    auto copy = [](const Record* r) { return r != nullptr ? std::optional<Record>(*r) : std::nullopt; };
    pair = copy(Find(PairKey(account, address), now));
    if (!address.empty()) from = copy(Find(AddressKey(address), now));
    name = copy(Find(AccountKey(account), now));
  }
  TimeMs allowed = 0;
  if (pair) allowed = std::max(allowed, AllowedAt(*pair));
  if (from) allowed = std::max(allowed, AllowedAt(*from));
  // Other addresses' failures against the name hold back only an address that failed against it
  // too (or an unknown one): the owner at a clean address always gets through.
  if (name && (address.empty() || (pair && pair->failures > 0))) {
    allowed = std::max(allowed, AllowedAt(*name));
  }
  // The global budget, for addresses with failures of their own.
  const bool dirty = address.empty() ? pair.has_value() : from.has_value();
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
  if (shared_) {
    auto fail = [now](Record& r) {
      ++r.failures;
      r.last_failure_ms = now;
      return true;
    };
    Push(PairKey(account, address), now, fail);
    Push(AccountKey(account), now, fail);
    if (!address.empty()) Push(AddressKey(address), now, fail);
    // The node's own records too: they decide while the bucket does not answer (Pull).
  }
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
  if (shared_) {
    std::uint32_t mine = 0;
    Push(PairKey(account, address), now, [&mine](Record& r) {
      mine = r.failures;
      return false;
    });
    if (mine > 0) {
      Push(AccountKey(account), now, [mine](Record& r) {
        r.failures -= std::min(r.failures, mine);
        return r.failures > 0;
      });
    }
  }
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
