// Calls whose devices sit on different chatd nodes (docs/scaling.md, "Calls"): three real chatd
// processes on one throw-away PostgreSQL database and the run's NATS cluster. The caller's node holds
// the call; the devices on the other nodes ring, answer, reject, trickle ICE and hang up through it,
// and see exactly what they would on one node. A node that holds none of a call's devices may die
// and come back without the call noticing; a call whose node dies ends for the device that answered
// it elsewhere.
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "call_events.h"
#include "three_nodes.h"

using namespace chat;
using namespace chat::test;
using Json = nlohmann::json;

namespace {

Json Candidate(const std::string& text) { return {{"candidate", text}, {"sdpMid", "0"}}; }

// Every call event of `call_id` that arrives on `c` within `window` (other events stay buffered).
std::vector<std::pair<std::string, Json>> CallEventsWithin(Client& c, const std::string& call_id,
                                                           std::chrono::milliseconds window) {
  std::vector<std::pair<std::string, Json>> got;
  const auto deadline = std::chrono::steady_clock::now() + window;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    auto e = c.WaitForEvent(
        [&](const ClientEvent& ev) {
          return ev.name.rfind("call", 0) == 0 && Json::parse(ev.data).value("callId", "") == call_id;
        },
        left);
    if (!e) return got;
    got.emplace_back(e->name, Json::parse(e->data));
  }
}

// Logs `name` in on `node` as a new device, once its node watches the user's chats (the node reads
// no command of a new session before: the ping's answer says so).
LiveDevice Online(const ChatdProcess& node, const std::string& name, const std::string& device) {
  LiveDevice d = LoginDevice(node, name, device);
  REQUIRE(d.client->Call("ping", "{}").ok);
  return d;
}

// Alice (caller, on node A) and Bob in a direct chat; Bob's devices log in after it exists.
struct DirectCall {
  explicit DirectCall(ThreeNodes& n) : nodes(n) {
    RegisterUser(*nodes.chatd[0], "alice");
    bob = RegisterUser(*nodes.chatd[0], "bob");
    alice = Online(*nodes.chatd[0], "alice", "a-phone");
    auto made = alice.client->CreateDirect(bob);
    REQUIRE_OK(made);
    chat = made->id;
  }
  std::string Invite() {
    const Json start = ResultOf(Cmd(*alice.client, "callInvite", {{"chatId", chat}, {"media", "video"}, {"sdp", kOffer}}));
    return start.at("callId");
  }
  // Invite(), once `callee` rings.
  std::string InviteRinging(LiveDevice& callee) {
    const std::string call_id = Invite();
    REQUIRE(WaitForCallEvent(*callee.client, "callRing", call_id));
    return call_id;
  }
  ThreeNodes& nodes;
  UserId bob = 0;
  LiveDevice alice;
  ChatId chat = 0;
};

}  // namespace

