// ChatSequencer (libchat/server/chat_sequencer.h): each chat's entries leave in seq order, once;
// a gap is held for a while, then repaired from what the store returns; a possible loss checks
// every chat. No bus, no store: the events and the "store's" answers are made here.
#include <chrono>

#include "chat_sequencer.h"
#include "test_support.h"

using namespace chat;
using chat::detail::ChatSequencer;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const Event> Entry(ChatId chat, Seq seq) {
  auto m = std::make_shared<Message>();
  m->chat = chat;
  m->seq = seq;
  auto e = std::make_shared<Event>();
  e->type = EventType::kMessage;
  e->chat = chat;
  e->message = m;
  return e;
}

std::vector<Seq> Seqs(const std::vector<ChatSequencer::EventPtr>& events) {
  std::vector<Seq> out;
  for (const auto& e : events) out.push_back(e->message->seq);
  return out;
}

}  // namespace

TEST_CASE("chat sequencer: entries in order pass at once, duplicates are dropped", "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  for (Seq s : {5, 6, 7, 6, 7, 8}) seq.Arrive(Entry(1, s), t, &out);
  CHECK(Seqs(out) == std::vector<Seq>{5, 6, 7, 8});
  CHECK(seq.duplicates() == 2);
  CHECK(seq.NextDue() == ChatSequencer::TimePoint::max());
  CHECK(seq.Due(t + 1h).empty());
}

TEST_CASE("chat sequencer: an entry overtaken by a later one is put back in order when it arrives within the hold",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 1), t, &out);
  seq.Arrive(Entry(1, 3), t, &out);  // 2 is late (another node published it).
  seq.Arrive(Entry(2, 1), t, &out);  // Other chats are not held up.
  CHECK(Seqs(out) == std::vector<Seq>{1, 1});
  CHECK(seq.NextDue() == t + 200ms);
  seq.Arrive(Entry(1, 2), t + 50ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{1, 1, 2, 3});
  CHECK(seq.Due(t + 1s).empty());
}

TEST_CASE("chat sequencer: a gap still open after the hold is repaired from the store before later entries leave",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 10), t, &out);
  seq.Arrive(Entry(1, 14), t, &out);
  seq.Arrive(Entry(1, 15), t, &out);
  CHECK(seq.Due(t + 100ms).empty());
  auto repairs = seq.Due(t + 200ms);
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].chat == 1);
  CHECK(repairs[0].after == 10);
  CHECK(repairs[0].before == 14);
  CHECK(seq.Due(t + 1s).empty());  // Asked once until it is answered.
  // Late copies arriving during the repair change nothing.
  seq.Arrive(Entry(1, 12), t + 300ms, &out);
  seq.Repaired(repairs[0], {Entry(1, 11), Entry(1, 12), Entry(1, 13)}, true, false, t + 400ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{10, 11, 12, 13, 14, 15});
  CHECK(seq.NextDue() == ChatSequencer::TimePoint::max());
}

TEST_CASE("chat sequencer: a failed repair is tried again, a gap the store cannot fill is skipped, not waited for",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 1), t, &out);
  seq.Arrive(Entry(1, 4), t, &out);
  auto first = seq.Due(t + 200ms);
  REQUIRE(first.size() == 1);
  seq.Repaired(first[0], {}, false, false, t + 250ms, &out);  // The store did not answer.
  CHECK(seq.NextDue() == t + 450ms);
  auto second = seq.Due(t + 450ms);
  REQUIRE(second.size() == 1);
  seq.Repaired(second[0], {Entry(1, 2)}, true, false, t + 500ms, &out);  // 3 is not in the store.
  CHECK(Seqs(out) == std::vector<Seq>{1, 2, 4});
  CHECK(seq.skipped() == 1);
}

