// TokenBuckets: the rate limits of Limits (send, chat creation, participant additions, uploads), one
// bucket per (limit, user or device), refilled lazily from an injected Clock.
//
// Thread-safe (one mutex; every call is a few arithmetic operations on a hash map entry).
//
// Several nodes (shared_rates.h): with TrackSpent on, every Take also adds what it took to a map of
// spends, which SharedRates sends to the other nodes every few hundred ms, and the spends of other
// nodes are taken from this node's buckets (ApplyRemote) — below zero if need be: a bucket in debt
// refills to zero before it admits again, so over time the cluster admits the limit's rate once,
// not once per node.
// Memory: a bucket that has refilled to its burst is indistinguishable from an absent one, so such
// buckets are swept whenever the map doubles in size.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/status.h"
#include "mutex.h"

namespace chat::detail {

// One bucket's identity: which limit (a small integer the caller chooses per RateLimit) and whose.
struct BucketKey {
  std::uint32_t limit = 0;
  std::uint64_t owner = 0;
  bool operator==(const BucketKey&) const = default;
};

class TokenBuckets {
 public:
  // `clock` is not owned and must outlive this.
  explicit TokenBuckets(Clock* clock) : clock_(clock) {}

  struct Charge {
    BucketKey key;
    const RateLimit* limit = nullptr;  // burst 0: not limited, the charge is skipped.
  };

  // Takes `units` tokens from each bucket of `charges` (at most two), all or none. Units above a
  // bucket's burst are capped at the burst, so a large but legitimate action (adding 150 users) is
  // possible once the bucket is full. ResourceExhausted naming `what`, with retry_after_ms() set to
  // when every bucket will hold enough, if any holds too few; nothing is taken then.
  Status Take(std::initializer_list<Charge> charges, double units, std::string_view what);

  // From now on Take records what it takes, for TakeSpent. `limits`: every limit id that other
  // nodes may charge, with its RateLimit (the same on every node).
  void TrackSpent(const std::vector<std::pair<std::uint32_t, RateLimit>>& limits);
  // What was taken since the last call (key, units), and forgets it.
  std::vector<std::pair<BucketKey, double>> TakeSpent();
  // Another node took `units` from its bucket of `key`: this node's bucket pays them too (it may go
  // into debt). A limit id not declared to TrackSpent is ignored.
  void ApplyRemote(const BucketKey& key, double units);

 private:
  struct Bucket {
    double tokens = 0;
    TimeMs updated_ms = 0;
  };
  struct KeyHash {
    std::size_t operator()(const BucketKey& k) const noexcept {
      return std::hash<std::uint64_t>()(k.owner * 31 + k.limit);
    }
  };

  // The bucket of `key` refilled up to now (created full).
  Bucket& Refilled(const BucketKey& key, const RateLimit& limit, TimeMs now) REQUIRES(mu_);
  // Drops buckets that are full again.
  void SweepFull(TimeMs now) REQUIRES(mu_);

  Clock* const clock_;
  Mutex mu_;
  std::unordered_map<BucketKey, Bucket, KeyHash> buckets_ GUARDED_BY(mu_);
  // limit id -> its RateLimit, remembered for sweeping.
  std::unordered_map<std::uint32_t, RateLimit> limits_ GUARDED_BY(mu_);
  std::size_t sweep_at_ GUARDED_BY(mu_) = 1024;
  bool track_ GUARDED_BY(mu_) = false;
  std::unordered_map<BucketKey, double, KeyHash> spent_ GUARDED_BY(mu_);
};

}  // namespace chat::detail