TEST_CASE("a call from node A rings the callee's devices on nodes B and C, answered on C: B stops ringing, the caller "
          "gets the answer, ICE crosses both ways and the hang-up reaches everybody",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  LiveDevice b_laptop = Online(*nodes.chatd[2], "bob", "b-laptop");

  const std::string call_id = call.Invite();
  for (LiveDevice* d : {&b_phone, &b_laptop}) {
    auto ring = WaitForCallEvent(*d->client, "callRing", call_id);
    REQUIRE(ring);
    CHECK(ring->at("sdp") == kOffer);
    CHECK(ring->at("callerId") == call.alice.user());
  }
  // An early candidate, held on A, reaches the laptop on C once it answers.
  REQUIRE(Cmd(*call.alice.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("early")}}).ok);
  ResultOf(Cmd(*b_laptop.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  auto answer = WaitForCallEvent(*call.alice.client, "callAccepted", call_id);
  REQUIRE(answer);
  CHECK(answer->at("sdp") == kAnswer);
  CHECK(answer->at("deviceId") == b_laptop.id());
  auto elsewhere = WaitForCallEvent(*b_phone.client, "callEnded", call_id);
  REQUIRE(elsewhere);
  CHECK(elsewhere->at("reason") == "answered_elsewhere");
  auto early = WaitForCallEvent(*b_laptop.client, "callIce", call_id);
  REQUIRE(early);
  CHECK(early->at("candidate").at("candidate") == "early");

  // Candidates both ways, between A and C only; the phone on B takes no part (refused by A).
  REQUIRE(Cmd(*b_laptop.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("from-c")}}).ok);
  auto from_c = WaitForCallEvent(*call.alice.client, "callIce", call_id);
  REQUIRE(from_c);
  CHECK(from_c->at("candidate").at("candidate") == "from-c");
  CHECK(from_c->at("fromDevice") == b_laptop.id());
  REQUIRE(Cmd(*call.alice.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("from-a")}}).ok);
  auto from_a = WaitForCallEvent(*b_laptop.client, "callIce", call_id);
  REQUIRE(from_a);
  CHECK(from_a->at("candidate").at("candidate") == "from-a");
  CHECK(Cmd(*b_phone.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("x")}}).code == "permission_denied");
  CHECK(Cmd(*b_phone.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).code == "failed_precondition");
  // The laptop, in this call, may not start another from C.
  CHECK(Cmd(*b_laptop.client, "callInvite", {{"chatId", call.chat}, {"sdp", kOffer}}).code == "failed_precondition");

  // The laptop hangs up through C: the caller hears it, and everybody syncs the one call entry.
  const Json end = ResultOf(Cmd(*b_laptop.client, "callHangup", {{"callId", call_id}}));
  CHECK(end.at("outcome") == "completed");
  auto ended = WaitForCallEvent(*call.alice.client, "callEnded", call_id);
  REQUIRE(ended);
  CHECK(ended->at("reason") == "hangup");
  CHECK(ended->at("durationMs") == end.at("durationMs"));
  for (LiveDevice* d : {&call.alice, &b_phone, &b_laptop}) {
    auto entry = WaitForCallEntry(*d->client, call.chat, call_id);
    REQUIRE(entry);
    CHECK(entry->at("outcome") == "completed");
  }
  CHECK(CallEventsWithin(*b_phone.client, call_id, 300ms).empty());
  CHECK(Cmd(*b_laptop.client, "callHangup", {{"callId", call_id}}).code == "not_found");
  // Out of the call, the laptop may call from C at once.
  const std::string second = ResultOf(Cmd(*b_laptop.client, "callInvite", {{"chatId", call.chat}, {"sdp", kOffer}})).at("callId");
  REQUIRE(WaitForCallEvent(*call.alice.client, "callRing", second));
  REQUIRE(Cmd(*b_laptop.client, "callHangup", {{"callId", second}}).ok);

  // A held the first call; C forwarded its laptop's commands (accept, two ICE, hang-up, ...).
  CHECK(MetricValue(nodes.chatd[2]->port(), "chat_calls_forwarded_total") >= 3);
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_completed_total") == 1);
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_ice_relayed_total") == 3);
}