TEST_CASE("chat sequencer: after a possible loss every chat is read up to the store's head", "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 3), t, &out);
  seq.Arrive(Entry(2, 7), t, &out);
  auto repairs = seq.CheckAll();
  REQUIRE(repairs.size() == 2);
  for (const auto& r : repairs) CHECK(r.before == 0);
  out.clear();
  // Chat 1 lost 4 and 5 (the last entries: nothing later would have shown the gap); the store's
  // page was full, so it is read again at once.
  auto of = [&](ChatId chat) {
    for (const auto& r : repairs) {
      if (r.chat == chat) return r;
    }
    FAIL("no repair of chat " << chat);
    return ChatSequencer::Repair{};
  };
  seq.Repaired(of(1), {Entry(1, 4), Entry(1, 5)}, true, true, t, &out);
  seq.Repaired(of(2), {}, true, false, t, &out);
  CHECK(Seqs(out) == std::vector<Seq>{4, 5});
  auto again = seq.Due(t);
  REQUIRE(again.size() == 1);
  CHECK(again[0].chat == 1);
  CHECK(again[0].after == 5);
  CHECK(again[0].before == 0);
  seq.Repaired(again[0], {}, true, false, t, &out);
  CHECK(seq.NextDue() == ChatSequencer::TimePoint::max());
}

TEST_CASE("chat sequencer: a chat just watched is read from the entry that added its member, later ones wait for it",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(3, 10), t, &out);  // The entry adding the member here: the baseline.
  auto check = seq.Check(3, 10);
  REQUIRE(check.size() == 1);
  CHECK(check[0].after == 10);
  CHECK(check[0].before == 0);
  seq.Arrive(Entry(3, 13), t, &out);  // 11 and 12 were published before the interest reached every server.
  seq.Repaired(check[0], {Entry(3, 11), Entry(3, 12), Entry(3, 13)}, true, false, t, &out);
  CHECK(Seqs(out) == std::vector<Seq>{10, 11, 12, 13});
  CHECK(seq.duplicates() == 1);
  // The check a moment later reads after what was delivered.
  auto again = seq.Check(3, 0);
  REQUIRE(again.size() == 1);
  CHECK(again[0].after == 13);
}

// Found in the cluster test: the kChatUpdate removing a user reaches that user's node twice (by the
// chat's subject and by the user's); the node stops watching the chat between the two copies, and the
// second one used to start the chat afresh and reach the removed user's devices a second time.
TEST_CASE("chat sequencer: a chat forgotten and seen again drops the entries it had delivered, and starts afresh after them",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  for (Seq s : {7, 8}) seq.Arrive(Entry(1, s), t, &out);
  seq.Forget(1);
  CHECK_FALSE(seq.Tracks(1));
  seq.Arrive(Entry(1, 8), t, &out);  // The second copy of the last entry.
  CHECK(Seqs(out) == std::vector<Seq>{7, 8});
  CHECK(seq.duplicates() == 1);
  CHECK_FALSE(seq.Tracks(1));
  // Added again later: that entry is the new baseline.
  seq.Arrive(Entry(1, 12), t, &out);
  seq.Arrive(Entry(1, 13), t, &out);
  CHECK(Seqs(out) == std::vector<Seq>{7, 8, 12, 13});
  // A check of a chat watched again never reads back before what was delivered.
  seq.Forget(1);
  auto repairs = seq.Check(1, 10);
  REQUIRE(repairs.size() == 1);
  CHECK(repairs[0].after == 13);
}

TEST_CASE("chat sequencer: what it remembers of forgotten chats is bounded", "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  for (ChatId c = 1; c <= ChatSequencer::kForgottenKept + 10; ++c) {
    seq.Arrive(Entry(c, 5), t, &out);
    seq.Forget(c);
  }
  CHECK(seq.forgotten() == ChatSequencer::kForgottenKept);
  // The oldest went first: chat 1 starts afresh, the last one still drops its delivered entry.
  seq.Arrive(Entry(1, 5), t, &out);
  seq.Arrive(Entry(ChatSequencer::kForgottenKept + 10, 5), t, &out);
  CHECK(out.size() == ChatSequencer::kForgottenKept + 10 + 1);
}

// Found reading the repair path: a gap before a held entry longer than one read (256 entries) said
// "no more" after the first page, and the sequencer skipped the rest of the gap as missing from the
// store.
TEST_CASE("chat sequencer: a repair's read limit and whether the range goes on past a full read", "[unit][router]") {
  using Repair = ChatSequencer::Repair;
  CHECK(Repair{1, 10, 0}.Limit(256) == 256);
  CHECK(Repair{1, 10, 0}.More(256, 256));
  CHECK_FALSE(Repair{1, 10, 0}.More(256, 255));
  CHECK(Repair{1, 10, 15}.Limit(256) == 4);
  CHECK_FALSE(Repair{1, 10, 15}.More(4, 4));
  // 1000 entries missing before the held one: a full page leaves more.
  CHECK(Repair{1, 10, 1011}.Limit(256) == 256);
  CHECK(Repair{1, 10, 1011}.More(256, 256));
  CHECK_FALSE(Repair{1, 10, 1011}.More(256, 200));
  // Exactly one page missing: read whole.
  CHECK_FALSE(Repair{1, 10, 267}.More(256, 256));
  CHECK(Repair{1, 10, 11}.Limit(256) == 0);
  CHECK_FALSE(Repair{1, 10, 11}.More(0, 0));
}

