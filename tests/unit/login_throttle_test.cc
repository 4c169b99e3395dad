// LoginThrottle (libchat/src/login_throttle.h): exponential backoff per (account, address) pair, per
// address and per account, and the global failure budget.
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

TEST_CASE("five failures are free, the sixth check waits one second, then the delay doubles") {
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

TEST_CASE("failures against one account from many addresses hold back those addresses, not a clean one") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  // A distributed guess: each address tries the name once.
  for (int i = 0; i < 20; ++i) {
    const std::string address = "192.0.2." + std::to_string(i);
    REQUIRE_OK(t.Check("ada", address));
    t.Failed("ada", address);
  }
  // Each guessing address is now held back by the account's count...
  CHECK(t.Check("ada", "192.0.2.3").code() == StatusCode::kResourceExhausted);
  // ... but the owner, from an address that has not failed, is not (issue 11, item 5).
  REQUIRE_OK(t.Check("ada", "198.51.100.7"));
  // Nor is a signed-in device changing its password (its source is the device).
  REQUIRE_OK(t.Check("ada", "device:7"));
  // With no address at all, the account's count applies: an embedder that passes none is not a
  // way around it.
  CHECK(t.Check("ada", "").code() == StatusCode::kResourceExhausted);
}

TEST_CASE("one address guessing one name is held back by its own failures") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 5, "ada", "192.0.2.1");
  CHECK(t.Check("ada", "192.0.2.1").retry_after_ms() == 1000);
}

TEST_CASE("a success clears the pair's failures and takes them back from the account's") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 4, "ada", "");
  t.Succeeded("ada", "");
  FailTimes(t, 5, "ada", "");  // Five free failures again.
  CHECK_FALSE(t.Check("ada", "").ok());
}

TEST_CASE("a success does not forgive other addresses' failures against the account") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  for (int i = 0; i < 10; ++i) {
    const std::string address = "192.0.2." + std::to_string(i);
    REQUIRE_OK(t.Check("ada", address));
    t.Failed("ada", address);
  }
  REQUIRE_OK(t.Check("ada", "198.51.100.7"));
  t.Succeeded("ada", "198.51.100.7");
  CHECK(t.Check("ada", "192.0.2.0").code() == StatusCode::kResourceExhausted);
}

TEST_CASE("the global failure budget holds back addresses with failures, never clean ones") {
  ManualClock clock;
  LoginThrottleOptions o;
  o.global_failures = {10, 60};  // 10 at once, then one a second.
  LoginThrottle t(o, &clock);
  // Unknown names from many addresses: each costs a hash, and spends the budget.
  for (int i = 0; i < 10; ++i) {
    const std::string address = "203.0.113." + std::to_string(i);
    REQUIRE_OK(t.Check("nobody" + std::to_string(i), address));
    t.Failed("nobody" + std::to_string(i), address);
  }
  Status held = t.Check("another-name", "203.0.113.4");
  CHECK(held.code() == StatusCode::kResourceExhausted);
  CHECK(held.retry_after_ms() > 0);
  CHECK(held.retry_after_ms() <= 1001);
  REQUIRE_OK(t.Check("ada", "198.51.100.7"));
  clock.Advance(1001);
  REQUIRE_OK(t.Check("another-name", "203.0.113.4"));
}

TEST_CASE("failures are forgotten after forget_after_ms without one") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  FailTimes(t, 5, "ada", "192.0.2.1");
  CHECK(t.TEST_Records() == 3);  // The pair, the account and the address.
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

namespace {

// A shared bucket whose engine does not answer: every request fails as a NATS request that waited out
// its timeout. Counts the requests.
class SilentKv final : public SharedKv {
 public:
  Result<Entry> Get(const std::string&) override { return Fail(); }
  Result<std::uint64_t> Put(const std::string&, std::string_view) override { return Fail(); }
  Result<std::uint64_t> Swap(const std::string&, std::string_view, std::uint64_t) override { return Fail(); }
  Status Erase(const std::string&, std::uint64_t) override { return Fail(); }
  Result<std::vector<std::string>> Keys() override { return Fail(); }
  Subscription Watch(std::function<void(const Change&)>) override { return Subscription(); }
  int requests = 0;

 private:
  Status Fail() {
    ++requests;
    return Status::Unavailable("nats: timeout (injected)");
  }
};

}  // namespace

TEST_CASE("a shared bucket that does not answer is asked once, then left alone for a while, and the node's own "
          "records decide meanwhile") {
  ManualClock clock;
  LoginThrottle t(Defaults(), &clock);
  auto kv = std::make_shared<SilentKv>();
  t.Share(kv);
  // A sign-in waits out one request, not one per record (three) and per push.
  REQUIRE_OK(t.Check("ada", "192.0.2.1"));
  CHECK(kv->requests == 1);
  t.Failed("ada", "192.0.2.1");
  t.Succeeded("bob", "192.0.2.2");
  CHECK(kv->requests == 1);
  // The node's own records still hold a guesser back: five failures free, the sixth waits.
  FailTimes(t, 4, "ada", "192.0.2.1");
  CHECK(t.Check("ada", "192.0.2.1").code() == StatusCode::kResourceExhausted);
  CHECK(kv->requests == 1);
  // Once the pause is over, the bucket is asked again.
  clock.Advance(LoginThrottle::kSharedPauseMs);
  (void)t.Check("carol", "192.0.2.3");
  CHECK(kv->requests == 2);
}

}  // namespace chat::detail