TEST_CASE("devices that sign in on nodes B and C while a call held by node A rings are rung by A, and one answers "
          "through it",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  Session phone;
  {
    LiveDevice b = Online(*nodes.chatd[1], "bob", "b-phone");
    phone = b.session;
  }  // bob's phone goes offline, its session kept.
  const std::string call_id = call.Invite();

  // The phone resumes on B (as after the call's push): A sees it come live and rings it.
  LiveDevice b_phone = ResumeDevice(*nodes.chatd[1], phone);
  auto ring = WaitForCallEvent(*b_phone.client, "callRing", call_id);
  REQUIRE(ring);
  CHECK(ring->at("sdp") == kOffer);
  CHECK(ring->at("callerId") == call.alice.user());
  // A new device on C rings too, once; one on A, the caller's node, as well.
  LiveDevice b_laptop = Online(*nodes.chatd[2], "bob", "b-laptop");
  REQUIRE(WaitForCallEvent(*b_laptop.client, "callRing", call_id));
  LiveDevice b_watch = Online(*nodes.chatd[0], "bob", "b-watch");
  REQUIRE(WaitForCallEvent(*b_watch.client, "callRing", call_id));
  CHECK(CallEventsWithin(*b_laptop.client, call_id, 300ms).empty());

  // The phone answers through B -> A; the others stop ringing.
  ResultOf(Cmd(*b_phone.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  auto answer = WaitForCallEvent(*call.alice.client, "callAccepted", call_id);
  REQUIRE(answer);
  CHECK(answer->at("deviceId") == b_phone.id());
  for (LiveDevice* d : {&b_laptop, &b_watch}) {
    auto elsewhere = WaitForCallEvent(*d->client, "callEnded", call_id);
    REQUIRE(elsewhere);
    CHECK(elsewhere->at("reason") == "answered_elsewhere");
  }
  // Answered: a device signing in now, anywhere, is not rung.
  LiveDevice b_tablet = Online(*nodes.chatd[2], "bob", "b-tablet");
  CHECK(CallEventsWithin(*b_tablet.client, call_id, 500ms).empty());
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_rung_late_total") == 3);
  REQUIRE(Cmd(*call.alice.client, "callHangup", {{"callId", call_id}}).ok);
}

// A phone that reconnects while its old connection is still open on the same node (a network change
// noticed by the phone first) has two sessions of one device there: the live registry's record does
// not change, so the node holding the call learns of the new session from a kDeviceOnline instead.
TEST_CASE("a device's second session on the node where it is signed in is rung by a call held by another node",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  const std::string call_id = call.InviteRinging(b_phone);
  // Node A's mirror may learn of the phone only after the call began, and ring it once more (to all
  // of its sessions): let that pass first, or it would ring the second session below by chance.
  CallEventsWithin(*b_phone.client, call_id, 1000ms);
  const double rung_before = MetricValue(nodes.chatd[0]->port(), "chat_calls_rung_late_total");

  LiveDevice again = ResumeDevice(*nodes.chatd[1], b_phone.session);  // The old connection stays open.
  auto ring = WaitForCallEvent(*again.client, "callRing", call_id);
  REQUIRE(ring);
  CHECK(ring->at("sdp") == kOffer);
  CHECK(ring->at("callerId") == call.alice.user());
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_rung_late_total") == rung_before + 1);
  // It answers through B -> A.
  ResultOf(Cmd(*again.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  auto answer = WaitForCallEvent(*call.alice.client, "callAccepted", call_id);
  REQUIRE(answer);
  CHECK(answer->at("deviceId") == b_phone.id());
  REQUIRE(Cmd(*call.alice.client, "callHangup", {{"callId", call_id}}).ok);
}

TEST_CASE("a callee on node B rejecting a call from node A ends it for the caller and stops the ringing on node C",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  LiveDevice b_laptop = Online(*nodes.chatd[2], "bob", "b-laptop");

  for (const std::string reason : {"declined", "busy"}) {
    const std::string outcome = reason == "busy" ? "busy" : "rejected";
    const std::string call_id = call.InviteRinging(b_phone);
    REQUIRE(WaitForCallEvent(*b_laptop.client, "callRing", call_id));
    REQUIRE(Cmd(*b_phone.client, "callReject", {{"callId", call_id}, {"reason", reason}}).ok);
    auto ended = WaitForCallEvent(*call.alice.client, "callEnded", call_id);
    REQUIRE(ended);
    CHECK(ended->at("reason") == outcome);
    auto other = WaitForCallEvent(*b_laptop.client, "callEnded", call_id);
    REQUIRE(other);
    CHECK(other->at("reason") == "rejected_elsewhere");
    auto entry = WaitForCallEntry(*b_laptop.client, call.chat, call_id);
    REQUIRE(entry);
    CHECK(entry->at("outcome") == outcome);
    // Refused by A as on one node: the call is over.
    CHECK(Cmd(*b_laptop.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).code == "not_found");
  }
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_rejected_total") == 2);
}

TEST_CASE("an unanswered call across nodes times out once: exactly one timeout event to each device and one missed "
          "call entry",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes({"--call-ring-timeout", "1"});
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  LiveDevice b_laptop = Online(*nodes.chatd[2], "bob", "b-laptop");

  const std::string call_id = call.Invite();
  for (LiveDevice* d : {&call.alice, &b_phone, &b_laptop}) {
    INFO(d->id());
    // The ring, then exactly one callEnded "timeout", within the second and a margin after it (by
    // then every device's events have arrived).
    const auto events = CallEventsWithin(*d->client, call_id, d == &call.alice ? 2500ms : 300ms);
    int timeouts = 0;
    for (const auto& [name, data] : events) {
      if (name == "callEnded") {
        CHECK(data.at("reason") == "timeout");
        CHECK(data.at("outcome") == "missed");
        ++timeouts;
      } else {
        CHECK(name == "callRing");
      }
    }
    CHECK(timeouts == 1);
  }
  auto entry = WaitForCallEntry(*b_laptop.client, call.chat, call_id);
  REQUIRE(entry);
  CHECK(entry->at("outcome") == "missed");
  CHECK_FALSE(WaitForCallEntry(*b_laptop.client, call.chat, call_id, 300ms));
  for (int i = 0; i < 3; ++i) {
    CHECK(MetricValue(nodes.chatd[i]->port(), "chat_calls_missed_total") == (i == 0 ? 1 : 0));
  }
}

TEST_CASE("two devices answering one call at the same time on nodes B and C: exactly one wins",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  LiveDevice b_laptop = Online(*nodes.chatd[2], "bob", "b-laptop");

  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    const std::string call_id = call.InviteRinging(b_phone);
    REQUIRE(WaitForCallEvent(*b_laptop.client, "callRing", call_id));
    std::atomic<bool> go{false};
    Reply replies[2];
    LiveDevice* devices[2] = {&b_phone, &b_laptop};
    std::thread answer[2];
    for (int i = 0; i < 2; ++i) {
      answer[i] = std::thread([&, i] {
        while (!go.load()) std::this_thread::yield();
        replies[i] = Cmd(*devices[i]->client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}});
      });
    }
    go = true;
    for (auto& t : answer) t.join();
    REQUIRE(replies[0].ok != replies[1].ok);
    const int winner = replies[0].ok ? 0 : 1;
    CHECK(replies[1 - winner].code == "failed_precondition");
    // The caller hears of the winner only; the loser stops ringing.
    const auto heard = CallEventsWithin(*call.alice.client, call_id, 500ms);
    REQUIRE(heard.size() == 1);
    CHECK(heard[0].first == "callAccepted");
    CHECK(heard[0].second.at("deviceId") == devices[winner]->id());
    auto loser = WaitForCallEvent(*devices[1 - winner]->client, "callEnded", call_id);
    REQUIRE(loser);
    CHECK(loser->at("reason") == "answered_elsewhere");
    REQUIRE(Cmd(*call.alice.client, "callHangup", {{"callId", call_id}}).ok);
    REQUIRE(WaitForCallEvent(*devices[winner]->client, "callEnded", call_id));
  }
  CHECK(MetricValue(nodes.chatd[0]->port(), "chat_calls_answered_total") == 5);
}

TEST_CASE("a call between nodes A and B goes on while node C, holding neither device, is killed and restarted",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");
  // C serves others only.
  RegisterUser(*nodes.chatd[2], "carol");
  LiveDevice carol = Online(*nodes.chatd[2], "carol", "c-phone");

  const std::string call_id = call.InviteRinging(b_phone);
  ResultOf(Cmd(*b_phone.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  REQUIRE(WaitForCallEvent(*call.alice.client, "callAccepted", call_id));

  auto relay_both_ways = [&](const std::string& tag) {
    REQUIRE(Cmd(*b_phone.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("b-" + tag)}}).ok);
    auto at_a = WaitForCallEvent(*call.alice.client, "callIce", call_id);
    REQUIRE(at_a);
    CHECK(at_a->at("candidate").at("candidate") == "b-" + tag);
    REQUIRE(Cmd(*call.alice.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("a-" + tag)}}).ok);
    auto at_b = WaitForCallEvent(*b_phone.client, "callIce", call_id);
    REQUIRE(at_b);
    CHECK(at_b->at("candidate").at("candidate") == "a-" + tag);
  };
  relay_both_ways("before");
  carol.client.reset();
  nodes.chatd[2]->Kill9();
  relay_both_ways("while-c-is-dead");
  nodes.Start(2);
  relay_both_ways("after-c-is-back");
  // The restarted C knows nothing of the call, and need not: a device there is refused as before.
  LiveDevice carol_again = Online(*nodes.chatd[2], "carol", "c-laptop");
  CHECK(Cmd(*carol_again.client, "callHangup", {{"callId", call_id}}).code == "permission_denied");

  const Json end = ResultOf(Cmd(*call.alice.client, "callHangup", {{"callId", call_id}}));
  CHECK(end.at("outcome") == "completed");
  auto ended = WaitForCallEvent(*b_phone.client, "callEnded", call_id);
  REQUIRE(ended);
  CHECK(ended->at("reason") == "hangup");
  auto entry = WaitForCallEntry(*b_phone.client, call.chat, call_id);
  REQUIRE(entry);
  CHECK(entry->at("outcome") == "completed");
}

