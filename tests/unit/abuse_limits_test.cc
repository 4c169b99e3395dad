// The limits that keep cheap requests from costing much (issue 11): RegistrationGuard, TypingGate and
// LogLimiter, on a ManualClock.
#include "log_limiter.h"
#include "registration_guard.h"
#include "typing_gate.h"

#include "test_support.h"

namespace chat::detail {

TEST_CASE("registrations: per address, then overall, refused ones take nothing") {
  ManualClock clock;
  RegistrationGuard g({2, 1}, {3, 60}, /*enabled=*/true, &clock);  // 2 then 1/min per address; 3 then 1/s overall.
  REQUIRE_OK(g.Admit("203.0.113.1"));
  REQUIRE_OK(g.Admit("203.0.113.1"));
  Status third = g.Admit("203.0.113.1");
  CHECK(third.code() == StatusCode::kResourceExhausted);
  CHECK(third.retry_after_ms() == 60'000);
  // Another address still has its own two, but the server-wide bucket has one left.
  REQUIRE_OK(g.Admit("203.0.113.2"));
  Status global = g.Admit("203.0.113.3");
  CHECK(global.code() == StatusCode::kResourceExhausted);
  CHECK(global.retry_after_ms() == 1000);
  clock.Advance(1000);
  REQUIRE_OK(g.Admit("203.0.113.3"));
}

TEST_CASE("registrations: no limit when rate limits are off") {
  ManualClock clock;
  RegistrationGuard g({1, 1}, {1, 1}, /*enabled=*/false, &clock);
  for (int i = 0; i < 100; ++i) REQUIRE_OK(g.Admit("203.0.113.1"));
}

TEST_CASE("typing: a repeat within the window is accepted and not published") {
  ManualClock clock;
  TypingGate g({100, 100}, 3000, /*rate_limited=*/true, &clock);
  auto first = g.Admit(1, 10, true);
  REQUIRE_OK(first);
  CHECK(*first);
  for (int i = 0; i < 50; ++i) CHECK_FALSE(*g.Admit(1, 10, true));
  // A change of state goes out at once; so does the same state in another chat, or from another user.
  CHECK(*g.Admit(1, 10, false));
  CHECK(*g.Admit(1, 11, false));
  CHECK(*g.Admit(2, 10, false));
  // After the window the same state is published again (a client refreshing "still typing").
  clock.Advance(3000);
  CHECK(*g.Admit(1, 10, false));
}

TEST_CASE("typing: what coalescing lets through is rate-limited per user") {
  ManualClock clock;
  TypingGate g({4, 60}, 3000, /*rate_limited=*/true, &clock);
  // Toggling defeats coalescing: the bucket stops it.
  for (int i = 0; i < 4; ++i) CHECK(*g.Admit(1, 10, i % 2 == 0));
  auto refused = g.Admit(1, 10, true);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == StatusCode::kResourceExhausted);
  CHECK(refused.error().retry_after_ms() == 1000);
  // Another user is not affected.
  CHECK(*g.Admit(2, 10, true));
}

TEST_CASE("log limiter: a few lines per key per window, then a count of those dropped") {
  ManualClock clock;
  LogLimiterOptions o;
  o.lines_per_key = 3;
  o.lines_total = 100;
  o.window_ms = 1000;
  LogLimiter l(o, &clock);
  for (int i = 0; i < 3; ++i) CHECK(l.Admit("203.0.113.1").log);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(l.Admit("203.0.113.1").log);
  CHECK(l.Admit("203.0.113.2").log);  // Other keys have their own lines.
  clock.Advance(1000);
  const LogLimiter::Verdict next = l.Admit("203.0.113.1");
  CHECK(next.log);
  CHECK(next.suppressed == 1000);
  CHECK(l.suppressed_total() == 1000);
}

TEST_CASE("log limiter: all keys together are bounded too") {
  ManualClock clock;
  LogLimiterOptions o;
  o.lines_per_key = 3;
  o.lines_total = 10;
  o.window_ms = 1000;
  LogLimiter l(o, &clock);
  int logged = 0;
  for (int i = 0; i < 1000; ++i) logged += l.Admit("198.51.100." + std::to_string(i)).log ? 1 : 0;
  CHECK(logged == 10);
}

}  // namespace chat::detail
