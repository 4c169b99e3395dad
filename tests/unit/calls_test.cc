// CallManager on the mem store, the in-process bus and a ManualClock: signalling reaches exactly the
// right devices, timeouts end calls without sleeping, refusals change nothing, every call leaves one
// call entry. TURN credentials against a vector computed independently (Python's hmac module).
#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "event_json.h"
#include "test_support.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;

// Records the kSignal events published on a bus.
class Signals {
 public:
  explicit Signals(Bus& bus)
      : sub_(bus.Subscribe([this](const std::shared_ptr<const Event>& e) {
          if (e->type != EventType::kSignal) return;
          std::lock_guard lock(mu_);
          events_.push_back(*e);
        })) {}

  // Events named `name` that a live session of (user, device) would receive, as their "data".
  std::vector<Json> For(const Session& s, const std::string& name) const {
    std::lock_guard lock(mu_);
    std::vector<Json> out;
    for (const Event& e : events_) {
      const bool to_user = std::count(e.recipients.begin(), e.recipients.end(), s.user.id) > 0;
      const bool excluded = e.exclude_device != 0 && e.exclude_device == s.device.id;
      const bool other_only = e.only_device != 0 && e.only_device != s.device.id;
      if (!to_user || excluded || other_only) continue;
      // As the server will send it (the codec's protocol form).
      auto wire = codec::ToWireEvent(e);
      REQUIRE(wire.has_value());
      if (wire->name == name) out.push_back(wire->data);
    }
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
  Subscription sub_;
};

CallDevice Dev(const Session& s) { return CallDevice{s.user.id, s.device.id}; }

// The chat's call entries, parsed.
std::vector<Json> CallEntries(Fixture& f, UserId viewer, ChatId chat) {
  auto history = f.service->History(viewer, chat, 0, 100);
  REQUIRE_OK(history);
  std::vector<Json> out;
  for (const Message& m : *history) {
    if (m.kind == MessageKind::kCall) out.push_back(Json::parse(m.body));
  }
  return out;
}

struct CallWorld {
  CallWorld(CallOptions options = {}) : f("mem"), signals(*f.bus) {
    options.timer_thread = false;
    options.clock = &f.clock;
    auto made = CallManager::Create(options, *f.service, nullptr);
    REQUIRE_OK(made);
    calls = std::move(*made);
  }
  Fixture f;
  Signals signals;
  std::unique_ptr<CallManager> calls;
};

const std::string kOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n";
const std::string kAnswer = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n";

TEST_CASE("a call rings every device of the callee, connects the first to accept, relays ICE both ways and logs its duration",
          "[calls]") {
  CallOptions options;
  options.ice.stun_urls = {"stun:stun.example.org:3478"};
  options.ice.turn_urls = {"turn:turn.example.org:3478?transport=udp"};
  options.ice.turn_secret = "north-secret";
  CallWorld w(options);
  Session alice = w.f.NewUser("alice");
  Session alice2 = w.f.NewDevice("alice");
  Session bob1 = w.f.NewUser("bob");
  Session bob2 = w.f.NewDevice("bob");
  auto chat = w.f.service->CreateDirect(alice.user.id, bob1.user.id);
  REQUIRE_OK(chat);

  auto start = w.calls->Invite(Dev(alice), chat->id, CallMedia::kVideo, kOffer);
  REQUIRE_OK(start);
  CHECK(start->call_id.size() == 32);
  CHECK(start->callees == std::vector<UserId>{bob1.user.id});
  CHECK(start->ring_until == w.f.clock.NowMs() + 45'000);
  REQUIRE(start->ice_servers.size() == 2);
  CHECK(start->ice_servers[1].username == "1700086400:" + std::to_string(alice.user.id));

  // Both of bob's devices ring, with the offer and bob's own TURN username; alice's devices do not.
  for (const Session* s : {&bob1, &bob2}) {
    auto rings = w.signals.For(*s, "callRing");
    REQUIRE(rings.size() == 1);
    CHECK(rings[0].at("sdp") == kOffer);
    CHECK(rings[0].at("media") == "video");
    CHECK(rings[0].at("callerId") == alice.user.id);
    CHECK(rings[0].at("iceServers").at(1).at("username") == "1700086400:" + std::to_string(bob1.user.id));
  }
  CHECK(w.signals.For(alice, "callRing").empty());
  CHECK(w.signals.For(alice2, "callRing").empty());
  CHECK(w.calls->Stats().ringing == 1);

  // The caller trickles a candidate before the answer: it is held for the device that accepts.
  REQUIRE_OK(w.calls->Ice(Dev(alice), start->call_id, R"({"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0"})"));
  CHECK(w.signals.For(bob2, "callIce").empty());

  w.f.clock.Advance(3000);
  auto accepted = w.calls->Accept(Dev(bob2), start->call_id, kAnswer);
  REQUIRE_OK(accepted);
  CHECK(accepted->size() == 2);
  auto to_caller = w.signals.For(alice, "callAccepted");
  REQUIRE(to_caller.size() == 1);
  CHECK(to_caller[0].at("sdp") == kAnswer);
  CHECK(to_caller[0].at("deviceId") == bob2.device.id);
  CHECK(w.signals.For(alice2, "callAccepted").empty());
  // bob's other device stops ringing; the answering one is not told it was answered elsewhere.
  auto elsewhere = w.signals.For(bob1, "callEnded");
  REQUIRE(elsewhere.size() == 1);
  CHECK(elsewhere[0].at("reason") == "answered_elsewhere");
  CHECK(w.signals.For(bob2, "callEnded").empty());
  // The held candidate reaches the device that accepted, and only it.
  auto early = w.signals.For(bob2, "callIce");
  REQUIRE(early.size() == 1);
  CHECK(early[0].at("candidate").at("sdpMid") == "0");
  CHECK(w.signals.For(bob1, "callIce").empty());

  // Candidates both ways between the two connected devices.
  REQUIRE_OK(w.calls->Ice(Dev(bob2), start->call_id, R"({"candidate":"candidate:2","sdpMid":"0"})"));
  REQUIRE_OK(w.calls->Ice(Dev(alice), start->call_id, R"({"candidate":"candidate:3","sdpMid":"0"})"));
  CHECK(w.signals.For(alice, "callIce").size() == 1);
  CHECK(w.signals.For(bob2, "callIce").size() == 2);
  CHECK(w.signals.For(alice2, "callIce").empty());
  // The device that did not answer takes no part.
  CHECK_CODE(w.calls->Ice(Dev(bob1), start->call_id, R"({"candidate":"x"})"), StatusCode::kPermissionDenied);
  CHECK(w.calls->Stats().active == 1);

  w.f.clock.Advance(61'000);
  auto end = w.calls->Hangup(Dev(bob2), start->call_id);
  REQUIRE_OK(end);
  CHECK(end->outcome == CallOutcome::kCompleted);
  CHECK(end->duration_ms == 61'000);
  auto ended = w.signals.For(alice, "callEnded");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].at("reason") == "hangup");
  CHECK(ended[0].at("durationMs") == 61'000);

  auto entries = CallEntries(w.f, alice.user.id, chat->id);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].at("outcome") == "completed");
  CHECK(entries[0].at("durationMs") == 61'000);
  CHECK(entries[0].at("media") == "video");
  CHECK(entries[0].at("callId") == start->call_id);
  // The call is over: its id is unknown from now on.
  CHECK_CODE(w.calls->Hangup(Dev(alice), start->call_id), StatusCode::kNotFound);
  CallStats stats = w.calls->Stats();
  CHECK(stats.completed == 1);
  CHECK(stats.active == 0);
  CHECK(stats.ice_relayed == 3);
}

TEST_CASE("an unanswered call ends at the ring timeout as missed", "[calls]") {
  CallOptions options;
  options.ring_timeout_ms = 30'000;
  CallWorld w(options);
  Session alice = w.f.NewUser("alice");
  Session bob = w.f.NewUser("bob");
  auto chat = w.f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(chat);
  auto start = w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer);
  REQUIRE_OK(start);

  w.f.clock.Advance(29'999);
  w.calls->RunDue();
  CHECK(w.calls->Stats().ringing == 1);
  CHECK(w.signals.For(bob, "callEnded").empty());

  w.f.clock.Advance(1);
  w.calls->RunDue();
  for (const Session* s : {&alice, &bob}) {
    auto ended = w.signals.For(*s, "callEnded");
    REQUIRE(ended.size() == 1);
    CHECK(ended[0].at("reason") == "timeout");
    CHECK(ended[0].at("outcome") == "missed");
  }
  auto entries = CallEntries(w.f, bob.user.id, chat->id);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].at("outcome") == "missed");
  CHECK(entries[0].at("durationMs") == 0);
  CHECK(w.calls->Stats().timeouts == 1);
  CHECK_CODE(w.calls->Accept(Dev(bob), start->call_id, kAnswer), StatusCode::kNotFound);
  // The caller's device is free again.
  REQUIRE_OK(w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer));
}

