// LoginThrottle (libchat/src/login_throttle.h): exponential backoff per account and per address.
#include "login_throttle.h"

#include "test_support.h"

namespace chat::detail {
namespace {

LoginThrottleOptions Defaults() { return LoginThrottleOptions{}; }  // 5 free, 1 s doubling to 15 min.

void FailTimes(LoginThrottle& t, int n, const char* account, const char* address) {
  for (int i = 0; i < n; ++i) {
    REQUIRE_OK(t.Check(account, address));
    t.Failed(account, address);
  }
}

}  // namespace

TEST_CASE("five failures are free; the sixth check waits one second, then the delay doubles") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 5, "ada", "");
  Status s = t.Check("ada", "");
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.retry_after_ms() == 1000);
  clock.Advance(1000);
  REQUIRE_OK(t.Check("ada", ""));
  t.Failed("ada", "");
  CHECK(t.Check("ada", "").retry_after_ms() == 2000);
  clock.Advance(2000);
  t.Failed("ada", "");
  CHECK(t.Check("ada", "").retry_after_ms() == 4000);
}

TEST_CASE("the backoff stops growing at max_delay_ms") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  // Many failures in a row (the checks themselves refused; failures recorded directly).
  for (int i = 0; i < 60; ++i) t.Failed("ada", "");
  CHECK(t.Check("ada", "").retry_after_ms() == Defaults().max_delay_ms);
}

TEST_CASE("the refusal is the same for every account name, existing or not") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 5, "ada", "");
  FailTimes(t, 5, "no-such-user", "");
  Status a = t.Check("ada", "");
  Status b = t.Check("no-such-user", "");
  CHECK(a.code() == b.code());
  CHECK(a.message() == b.message());
  CHECK(a.retry_after_ms() == b.retry_after_ms());
}

TEST_CASE("failures from one address throttle every account tried from it, not other addresses") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  // A password spray: one guess per name, all from one address.
  for (int i = 0; i < 5; ++i) {
    const std::string name = "user" + std::to_string(i);
    REQUIRE_OK(t.Check(name, "192.0.2.1"));
    t.Failed(name, "192.0.2.1");
  }
  CHECK(t.Check("fresh-name", "192.0.2.1").code() == StatusCode::kResourceExhausted);
  REQUIRE_OK(t.Check("fresh-name", "192.0.2.2"));
}

TEST_CASE("failures against one account throttle it from every address") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  for (int i = 0; i < 5; ++i) {
    const std::string address = "192.0.2." + std::to_string(i);
    REQUIRE_OK(t.Check("ada", address));
    t.Failed("ada", address);
  }
  CHECK(t.Check("ada", "198.51.100.7").code() == StatusCode::kResourceExhausted);
}

TEST_CASE("a success clears the account's failures") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 4, "ada", "");
  t.Succeeded("ada");
  FailTimes(t, 5, "ada", "");  // Five free failures again.
  CHECK_FALSE(t.Check("ada", "").ok());
}

TEST_CASE("failures are forgotten after forget_after_ms without one") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 5, "ada", "192.0.2.1");
  CHECK(t.TEST_Records() == 2);
  clock.Advance(Defaults().forget_after_ms);
  REQUIRE_OK(t.Check("ada", "192.0.2.1"));
  CHECK(t.TEST_Records() == 0);
}

TEST_CASE("records are bounded: a spray of names evicts the stalest") {
  ManualClock clock;
  LoginThrottleOptions o;
  o.max_records = 3;
  LoginThrottle t(o, &clock);
  for (int i = 0; i < 10; ++i) {
    t.Failed("name" + std::to_string(i), "");
    clock.Advance(1);
  }
  CHECK(t.TEST_Records() == 3);
}

TEST_CASE("a disabled throttle never refuses") {
  ManualClock clock;
  LoginThrottleOptions o;
  o.enabled = false;
  LoginThrottle t(o, &clock);
  FailTimes(t, 100, "ada", "192.0.2.1");
}

}  // namespace chat::detail
