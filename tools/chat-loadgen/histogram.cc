#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace chat::loadgen {

std::size_t LatencyHistogram::IndexOf(std::int64_t value) {
  if (value < kExactBelow) return static_cast<std::size_t>(value < 0 ? 0 : value);
  const auto v = static_cast<std::uint64_t>(value);
  const int msb = std::bit_width(v) - 1;  // >= 8 here.
  if (msb >= kMaxMagnitude) return kBuckets - 1;
  // Keep the top kSubBucketBits + 1 bits: v >> shift lies in [128, 256).
  const int shift = msb - kSubBucketBits;
  const std::size_t sub = static_cast<std::size_t>(v >> shift) - kSubBuckets;
  return static_cast<std::size_t>(kExactBelow) + static_cast<std::size_t>(shift - 1) * kSubBuckets + sub;
}

std::int64_t LatencyHistogram::LowestOf(std::size_t index) {
  if (index < static_cast<std::size_t>(kExactBelow)) return static_cast<std::int64_t>(index);
  const std::size_t k = index - static_cast<std::size_t>(kExactBelow);
  const int shift = static_cast<int>(k / kSubBuckets) + 1;
  const auto sub = static_cast<std::int64_t>(kSubBuckets + k % kSubBuckets);
  return sub << shift;
}

std::int64_t LatencyHistogram::HighestOf(std::size_t index) {
  if (index < static_cast<std::size_t>(kExactBelow)) return static_cast<std::int64_t>(index);
  const std::size_t k = index - static_cast<std::size_t>(kExactBelow);
  const int shift = static_cast<int>(k / kSubBuckets) + 1;
  const auto sub = static_cast<std::int64_t>(kSubBuckets + k % kSubBuckets);
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::Record(std::int64_t value) {
  if (value < 0) value = 0;
  ++counts_[IndexOf(value)];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
  sum_ += value;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

std::int64_t LatencyHistogram::ValueAtPercentile(double p) const {
  if (count_ == 0) return 0;
  if (p <= 0) return min_;
  if (p >= 100) return max_;
  // The rank of the value we want, 1-based: at least p % of the values lie at or below it. Computed
  // as p * count / 100 less a hair, so that floating-point error cannot turn an exact rank such as
  // 99.9 % of 1000 (999) into the next one up.
  const double exact = p * static_cast<double>(count_) / 100.0;
  auto rank = static_cast<std::uint64_t>(std::ceil(exact - 1e-6));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(HighestOf(i), max_);
  }
  return max_;
}

}  // namespace chat::loadgen