TEST_CASE("a declined direct call ends as rejected, or busy, and the callee's other devices stop ringing", "[calls]") {
  const bool busy = GENERATE(false, true);
  CallWorld w;
  Session alice = w.f.NewUser("alice");
  Session bob1 = w.f.NewUser("bob");
  Session bob2 = w.f.NewDevice("bob");
  auto chat = w.f.service->CreateDirect(alice.user.id, bob1.user.id);
  REQUIRE_OK(chat);
  auto start = w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer);
  REQUIRE_OK(start);

  REQUIRE_OK(w.calls->Reject(Dev(bob1), start->call_id, busy));
  const std::string reason = busy ? "busy" : "rejected";
  auto to_caller = w.signals.For(alice, "callEnded");
  REQUIRE(to_caller.size() == 1);
  CHECK(to_caller[0].at("reason") == reason);
  auto other = w.signals.For(bob2, "callEnded");
  REQUIRE(other.size() == 1);
  CHECK(other[0].at("reason") == "rejected_elsewhere");
  CHECK(w.signals.For(bob1, "callEnded").empty());
  auto entries = CallEntries(w.f, alice.user.id, chat->id);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].at("outcome") == reason);
  CHECK(w.calls->Stats().rejected == 1);
}

// Alice calls Bob and Carol in their group "team".
struct GroupCall {
  explicit GroupCall(CallWorld& w, CallMedia media = CallMedia::kAudio)
      : alice(w.f.NewUser("alice")), bob(w.f.NewUser("bob")), carol(w.f.NewUser("carol")) {
    auto made = w.f.service->CreateGroup(alice.user.id, "team", {bob.user.id, carol.user.id});
    REQUIRE_OK(made);
    chat = made->id;
    auto invited = w.calls->Invite(Dev(alice), chat, media, kOffer);
    REQUIRE_OK(invited);
    start = std::move(*invited);
  }
  Session alice, bob, carol;
  ChatId chat = 0;
  CallStart start;
};

