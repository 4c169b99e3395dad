// TokenBuckets (libchat/src/token_buckets.h): bursts, refill, all-or-none charges, retry-after.
#include "token_buckets.h"

#include "test_support.h"

namespace chat::detail {
namespace {

constexpr RateLimit kTenThenSixPerMinute{10, 6};  // One token every 10 s.

}  // namespace

TEST_CASE("a bucket allows its burst at once, then refuses with the time of the next token") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  for (int i = 0; i < 10; ++i) REQUIRE_OK(buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things"));
  Status refused = buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things");
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.IsRetryable());
  CHECK(refused.retry_after_ms() == 10'000);
  clock.Advance(9'999);
  CHECK(buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things").retry_after_ms() == 1);
  clock.Advance(1);
  REQUIRE_OK(buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things"));
}

TEST_CASE("buckets of different owners and different limits are independent") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  for (int i = 0; i < 10; ++i) REQUIRE_OK(buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "x"));
  CHECK_FALSE(buckets.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "x").ok());
  REQUIRE_OK(buckets.Take({{{1, 8}, &kTenThenSixPerMinute}}, 1, "x"));
  REQUIRE_OK(buckets.Take({{{2, 7}, &kTenThenSixPerMinute}}, 1, "x"));
}

TEST_CASE("a charge to two buckets takes from both or from neither") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  const RateLimit small{2, 6};
  REQUIRE_OK(buckets.Take({{{1, 1}, &small}}, 2, "x"));  // Empty the first bucket.
  // The second bucket has tokens but the first has none: nothing is taken from the second.
  CHECK_FALSE(buckets.Take({{{1, 1}, &small}, {{2, 1}, &small}}, 1, "x").ok());
  REQUIRE_OK(buckets.Take({{{2, 1}, &small}}, 2, "x"));
}

TEST_CASE("a charge larger than the burst is capped at the burst, so it can pass once the bucket is full") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  REQUIRE_OK(buckets.Take({{{1, 1}, &kTenThenSixPerMinute}}, 50, "x"));
  CHECK(buckets.Take({{{1, 1}, &kTenThenSixPerMinute}}, 50, "x").retry_after_ms() == 100'000);
}

TEST_CASE("a limit with burst 0 is off") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  const RateLimit off{};
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(buckets.Take({{{1, 1}, &off}, {{2, 1}, nullptr}}, 1, "x"));
}

TEST_CASE("a bucket does not refill beyond its burst however long it rests") {
  ManualClock clock;
  TokenBuckets buckets(&clock);
  REQUIRE_OK(buckets.Take({{{1, 1}, &kTenThenSixPerMinute}}, 10, "x"));
  clock.Advance(24LL * 3600 * 1000);
  REQUIRE_OK(buckets.Take({{{1, 1}, &kTenThenSixPerMinute}}, 10, "x"));
  CHECK_FALSE(buckets.Take({{{1, 1}, &kTenThenSixPerMinute}}, 1, "x").ok());
}

}  // namespace chat::detail

namespace chat::detail {

TEST_CASE("several nodes: what one node's buckets take is reported once, and another node pays it, into debt") {
  ManualClock clock;
  TokenBuckets a(&clock);
  TokenBuckets b(&clock);
  a.TrackSpent({{1, kTenThenSixPerMinute}});
  b.TrackSpent({{1, kTenThenSixPerMinute}});
  for (int i = 0; i < 8; ++i) REQUIRE_OK(a.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things"));
  auto spent = a.TakeSpent();
  REQUIRE(spent.size() == 1);
  CHECK(spent[0].first == BucketKey{1, 7});
  CHECK(spent[0].second == 8);
  CHECK(a.TakeSpent().empty());  // Reported once.

  // B hears of A's 8 and of 8 more: its full bucket of 10 is 6 in debt; nothing passes until it has
  // refilled to 1 (7 tokens at one per 10 s).
  b.ApplyRemote(BucketKey{1, 7}, 8);
  b.ApplyRemote(BucketKey{1, 7}, 8);
  Status refused = b.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things");
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.retry_after_ms() == 70'000);
  // Debt is bounded at twice the burst.
  for (int i = 0; i < 10; ++i) b.ApplyRemote(BucketKey{1, 7}, 10);
  CHECK(b.Take({{{1, 7}, &kTenThenSixPerMinute}}, 1, "things").retry_after_ms() == 210'000);
  // A limit id nobody declared is ignored; another owner is untouched.
  b.ApplyRemote(BucketKey{2, 7}, 100);
  REQUIRE_OK(b.Take({{{1, 8}, &kTenThenSixPerMinute}}, 1, "things"));
}

}  // namespace chat::detail
