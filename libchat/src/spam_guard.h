// SpamGuard: each sender's spam score (points from the rules and from reports, halving every
// SpamOptions::half_life_ms) and what it does to their sends: throttle, flag, suspend.
//
// Thread-safe. Cheap on the send path: Admit is one hash lookup under a shard's mutex; only senders
// with points have an entry, so ordinary traffic leaves the maps empty.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "libchat/clock.h"
#include "libchat/spam.h"
#include "libchat/status.h"
#include "token_buckets.h"
#include "mutex.h"

namespace chat::detail {

class SpamGuard {
 public:
  // `clock` is not owned and must outlive this. The rules come from MakeSpamRules(options).
  SpamGuard(const SpamOptions& options, Clock* clock);

  bool enabled() const { return options_.enabled; }
  const SpamOptions& options() const { return options_; }

  // Before a send. OK if the sender may send; PermissionDenied ("sending suspended for spam", with
  // retry_after_ms() until the score decays below suspend_score) while suspended; ResourceExhausted
  // with retry_after_ms() when throttled and the throttle bucket is empty. Takes a throttle token
  // when throttled; changes nothing else.
  Status Admit(UserId sender);

  // After Admit: runs every rule on the send and adds their points. Returns the flag to store when
  // the account has just been flagged or has just reached suspend_score; nullopt otherwise.
  std::optional<SpamFlag> Score(const SpamSend& send);

  // Adds points from outside the rules (a report). Same return as Score.
  std::optional<SpamFlag> AddPoints(UserId user, double points, const std::string& reason);
  // AddPoints for a report by a new account: the points are cut so that what new accounts have added
  // about `user`, decayed like the score, stays at most `cap`. Same return as Score.
  std::optional<SpamFlag> AddCappedPoints(UserId user, double points, double cap, const std::string& reason);

  // Forgets the user's score, flag and rule windows (an admin cleared the account).
  void Clear(UserId user) { Clear(user, clock_->NowMs()); }
  // The same, as of `at`: while TrackAdded is on, also the points not yet taken by TakeAdded, and
  // ApplyRemote then ignores points another node added about the user at or before `at` (they were
  // cleared with the rest). For a clear on another node, `at` is that node's.
  void Clear(UserId user, TimeMs at);
  // Takes back a stored flag after a restart: the score decays from flag.updated_at, the account
  // stays flagged, and a suspension holds until the score falls below suspend_score.
  void Restore(const SpamFlag& flag);

  // ---- several nodes as one (shared_spam.h): the score of a user is the sum of what every node added.
  // Points a node added about a user since the last TakeAdded, as of `at` (the last add).
  struct Added {
    UserId user = 0;
    double points = 0;
    TimeMs at = 0;
  };
  // From now on, remembers the points Score, AddPoints and AddCappedPoints add, until TakeAdded.
  void TrackAdded() { track_.store(true, std::memory_order_relaxed); }
  // The points added since the last call, per user, and forgets them.
  std::vector<Added> TakeAdded();
  // Points another node added about `user`, as of `at` (that node's clock): decayed to now and added
  // to the score, never remembered for TakeAdded (no node publishes another's points again), and no
  // reason recorded. Nothing if the user was cleared at or after `at`. Same return as Score.
  std::optional<SpamFlag> ApplyRemote(UserId user, double points, TimeMs at);

  SpamStanding Standing(UserId user);
  SpamCounters counters() const;
  void CountReport() { reports_.fetch_add(1, std::memory_order_relaxed); }

  // Memoised facts that never change, so that the send path reads the store once per user or chat:
  // when the user registered, and a chat's kind. `load` runs on a miss (outside any lock).
  TimeMs CreatedAt(UserId user, const std::function<TimeMs()>& load);
  ChatKind KindOf(ChatId chat, const std::function<ChatKind()>& load);

 private:
  struct State {
    double score = 0;
    TimeMs at = 0;  // When `score` was computed.
    bool flagged = false;
    TimeMs flagged_at = 0;
    bool suspended_recorded = false;  // The stored flag says suspended.
    double capped = 0;                // Points from AddCappedPoints, at `capped_at`, decaying.
    TimeMs capped_at = 0;
    std::deque<std::string> reasons;
  };
  struct Pending {
    double points = 0;  // As of `at`.
    TimeMs at = 0;
  };
  struct Shard {
    Mutex mu;
    std::unordered_map<UserId, State> states GUARDED_BY(mu);
    // While track_: the points added here since the last TakeAdded, and when users were last
    // cleared (for ApplyRemote; kept a minute).
    std::unordered_map<UserId, Pending> added GUARDED_BY(mu);
    std::unordered_map<UserId, TimeMs> cleared GUARDED_BY(mu);
  };
  static constexpr std::size_t kShards = 16;

  Shard& ShardOf(UserId user) { return shards_[user % kShards]; }
  // `score` as of `at`, decayed to `now`.
  double Decayed(double score, TimeMs at, TimeMs now) const;
  double Decayed(const State& state, TimeMs now) const { return Decayed(state.score, state.at, now); }
  // Adds points to the user's state and decides whether the stored flag must change; `track`: also
  // to the points TakeAdded returns. An empty `reason` is not recorded. REQUIRES: the shard's mutex
  // held.
  std::optional<SpamFlag> AddLocked(Shard& shard, UserId user, double points, const std::string& reason, TimeMs now,
                                    bool track) REQUIRES(shard.mu);
  bool tracking() const { return track_.load(std::memory_order_relaxed); }

  const SpamOptions options_;
  Clock* const clock_;
  const std::vector<std::shared_ptr<SpamRule>> rules_;
  const RateLimit throttled_limit_;
  TokenBuckets throttle_;
  std::array<Shard, kShards> shards_;
  std::atomic<bool> track_{false};

  Mutex facts_mu_;
  std::unordered_map<UserId, TimeMs> created_at_ GUARDED_BY(facts_mu_);
  std::unordered_map<ChatId, ChatKind> kinds_ GUARDED_BY(facts_mu_);

  std::atomic<std::uint64_t> throttled_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> flagged_{0};
  std::atomic<std::uint64_t> reports_{0};
};

}  // namespace chat::detail
