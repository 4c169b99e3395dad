// RecentEntries (plugins/nats_bus/recent_entries.h): what a node publishes again after a reconnect.
// No NATS here: the events and the clock are made by the test.
#include <algorithm>

#include "recent_entries.h"
#include "test_support.h"

using namespace chat;
using chat::detail::RecentEntries;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const Event> Entry(EventType type, ChatId chat, Seq seq) {
  auto m = std::make_shared<Message>();
  m->chat = chat;
  m->seq = seq;
  auto e = std::make_shared<Event>();
  e->type = type;
  e->chat = chat;
  e->message = m;
  return e;
}

std::vector<std::pair<ChatId, Seq>> Listed(const std::vector<RecentEntries::EventPtr>& events) {
  std::vector<std::pair<ChatId, Seq>> out;
  for (const auto& e : events) out.emplace_back(e->chat, e->message->seq);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("recent entries: per chat the latest entry and the latest membership change, in seq order, other events not at all",
          "[nats][unit]") {
  RecentEntries recent(10s, 100);
  const auto t = RecentEntries::Clock::now();
  recent.Published(Entry(EventType::kMessage, 1, 4), t);
  recent.Published(Entry(EventType::kChatUpdate, 1, 5), t);
  recent.Published(Entry(EventType::kMessage, 1, 7), t);
  recent.Published(Entry(EventType::kMessage, 1, 6), t);  // From another thread, after 7: 7 stays the latest.
  recent.Published(Entry(EventType::kChatUpdate, 2, 3), t);
  auto typing = std::make_shared<Event>();
  typing->type = EventType::kTyping;
  typing->chat = 3;
  recent.Published(typing, t);
  CHECK(recent.chats() == 2);
  const auto again = recent.Reconnected(t + 1s);
  REQUIRE(again.size() == 3);
  // Chat 1: its membership change, then its latest entry.
  CHECK(Listed(again) == std::vector<std::pair<ChatId, Seq>>{{1, 5}, {1, 7}, {2, 3}});
  for (std::size_t i = 1; i < again.size(); ++i) {
    if (again[i]->chat == again[i - 1]->chat) CHECK(again[i - 1]->message->seq < again[i]->message->seq);
  }
}

TEST_CASE("recent entries: let go after the keep time while connected, kept while disconnected, at most max chats",
          "[nats][unit]") {
  RecentEntries recent(10s, 3);
  const auto t = RecentEntries::Clock::now();
  recent.Published(Entry(EventType::kMessage, 1, 1), t);
  recent.Published(Entry(EventType::kMessage, 2, 1), t + 5s);
  recent.Published(Entry(EventType::kMessage, 1, 2), t + 8s);  // Chat 1 is recent again.
  recent.Published(Entry(EventType::kMessage, 3, 1), t + 12s);
  CHECK(Listed(recent.Reconnected(t + 12s)) == std::vector<std::pair<ChatId, Seq>>{{1, 2}, {2, 1}, {3, 1}});
  recent.Published(Entry(EventType::kMessage, 3, 2), t + 16s);  // Chat 2 (t + 5 s) is too old now.
  CHECK(recent.chats() == 2);

  // Disconnected: nothing goes for its age, however long the outage.
  recent.Disconnected();
  recent.Published(Entry(EventType::kMessage, 3, 3), t + 60s);
  CHECK(recent.chats() == 2);
  CHECK(Listed(recent.Reconnected(t + 61s)) == std::vector<std::pair<ChatId, Seq>>{{1, 2}, {3, 3}});
  // Published again once; then chat 1 (t + 8 s) goes.
  CHECK(recent.chats() == 1);

  // Bounded: the oldest chat goes first.
  for (ChatId c = 10; c < 14; ++c) recent.Published(Entry(EventType::kMessage, c, 1), t + 62s);
  CHECK(recent.chats() == 3);
  CHECK(Listed(recent.Reconnected(t + 62s)) == std::vector<std::pair<ChatId, Seq>>{{11, 1}, {12, 1}, {13, 1}});
}
