// LatencyHistogram: an HDR-style (log-linear) histogram of non-negative integer values, here latencies
// in microseconds. Every power of two is split into 128 equal sub-buckets, so a recorded value is
// known to within 1/128 (< 0.8 %) of itself at any magnitude, from 1 us up to about 2^42 us (50 days)
// in a fixed 37 KiB; larger values are clamped into the last bucket (the exact maximum is kept apart).
// Recording is one index computation and one increment: cheap enough for every delivery.
//
// Not thread-safe: each worker thread records into its own histogram, and the coordinator merges them
// after the run (Merge), the way HdrHistogram is meant to be used.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace chat::loadgen {

class LatencyHistogram {
 public:
  // Values below this are recorded exactly (one bucket per value).
  static constexpr std::int64_t kExactBelow = 256;
  static constexpr int kSubBucketBits = 7;  // 128 sub-buckets per power of two above kExactBelow.
  static constexpr int kMaxMagnitude = 42;  // Values up to 2^42 - 1 keep their precision.

  // Records `value` (negative values count as 0: a clock never runs backwards on purpose).
  void Record(std::int64_t value);
  // Adds every count of `other` into this one.
  void Merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  // The exact largest and smallest recorded value; 0 when empty.
  std::int64_t max() const { return max_; }
  std::int64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }

  // The value at percentile `p` (0 < p <= 100): the smallest value v such that at least p % of the
  // recorded values are <= v, reported as the highest value its bucket can hold (so it never
  // understates) but never above the exact maximum. 0 when empty. p <= 0 gives the minimum.
  std::int64_t ValueAtPercentile(double p) const;

  // Bucket arithmetic, public for the unit test.
  static std::size_t IndexOf(std::int64_t value);
  static std::int64_t LowestOf(std::size_t index);
  static std::int64_t HighestOf(std::size_t index);

 private:
  static constexpr std::size_t kSubBuckets = std::size_t{1} << kSubBucketBits;
  static constexpr std::size_t kBuckets =
      static_cast<std::size_t>(kExactBelow) + (kMaxMagnitude - kSubBucketBits - 1) * kSubBuckets;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
  std::int64_t min_ = 0;
  // Sum for the mean; an int64 of microseconds overflows after ~290,000 years of summed latency.
  std::int64_t sum_ = 0;
};

}  // namespace chat::loadgen