TEST_CASE("in a group, one member declining leaves the others ringing, the first to accept takes the call", "[calls]") {
  CallWorld w;
  GroupCall g(w);
  const Session& alice = g.alice;
  const Session& bob = g.bob;
  const Session& carol = g.carol;
  const CallStart* start = &g.start;
  CHECK(start->callees.size() == 2);

  REQUIRE_OK(w.calls->Reject(Dev(bob), start->call_id, false));
  auto declined = w.signals.For(alice, "callRejected");
  REQUIRE(declined.size() == 1);
  CHECK(declined[0].at("userId") == bob.user.id);
  CHECK(w.signals.For(alice, "callEnded").empty());
  // Declining twice, or answering after declining, is refused.
  CHECK_CODE(w.calls->Reject(Dev(bob), start->call_id, false), StatusCode::kFailedPrecondition);
  CHECK_CODE(w.calls->Accept(Dev(bob), start->call_id, kAnswer), StatusCode::kFailedPrecondition);

  REQUIRE_OK(w.calls->Accept(Dev(carol), start->call_id, kAnswer));
  CHECK(w.signals.For(alice, "callAccepted").size() == 1);
  auto end = w.calls->Hangup(Dev(alice), start->call_id);
  REQUIRE_OK(end);
  CHECK(end->outcome == CallOutcome::kCompleted);
  CHECK(w.signals.For(carol, "callEnded").size() == 1);
}

