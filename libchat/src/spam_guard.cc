#include "spam_guard.h"

#include <cmath>

#include "spam_rules.h"

namespace chat::detail {
namespace {

// The memoised facts are a cache: past this many entries it starts over rather than grow.
constexpr std::size_t kMaxFacts = 1 << 20;
// How long a clear is remembered to stop other nodes' older points (SpamGuard::ApplyRemote).
constexpr TimeMs kClearMemoryMs = 60'000;

}  // namespace

SpamGuard::SpamGuard(const SpamOptions& options, Clock* clock)
    : options_(options),
      clock_(clock),
      rules_(MakeSpamRules(options)),
      throttled_limit_{options.throttled_burst, options.throttled_per_minute},
      throttle_(clock) {}

double SpamGuard::Decayed(double score, TimeMs at, TimeMs now) const {
  if (score <= 0 || now <= at || options_.half_life_ms <= 0) return score;
  return score * std::exp2(-static_cast<double>(now - at) / static_cast<double>(options_.half_life_ms));
}

Status SpamGuard::Admit(UserId sender) {
  if (!options_.enabled) return Status::Ok();
  const TimeMs now = clock_->NowMs();
  double score = 0;
  {
    Shard& shard = ShardOf(sender);
    MutexLock lock(&shard.mu);
    auto it = shard.states.find(sender);
    if (it == shard.states.end()) return Status::Ok();  // The common case: no points at all.
    score = Decayed(it->second, now);
  }
  if (score >= options_.suspend_score) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    // When the score will have decayed below the threshold.
    const double halvings = std::log2(score / options_.suspend_score);
    const auto wait = static_cast<std::int64_t>(std::ceil(halvings * static_cast<double>(options_.half_life_ms))) + 1;
    return Status::PermissionDenied("sending suspended for spam (score " + std::to_string(static_cast<int>(score)) +
                                    "); an admin can clear it")
        .WithRetryAfter(wait);
  }
  if (score >= options_.throttle_score) {
    Status s = throttle_.Take({{{0, sender}, &throttled_limit_}}, 1, "messages: sending is throttled for spam");
    if (!s.ok()) throttled_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  return Status::Ok();
}

std::optional<SpamFlag> SpamGuard::Score(const SpamSend& send) {
  if (!options_.enabled) return std::nullopt;
  double points = 0;
  std::string reasons;
  for (const auto& rule : rules_) {
    SpamVerdict v = rule->Evaluate(send);
    if (v.score <= 0) continue;
    points += v.score;
    if (!reasons.empty()) reasons += "; ";
    reasons += std::string(rule->name()) + ": " + v.reason;
  }
  if (points <= 0) return std::nullopt;
  Shard& shard = ShardOf(send.sender);
  MutexLock lock(&shard.mu);
  return AddLocked(shard, send.sender, points, reasons, send.now, tracking());
}

std::optional<SpamFlag> SpamGuard::AddPoints(UserId user, double points, const std::string& reason) {
  if (!options_.enabled || points <= 0) return std::nullopt;
  Shard& shard = ShardOf(user);
  MutexLock lock(&shard.mu);
  return AddLocked(shard, user, points, reason, clock_->NowMs(), tracking());
}

std::optional<SpamFlag> SpamGuard::AddCappedPoints(UserId user, double points, double cap, const std::string& reason) {
  if (!options_.enabled || points <= 0) return std::nullopt;
  const TimeMs now = clock_->NowMs();
  Shard& shard = ShardOf(user);
  // The cap's check and the points it lets through are under one lock: concurrent reports by many
  // new accounts cannot each see room left.
  MutexLock lock(&shard.mu);
  State& s = shard.states[user];
  const double so_far = Decayed(s.capped, s.capped_at, now);
  const double allowed = std::min(points, std::max(0.0, cap - so_far));
  s.capped = so_far + allowed;
  s.capped_at = std::max(s.capped_at, now);
  if (allowed <= 0) return std::nullopt;
  return AddLocked(shard, user, allowed, reason, now, tracking());
}

std::optional<SpamFlag> SpamGuard::AddLocked(Shard& shard, UserId user, double points, const std::string& reason,
                                             TimeMs now, bool track) {
  // Drop senders whose points have decayed to nothing, so the map holds only the recently suspect.
  if (shard.states.size() > 4096) {
    for (auto it = shard.states.begin(); it != shard.states.end();) {
      it = !it->second.flagged && Decayed(it->second, now) < 0.01 ? shard.states.erase(it) : std::next(it);
    }
  }
  if (track) {
    Pending& p = shard.added[user];
    p.points = Decayed(p.points, p.at, now) + points;
    p.at = std::max(p.at, now);
  }
  State& s = shard.states[user];
  s.score = Decayed(s, now) + points;
  s.at = std::max(s.at, now);
  if (!reason.empty()) s.reasons.push_back(reason);
  while (s.reasons.size() > kMaxSpamReasons) s.reasons.pop_front();
  const bool newly_flagged = !s.flagged && s.score >= options_.flag_score;
  const bool newly_suspended = !s.suspended_recorded && s.score >= options_.suspend_score;
  if (!newly_flagged && !newly_suspended) return std::nullopt;
  if (newly_flagged) {
    s.flagged = true;
    s.flagged_at = now;
    flagged_.fetch_add(1, std::memory_order_relaxed);
  }
  s.suspended_recorded = s.suspended_recorded || newly_suspended;
  SpamFlag f;
  f.user = user;
  f.score = s.score;
  f.flagged_at = s.flagged_at;
  f.updated_at = now;
  f.suspended = s.score >= options_.suspend_score;
  f.reasons.assign(s.reasons.begin(), s.reasons.end());
  return f;
}

void SpamGuard::Clear(UserId user, TimeMs at) {
  {
    Shard& shard = ShardOf(user);
    MutexLock lock(&shard.mu);
    shard.states.erase(user);
    shard.added.erase(user);
    if (tracking()) {
      // Clears are an admin's, few: forgotten after a minute (a batch of points delayed longer than
      // that, by an outage of the engine, brings back what was added before the clear).
      const TimeMs now = clock_->NowMs();
      for (auto it = shard.cleared.begin(); it != shard.cleared.end();) {
        it = it->second < now - kClearMemoryMs ? shard.cleared.erase(it) : std::next(it);
      }
      TimeMs& last = shard.cleared[user];
      last = std::max(last, at);
    }
  }
  for (const auto& rule : rules_) rule->Forget(user);
}

std::vector<SpamGuard::Added> SpamGuard::TakeAdded() {
  std::vector<Added> out;
  for (Shard& shard : shards_) {
    MutexLock lock(&shard.mu);
    for (const auto& [user, p] : shard.added) out.push_back({user, p.points, p.at});
    shard.added.clear();
  }
  return out;
}

std::optional<SpamFlag> SpamGuard::ApplyRemote(UserId user, double points, TimeMs at) {
  if (!options_.enabled || points <= 0) return std::nullopt;
  const TimeMs now = clock_->NowMs();
  Shard& shard = ShardOf(user);
  // The clear's check and the points it would stop under one lock: a concurrent Clear comes wholly
  // before or after.
  MutexLock lock(&shard.mu);
  auto cleared = shard.cleared.find(user);
  if (cleared != shard.cleared.end() && at <= cleared->second) return std::nullopt;
  return AddLocked(shard, user, Decayed(points, at, now), std::string(), now, /*track=*/false);
}

void SpamGuard::Restore(const SpamFlag& flag) {
  Shard& shard = ShardOf(flag.user);
  MutexLock lock(&shard.mu);
  State& s = shard.states[flag.user];
  s.score = flag.score;
  s.at = flag.updated_at;
  s.flagged = true;
  s.flagged_at = flag.flagged_at;
  s.suspended_recorded = flag.suspended;
  s.reasons.assign(flag.reasons.begin(), flag.reasons.end());
}

SpamStanding SpamGuard::Standing(UserId user) {
  SpamStanding st;
  st.user = user;
  Shard& shard = ShardOf(user);
  MutexLock lock(&shard.mu);
  auto it = shard.states.find(user);
  if (it == shard.states.end()) return st;
  st.score = Decayed(it->second, clock_->NowMs());
  st.flagged = it->second.flagged;
  st.throttled = options_.enabled && st.score >= options_.throttle_score;
  st.suspended = options_.enabled && st.score >= options_.suspend_score;
  return st;
}

SpamCounters SpamGuard::counters() const {
  SpamCounters c;
  c.throttled = throttled_.load(std::memory_order_relaxed);
  c.refused = refused_.load(std::memory_order_relaxed);
  c.flagged = flagged_.load(std::memory_order_relaxed);
  c.reports = reports_.load(std::memory_order_relaxed);
  return c;
}

TimeMs SpamGuard::CreatedAt(UserId user, const std::function<TimeMs()>& load) {
  {
    MutexLock lock(&facts_mu_);
    auto it = created_at_.find(user);
    if (it != created_at_.end()) return it->second;
  }
  const TimeMs t = load();
  MutexLock lock(&facts_mu_);
  if (created_at_.size() >= kMaxFacts) created_at_.clear();
  created_at_[user] = t;
  return t;
}

ChatKind SpamGuard::KindOf(ChatId chat, const std::function<ChatKind()>& load) {
  {
    MutexLock lock(&facts_mu_);
    auto it = kinds_.find(chat);
    if (it != kinds_.end()) return it->second;
  }
  const ChatKind k = load();
  MutexLock lock(&facts_mu_);
  if (kinds_.size() >= kMaxFacts) kinds_.clear();
  kinds_[chat] = k;
  return k;
}

}  // namespace chat::detail
