// How chat-loadgen classifies what a device receives (tools/chat-loadgen/delivery_tracker.h), and
// the layout of groups over clients (layout.h).
#include <catch2/catch.hpp>
#include <set>

#include "delivery_tracker.h"
#include "layout.h"

namespace chat::loadgen {
namespace {

using Outcome = ChatReceipts::Outcome;

TEST_CASE("receipts: in-order live deliveries", "[loadgen][receipts]") {
  ChatReceipts r(10);
  for (std::uint64_t s = 11; s <= 15; ++s) CHECK(r.OnLive(s) == Outcome::kFirst);
  CHECK(r.contiguous() == 15);
  CHECK(r.distinct() == 5);
  CHECK(r.duplicates() == 0);
  CHECK(r.reordered() == 0);
  CHECK(r.Received(13));
  CHECK_FALSE(r.Received(16));
  CHECK_FALSE(r.Received(10));  // Before the run.
}

TEST_CASE("receipts: a live duplicate counts once per extra copy", "[loadgen][receipts]") {
  ChatReceipts r(0);
  CHECK(r.OnLive(1) == Outcome::kFirst);
  CHECK(r.OnLive(1) == Outcome::kDuplicate);
  CHECK(r.OnLive(1) == Outcome::kDuplicate);
  CHECK(r.duplicates() == 2);
  CHECK(r.distinct() == 1);
}

TEST_CASE("receipts: out of order live, and the gap it leaves meanwhile", "[loadgen][receipts]") {
  ChatReceipts r(0);
  CHECK(r.OnLive(1) == Outcome::kFirst);
  CHECK(r.OnLive(3) == Outcome::kFirst);
  CHECK(r.contiguous() == 1);  // 2 is missing.
  CHECK(r.OnLive(2) == Outcome::kFirst);
  CHECK(r.reordered() == 1);
  CHECK(r.contiguous() == 3);
  CHECK(r.OnLive(4) == Outcome::kFirst);
  CHECK(r.reordered() == 1);
}

TEST_CASE("receipts: live order restarts on a new connection", "[loadgen][receipts]") {
  ChatReceipts r(0);
  CHECK(r.OnLive(5) == Outcome::kFirst);
  r.OnNewConnection();
  // After a reconnect the sync fills 1..4; a live 6 then is in order, and so is nothing else.
  r.BeginSync(0);
  for (std::uint64_t s = 1; s <= 4; ++s) CHECK(r.OnSynced(s) == Outcome::kFirst);
  CHECK(r.OnLive(6) == Outcome::kFirst);
  CHECK(r.reordered() == 0);
  CHECK(r.contiguous() == 6);
}

// Seen as the three-node failover test failing with "1 duplicated" under load: the node a device
// failed over to, behind the one that died, sent an entry live that the dead one had sent live.
TEST_CASE("receipts: an entry live again on a later connection is overlap, twice on one connection a duplicate",
          "[loadgen][receipts]") {
  ChatReceipts r(0);
  CHECK(r.OnLive(1) == Outcome::kFirst);
  CHECK(r.OnLive(2) == Outcome::kFirst);
  r.OnNewConnection();
  CHECK(r.OnLive(2) == Outcome::kOverlap);
  CHECK(r.OnLive(3) == Outcome::kFirst);
  CHECK(r.duplicates() == 0);
  CHECK(r.reordered() == 0);
  CHECK(r.OnLive(2) == Outcome::kDuplicate);
  CHECK(r.OnLive(3) == Outcome::kDuplicate);
  CHECK(r.duplicates() == 2);
  CHECK(r.contiguous() == 3);
  CHECK(r.distinct() == 3);
}

TEST_CASE("receipts: the same entry live and by sync is expected overlap", "[loadgen][receipts]") {
  ChatReceipts r(0);
  CHECK(r.OnLive(2) == Outcome::kFirst);
  r.BeginSync(0);
  CHECK(r.OnSynced(1) == Outcome::kFirst);
  CHECK(r.OnSynced(2) == Outcome::kOverlap);
  CHECK(r.OnSynced(3) == Outcome::kFirst);
  CHECK(r.OnLive(3) == Outcome::kOverlap);
  CHECK(r.duplicates() == 0);
  CHECK(r.reordered() == 0);
  // But a second live copy is a duplicate even after a sync.
  CHECK(r.OnLive(3) == Outcome::kDuplicate);
  CHECK(r.duplicates() == 1);
}

TEST_CASE("receipts: a sync that repeats or goes backwards", "[loadgen][receipts]") {
  ChatReceipts r(0);
  r.BeginSync(0);
  CHECK(r.OnSynced(1) == Outcome::kFirst);
  CHECK(r.OnSynced(3) == Outcome::kFirst);
  CHECK(r.OnSynced(3) == Outcome::kDuplicate);
  CHECK(r.OnSynced(2) == Outcome::kFirst);  // Arrived, but out of order.
  CHECK(r.duplicates() == 1);
  CHECK(r.reordered() == 1);
  // A new sync from an earlier cursor returns what it returned before: overlap, not duplicates.
  r.BeginSync(1);
  CHECK(r.OnSynced(2) == Outcome::kOverlap);
  CHECK(r.OnSynced(3) == Outcome::kOverlap);
  CHECK(r.duplicates() == 1);
}

TEST_CASE("receipts: seqs before the run or absurdly far are ignored", "[loadgen][receipts]") {
  ChatReceipts r(100);
  CHECK(r.OnLive(100) == Outcome::kIgnored);
  CHECK(r.OnLive(7) == Outcome::kIgnored);
  CHECK(r.OnLive(100 + ChatReceipts::kMaxSpan + 1) == Outcome::kIgnored);
  CHECK(r.distinct() == 0);
}

TEST_CASE("layout: groups spread over clients", "[loadgen][layout]") {
  // 1000 clients, 10 groups of 100: everyone in exactly one group.
  Layout l = MakeLayout(1000, 100, 10);
  for (const auto& g : l.groups_of) CHECK(g.size() == 1);
  for (const auto& m : l.members) {
    CHECK(m.size() == 100);
    CHECK(std::set<std::uint32_t>(m.begin(), m.end()).size() == 100);
  }
  // More memberships than clients: they wrap around evenly, members of a group stay distinct.
  l = MakeLayout(10, 4, 5);
  for (const auto& g : l.groups_of) CHECK(g.size() == 2);
  for (const auto& m : l.members) CHECK(std::set<std::uint32_t>(m.begin(), m.end()).size() == 4);
}

TEST_CASE("layout: the offline share is spread and exact", "[loadgen][layout]") {
  int offline = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) offline += IsOffline(i, 0.1) ? 1 : 0;
  CHECK(offline == 100);
  // Spread: one in every ten.
  for (std::uint32_t i = 0; i < 1000; i += 10) {
    int in_block = 0;
    for (std::uint32_t j = i; j < i + 10; ++j) in_block += IsOffline(j, 0.1) ? 1 : 0;
    CHECK(in_block == 1);
  }
}

}  // namespace
}  // namespace chat::loadgen