TEST_CASE("the caller hanging up before an answer stops the ringing and logs a missed call", "[calls]") {
  CallWorld w;
  Session alice = w.f.NewUser("alice");
  Session bob = w.f.NewUser("bob");
  auto chat = w.f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(chat);
  auto start = w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer);
  REQUIRE_OK(start);
  auto end = w.calls->Hangup(Dev(alice), start->call_id);
  REQUIRE_OK(end);
  CHECK(end->outcome == CallOutcome::kMissed);
  auto ended = w.signals.For(bob, "callEnded");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].at("reason") == "canceled");
  CHECK(CallEntries(w.f, bob.user.id, chat->id).at(0).at("outcome") == "missed");
}

TEST_CASE("a device that signs in while a call rings is rung too and can answer, but not once its user declined, "
          "the call was answered or its ring timed out",
          "[calls]") {
  CallOptions options;
  options.ice.turn_urls = {"turn:turn.example.org:3478?transport=udp"};
  options.ice.turn_secret = "north-secret";
  CallWorld w(options);
  GroupCall g(w, CallMedia::kVideo);
  const Session& alice = g.alice;
  const Session& bob1 = g.bob;
  const Session& carol1 = g.carol;
  const CallStart* start = &g.start;
  REQUIRE(w.signals.For(bob1, "callRing").size() == 1);

  // bob signs in on a second device (say, woken by the call's push): that device, and only it, is
  // rung again, with the offer and bob's own TURN credentials.
  w.f.clock.Advance(5000);
  Session bob2 = w.f.NewDevice("bob");
  const std::size_t before = w.signals.size();
  w.calls->DeviceOnline(Dev(bob2));
  REQUIRE(w.signals.size() == before + 1);
  auto rings = w.signals.For(bob2, "callRing");
  REQUIRE(rings.size() == 2);  // The invite's, addressed to every device of bob's, and its own.
  CHECK(rings[1].at("callId") == start->call_id);
  CHECK(rings[1].at("sdp") == kOffer);
  CHECK(rings[1].at("media") == "video");
  CHECK(rings[1].at("ringUntil") == start->ring_until);
  CHECK(rings[1].at("iceServers").at(0).at("username") == "1700086405:" + std::to_string(bob1.user.id));
  CHECK(w.signals.For(bob1, "callRing").size() == 1);
  CHECK(w.calls->Stats().rung_late == 1);

  // The caller's devices are never rung by their own call; nor is a user who declined.
  Session alice2 = w.f.NewDevice("alice");
  w.calls->DeviceOnline(Dev(alice));
  w.calls->DeviceOnline(Dev(alice2));
  REQUIRE_OK(w.calls->Reject(Dev(carol1), start->call_id, false));
  Session carol2 = w.f.NewDevice("carol");
  const std::size_t after_decline = w.signals.size();
  w.calls->DeviceOnline(Dev(carol2));
  CHECK(w.signals.size() == after_decline);

  // The late device answers the call.
  REQUIRE_OK(w.calls->Accept(Dev(bob2), start->call_id, kAnswer));
  auto accepted = w.signals.For(alice, "callAccepted");
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0].at("deviceId") == bob2.device.id);
  // Answered: nobody is rung by it any more.
  Session bob3 = w.f.NewDevice("bob");
  const std::size_t after_answer = w.signals.size();
  w.calls->DeviceOnline(Dev(bob3));
  CHECK(w.signals.size() == after_answer);
  CHECK(w.calls->Stats().rung_late == 1);
  REQUIRE_OK(w.calls->Hangup(Dev(alice), start->call_id));

  // A call whose ring timeout has passed (its timer not yet run) rings no one either.
  auto second = w.calls->Invite(Dev(alice), g.chat, CallMedia::kAudio, kOffer);
  REQUIRE_OK(second);
  w.f.clock.Advance(45'000);
  const std::size_t timed_out = w.signals.size();
  w.calls->DeviceOnline(Dev(bob3));
  CHECK(w.signals.size() == timed_out);
  w.calls->RunDue();
  CHECK(w.calls->Stats().ringing == 0);
  // Nothing of the calls is left to ring anyone.
  w.calls->DeviceOnline(Dev(bob3));
  CHECK(w.calls->Stats().rung_late == 1);
}

