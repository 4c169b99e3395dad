// The router (libchat/server/router.h) against the real core: events reach fake sessions in the
// codec's wire form, encoded once on the router's fan-out thread — never on the store's committer,
// which publishes them — and in the order they were published.
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "committer_watch.h"
#include "event_json.h"
#include "protocol.h"
#include "router.h"
#include "test_support.h"

namespace chat::test {
namespace {

using detail::OutFrame;
using detail::Router;

// A session that keeps what it is sent and on which thread.
class FakePeer final : public detail::Peer {
 public:
  void Deliver(OutFrame frame) override {
    std::lock_guard lock(mu_);
    frames_.push_back(*frame.text);
    threads_.push_back(std::this_thread::get_id());
    cv_.notify_all();
  }
  void Revoke(const std::string&) override {}

  // Waits (up to 10 s) for `n` frames; returns those received.
  std::vector<std::string> WaitFrames(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return frames_.size() >= n; });
    return frames_;
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> frames_;
  std::vector<std::thread::id> threads_;
};

std::string EventName(const std::string& frame) { return nlohmann::json::parse(frame).at("event"); }

}  // namespace

TEST_CASE("the router encodes and delivers each message off the committer thread, in commit order",
          "[unit][router]") {
  Fixture f("mem");
  CommitterWatch* watch = WatchCommitter(f);
  detail::Metrics metrics;
  detail::Logger log(LogLevel::kError, nullptr);
  Router router(metrics, log, [] {});
  router.Attach(*f.bus);
  Session alice = f.NewUser("alice");
  Session bob = f.NewUser("bob");
  auto peer = std::make_shared<FakePeer>();
  router.Add(bob.user.id, bob.device.id, peer);
  auto group = f.service->CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(group);
  watch->Reset();

  constexpr int kMessages = 50;
  for (int i = 0; i < kMessages; ++i) REQUIRE_OK(f.service->Send(TextMessage(alice, group->id, "c-" + std::to_string(i))));
  // The group's creation first (seq 1), then the messages.
  const std::vector<std::string> frames = peer->WaitFrames(1 + kMessages);
  REQUIRE(frames.size() == 1 + kMessages);
  CHECK(EventName(frames[0]) == "chatUpdate");
  const std::thread::id committer = watch->writer();
  REQUIRE(committer != std::thread::id());

  // Byte for byte the protocol's newMessage, in seq order.
  auto entries = f.service->Sync(bob.user.id, bob.device.id, group->id, Seq{1}, kMessages);
  REQUIRE_OK(entries);
  REQUIRE(entries->messages.size() == kMessages);
  for (int i = 0; i < kMessages; ++i) {
    INFO("frame " << i);
    CHECK(frames[1 + i] ==
          *detail::EncodeEvent("newMessage", detail::Json{{"message", detail::ToJson(entries->messages[i])}}));
  }
  for (const std::thread::id& t : peer->threads()) CHECK(t != committer);
  CHECK(watch->reads_on_writer() == 0);
  router.Detach();
}

TEST_CASE("the router hands a device's new session on a node where it had one (kDeviceOnline) to its node, "
          "never to a session",
          "[unit][router]") {
  Fixture f("mem");
  detail::Metrics metrics;
  detail::Logger log(LogLevel::kError, nullptr);
  Router router(metrics, log, [] {});
  std::mutex mu;
  std::vector<std::pair<UserId, DeviceId>> told;
  Router::BetweenNodes between;
  between.device_online = [&](UserId user, DeviceId device) {
    std::lock_guard lock(mu);
    told.emplace_back(user, device);
  };
  router.EnableBetweenNodes(std::move(between));
  router.Attach(*f.bus);
  auto peer = std::make_shared<FakePeer>();
  auto second = std::make_shared<FakePeer>();
  bool had = true;
  router.Add(2, 20, peer, &had);
  CHECK_FALSE(had);
  router.Add(2, 21, std::make_shared<FakePeer>(), &had);  // Another device of the user.
  CHECK_FALSE(had);
  router.Add(2, 20, second, &had);
  CHECK(had);

  auto online = std::make_shared<Event>();
  online->type = EventType::kDeviceOnline;
  online->recipients = {2};
  online->user = 2;
  online->device = 20;
  f.bus->Publish(online);
  auto typing = std::make_shared<Event>();  // Delivered after it: the sessions saw nothing before.
  typing->type = EventType::kTyping;
  typing->chat = 7;
  typing->recipients = {2};
  typing->user = 1;
  typing->typing = true;
  f.bus->Publish(typing);
  const std::vector<std::string> frames = peer->WaitFrames(1);
  REQUIRE(frames.size() == 1);
  CHECK(EventName(frames[0]) == "typing");
  router.Detach();
  std::lock_guard lock(mu);
  CHECK(told == std::vector<std::pair<UserId, DeviceId>>{{2, 20}});
}

