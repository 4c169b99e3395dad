// The lanes' timer wheel (timer_wheel.h) on a real io_context: deadlines fire once, never early and
// at most about a tick late, in any order they were scheduled; cancelled and rescheduled nodes too.
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "timer_wheel.h"

using chat::detail::TimerWheel;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct TestNode final : TimerWheel::Node {
  ~TestNode() { TimerWheel::Cancel(this); }
  std::vector<SteadyClock::time_point> fired;
  std::function<void()> then;

 private:
  void OnDeadline() override {
    fired.push_back(SteadyClock::now());
    if (then) then();
  }
};

}  // namespace

TEST_CASE("timer wheel: each deadline fires once, not before it and within a tick or so after", "[unit][server]") {
  boost::asio::io_context ioc(1);
  TimerWheel wheel(ioc, milliseconds(10));
  const auto start = SteadyClock::now();
  std::vector<milliseconds> delays = {milliseconds(35), milliseconds(0), milliseconds(120), milliseconds(12),
                                      milliseconds(60)};
  std::vector<TestNode> nodes(delays.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) wheel.Schedule(&nodes[i], start + delays[i]);
  CHECK(wheel.size() == nodes.size());
  ioc.run();  // Returns when the wheel is empty: it arms its timer only while a node is scheduled.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    INFO("deadline " << delays[i].count() << " ms");
    REQUIRE(nodes[i].fired.size() == 1);
    CHECK(nodes[i].fired[0] >= start + delays[i]);
    CHECK(nodes[i].fired[0] < start + delays[i] + milliseconds(500));  // A tick, and a loaded machine.
    CHECK_FALSE(nodes[i].scheduled());
  }
  CHECK(wheel.size() == 0);
}

TEST_CASE("timer wheel: a cancelled node never fires, a rescheduled one fires at its new deadline, "
          "and a firing node may cancel another due at the same tick",
          "[unit][server]") {
  boost::asio::io_context ioc(1);
  TimerWheel wheel(ioc, milliseconds(5));
  const auto start = SteadyClock::now();
  TestNode cancelled, moved, repeating, victim, killer;
  wheel.Schedule(&cancelled, start + milliseconds(20));
  TimerWheel::Cancel(&cancelled);
  wheel.Schedule(&moved, start + milliseconds(10));
  wheel.Schedule(&moved, start + milliseconds(80));  // Later than first asked.
  // Reschedules itself twice from its own handler.
  repeating.then = [&] {
    if (repeating.fired.size() < 3) wheel.Schedule(&repeating, SteadyClock::now() + milliseconds(15));
  };
  wheel.Schedule(&repeating, start + milliseconds(15));
  // Both due at the same tick: whichever fires first cancels the other, which then does not fire.
  killer.then = [&] { TimerWheel::Cancel(&victim); };
  victim.then = [&] { TimerWheel::Cancel(&killer); };
  wheel.Schedule(&killer, start + milliseconds(30));
  wheel.Schedule(&victim, start + milliseconds(30));
  ioc.run();
  CHECK(cancelled.fired.empty());
  REQUIRE(moved.fired.size() == 1);
  CHECK(moved.fired[0] >= start + milliseconds(80));
  CHECK(repeating.fired.size() == 3);
  CHECK(killer.fired.size() + victim.fired.size() == 1);
}

TEST_CASE("timer wheel: deadlines more than a round of slots ahead wait for their round, and Stop drops the rest",
          "[unit][server]") {
  boost::asio::io_context ioc(1);
  // 512 slots of 1 ms: a deadline 700 ms ahead shares its slot with ticks of the first round.
  TimerWheel wheel(ioc, milliseconds(1));
  const auto start = SteadyClock::now();
  TestNode far, near, dropped;
  wheel.Schedule(&far, start + milliseconds(700));
  wheel.Schedule(&near, start + milliseconds(700 - 512));
  wheel.Schedule(&dropped, start + std::chrono::hours(1));
  far.then = [&] { wheel.Stop(); };
  ioc.run();
  REQUIRE(near.fired.size() == 1);
  REQUIRE(far.fired.size() == 1);
  CHECK(far.fired[0] >= start + milliseconds(700));
  CHECK(dropped.fired.empty());
  CHECK_FALSE(dropped.scheduled());
  // A stopped wheel schedules nothing.
  wheel.Schedule(&dropped, start);
  CHECK_FALSE(dropped.scheduled());
}
