// RetentionScheduler: rounds run on their own thread and delete what retention no longer keeps, in
// batches, without anyone calling RunRetention.
#include <atomic>
#include <chrono>
#include <thread>

#include "libchat/retention.h"
#include "test_support.h"

using namespace chat;

namespace {

// Polls `condition` until it holds or 10 s pass (the scheduler's thread runs on real time).
template <class F>
bool WaitFor(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

TEST_CASE("the retention scheduler deletes expired messages in batches on its own", "[unit][retention]") {
  test::Fixture fx("mem");
  auto alice = fx.NewUser("alice");
  auto bob = fx.NewUser("bob");
  auto g = fx.service->CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(g);
  for (int i = 0; i < 5; ++i) {
    SendRequest r = test::TextMessage(alice, g->id, "c" + std::to_string(i), "m");
    REQUIRE_OK(fx.service->Send(r));
  }
  std::atomic<int> reported{0};
  RetentionSchedule schedule;
  schedule.interval = std::chrono::milliseconds(5);
  schedule.batch = 2;  // Six entries (the group's creation and five messages): three batches.
  schedule.pause_between_batches = std::chrono::milliseconds(1);
  schedule.on_round = [&](const Result<RetentionReport>& round) {
    if (round.ok() && round->messages_deleted > 0) reported += static_cast<int>(round->messages_deleted);
  };
  auto scheduler = RetentionScheduler::Start(*fx.service, schedule);
  REQUIRE_OK(scheduler);

  // Within retention: rounds run and delete nothing.
  REQUIRE(WaitFor([&] { return (*scheduler)->Totals().rounds >= 2; }));
  CHECK((*scheduler)->Totals().messages_deleted == 0);
  CHECK(reported == 0);
  auto kept = fx.store->ReadMessages(g->id, 0, 100);
  REQUIRE_OK(kept);
  CHECK(kept->size() == 6);

  fx.clock.Advance(31 * kMsPerDay);
  REQUIRE(WaitFor([&] { return (*scheduler)->Totals().messages_deleted == 6; }));
  auto left = fx.store->ReadMessages(g->id, 0, 100);
  REQUIRE_OK(left);
  CHECK(left->empty());
  // The round's callback runs after its totals are counted: wait for it too (a loaded run saw the
  // totals at 6 while the callback had not run yet).
  CHECK(WaitFor([&] { return reported == 6; }));
  CHECK((*scheduler)->Totals().errors == 0);
}

TEST_CASE("the retention scheduler refuses a zero interval or batch", "[unit][retention]") {
  test::Fixture fx("mem");
  RetentionSchedule zero_interval;
  zero_interval.interval = std::chrono::milliseconds(0);
  CHECK_CODE(RetentionScheduler::Start(*fx.service, zero_interval), StatusCode::kInvalidArgument);
  RetentionSchedule zero_batch;
  zero_batch.batch = 0;
  CHECK_CODE(RetentionScheduler::Start(*fx.service, zero_batch), StatusCode::kInvalidArgument);
}
