// The PushSender contract (push.h), on every sender (backends.h: log://, LIBCHAT_TEST_PUSH_URI
// pointed at a gateway that accepts everything): each Send calls its `done` exactly once, also when
// many are in flight from many threads.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "backends.h"

using namespace chat;
using namespace std::chrono_literals;

namespace {

PushNotification Note(int i) {
  PushNotification n;
  n.user = 1;
  n.device = static_cast<DeviceId>(i + 1);
  n.provider = "webhook";
  n.token = "token-" + std::to_string(i);
  n.chat = 9;
  n.chat_name = "group";
  n.last_seq = static_cast<Seq>(i + 1);
  return n;
}

// Counts `done` calls per notification.
struct Completions {
  explicit Completions(std::size_t n) : calls(n, 0) {}
  PushSender::Done For(std::size_t i) {
    return [this, i](const Status& s) {
      std::lock_guard lock(mu);
      ++calls[i];
      if (!s.ok()) failures.push_back(s.ToString());
      cv.notify_all();
    };
  }
  bool WaitAll() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] {
      for (int c : calls) {
        if (c == 0) return false;
      }
      return true;
    });
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> calls;
  std::vector<std::string> failures;
};

}  // namespace

TEST_CASE("push sender: done is called exactly once per notification", "[contract][push]") {
  const std::string uri = test::ExpandUri(test::PushUri(), "");
  auto sender = test::RequireOpen(test::TestRegistry().MakePush(uri), uri);
  Completions c(20);
  for (int i = 0; i < 20; ++i) sender->Send(Note(i), c.For(static_cast<std::size_t>(i)));
  REQUIRE(c.WaitAll());
  std::this_thread::sleep_for(50ms);  // A second call would come late, if at all.
  std::lock_guard lock(c.mu);
  for (int n : c.calls) CHECK(n == 1);
  CHECK(c.failures.empty());
}

TEST_CASE("push sender: sends from many threads all complete", "[contract][push]") {
  const std::string uri = test::ExpandUri(test::PushUri(), "");
  auto sender = test::RequireOpen(test::TestRegistry().MakePush(uri), uri);
  Completions c(40);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t * 10; i < t * 10 + 10; ++i) sender->Send(Note(i), c.For(static_cast<std::size_t>(i)));
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(c.WaitAll());
  std::lock_guard lock(c.mu);
  for (int n : c.calls) CHECK(n == 1);
}
