// PushDispatcher against the built-in log:// sender (RecordingPushSender) on the mem:// store, with a
// ManualClock: coalescing, live and acknowledged devices, routing, previews, the bounded queue,
// retries and calls. No sockets; what needs a real HTTP gateway is in push_gateway_test.cc.
#include <chrono>
#include <future>

#include "faulty_push_sender.h"
#include "push_world.h"

namespace chat::test {
namespace {

TEST_CASE("dispatcher: an offline device gets one notification per window, after it", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  Message m1 = w.Send("hello");
  w.dispatcher->RunDue();
  CHECK(log->Sent().empty());  // The window is still open.
  w.fx.clock.Advance(1999);
  w.dispatcher->RunDue();
  CHECK(log->Sent().empty());
  Message m2 = w.Send("again");  // Same window: coalesced.
  w.fx.clock.Advance(1);
  w.dispatcher->RunDue();
  auto sent = log->Sent();
  REQUIRE(sent.size() == 1);
  const PushNotification& n = sent[0];
  CHECK(n.user == w.bob.user.id);
  CHECK(n.device == w.bob.device.id);
  CHECK(n.provider == "webhook");
  CHECK(n.token == "tok-bob-phone");
  CHECK(n.chat == w.chat);
  CHECK(n.chat_name == "Family");
  CHECK(n.count == 2);
  CHECK(n.last_seq == m2.seq);
  CHECK(n.sender == w.alice.user.id);
  CHECK(n.preview.empty());  // Previews are off by default.
  CHECK_FALSE(n.call);
  // The sender's own device (no token) and the sender as a user are not notified.
  auto stats = w.dispatcher->Stats();
  CHECK(stats.events == 2);
  CHECK(stats.scheduled == 1);
  CHECK(stats.coalesced == 1);
  CHECK(stats.sent == 1);
  CHECK(stats.pending == 0);
  CHECK(stats.in_flight == 0);
  // A later message opens a new window.
  (void)m1;
  w.Send("later");
  w.PassWindow();
  REQUIRE(log->Sent().size() == 2);
  CHECK(log->Sent()[1].count == 1);
}

// Regression: RunDue() on the caller's thread took a due notification while a worker was still
// merging an earlier-queued message into it, so the notification went out one message short and
// the straggler got a notification of its own (CI saw "count 49" for a burst of 50).
TEST_CASE("dispatcher: a notification waits for messages a worker is still fanning out", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  PushOptions o = w.Options();
  o.worker_threads = 1;
  w.Start(o, {{"*", log}});
  w.Send("first");
  w.dispatcher->RunDue();  // The worker has scheduled the notification for "first".
  w.live.HoldNextQuery();
  Message second = w.Send("second");  // Queued in the same window; its fan-out parks in the live check.
  w.live.WaitHeld();
  w.fx.clock.Advance(2000);  // The notification is due, "second" not merged yet.
  auto run = std::async(std::launch::async, [&] { w.dispatcher->RunDue(); });
  // Give a wrong RunDue() time to send too early; a right one waits for the fan-out either way.
  CHECK(run.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  w.live.Release();
  run.get();
  auto sent = log->Sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].count == 2);
  CHECK(sent[0].last_seq == second.seq);
}

TEST_CASE("dispatcher: a missed call's log entry is pushed, an answered, rejected or busy one is not",
          "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  int n = 0;
  for (const char* outcome : {"completed", "rejected", "busy", "missed"}) {
    const std::string id = "call-" + std::to_string(++n);
    REQUIRE_OK(w.fx.service->RecordCall(w.chat, w.alice.user.id, w.alice.device.id, id,
                                        std::string(R"({"callId":")") + id + R"(","outcome":")" + outcome + R"("})"));
  }
  w.PassWindow();
  auto sent = log->Sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].count == 1);  // The missed call only.
  CHECK(w.dispatcher->Stats().events == 1);
}

