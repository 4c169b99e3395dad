// The latency histogram's bucket arithmetic and percentile math (tools/chat-loadgen/histogram.h).
#include "histogram.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>
#include <algorithm>

namespace chat::loadgen {
namespace {

// The exact percentile of a sorted sample by the same definition: the smallest value with at least
// p % of the values at or below it.
std::int64_t ExactPercentile(const std::vector<std::int64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()) / 100.0 - 1e-6));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST_CASE("histogram: small values are recorded exactly", "[loadgen][histogram]") {
  for (std::int64_t v = 0; v < LatencyHistogram::kExactBelow; ++v) {
    const std::size_t i = LatencyHistogram::IndexOf(v);
    CHECK(LatencyHistogram::LowestOf(i) == v);
    CHECK(LatencyHistogram::HighestOf(i) == v);
  }
}

TEST_CASE("histogram: every bucket holds its values within 1/128", "[loadgen][histogram]") {
  // Walk bucket boundaries over the whole range: each value falls in a bucket that contains it, the
  // buckets tile the range without gaps, and a bucket is never wider than 1/128 of its lowest value.
  std::int64_t expected_low = 0;
  for (std::size_t i = 0; LatencyHistogram::LowestOf(i) < (std::int64_t{1} << 41); ++i) {
    const std::int64_t lo = LatencyHistogram::LowestOf(i);
    const std::int64_t hi = LatencyHistogram::HighestOf(i);
    REQUIRE(lo == expected_low);
    REQUIRE(hi >= lo);
    CHECK(LatencyHistogram::IndexOf(lo) == i);
    CHECK(LatencyHistogram::IndexOf(hi) == i);
    if (lo >= LatencyHistogram::kExactBelow) CHECK(static_cast<double>(hi - lo + 1) / static_cast<double>(lo) <= 1.0 / 128);
    expected_low = hi + 1;
  }
}

TEST_CASE("histogram: empty", "[loadgen][histogram]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.ValueAtPercentile(50) == 0);
  CHECK(h.ValueAtPercentile(99.9) == 0);
  CHECK(h.max() == 0);
  CHECK(h.min() == 0);
  CHECK(h.mean() == 0);
}

TEST_CASE("histogram: one value is every percentile", "[loadgen][histogram]") {
  LatencyHistogram h;
  h.Record(1234);
  for (double p : {0.0, 1.0, 50.0, 99.0, 99.9, 100.0}) CHECK(h.ValueAtPercentile(p) == 1234);
}

TEST_CASE("histogram: percentiles of 1..1000", "[loadgen][histogram]") {
  LatencyHistogram h;
  for (std::int64_t v = 1; v <= 1000; ++v) h.Record(v);
  CHECK(h.count() == 1000);
  CHECK(h.min() == 1);
  CHECK(h.max() == 1000);
  CHECK(h.mean() == Approx(500.5));
  // Below 256 exact; above, the top of the value's bucket (never an understatement).
  CHECK(h.ValueAtPercentile(10) == 100);
  CHECK(h.ValueAtPercentile(25) == 250);
  CHECK(h.ValueAtPercentile(50) == 501);   // 500 shares the bucket [500, 501].
  CHECK(h.ValueAtPercentile(90) == 903);   // Bucket [900, 903].
  CHECK(h.ValueAtPercentile(99) == 991);   // Bucket [988, 991].
  CHECK(h.ValueAtPercentile(99.9) == 999);   // Bucket [996, 999].
  CHECK(h.ValueAtPercentile(100) == 1000);   // The exact maximum.
}

TEST_CASE("histogram: a tail of outliers shows in p99 and p99.9 only", "[loadgen][histogram]") {
  LatencyHistogram h;
  for (int i = 0; i < 9890; ++i) h.Record(1000);   // 98.9 %: 1 ms
  for (int i = 0; i < 100; ++i) h.Record(50000);   // 1 %: 50 ms
  for (int i = 0; i < 10; ++i) h.Record(2000000);  // 0.1 %: 2 s
  CHECK(h.ValueAtPercentile(50) == Approx(1000).epsilon(1.0 / 128));
  CHECK(h.ValueAtPercentile(98.9) == Approx(1000).epsilon(1.0 / 128));
  CHECK(h.ValueAtPercentile(99) == Approx(50000).epsilon(1.0 / 128));
  CHECK(h.ValueAtPercentile(99.9) == Approx(50000).epsilon(1.0 / 128));
  CHECK(h.ValueAtPercentile(99.95) == 2000000);
  CHECK(h.max() == 2000000);
}

TEST_CASE("histogram: percentiles of random data stay within the precision", "[loadgen][histogram]") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(8.0, 1.5);  // Latency-like: a long right tail.
  LatencyHistogram h;
  std::vector<std::int64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::int64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const std::int64_t exact = ExactPercentile(values, p);
    const std::int64_t got = h.ValueAtPercentile(p);
    INFO("p" << p << " exact " << exact << " got " << got);
    CHECK(got >= exact);  // Reported as the top of the bucket: never below.
    CHECK(static_cast<double>(got - exact) <= static_cast<double>(exact) / 128 + 1);
  }
  CHECK(h.max() == values.back());
}

TEST_CASE("histogram: merging equals recording everything in one", "[loadgen][histogram]") {
  LatencyHistogram a, b, all;
  for (std::int64_t v = 0; v < 5000; v += 3) {
    (v % 2 ? a : b).Record(v * 7);
    all.Record(v * 7);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == Approx(all.mean()));
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) CHECK(merged.ValueAtPercentile(p) == all.ValueAtPercentile(p));
  // Merging into an empty histogram keeps the other's minimum, not 0.
  LatencyHistogram empty;
  empty.Merge(b);
  CHECK(empty.min() == b.min());
}

TEST_CASE("histogram: negative values count as zero, huge ones keep an exact maximum", "[loadgen][histogram]") {
  LatencyHistogram h;
  h.Record(-5);
  h.Record(std::int64_t{1} << 50);
  CHECK(h.min() == 0);
  CHECK(h.max() == std::int64_t{1} << 50);
  CHECK(h.ValueAtPercentile(50) == 0);
  CHECK(h.ValueAtPercentile(100) == std::int64_t{1} << 50);
}

}  // namespace
}  // namespace chat::loadgen
