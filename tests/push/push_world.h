// A small chat world for push tests: alice writes in the group "Family" to bob, whose phone has a push
// token; a live-session set stands in for chatd's router (the dispatcher only asks it yes or no).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "libchat/push_dispatcher.h"
#include "test_support.h"

namespace chat::test {

// Which devices have a live session: what chatd's router answers in production. Thread-safe.
class LiveSet {
 public:
  void Set(UserId u, DeviceId d, bool live) {
    std::lock_guard lock(mu_);
    if (live) live_.insert({u, d});
    else live_.erase({u, d});
  }
  bool operator()(UserId u, DeviceId d) const {
    std::unique_lock lock(mu_);
    if (hold_next_) {
      // Parks the asking thread (a dispatcher worker mid fan-out) until Release().
      hold_next_ = false;
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !held_; });
    }
    return live_.count({u, d}) > 0;
  }

  // The next query blocks until Release(); WaitHeld() returns once a thread is blocked in it.
  void HoldNextQuery() {
    std::lock_guard lock(mu_);
    hold_next_ = true;
  }
  void WaitHeld() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool hold_next_ = false;
  mutable bool held_ = false;
  std::set<std::pair<UserId, DeviceId>> live_;
};

struct PushWorld {
  explicit PushWorld(const std::string& backend = "mem") : fx(backend) {
    alice = fx.NewUser("alice");
    bob = fx.NewUser("bob");
    auto c = fx.service->CreateGroup(alice.user.id, "Family", {bob.user.id});
    REQUIRE_OK(c);
    chat = c->id;
    REQUIRE_OK(fx.service->SetPushToken(bob.user.id, bob.device.id, "webhook", "tok-bob-phone"));
  }
  ~PushWorld() { dispatcher.reset(); }

  // Options with the fixture's ManualClock, no start-up recovery and a fixed jitter seed.
  PushOptions Options() {
    PushOptions o;
    o.clock = &fx.clock;
    o.recover_on_start = false;
    o.jitter_seed = 42;
    return o;
  }

  void Start(PushOptions options, PushSenders senders) {
    dispatcher.reset();
    auto d = PushDispatcher::Create(options, fx.store, fx.bus, std::move(senders),
                                    [this](UserId u, DeviceId dev) { return live(u, dev); });
    REQUIRE_OK(d);
    dispatcher = std::move(*d);
  }

  Message Send(const std::string& text, const Session& from) {
    SendRequest r = test::TextMessage(from, chat, "c" + std::to_string(++next_client_id), text);
    auto m = fx.service->Send(r);
    REQUIRE_OK(m);
    return m->message;
  }
  Message Send(const std::string& text) { return Send(text, alice); }

  // Moves time past the coalescing window and runs what is due.
  void PassWindow(TimeMs window = 2000) {
    fx.clock.Advance(window);
    dispatcher->RunDue();
  }

  Device GetDevice(DeviceId id) {
    auto d = fx.store->GetDevice(id);
    REQUIRE_OK(d);
    return *d;
  }

  Fixture fx;
  Session alice;
  Session bob;
  ChatId chat = 0;
  LiveSet live;
  int next_client_id = 0;
  std::unique_ptr<PushDispatcher> dispatcher;
};

}  // namespace chat::test