TEST_CASE("dispatcher: a live device is not pushed, at fan-out or when due", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  w.live.Set(w.bob.user.id, w.bob.device.id, true);
  w.Send("while online");
  w.PassWindow();
  CHECK(log->Sent().empty());
  CHECK(w.dispatcher->Stats().scheduled == 0);
  // Offline when the message comes, online again before the window closes: the session delivers it.
  w.live.Set(w.bob.user.id, w.bob.device.id, false);
  w.Send("while offline");
  w.dispatcher->RunDue();
  w.live.Set(w.bob.user.id, w.bob.device.id, true);
  w.PassWindow();
  CHECK(log->Sent().empty());
  CHECK(w.dispatcher->Stats().skipped_live == 1);
}

TEST_CASE("dispatcher: a device that acknowledged before the push was due is not pushed", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  w.Send("one");
  Message m2 = w.Send("two");
  w.dispatcher->RunDue();
  // Partly acknowledged: the count shrinks to what is left.
  REQUIRE_OK(w.fx.service->Ack(w.bob.user.id, w.bob.device.id, w.chat, m2.seq - 1));
  w.PassWindow();
  REQUIRE(log->Sent().size() == 1);
  CHECK(log->Sent()[0].count == 1);
  // Fully acknowledged: nothing.
  Message m3 = w.Send("three");
  w.dispatcher->RunDue();
  REQUIRE_OK(w.fx.service->Ack(w.bob.user.id, w.bob.device.id, w.chat, m3.seq));
  w.PassWindow();
  CHECK(log->Sent().size() == 1);
  CHECK(w.dispatcher->Stats().skipped_acked == 1);
}

TEST_CASE("dispatcher: routes by the device's provider, '*' catching the rest", "[push][unit]") {
  PushWorld w;
  Session tablet = w.fx.NewDevice("bob");
  Session watch = w.fx.NewDevice("bob");
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, tablet.device.id, "fcm", "fcm-token"));
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, watch.device.id, "apns", "abcd"));
  auto fcm = std::make_shared<RecordingPushSender>();
  auto rest = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"fcm", fcm}, {"*", rest}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(fcm->Sent().size() == 1);
  CHECK(fcm->Sent()[0].device == tablet.device.id);
  CHECK(rest->Sent().size() == 2);  // webhook phone and apns watch.

  // Without a catch-all, a provider nobody serves is counted, not sent.
  PushWorld v;
  auto only_fcm = std::make_shared<RecordingPushSender>();
  v.Start(v.Options(), {{"fcm", only_fcm}});
  v.Send("hi");
  v.PassWindow();
  CHECK(only_fcm->Sent().empty());
  CHECK(v.dispatcher->Stats().no_sender == 1);
}

TEST_CASE("dispatcher: previews only when enabled, cut at a character, never of a deleted message",
          "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  PushOptions o = w.Options();
  o.previews = true;
  o.max_preview_bytes = 5;
  w.Start(o, {{"*", log}});
  w.Send("h\xC3\xA9llo world");  // "héllo world": byte 5 is inside no character; byte 6 would be.
  w.PassWindow();
  REQUIRE(log->Sent().size() == 1);
  CHECK(log->Sent()[0].preview == "h\xC3\xA9ll");
  o.max_preview_bytes = 2;  // Would split the two-byte é.
  w.Start(o, {{"*", log}});
  w.Send("h\xC3\xA9");
  w.PassWindow();
  REQUIRE(log->Sent().size() == 2);
  CHECK(log->Sent()[1].preview == "h");
  // Deleted before the notification went out: the notification says nothing of it.
  Message secret = w.Send("oops, wrong chat");
  w.dispatcher->RunDue();
  REQUIRE_OK(w.fx.service->DeleteMessage(w.alice.user.id, w.alice.device.id, w.chat, secret.seq));
  w.PassWindow();
  REQUIRE(log->Sent().size() == 3);
  CHECK(log->Sent()[2].preview.empty());
}