TEST_CASE("chat sequencer: a gap of several pages before a held entry is repaired page by page, none skipped",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 1), t, &out);
  seq.Arrive(Entry(1, 600), t, &out);  // 2..599 missing.
  std::size_t reads = 0;
  for (auto now = t + 1s; reads < 10; now += 1s) {
    auto due = seq.Due(now);
    if (due.empty()) break;
    REQUIRE(due.size() == 1);
    const auto& r = due[0];
    const std::size_t limit = r.Limit(256);
    std::vector<ChatSequencer::EventPtr> page;
    for (Seq s = r.after + 1; page.size() < limit && (r.before == 0 || s < r.before); ++s) page.push_back(Entry(1, s));
    seq.Repaired(r, page, true, r.More(limit, page.size()), now, &out);
    ++reads;
  }
  CHECK(reads == 3);
  CHECK(seq.skipped() == 0);
  REQUIRE(out.size() == 600);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i]->message->seq == i + 1);
}

// Found in a ci-check run (3 deliveries lost, chat_bus_seqs_skipped_total 3): a repair of the gap
// before one held entry returned; meanwhile a later entry had been held after a second gap, committed
// after the read. The sequencer took the read as proof that the second gap was not in the store.
TEST_CASE("chat sequencer: a gap opened while a repair ran is repaired in turn, not skipped", "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 60), t, &out);
  seq.Arrive(Entry(1, 62), t, &out);  // 61 missing.
  auto first = seq.Due(t + 200ms);
  REQUIRE(first.size() == 1);
  CHECK(first[0].before == 62);
  seq.Arrive(Entry(1, 64), t + 250ms, &out);  // 63 missing too, committed after the read below.
  seq.Repaired(first[0], {Entry(1, 61)}, true, false, t + 300ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{60, 61, 62});
  CHECK(seq.skipped() == 0);
  // 63 gets the hold, then its own repair.
  CHECK(seq.Due(t + 400ms).empty());
  auto second = seq.Due(t + 500ms);
  REQUIRE(second.size() == 1);
  CHECK(second[0].after == 62);
  CHECK(second[0].before == 64);
  seq.Repaired(second[0], {Entry(1, 63)}, true, false, t + 550ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{60, 61, 62, 63, 64});
  CHECK(seq.skipped() == 0);
}

TEST_CASE("chat sequencer: a check up to the head that returns before a held entry proves nothing about its gap",
          "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 10), t, &out);
  auto check = seq.CheckAll();  // After a possible loss: read up to the head.
  REQUIRE(check.size() == 1);
  seq.Arrive(Entry(1, 13), t + 10ms, &out);  // Held: 11 and 12 were committed after the read.
  seq.Repaired(check[0], {}, true, false, t + 20ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{10});
  CHECK(seq.skipped() == 0);
  auto next = seq.Due(t + 220ms);
  REQUIRE(next.size() == 1);
  seq.Repaired(next[0], {Entry(1, 11), Entry(1, 12)}, true, false, t + 230ms, &out);
  CHECK(Seqs(out) == std::vector<Seq>{10, 11, 12, 13});
}

TEST_CASE("chat sequencer: a failed check with no gap known is tried again later", "[unit][router]") {
  ChatSequencer seq(200ms);
  const auto t = std::chrono::steady_clock::now();
  std::vector<ChatSequencer::EventPtr> out;
  seq.Arrive(Entry(1, 10), t, &out);
  auto check = seq.CheckAll();
  REQUIRE(check.size() == 1);
  seq.Repaired(check[0], {}, false, false, t, &out);  // The store did not answer.
  CHECK(seq.NextDue() == t + 1s);
  auto again = seq.Due(t + 1s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].after == 10);
  CHECK(again[0].before == 0);
}
