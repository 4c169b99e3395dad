// ChatService's rate limits (Limits::*_per_device, *_per_user) and login throttle, end to end through
// the service with a ManualClock: each limit refuses with resource_exhausted and a retry-after, and
// lets the action through again once its bucket refills.
#include <string>

#include "test_support.h"

namespace chat::test {
namespace {

// A service whose limits are the given ones (the Fixture's own service runs without limits).
struct LimitedService {
  explicit LimitedService(const Limits& limits, LoginThrottleOptions throttle = {}) {
    ServiceOptions opts;
    opts.clock = &fx.clock;
    opts.password_cost = PasswordCost::kMinimum;
    opts.limits = limits;
    opts.login_throttle = throttle;
    auto s = ChatService::Create(opts, fx.store, fx.bus, fx.blobs);
    REQUIRE_OK(s);
    service = std::move(*s);
  }
  Fixture fx{"mem"};
  std::unique_ptr<ChatService> service;
};

// Every limit off: each test turns on the one it is about.
Limits NoRateLimits() {
  Limits l;
  for (RateLimit* r : {&l.send_per_device, &l.send_per_user, &l.create_chat_per_device, &l.create_chat_per_user,
                       &l.add_participants_per_device, &l.add_participants_per_user, &l.upload_per_device,
                       &l.upload_per_user}) {
    *r = RateLimit{};
  }
  return l;
}

constexpr RateLimit kThreeThenOnePerSecond{3, 60};

Result<AppendResult> SendText(ChatService& s, const Session& from, ChatId chat, int n) {
  SendRequest r = test::TextMessage(from, chat, "m" + std::to_string(from.device.id) + "-" + std::to_string(n), "hello");
  return s.Send(r);
}

void CheckRefusedFor(const Status& s, TimeMs retry_after_ms) {
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kResourceExhausted);
  CHECK(s.IsRetryable());
  CHECK(s.retry_after_ms() == retry_after_ms);
}

NewAttachment Pdf() {
  NewAttachment a;
  a.kind = AttachmentKind::kDocument;
  a.mime = "application/pdf";
  a.size = 100;
  a.sha256 = std::string(64, 'a');
  return a;
}

}  // namespace

TEST_CASE("sends per device: one device's burst is spent, the user's other device still sends") {
  Limits l = NoRateLimits();
  l.send_per_device = kThreeThenOnePerSecond;
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  Session ada2 = ls.fx.NewDevice("ada");
  auto chat = ls.service->CreateGroup(ada.user.id, "g", {});
  REQUIRE_OK(chat);
  for (int i = 0; i < 3; ++i) REQUIRE_OK(SendText(*ls.service, ada, chat->id, i));
  CheckRefusedFor(SendText(*ls.service, ada, chat->id, 3).error(), 1000);
  REQUIRE_OK(SendText(*ls.service, ada2, chat->id, 0));
  ls.fx.clock.Advance(1000);
  REQUIRE_OK(SendText(*ls.service, ada, chat->id, 3));
}

TEST_CASE("sends per user: the user's devices share one bucket") {
  Limits l = NoRateLimits();
  l.send_per_user = kThreeThenOnePerSecond;
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  Session ada2 = ls.fx.NewDevice("ada");
  auto chat = ls.service->CreateGroup(ada.user.id, "g", {});
  REQUIRE_OK(chat);
  REQUIRE_OK(SendText(*ls.service, ada, chat->id, 0));
  REQUIRE_OK(SendText(*ls.service, ada2, chat->id, 0));
  REQUIRE_OK(SendText(*ls.service, ada, chat->id, 1));
  CheckRefusedFor(SendText(*ls.service, ada2, chat->id, 1).error(), 1000);
}

TEST_CASE("a refused send stores nothing") {
  Limits l = NoRateLimits();
  l.send_per_user = RateLimit{1, 1};
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  auto chat = ls.service->CreateGroup(ada.user.id, "g", {});
  REQUIRE_OK(chat);
  auto first = SendText(*ls.service, ada, chat->id, 0);
  REQUIRE_OK(first);
  CHECK_FALSE(SendText(*ls.service, ada, chat->id, 1).ok());
  auto history = ls.service->History(ada.user.id, chat->id, 0, 100);
  REQUIRE_OK(history);
  CHECK(history->front().seq == first->message.seq);
}

