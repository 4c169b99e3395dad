// The coalescing table and the backoff schedule, without threads or I/O.
#include <catch2/catch.hpp>

#include "push_table.h"

namespace chat::detail {
namespace {

TEST_CASE("push table: messages for one device and chat coalesce into one entry", "[push][unit]") {
  PushTable t(10);
  CHECK(t.AddMessage(1, 10, 100, 5, 2, 1000) == PushTable::AddResult::kCreated);
  CHECK(t.AddMessage(1, 10, 100, 6, 3, 1500) == PushTable::AddResult::kMerged);
  CHECK(t.AddMessage(1, 10, 101, 7, 2, 1500) == PushTable::AddResult::kCreated);  // Another chat.
  CHECK(t.size() == 2);
  CHECK_FALSE(t.TakeDue(999));
  auto e = t.TakeDue(1000);
  REQUIRE(e);
  CHECK(e->key.chat == 100);
  CHECK(e->CountAfter(0) == 2);
  CHECK(e->last_seq() == 6);
  CHECK(e->sender == 3);  // Of the newest message.
  CHECK(e->due == 1000);  // The window started with the first message; later ones do not extend it.
  CHECK(t.NextDue() == 1500);
}

TEST_CASE("push table: count after a cursor, past the tracking cap", "[push][unit]") {
  PushTable t(10);
  for (Seq s = 1; s <= kMaxTrackedSeqs + 5; ++s) (void)t.AddMessage(1, 10, 100, s, 2, 0);
  auto e = t.TakeDue(0);
  REQUIRE(e);
  CHECK(e->seqs.size() == kMaxTrackedSeqs);
  CHECK(e->untracked == 5);
  CHECK(e->CountAfter(0) == kMaxTrackedSeqs + 5);
  CHECK(e->CountAfter(kMaxTrackedSeqs) == 5);
  CHECK(e->CountAfter(kMaxTrackedSeqs + 5) == 0);
  // The same message seen twice (recovery and the bus) counts once.
  PushTable u(10);
  (void)u.AddMessage(1, 10, 100, 7, 2, 0);
  CHECK(u.AddMessage(1, 10, 100, 7, 2, 0) == PushTable::AddResult::kMerged);
  CHECK(u.TakeDue(0)->CountAfter(0) == 1);
}

TEST_CASE("push table: full table refuses new entries but still merges", "[push][unit]") {
  PushTable t(1);
  CHECK(t.AddMessage(1, 10, 100, 1, 2, 0) == PushTable::AddResult::kCreated);
  CHECK(t.AddMessage(1, 11, 100, 1, 2, 0) == PushTable::AddResult::kFull);
  CHECK(t.AddMessage(1, 10, 100, 2, 2, 0) == PushTable::AddResult::kMerged);
  PushEntry call;
  call.key = {11, 100, 1};
  call.call_id = "c1";
  CHECK_FALSE(t.AddCall(call));
}

TEST_CASE("push table: calls go before messages that are due earlier", "[push][unit]") {
  PushTable t(10);
  (void)t.AddMessage(1, 10, 100, 1, 2, 0);
  PushEntry call;
  call.key = {10, 100, 1};
  call.call_id = "c1";
  call.due = 50;
  REQUIRE(t.AddCall(call));
  CHECK_FALSE(t.TakeDue(49, /*messages=*/false));
  auto first = t.TakeDue(50);
  REQUIRE(first);
  CHECK(first->is_call());
  CHECK_FALSE(t.TakeDue(50)->is_call());
}

TEST_CASE("push table: a failed entry merges with one created while it was in flight", "[push][unit]") {
  PushTable t(10);
  (void)t.AddMessage(1, 10, 100, 1, 2, 0);
  auto failed = t.TakeDue(0);
  REQUIRE(failed);
  failed->attempts = 3;
  (void)t.AddMessage(1, 10, 100, 2, 4, 2000);  // Arrived while the send was in flight.
  t.Reschedule(*failed, 1500);
  REQUIRE(t.size() == 1);
  auto e = t.TakeDue(2000);
  REQUIRE(e);
  CHECK(e->CountAfter(0) == 2);
  CHECK(e->attempts == 3);
  CHECK(e->due == 2000);  // The later of the two.
  CHECK(e->sender == 4);
}

TEST_CASE("push table: cancelling a call drops only its entries", "[push][unit]") {
  PushTable t(10);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    PushEntry call;
    call.key = {10 + i, 100, i};
    call.call_id = i < 3 ? "a" : "b";
    REQUIRE(t.AddCall(call));
  }
  CHECK(t.CancelCall("a") == 2);
  CHECK(t.size() == 1);
  CHECK(t.TakeDue(0)->call_id == "b");
}

TEST_CASE("push backoff: doubles from the initial step up to the cap, jittered within half", "[push][unit]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    TimeMs first = BackoffMs(1, 1000, 60000, rng);
    CHECK(first >= 500);
    CHECK(first <= 1000);
    TimeMs third = BackoffMs(3, 1000, 60000, rng);
    CHECK(third >= 2000);
    CHECK(third <= 4000);
    TimeMs capped = BackoffMs(40, 1000, 60000, rng);  // Would overflow without the cap.
    CHECK(capped >= 30000);
    CHECK(capped <= 60000);
  }
  // Jitter actually varies the delay.
  std::set<TimeMs> seen;
  for (int i = 0; i < 20; ++i) seen.insert(BackoffMs(5, 1000, 60000, rng));
  CHECK(seen.size() > 1);
}

}  // namespace
}  // namespace chat::detail