TEST_CASE("dispatcher: the sender's other devices only when asked", "[push][unit]") {
  PushWorld w;
  Session alice_tablet = w.fx.NewDevice("alice");
  REQUIRE_OK(w.fx.service->SetPushToken(w.alice.user.id, alice_tablet.device.id, "webhook", "tok-alice-tablet"));
  REQUIRE_OK(w.fx.service->SetPushToken(w.alice.user.id, w.alice.device.id, "webhook", "tok-alice-phone"));
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(log->Sent().size() == 1);
  CHECK(log->Sent()[0].user == w.bob.user.id);

  PushOptions o = w.Options();
  o.notify_sender_devices = true;
  w.Start(o, {{"*", log}});
  w.Send("hi again");
  w.PassWindow();
  auto sent = log->Sent();
  REQUIRE(sent.size() == 3);
  std::set<DeviceId> devices{sent[1].device, sent[2].device};
  // Never the device the message came from.
  CHECK(devices == std::set<DeviceId>{w.bob.device.id, alice_tablet.device.id});
}

TEST_CASE("dispatcher: a full queue drops events, the inbox still has the messages", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  PushOptions o = w.Options();
  o.worker_threads = 0;  // Nothing drains the queue until RunDue: it fills deterministically.
  o.queue_capacity = 2;
  w.Start(o, {{"*", log}});
  for (int i = 0; i < 5; ++i) w.Send("m" + std::to_string(i));
  auto stats = w.dispatcher->Stats();
  CHECK(stats.queue_depth == 2);
  CHECK(stats.events == 2);
  CHECK(stats.dropped == 3);
  w.PassWindow();
  REQUIRE(log->Sent().size() == 1);
  CHECK(log->Sent()[0].count == 2);  // Only the alerts were lost...
  auto page = w.fx.service->Sync(w.bob.user.id, w.bob.device.id, w.chat, std::nullopt, 100);
  REQUIRE_OK(page);
  CHECK(page->messages.size() == 6);  // ...not the messages (the group's creation entry + 5).
}

TEST_CASE("dispatcher: a long backlog in the queue does not hold back due notifications", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  PushOptions o = w.Options();
  o.worker_threads = 0;
  w.Start(o, {{"*", log}});
  w.Send("first");
  w.dispatcher->RunDue();  // Scheduled, due in one window.
  for (int i = 0; i < 300; ++i) w.Send("backlog " + std::to_string(i));
  w.PassWindow();
  // The due notification went out part way through the backlog (it took what had been handled);
  // the rest of the backlog, queued before that due time too, followed in a second one.
  auto sent = log->Sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].count < 301);
  CHECK(sent[0].count + sent[1].count == 301);
  CHECK(w.dispatcher->Stats().queue_depth == 0);
}

TEST_CASE("dispatcher: retries retryable failures with backoff, then gives up", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  auto faulty = std::make_shared<FaultyPushSender>(log, 1000, Status::Unavailable("gateway down"));
  PushOptions o = w.Options();
  o.max_attempts = 3;
  o.initial_backoff_ms = 1000;
  o.max_backoff_ms = 4000;
  w.Start(o, {{"*", faulty}});
  w.Send("hi");
  w.PassWindow();
  CHECK(faulty->attempts() == 1);
  w.fx.clock.Advance(499);  // Below the smallest jittered first backoff (half of 1000).
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 1);
  w.fx.clock.Advance(501);  // Past the largest.
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 2);
  w.fx.clock.Advance(2000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 3);
  w.fx.clock.Advance(60000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 3);  // max_attempts reached.
  auto stats = w.dispatcher->Stats();
  CHECK(stats.retried == 2);
  CHECK(stats.failed == 1);
  CHECK(stats.sent == 0);
  CHECK(stats.pending == 0);
}

TEST_CASE("dispatcher: a non-retryable failure is not retried", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  auto faulty = std::make_shared<FaultyPushSender>(log, 1, Status::InvalidArgument("bad payload"));
  w.Start(w.Options(), {{"*", faulty}});
  w.Send("hi");
  w.PassWindow();
  w.fx.clock.Advance(600000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 1);
  CHECK(w.dispatcher->Stats().failed == 1);
  CHECK(w.dispatcher->Stats().retried == 0);
}

