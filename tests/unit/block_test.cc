// User blocking, rule by rule, on the mem store with a ManualClock: where B blocks A, A cannot send to
// their direct chat, open a new one, add B to a group (createChat or modifyParticipants), see B's
// last seen or presence, or call B; unblocking gives each back. Refusals change nothing.
#include <algorithm>

#include "test_support.h"

namespace chat::test {
namespace {

Result<AppendResult> SendText(Fixture& f, const Session& from, ChatId chat, const std::string& client_id) {
  SendRequest r = test::TextMessage(from, chat, client_id, "hello");
  return f.service->Send(r);
}

const std::string kSdpOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n";

struct Pair {
  Pair() : f("mem"), a(f.NewUser("alice")), b(f.NewUser("bob")) {}
  Fixture f;
  Session a;  // The one blocked.
  Session b;  // The one who blocks.
};

TEST_CASE("blockUser is idempotent, listed with its time, and refuses oneself and unknown users", "[block]") {
  Pair p;
  const TimeMs t0 = p.f.clock.NowMs();
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));
  p.f.clock.Advance(5000);
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));  // Again: keeps the first time.
  auto list = p.f.service->ListBlocked(p.b.user.id);
  REQUIRE_OK(list);
  REQUIRE(list->size() == 1);
  CHECK(list->at(0).blocked == p.a.user.id);
  CHECK(list->at(0).since == t0);

  CHECK_CODE(p.f.service->BlockUser(p.b.user.id, p.b.user.id), StatusCode::kInvalidArgument);
  CHECK_CODE(p.f.service->BlockUser(p.b.user.id, 4242), StatusCode::kNotFound);
  CHECK_CODE(p.f.service->UnblockUser(p.b.user.id, 4242), StatusCode::kNotFound);
  CHECK(p.f.service->ListBlocked(p.b.user.id)->size() == 1);

  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));  // Idempotent too.
  CHECK(p.f.service->ListBlocked(p.b.user.id)->empty());
  CHECK_FALSE(*p.f.service->Blocks(p.b.user.id, p.a.user.id));
}

TEST_CASE("blocking stops at Limits::max_blocked_users with FailedPrecondition", "[block]") {
  Fixture f("mem");
  ServiceOptions options = f.service->options();
  options.limits.max_blocked_users = 2;
  auto service = ChatService::Create(options, f.store, f.bus);
  REQUIRE_OK(service);
  auto me = f.NewUser("mine");
  std::vector<UserId> others;
  for (int i = 0; i < 3; ++i) others.push_back(f.NewUser("other" + std::to_string(i)).user.id);
  REQUIRE_OK((*service)->BlockUser(me.user.id, others[0]));
  REQUIRE_OK((*service)->BlockUser(me.user.id, others[1]));
  CHECK_CODE((*service)->BlockUser(me.user.id, others[2]), StatusCode::kFailedPrecondition);
  REQUIRE_OK((*service)->BlockUser(me.user.id, others[1]));  // Already blocked: still fine at the cap.
  CHECK((*service)->ListBlocked(me.user.id)->size() == 2);
  REQUIRE_OK((*service)->UnblockUser(me.user.id, others[0]));
  REQUIRE_OK((*service)->BlockUser(me.user.id, others[2]));
}

TEST_CASE("a blocked user cannot send to the direct chat, and may again once unblocked", "[block]") {
  Pair p;
  auto dm = p.f.service->CreateDirect(p.a.user.id, p.b.user.id);
  REQUIRE_OK(dm);
  REQUIRE_OK(SendText(p.f, p.a, dm->id, "before"));
  const Seq head = *p.f.store->Head(dm->id);

  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));
  auto refused = SendText(p.f, p.a, dm->id, "during");
  CHECK_CODE(refused, StatusCode::kPermissionDenied);
  CHECK(refused.status().message().find("blocked") != std::string::npos);
  CHECK(*p.f.store->Head(dm->id) == head);  // Nothing appended.
  // The blocker may still write (the block is one-way).
  REQUIRE_OK(SendText(p.f, p.b, dm->id, "from-bob"));

  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  REQUIRE_OK(SendText(p.f, p.a, dm->id, "after"));
}

TEST_CASE("a blocked user cannot open a new direct chat with the blocker", "[block]") {
  Pair p;
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));
  CHECK_CODE(p.f.service->CreateDirect(p.a.user.id, p.b.user.id), StatusCode::kPermissionDenied);
  CHECK(p.f.store->FindDirectChat(p.a.user.id, p.b.user.id).status().IsNotFound());
  CHECK(p.f.service->ListChats(p.b.user.id)->empty());
  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  REQUIRE_OK(p.f.service->CreateDirect(p.a.user.id, p.b.user.id));
}

