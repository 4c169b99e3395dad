// TokenBuckets: the rate limits of Limits (send, chat creation, participant additions, uploads), one
// bucket per (limit, user or device), refilled lazily from an injected Clock.
//
// Thread-safe (one mutex; every call is a few arithmetic operations on a hash map entry).
// Memory: a bucket that has refilled to its burst is indistinguishable from an absent one, so such
// buckets are swept whenever the map doubles in size.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string_view>
#include <unordered_map>

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
};

}  // namespace chat::detail