TEST_CASE("refused signalling changes nothing: non-member, oversized or empty SDP, unknown call, busy device",
          "[calls]") {
  CallOptions options;
  options.max_sdp_bytes = 1024;
  options.max_candidate_bytes = 256;
  CallWorld w(options);
  Session alice = w.f.NewUser("alice");
  Session bob = w.f.NewUser("bob");
  Session mallory = w.f.NewUser("mallory");
  auto chat = w.f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(chat);

  CHECK_CODE(w.calls->Invite(Dev(mallory), chat->id, CallMedia::kAudio, kOffer), StatusCode::kPermissionDenied);
  CHECK_CODE(w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, std::string(1025, 'x')),
             StatusCode::kInvalidArgument);
  CHECK_CODE(w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, ""), StatusCode::kInvalidArgument);
  CHECK_CODE(w.calls->Accept(Dev(bob), "0123456789abcdef0123456789abcdef", kAnswer), StatusCode::kNotFound);
  CHECK(w.signals.size() == 0);
  CHECK(w.calls->Stats().ringing == 0);

  auto start = w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer);
  REQUIRE_OK(start);
  const std::size_t after_invite = w.signals.size();
  // Someone outside the chat can neither answer, decline, signal nor end it.
  CHECK_CODE(w.calls->Accept(Dev(mallory), start->call_id, kAnswer), StatusCode::kPermissionDenied);
  CHECK_CODE(w.calls->Reject(Dev(mallory), start->call_id, false), StatusCode::kPermissionDenied);
  CHECK_CODE(w.calls->Ice(Dev(mallory), start->call_id, R"({"candidate":"x"})"), StatusCode::kPermissionDenied);
  CHECK_CODE(w.calls->Hangup(Dev(mallory), start->call_id), StatusCode::kPermissionDenied);
  // The caller cannot answer their own call; the callee cannot signal before answering.
  CHECK_CODE(w.calls->Accept(Dev(alice), start->call_id, kAnswer), StatusCode::kPermissionDenied);
  CHECK_CODE(w.calls->Ice(Dev(bob), start->call_id, R"({"candidate":"x"})"), StatusCode::kFailedPrecondition);
  CHECK_CODE(w.calls->Ice(Dev(alice), start->call_id, "[1,2]"), StatusCode::kInvalidArgument);
  CHECK_CODE(w.calls->Ice(Dev(alice), start->call_id, R"({"candidate":")" + std::string(300, 'c') + "\"}"),
             StatusCode::kInvalidArgument);
  CHECK_CODE(w.calls->Accept(Dev(bob), start->call_id, std::string(1025, 'x')), StatusCode::kInvalidArgument);
  // One call per device at a time.
  CHECK_CODE(w.calls->Invite(Dev(alice), chat->id, CallMedia::kAudio, kOffer), StatusCode::kFailedPrecondition);
  CHECK(w.signals.size() == after_invite);
  CHECK(w.calls->Stats().ringing == 1);
  CHECK(w.calls->Stats().refused == 14);
  CHECK(CallEntries(w.f, alice.user.id, chat->id).empty());
  // The call itself is untouched: bob can still answer.
  REQUIRE_OK(w.calls->Accept(Dev(bob), start->call_id, kAnswer));
}

