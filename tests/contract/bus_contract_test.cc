// The Bus contract (bus.h), on every bus (backends.h: inproc://, LIBCHAT_TEST_BUS_URI): every
// subscriber gets every event, in publish order per publishing thread; after its Subscription is
// destroyed a handler is no longer called.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "backends.h"

using namespace chat;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Bus> MakeBus() {
  const std::string uri = test::ExpandUri(test::BusUri(), "");
  return test::RequireOpen(test::TestRegistry().MakeBus(uri), uri);
}

std::shared_ptr<const Event> EventFor(ChatId chat, UserId user) {
  auto e = std::make_shared<Event>();
  e->type = EventType::kTyping;
  e->chat = chat;
  e->user = user;
  e->recipients = {user};
  return e;
}

// Records the events a subscriber sees (the handler may run on any thread).
struct Recorder {
  void Add(const Event& e) {
    std::lock_guard lock(mu);
    seen.emplace_back(e.chat, e.user);
    cv.notify_all();
  }
  // Waits until `n` events were seen (a networked bus delivers asynchronously).
  bool WaitFor(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return seen.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<ChatId, UserId>> seen;
};

}  // namespace

TEST_CASE("bus: every subscriber gets every event in publish order", "[contract][bus]") {
  auto bus = MakeBus();
  Recorder a, b;
  Subscription sa = bus->Subscribe([&](const std::shared_ptr<const Event>& e) { a.Add(*e); });
  Subscription sb = bus->Subscribe([&](const std::shared_ptr<const Event>& e) { b.Add(*e); });
  for (UserId u = 1; u <= 50; ++u) bus->Publish(EventFor(7, u));
  REQUIRE(a.WaitFor(50));
  REQUIRE(b.WaitFor(50));
  for (UserId u = 1; u <= 50; ++u) {
    CHECK(a.seen[u - 1] == std::pair<ChatId, UserId>{7, u});
    CHECK(b.seen[u - 1] == std::pair<ChatId, UserId>{7, u});
  }
}

TEST_CASE("bus: events from each publishing thread keep their order", "[contract][bus]") {
  auto bus = MakeBus();
  Recorder r;
  Subscription s = bus->Subscribe([&](const std::shared_ptr<const Event>& e) { r.Add(*e); });
  std::vector<std::thread> publishers;
  for (ChatId chat = 1; chat <= 4; ++chat) {
    publishers.emplace_back([&bus, chat] {
      for (UserId u = 1; u <= 100; ++u) bus->Publish(EventFor(chat, u));
    });
  }
  for (auto& t : publishers) t.join();
  REQUIRE(r.WaitFor(400));
  std::map<ChatId, UserId> last;
  for (auto [chat, user] : r.seen) {
    CHECK(user == last[chat] + 1);
    last[chat] = user;
  }
}

TEST_CASE("bus: a destroyed subscription is called no more", "[contract][bus]") {
  auto bus = MakeBus();
  Recorder kept, dropped;
  Subscription sk = bus->Subscribe([&](const std::shared_ptr<const Event>& e) { kept.Add(*e); });
  {
    Subscription sd = bus->Subscribe([&](const std::shared_ptr<const Event>& e) { dropped.Add(*e); });
    bus->Publish(EventFor(1, 1));
    REQUIRE(dropped.WaitFor(1));
  }
  bus->Publish(EventFor(1, 2));
  REQUIRE(kept.WaitFor(2));
  CHECK(dropped.size() == 1);
}