TEST_CASE("a call whose node is killed ends for the device that answered it on another node: callEnded node_failed "
          "and the call entry",
          "[nats][postgres][cluster][calls]") {
  ThreeNodes nodes;
  DirectCall call(nodes);
  LiveDevice b_phone = Online(*nodes.chatd[1], "bob", "b-phone");

  const std::string call_id = call.InviteRinging(b_phone);
  ResultOf(Cmd(*b_phone.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  REQUIRE(WaitForCallEvent(*call.alice.client, "callAccepted", call_id));
  call.alice.client.reset();
  nodes.chatd[0]->Kill9();

  // B finds A gone within three checks of 2 s.
  auto ended = WaitForCallEvent(*b_phone.client, "callEnded", call_id, 10s);
  REQUIRE(ended);
  CHECK(ended->at("reason") == "node_failed");
  CHECK(ended->at("outcome") == "completed");
  auto entry = WaitForCallEntry(*b_phone.client, call.chat, call_id);
  REQUIRE(entry);
  CHECK(entry->at("outcome") == "completed");
  CHECK(entry->at("callerId") == call.alice.user());
  CHECK(MetricValue(nodes.chatd[1]->port(), "chat_calls_owner_lost_total") == 1);
  // Bob's phone is free again.
  CHECK(Cmd(*b_phone.client, "callIce", {{"callId", call_id}, {"candidate", Candidate("x")}}).code == "not_found");
}