TEST_CASE("group messages are not filtered: a blocked member still writes to a shared group", "[block]") {
  Pair p;
  auto g = p.f.service->CreateGroup(p.b.user.id, "g", {p.a.user.id});
  REQUIRE_OK(g);
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));
  REQUIRE_OK(SendText(p.f, p.a, g->id, "to-group"));
  // A two-member group is still a group.
  auto msgs = p.f.service->History(p.b.user.id, g->id, 0, 10);
  REQUIRE_OK(msgs);
  CHECK(msgs->front().body == "hello");
}

TEST_CASE("a blocked user cannot add the blocker to a group with createChat or modifyParticipants", "[block]") {
  Pair p;
  auto carol = p.f.NewUser("carol");
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));

  CHECK_CODE(p.f.service->CreateGroup(p.a.user.id, "g", {carol.user.id, p.b.user.id}), StatusCode::kPermissionDenied);
  CHECK(p.f.service->ListChats(p.a.user.id)->empty());

  auto g = p.f.service->CreateGroup(p.a.user.id, "g", {carol.user.id});
  REQUIRE_OK(g);
  const Seq head = *p.f.store->Head(g->id);
  ParticipantChange add;
  add.add = {p.b.user.id};
  CHECK_CODE(p.f.service->ModifyParticipants(p.a.user.id, g->id, add), StatusCode::kPermissionDenied);
  CHECK(p.f.store->GetParticipant(g->id, p.b.user.id).status().IsNotFound());
  CHECK(*p.f.store->Head(g->id) == head);
  // Somebody else may add the blocker: the block is about what the blocked user does.
  ParticipantChange promote;
  promote.set_role = {{carol.user.id, Role::kAdmin}};
  REQUIRE_OK(p.f.service->ModifyParticipants(p.a.user.id, g->id, promote));
  REQUIRE_OK(p.f.service->ModifyParticipants(carol.user.id, g->id, add));

  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  REQUIRE_OK(p.f.service->CreateGroup(p.a.user.id, "g2", {p.b.user.id}));
}

TEST_CASE("a blocked user does not see the blocker's last seen, whatever the privacy setting", "[block]") {
  Pair p;
  auto dm = p.f.service->CreateDirect(p.a.user.id, p.b.user.id);
  REQUIRE_OK(dm);
  REQUIRE_OK(p.f.service->TouchDevice(p.b.device.id));
  REQUIRE(p.f.service->LastSeen(p.a.user.id, p.b.user.id)->has_value());

  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));
  auto hidden = p.f.service->LastSeen(p.a.user.id, p.b.user.id);
  REQUIRE_OK(hidden);
  CHECK_FALSE(hidden->has_value());
  // One-way: the blocker still sees the blocked user.
  CHECK(p.f.service->LastSeen(p.b.user.id, p.a.user.id)->has_value());

  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  CHECK(p.f.service->LastSeen(p.a.user.id, p.b.user.id)->has_value());
}

TEST_CASE("a blocked user cannot call the blocker in a direct chat, and does not ring them in a group", "[block]") {
  Pair p;
  auto carol = p.f.NewUser("carol");
  CallOptions options;
  options.timer_thread = false;
  options.clock = &p.f.clock;
  auto calls = CallManager::Create(options, *p.f.service, nullptr);
  REQUIRE_OK(calls);
  auto dm = p.f.service->CreateDirect(p.a.user.id, p.b.user.id);
  REQUIRE_OK(dm);
  auto g = p.f.service->CreateGroup(p.a.user.id, "g", {p.b.user.id, carol.user.id});
  REQUIRE_OK(g);
  REQUIRE_OK(p.f.service->BlockUser(p.b.user.id, p.a.user.id));

  CHECK_CODE((*calls)->Invite({p.a.user.id, p.a.device.id}, dm->id, CallMedia::kAudio, kSdpOffer),
             StatusCode::kPermissionDenied);
  auto group_call = (*calls)->Invite({p.a.user.id, p.a.device.id}, g->id, CallMedia::kAudio, kSdpOffer);
  REQUIRE_OK(group_call);
  CHECK(group_call->callees == std::vector<UserId>{carol.user.id});
  REQUIRE_OK((*calls)->Hangup({p.a.user.id, p.a.device.id}, group_call->call_id));

  REQUIRE_OK(p.f.service->UnblockUser(p.b.user.id, p.a.user.id));
  auto call = (*calls)->Invite({p.a.user.id, p.a.device.id}, dm->id, CallMedia::kAudio, kSdpOffer);
  REQUIRE_OK(call);
  CHECK(call->callees == std::vector<UserId>{p.b.user.id});
}

}  // namespace
}  // namespace chat::test