TEST_CASE("dispatcher: an invalid token is removed, unless the device has a new one", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  auto faulty = std::make_shared<FaultyPushSender>(log, 2, Status::NotFound("unregistered"));
  w.Start(w.Options(), {{"*", faulty}});
  w.Send("hi");
  w.PassWindow();
  CHECK(w.GetDevice(w.bob.device.id).push_token.empty());
  CHECK(w.GetDevice(w.bob.device.id).push_provider.empty());
  CHECK(w.dispatcher->Stats().tokens_removed == 1);
  // No token: nothing scheduled any more.
  w.Send("again");
  w.PassWindow();
  CHECK(faulty->attempts() == 1);

  // The app registered a new token while the send to the old one was in flight.
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, w.bob.device.id, "webhook", "old"));
  class Swapper final : public PushSender {
   public:
    Swapper(PushWorld* w, std::shared_ptr<PushSender> next) : w_(w), next_(std::move(next)) {}
    void Send(const PushNotification& n, Done done) override {
      REQUIRE_OK(w_->fx.service->SetPushToken(w_->bob.user.id, w_->bob.device.id, "webhook", "new"));
      next_->Send(n, std::move(done));
    }
    PushWorld* w_;
    std::shared_ptr<PushSender> next_;
  };
  PushOptions o = w.Options();
  o.worker_threads = 0;  // Swapper asserts: keep every send on the test's thread.
  w.Start(o, {{"*", std::make_shared<Swapper>(&w, faulty)}});
  w.Send("third");
  w.PassWindow();
  CHECK(w.GetDevice(w.bob.device.id).push_token == "new");
  CHECK(w.dispatcher->Stats().tokens_removed == 0);
  CHECK(w.dispatcher->Stats().failed == 1);
}

TEST_CASE("dispatcher: calls push at once, uncoalesced, until the ring timeout", "[push][unit]") {
  PushWorld w;
  Session tablet = w.fx.NewDevice("bob");
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, tablet.device.id, "fcm", "fcm-tablet"));
  auto log = std::make_shared<RecordingPushSender>();
  w.Start(w.Options(), {{"*", log}});
  w.live.Set(w.bob.user.id, tablet.device.id, true);  // Rings through its session instead.

  CallPush call;
  call.callee = w.bob.user.id;
  call.chat = w.chat;
  call.caller = w.alice.user.id;
  call.call_id = "call-1";
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  call.call_id = "call-2";
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  w.dispatcher->RunDue();  // No window to wait for.
  auto sent = log->Sent();
  REQUIRE(sent.size() == 2);
  for (const auto& n : sent) {
    CHECK(n.call);
    CHECK(n.device == w.bob.device.id);
    CHECK(n.sender == w.alice.user.id);
    CHECK(n.expires_at == w.fx.clock.NowMs() + 45000);
  }
  // Two calls, two pushes (a worker and RunDue may each send one: in either order).
  CHECK(std::set<std::string>{sent[0].call_id, sent[1].call_id} == std::set<std::string>{"call-1", "call-2"});
  CHECK(w.dispatcher->Stats().calls == 2);

  CallPush bad;
  CHECK_CODE(w.dispatcher->NotifyCall(bad), StatusCode::kInvalidArgument);
}

TEST_CASE("dispatcher: a call push is retried only while it rings and until cancelled", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  auto faulty = std::make_shared<FaultyPushSender>(log, 1000, Status::Unavailable("down"));
  PushOptions o = w.Options();
  o.initial_backoff_ms = 10000;
  o.max_backoff_ms = 40000;
  w.Start(o, {{"*", faulty}});
  CallPush call;
  call.callee = w.bob.user.id;
  call.chat = w.chat;
  call.call_id = "c";
  call.ring_timeout_ms = 30000;
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 1);
  w.fx.clock.Advance(10000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 2);
  // The next backoff (10..20 s) would end after the ring timeout (30 s) for some jitter; run on
  // until the dispatcher gives up, which must happen before the call stops ringing.
  w.fx.clock.Advance(20000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == 2);  // The third would have come as the ringing stopped.
  CHECK(w.dispatcher->Stats().pending == 0);
  CHECK(w.dispatcher->Stats().failed == 1);

  // Cancelled (answered elsewhere): the scheduled retry is dropped.
  call.call_id = "d";
  call.ring_timeout_ms = 60000;
  int before = faulty->attempts();
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == before + 1);
  CHECK(w.dispatcher->Stats().pending == 1);
  w.dispatcher->CancelCall("d");
  CHECK(w.dispatcher->Stats().pending == 0);
  w.fx.clock.Advance(60000);
  w.dispatcher->RunDue();
  CHECK(faulty->attempts() == before + 1);
}