TEST_CASE("a call rings the callee's offline devices by push, not its live ones", "[calls][push]") {
  Fixture f("mem");
  Session alice = f.NewUser("alice");
  Session bob1 = f.NewUser("bob");
  Session bob2 = f.NewDevice("bob");
  REQUIRE_OK(f.service->SetPushToken(bob1.user.id, bob1.device.id, "fcm", "token-bob1"));
  REQUIRE_OK(f.service->SetPushToken(bob2.user.id, bob2.device.id, "fcm", "token-bob2"));
  auto chat = f.service->CreateDirect(alice.user.id, bob1.user.id);
  REQUIRE_OK(chat);

  auto sender = std::make_shared<RecordingPushSender>();
  PushOptions push_options;
  push_options.worker_threads = 0;
  push_options.recover_on_start = false;
  push_options.clock = &f.clock;
  // bob2 has a live session; bob1 is offline.
  const DeviceId live = bob2.device.id;
  auto dispatcher = PushDispatcher::Create(push_options, f.store, f.bus, {{"*", sender}},
                                           [live](UserId, DeviceId d) { return d == live; });
  REQUIRE_OK(dispatcher);
  CallOptions options;
  options.timer_thread = false;
  options.clock = &f.clock;
  auto calls = CallManager::Create(options, *f.service, dispatcher->get());
  REQUIRE_OK(calls);

  auto start = (*calls)->Invite(Dev(alice), chat->id, CallMedia::kVideo, kOffer);
  REQUIRE_OK(start);
  (*dispatcher)->RunDue();
  auto sent = sender->Sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].call);
  CHECK(sent[0].call_id == start->call_id);
  CHECK(sent[0].token == "token-bob1");
  CHECK(sent[0].sender == alice.user.id);
  CHECK((*dispatcher)->Stats().calls == 1);
}

TEST_CASE("TURN credentials follow the TURN REST API: base64(HMAC-SHA1(secret, \"expiry:user\"))", "[calls][ice]") {
  // Computed with Python: base64.b64encode(hmac.new(b'north-secret', b'1700086400:42', hashlib.sha1).digest())
  CHECK(TurnCredential("north-secret", "1700086400:42") == "UWXoDjwZ9B4odP04PG9KxJWLns0=");
  CHECK(TurnCredential("secret", "") == "Ja9hdKD87MTTRmgKcrfOZEuaiOg=");

  IceOptions ice;
  CHECK(MakeIceServers(ice, 42, 1'700'000'000'000).empty());
  ice.stun_urls = {"stun:a:3478"};
  ice.turn_urls = {"turn:b:3478", "turns:b:5349"};
  CHECK(MakeIceServers(ice, 42, 1'700'000'000'000).size() == 1);  // No secret: no TURN entry.
  ice.turn_secret = "north-secret";
  ice.turn_ttl_ms = 86'400'000;
  auto servers = MakeIceServers(ice, 42, 1'700'000'000'000);
  REQUIRE(servers.size() == 2);
  CHECK(servers[0].urls == std::vector<std::string>{"stun:a:3478"});
  CHECK(servers[0].username.empty());
  CHECK(servers[1].urls.size() == 2);
  CHECK(servers[1].username == "1700086400:42");
  CHECK(servers[1].credential == "UWXoDjwZ9B4odP04PG9KxJWLns0=");
}

}  // namespace
}  // namespace chat::test