TEST_CASE("chat creation per user: groups and new direct chats count, asking again for a direct chat does not") {
  Limits l = NoRateLimits();
  l.create_chat_per_user = RateLimit{2, 6};  // One every 10 s.
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  Session bob = ls.fx.NewUser("bob");
  REQUIRE_OK(ls.service->CreateGroup(ada.user.id, "g", {}));
  REQUIRE_OK(ls.service->CreateDirect(ada.user.id, bob.user.id));
  REQUIRE_OK(ls.service->CreateDirect(ada.user.id, bob.user.id));  // The same chat: free.
  CheckRefusedFor(ls.service->CreateGroup(ada.user.id, "g2", {}).error(), 10'000);
  REQUIRE_OK(ls.service->CreateGroup(bob.user.id, "bob's", {}));
}

TEST_CASE("chat creation per device: ChargeDevice spends the device's bucket") {
  Limits l = NoRateLimits();
  l.create_chat_per_device = kThreeThenOnePerSecond;
  LimitedService ls(l);
  for (int i = 0; i < 3; ++i) REQUIRE_OK(ls.service->ChargeDevice(11, RateAction::kCreateChat));
  CheckRefusedFor(ls.service->ChargeDevice(11, RateAction::kCreateChat), 1000);
  REQUIRE_OK(ls.service->ChargeDevice(12, RateAction::kCreateChat));
  // Another action's bucket of the same device is untouched.
  REQUIRE_OK(ls.service->ChargeDevice(11, RateAction::kUpload));
}

TEST_CASE("participant additions per user: each user added takes a token") {
  Limits l = NoRateLimits();
  l.add_participants_per_user = kThreeThenOnePerSecond;
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  std::vector<UserId> others;
  for (const char* n : {"bob1", "bob2", "bob3", "bob4"}) others.push_back(ls.fx.NewUser(n).user.id);
  auto chat = ls.service->CreateGroup(ada.user.id, "g", {});
  REQUIRE_OK(chat);
  ParticipantChange three;
  three.add = {others[0], others[1], others[2]};
  REQUIRE_OK(ls.service->ModifyParticipants(ada.user.id, chat->id, three));
  ParticipantChange one;
  one.add = {others[3]};
  CheckRefusedFor(ls.service->ModifyParticipants(ada.user.id, chat->id, one).error(), 1000);
  // Removals are not limited.
  ParticipantChange remove;
  remove.remove = {others[0]};
  REQUIRE_OK(ls.service->ModifyParticipants(ada.user.id, chat->id, remove));
}

TEST_CASE("participant additions per device: ChargeDevice takes one token per user") {
  Limits l = NoRateLimits();
  l.add_participants_per_device = kThreeThenOnePerSecond;
  LimitedService ls(l);
  REQUIRE_OK(ls.service->ChargeDevice(11, RateAction::kAddParticipants, 2));
  CheckRefusedFor(ls.service->ChargeDevice(11, RateAction::kAddParticipants, 2), 1000);
}

TEST_CASE("uploads per user: createAttachment beyond the burst is refused") {
  Limits l = NoRateLimits();
  l.upload_per_user = kThreeThenOnePerSecond;
  LimitedService ls(l);
  Session ada = ls.fx.NewUser("ada");
  for (int i = 0; i < 3; ++i) REQUIRE_OK(ls.service->CreateAttachment(ada.user.id, Pdf()));
  CheckRefusedFor(ls.service->CreateAttachment(ada.user.id, Pdf()).error(), 1000);
  ls.fx.clock.Advance(1000);
  REQUIRE_OK(ls.service->CreateAttachment(ada.user.id, Pdf()));
}

TEST_CASE("uploads per device: ChargeDevice spends the device's bucket") {
  Limits l = NoRateLimits();
  l.upload_per_device = kThreeThenOnePerSecond;
  LimitedService ls(l);
  for (int i = 0; i < 3; ++i) REQUIRE_OK(ls.service->ChargeDevice(11, RateAction::kUpload));
  CheckRefusedFor(ls.service->ChargeDevice(11, RateAction::kUpload), 1000);
}

TEST_CASE("the default limits are on and enforce_rate_limits=false turns them off") {
  LimitedService on(Limits{});
  for (int i = 0; i < 30; ++i) REQUIRE_OK(on.service->ChargeDevice(11, RateAction::kSend));
  CHECK_FALSE(on.service->ChargeDevice(11, RateAction::kSend).ok());
  // The Fixture's own service runs with enforce_rate_limits = false.
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(on.fx.service->ChargeDevice(11, RateAction::kSend));
}

TEST_CASE("login throttle: an unknown name and a real one get the same refusal after the same failures") {
  LimitedService ls(NoRateLimits());
  ls.fx.NewUser("ada");
  for (int i = 0; i < 5; ++i) {
    CHECK(ls.service->Login("ada", "wrong-password", {"phone", "t"}).error().code() == StatusCode::kUnauthenticated);
    CHECK(ls.service->Login("nobody", "wrong-password", {"phone", "t"}).error().code() ==
          StatusCode::kUnauthenticated);
  }
  Status real = ls.service->Login("ada", "password-ada", {"phone", "t"}).error();
  Status unknown = ls.service->Login("nobody", "password-ada", {"phone", "t"}).error();
  CHECK(real.code() == StatusCode::kResourceExhausted);
  CHECK(real.message() == unknown.message());
  CHECK(real.retry_after_ms() == 1000);
  CHECK(unknown.retry_after_ms() == 1000);
  // Even the right password waits: the throttle runs before the check.
  ls.fx.clock.Advance(1000);
  REQUIRE_OK(ls.service->Login("ada", "password-ada", {"phone", "t"}));
}

TEST_CASE("login throttle: failures from one source address hold back other names from it") {
  LimitedService ls(NoRateLimits());
  ls.fx.NewUser("ada");
  for (int i = 0; i < 5; ++i) {
    const std::string name = "guess" + std::to_string(i);
    CHECK_FALSE(ls.service->Login(name, "wrong-password", {"phone", "t"}, "192.0.2.9").ok());
  }
  CheckRefusedFor(ls.service->Login("ada", "password-ada", {"phone", "t"}, "192.0.2.9").error(), 1000);
  REQUIRE_OK(ls.service->Login("ada", "password-ada", {"phone", "t"}, "192.0.2.10"));
}

TEST_CASE("login throttle: VerifyPassword counts and honours the same failures") {
  LimitedService ls(NoRateLimits());
  ls.fx.NewUser("ada");
  for (int i = 0; i < 5; ++i) CHECK_FALSE(ls.service->VerifyPassword("ada", "wrong-password").ok());
  CHECK(ls.service->Login("ada", "password-ada", {"phone", "t"}).error().code() == StatusCode::kResourceExhausted);
}

}  // namespace chat::test
