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
  seq.Repaired(1, {Entry(1, 11), Entry(1, 12), Entry(1, 13)}, true, false, t + 400ms, &out);
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
  REQUIRE(seq.Due(t + 200ms).size() == 1);
  seq.Repaired(1, {}, false, false, t + 250ms, &out);  // The store did not answer.
  CHECK(seq.NextDue() == t + 450ms);
  REQUIRE(seq.Due(t + 450ms).size() == 1);
  seq.Repaired(1, {Entry(1, 2)}, true, false, t + 500ms, &out);  // 3 is not in the store.
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
  seq.Repaired(1, {Entry(1, 4), Entry(1, 5)}, true, true, t, &out);
  seq.Repaired(2, {}, true, false, t, &out);
  CHECK(Seqs(out) == std::vector<Seq>{4, 5});
  auto again = seq.Due(t);
  REQUIRE(again.size() == 1);
  CHECK(again[0].chat == 1);
  CHECK(again[0].after == 5);
  CHECK(again[0].before == 0);
  seq.Repaired(1, {}, true, false, t, &out);
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
  seq.Repaired(3, {Entry(3, 11), Entry(3, 12), Entry(3, 13)}, true, false, t, &out);
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