TEST_CASE("the router sends a receipt after the message it counts, and typed events in the codec's form",
          "[unit][router]") {
  Fixture f("mem");
  detail::Metrics metrics;
  detail::Logger log(LogLevel::kError, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  bool flush_scheduled = false;
  Router router(metrics, log, [&] {
    std::lock_guard lock(mu);
    flush_scheduled = true;
    cv.notify_all();
  });
  router.Attach(*f.bus);
  auto peer = std::make_shared<FakePeer>();
  router.Add(2, 20, peer);

  auto entry = std::make_shared<Message>();
  entry->chat = 7;
  entry->seq = 3;
  entry->id = "0123456789abcdef0123456789abcdef";
  entry->sender = 1;
  entry->sender_device = 10;
  entry->body = "hi";
  entry->timestamp = 1700000000000;
  auto message = std::make_shared<Event>();
  message->type = EventType::kMessage;
  message->chat = 7;
  message->recipients = {1, 2};
  message->message = entry;
  auto receipt = std::make_shared<Event>();
  receipt->type = EventType::kReceipt;
  receipt->chat = 7;
  receipt->recipients = {1, 2};
  receipt->user = 2;
  receipt->delivered = 3;
  receipt->read = 3;
  auto typing = std::make_shared<Event>();
  typing->type = EventType::kTyping;
  typing->chat = 7;
  typing->recipients = {2};
  typing->user = 1;
  typing->typing = true;
  f.bus->Publish(message);
  f.bus->Publish(receipt);
  f.bus->Publish(typing);
  {
    // The receipt joined its window on the fan-out thread, after the message went out.
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return flush_scheduled; }));
  }
  peer->WaitFrames(2);
  router.FlushReceipts();
  const std::vector<std::string> frames = peer->WaitFrames(3);
  REQUIRE(frames.size() == 3);
  CHECK(EventName(frames[0]) == "newMessage");
  CHECK(EventName(frames[1]) == "typing");
  CHECK(frames[1] == R"({"data":{"chatId":7,"typing":true,"userId":1},"event":"typing"})");
  CHECK(frames[2] ==
        R"({"data":{"chatId":7,"receipts":[{"delivered":3,"read":3,"userId":2}]},"event":"receipt"})");
  router.Detach();
}

TEST_CASE("a command's answer waits for the events published before it", "[unit][router]") {
  Fixture f("mem");
  detail::Metrics metrics;
  detail::Logger log(LogLevel::kError, nullptr);
  Router router(metrics, log, [] {});
  router.Attach(*f.bus);
  auto peer = std::make_shared<FakePeer>();
  router.Add(2, 20, peer);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::size_t> seen_before;  // Frames the peer had when each answer ran.
  for (int i = 0; i < 100; ++i) {
    auto typing = std::make_shared<Event>();
    typing->type = EventType::kTyping;
    typing->chat = 7;
    typing->recipients = {2};
    typing->user = 1;
    f.bus->Publish(typing);
    router.AfterQueued([&] {
      const std::size_t frames = peer->WaitFrames(0).size();
      std::lock_guard lock(mu);
      seen_before.push_back(frames);
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen_before.size() == 100; }));
  for (std::size_t i = 0; i < seen_before.size(); ++i) CHECK(seen_before[i] >= i + 1);
  lock.unlock();
  router.Detach();
}

}  // namespace chat::test