TEST_CASE("dispatcher: recomputes pending notifications on start", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  Session tablet = w.fx.NewDevice("bob");
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, tablet.device.id, "webhook", "tok-tablet"));
  // Old news: older than the recovery window, notified (or not) long ago.
  w.Send("last week");
  w.fx.clock.Advance(20 * 60 * 1000);
  // What a dispatcher that stopped now may not have pushed yet.
  w.Send("one");
  Message two = w.Send("two");
  // The tablet read them before the restart; the phone did not.
  REQUIRE_OK(w.fx.service->Ack(w.bob.user.id, tablet.device.id, w.chat, two.seq));
  w.fx.clock.Advance(1000);

  PushOptions o = w.Options();
  o.recover_on_start = true;
  o.worker_threads = 0;  // Recovery then runs in RunDue.
  w.Start(o, {{"*", log}});
  CHECK(w.dispatcher->Stats().recovering);
  w.dispatcher->RunDue();
  auto stats = w.dispatcher->Stats();
  CHECK_FALSE(stats.recovering);
  CHECK(stats.recovered == 1);
  CHECK(log->Sent().empty());  // Recovered notifications wait out a window too.
  w.PassWindow();
  REQUIRE(log->Sent().size() == 1);
  CHECK(log->Sent()[0].device == w.bob.device.id);
  CHECK(log->Sent()[0].count == 2);
  CHECK(log->Sent()[0].last_seq == two.seq);
}

TEST_CASE("dispatcher: options and senders are checked at creation", "[push][unit]") {
  PushWorld w;
  auto log = std::make_shared<RecordingPushSender>();
  auto make = [&](PushOptions o, PushSenders s) {
    return PushDispatcher::Create(o, w.fx.store, w.fx.bus, std::move(s), nullptr).status();
  };
  CHECK_CODE(make(w.Options(), {}), StatusCode::kInvalidArgument);
  CHECK_CODE(make(w.Options(), {{"*", nullptr}}), StatusCode::kInvalidArgument);
  PushOptions o = w.Options();
  o.queue_capacity = 0;
  CHECK_CODE(make(o, {{"*", log}}), StatusCode::kInvalidArgument);
  o = w.Options();
  o.max_backoff_ms = o.initial_backoff_ms - 1;
  CHECK_CODE(make(o, {{"*", log}}), StatusCode::kInvalidArgument);
  o = w.Options();
  o.max_attempts = 0;
  CHECK_CODE(make(o, {{"*", log}}), StatusCode::kInvalidArgument);
  REQUIRE_OK(make(w.Options(), {{"*", log}}));
}

TEST_CASE("push senders from chatd-style specs", "[push][unit]") {
  Registry registry;  // Built-ins only: log://.
  auto one = MakePushSenders(registry, {"log://"});
  REQUIRE_OK(one);
  CHECK(one->count("*") == 1);
  auto two = MakePushSenders(registry, {"fcm=log://", "apns=log://"});
  REQUIRE_OK(two);
  CHECK(two->size() == 2);
  CHECK(two->count("fcm") == 1);
  CHECK_CODE(MakePushSenders(registry, {"log://", "*=log://"}), StatusCode::kInvalidArgument);
  CHECK_CODE(MakePushSenders(registry, {"Bad Name=log://"}), StatusCode::kInvalidArgument);
  CHECK_CODE(MakePushSenders(registry, {"nosuch://x"}), StatusCode::kNotSupported);
  CHECK_CODE(MakePushSenders(registry, {"log://?unknown=1"}), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chat::test
