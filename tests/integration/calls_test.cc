// Call signalling through a real chatd: invite -> ring -> accept -> ICE -> hang-up across three
// devices, the ring timeout, reject and busy, refusals (non-member, oversized SDP, unknown call), and
// the call entry every call leaves in the chat.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "libchat/ice.h"

#include "call_events.h"
#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;

// True if a call event of `call_id` arrives within `timeout`; other events stay buffered.
bool HasCallEvent(Client& c, const std::string& call_id, std::chrono::milliseconds timeout = 200ms) {
  return c
      .WaitForEvent(
          [&](const ClientEvent& e) {
            return e.name.rfind("call", 0) == 0 && Json::parse(e.data).value("callId", "") == call_id;
          },
          timeout)
      .has_value();
}

TEST_CASE("chatd relays a call across three devices: invite, ring, accept, ICE both ways, hang-up, call entry",
          "[integration][calls]") {
  const TempDir secrets;
  const std::string secret_file = secrets.str() + "/turn-secret";
  { std::ofstream(secret_file) << "north-secret\n"; }
  TestServer s({"--stun-url", "stun:stun.example.org:3478", "--turn-url", "turn:turn.example.org:3478",
                "--turn-secret-file", secret_file, "--turn-ttl", "600"});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "alice-phone");
  LiveDevice b1 = LoginDevice(s.chatd(), "bob", "bob-phone");
  LiveDevice b2 = LoginDevice(s.chatd(), "bob", "bob-laptop");
  auto chat = a.client->CreateDirect(bob);
  REQUIRE_OK(chat);

  const Json start = ResultOf(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"media", "video"}, {"sdp", kOffer}}));
  const std::string call_id = start.at("callId");
  CHECK(start.at("callees") == Json::array({bob}));
  REQUIRE(start.at("iceServers").size() == 2);
  CHECK(start.at("iceServers")[0].at("urls") == Json::array({"stun:stun.example.org:3478"}));
  const std::string alice_turn_user = start.at("iceServers")[1].at("username");
  CHECK(alice_turn_user.substr(alice_turn_user.find(':')) == ":" + std::to_string(a.user()));
  CHECK(start.at("iceServers")[1].at("credential") == TurnCredential("north-secret", alice_turn_user));

  // Both of bob's devices ring with the offer and TURN credentials of bob's own.
  for (LiveDevice* d : {&b1, &b2}) {
    auto ring = WaitForCallEvent(*d->client, "callRing", call_id);
    REQUIRE(ring);
    CHECK(ring->at("sdp") == kOffer);
    CHECK(ring->at("media") == "video");
    CHECK(ring->at("chatId") == chat->id);
    CHECK(ring->at("callerId") == a.user());
    const std::string turn_user = ring->at("iceServers")[1].at("username");
    CHECK(turn_user.substr(turn_user.find(':')) == ":" + std::to_string(bob));
  }

  // Alice trickles a candidate while it rings; the laptop answers.
  REQUIRE(Cmd(*a.client, "callIce", {{"callId", call_id}, {"candidate", {{"candidate", "candidate:1 1 udp 1 10.0.0.1 9 typ host"}, {"sdpMid", "0"}}}}).ok);
  const Json accepted = ResultOf(Cmd(*b2.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}));
  CHECK(accepted.at("iceServers").size() == 2);
  auto answer = WaitForCallEvent(*a.client, "callAccepted", call_id);
  REQUIRE(answer);
  CHECK(answer->at("sdp") == kAnswer);
  CHECK(answer->at("deviceId") == b2.id());
  auto elsewhere = WaitForCallEvent(*b1.client, "callEnded", call_id);
  REQUIRE(elsewhere);
  CHECK(elsewhere->at("reason") == "answered_elsewhere");
  auto early = WaitForCallEvent(*b2.client, "callIce", call_id);
  REQUIRE(early);
  CHECK(early->at("candidate").at("sdpMid") == "0");
  CHECK(early->at("fromDevice") == a.id());

  // Candidates in both directions, only between the two connected devices.
  REQUIRE(Cmd(*b2.client, "callIce", {{"callId", call_id}, {"candidate", {{"candidate", "candidate:2"}, {"sdpMid", "0"}}}}).ok);
  auto from_bob = WaitForCallEvent(*a.client, "callIce", call_id);
  REQUIRE(from_bob);
  CHECK(from_bob->at("candidate").at("candidate") == "candidate:2");
  REQUIRE(Cmd(*a.client, "callIce", {{"callId", call_id}, {"candidate", {{"candidate", "candidate:3"}, {"sdpMid", "0"}}}}).ok);
  auto from_alice = WaitForCallEvent(*b2.client, "callIce", call_id);
  REQUIRE(from_alice);
  CHECK(from_alice->at("candidate").at("candidate") == "candidate:3");
  // The phone that did not answer takes no part.
  CHECK(Cmd(*b1.client, "callIce", {{"callId", call_id}, {"candidate", {{"candidate", "x"}}}}).code == "permission_denied");

  const Json end = ResultOf(Cmd(*a.client, "callHangup", {{"callId", call_id}}));
  CHECK(end.at("outcome") == "completed");
  auto ended = WaitForCallEvent(*b2.client, "callEnded", call_id);
  REQUIRE(ended);
  CHECK(ended->at("reason") == "hangup");
  CHECK(ended->at("durationMs") == end.at("durationMs"));
  CHECK_FALSE(HasCallEvent(*b1.client, call_id));  // Nothing more after it stopped ringing.

  // Every device syncs the one call entry in the chat's order.
  for (LiveDevice* d : {&a, &b1, &b2}) {
    auto entry = WaitForCallEntry(*d->client, chat->id, call_id);
    REQUIRE(entry);
    CHECK(entry->at("outcome") == "completed");
    CHECK(entry->at("media") == "video");
    CHECK(entry->at("durationMs") == end.at("durationMs"));
  }
  CHECK(Cmd(*a.client, "callHangup", {{"callId", call_id}}).code == "not_found");
  CHECK(MetricValue(s.port(), "chat_calls_completed_total") == 1);
  CHECK(MetricValue(s.port(), "chat_calls_ice_relayed_total") == 3);
}

TEST_CASE("chatd rings a device that signs in while its call rings (a resume, as after a call push, or a new "
          "login), and that device can answer",
          "[integration][calls]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "alice-phone");
  Session phone;
  {
    LiveDevice b = LoginDevice(s.chatd(), "bob", "bob-phone");
    phone = b.session;
  }  // bob's phone goes offline, its session kept.
  auto chat = a.client->CreateDirect(bob);
  REQUIRE_OK(chat);
  const Json start = ResultOf(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"media", "audio"}, {"sdp", kOffer}}));
  const std::string call_id = start.at("callId");

  // The phone comes back (woken by the call's push, it resumes): it rings.
  LiveDevice b1 = ResumeDevice(s.chatd(), phone);
  auto ring = WaitForCallEvent(*b1.client, "callRing", call_id);
  REQUIRE(ring);
  CHECK(ring->at("sdp") == kOffer);
  CHECK(ring->at("callerId") == a.user());
  CHECK(ring->at("ringUntil") == start.at("ringUntil"));
  // So does a device that logs in for the first time meanwhile; the caller's own new device does not.
  LiveDevice b2 = LoginDevice(s.chatd(), "bob", "bob-laptop");
  REQUIRE(WaitForCallEvent(*b2.client, "callRing", call_id));
  LiveDevice a2 = LoginDevice(s.chatd(), "alice", "alice-laptop");

  // The phone answers; the laptop stops ringing.
  REQUIRE(Cmd(*b1.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).ok);
  auto answer = WaitForCallEvent(*a.client, "callAccepted", call_id);
  REQUIRE(answer);
  CHECK(answer->at("deviceId") == b1.id());
  auto elsewhere = WaitForCallEvent(*b2.client, "callEnded", call_id);
  REQUIRE(elsewhere);
  CHECK(elsewhere->at("reason") == "answered_elsewhere");
  CHECK_FALSE(HasCallEvent(*a2.client, call_id));
  // Answered: a device signing in now is not rung.
  LiveDevice b3 = LoginDevice(s.chatd(), "bob", "bob-tablet");
  CHECK_FALSE(HasCallEvent(*b3.client, call_id));
  CHECK(MetricValue(s.port(), "chat_calls_rung_late_total") == 2);
  REQUIRE(Cmd(*a.client, "callHangup", {{"callId", call_id}}).ok);
}

TEST_CASE("chatd ends an unanswered call after --call-ring-timeout and logs it missed", "[integration][calls]") {
  TestServer s({"--call-ring-timeout", "0.5"});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  auto chat = a.client->CreateDirect(bob);
  REQUIRE_OK(chat);

  const auto started = std::chrono::steady_clock::now();
  const Json start = ResultOf(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"media", "audio"}, {"sdp", kOffer}}));
  const std::string call_id = start.at("callId");
  REQUIRE(WaitForCallEvent(*b.client, "callRing", call_id));
  for (LiveDevice* d : {&a, &b}) {
    auto ended = WaitForCallEvent(*d->client, "callEnded", call_id);
    REQUIRE(ended);
    CHECK(ended->at("reason") == "timeout");
    CHECK(ended->at("outcome") == "missed");
  }
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(500));
  auto entry = WaitForCallEntry(*b.client, chat->id, call_id);
  REQUIRE(entry);
  CHECK(entry->at("outcome") == "missed");
  CHECK(Cmd(*b.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).code == "not_found");
  CHECK(MetricValue(s.port(), "chat_calls_missed_total") == 1);
}

TEST_CASE("chatd: a callee rejecting or busy ends the call with that outcome", "[integration][calls]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b1 = LoginDevice(s.chatd(), "bob", "b1");
  LiveDevice b2 = LoginDevice(s.chatd(), "bob", "b2");
  auto chat = a.client->CreateDirect(bob);
  REQUIRE_OK(chat);

  for (const std::string reason : {"declined", "busy"}) {
    const std::string outcome = reason == "busy" ? "busy" : "rejected";
    const Json start = ResultOf(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"sdp", kOffer}}));
    const std::string call_id = start.at("callId");
    REQUIRE(WaitForCallEvent(*b1.client, "callRing", call_id));
    REQUIRE(Cmd(*b1.client, "callReject", {{"callId", call_id}, {"reason", reason}}).ok);
    auto ended = WaitForCallEvent(*a.client, "callEnded", call_id);
    REQUIRE(ended);
    CHECK(ended->at("reason") == outcome);
    auto other = WaitForCallEvent(*b2.client, "callEnded", call_id);
    REQUIRE(other);
    CHECK(other->at("reason") == "rejected_elsewhere");
    auto entry = WaitForCallEntry(*a.client, chat->id, call_id);
    REQUIRE(entry);
    CHECK(entry->at("outcome") == outcome);
  }
  CHECK(Cmd(*b1.client, "callReject", {{"callId", "nope"}, {"reason", "declined"}}).code == "not_found");
  CHECK(Cmd(*b1.client, "callReject", {{"callId", "nope"}, {"reason", "maybe"}}).code == "invalid_argument");
}

TEST_CASE("chatd refuses call signalling from a non-member, an oversized SDP and unknown calls, changing nothing",
          "[integration][calls]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "mallory");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice m = LoginDevice(s.chatd(), "mallory", "m");
  auto chat = a.client->CreateDirect(bob);
  REQUIRE_OK(chat);

  CHECK(Cmd(*m.client, "callInvite", {{"chatId", chat->id}, {"sdp", kOffer}}).code == "permission_denied");
  // 64 KiB is the SDP limit; the frame itself (256 KiB) is within bounds.
  const Reply big = Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"sdp", std::string(65 * 1024, 'a')}});
  CHECK(big.code == "invalid_argument");
  CHECK(big.message.find("limit") != std::string::npos);
  CHECK(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"media", "hologram"}, {"sdp", kOffer}}).code ==
        "invalid_argument");
  CHECK(Cmd(*a.client, "callInvite", {{"chatId", chat->id}}).code == "bad_request");
  CHECK(Cmd(*b.client, "callAccept", {{"callId", "0123456789abcdef0123456789abcdef"}, {"sdp", kAnswer}}).code ==
        "not_found");
  // Nothing rang.
  CHECK_FALSE(b.client->WaitForEvent([](const ClientEvent& e) { return e.name == "callRing"; }, 300ms));

  const Json start = ResultOf(Cmd(*a.client, "callInvite", {{"chatId", chat->id}, {"sdp", kOffer}}));
  const std::string call_id = start.at("callId");
  REQUIRE(WaitForCallEvent(*b.client, "callRing", call_id));
  CHECK(Cmd(*m.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).code == "permission_denied");
  CHECK(Cmd(*m.client, "callHangup", {{"callId", call_id}}).code == "permission_denied");
  CHECK(Cmd(*m.client, "callIce", {{"callId", call_id}, {"candidate", {{"candidate", "x"}}}}).code ==
        "permission_denied");
  CHECK(Cmd(*b.client, "callAccept", {{"callId", call_id}, {"sdp", std::string(65 * 1024, 'a')}}).code ==
        "invalid_argument");
  // The call goes on untouched.
  REQUIRE(Cmd(*b.client, "callAccept", {{"callId", call_id}, {"sdp", kAnswer}}).ok);
  REQUIRE(WaitForCallEvent(*a.client, "callAccepted", call_id));
  CHECK(MetricValue(s.port(), "chat_calls_refused_total") == 7);
}

// chatd's exit code with these flags (on loopback, in-memory store); for starts that must fail.
int ChatdExitCode(const std::string& flags) {
  // Appended piecewise: gcc 12 at -O1 takes `std::string(...) + literal + ...` here for an overflow
  // (-Warray-bounds, a known false positive).
  std::string cmd = CHATD_PATH;
  cmd += " --listen 127.0.0.1:0 --store mem:// --password-cost minimum ";
  cmd += flags;
  cmd += " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_CASE("chatd refuses inconsistent call and push flags at start", "[integration][calls]") {
  CHECK(ChatdExitCode("--call-ring-timeout 0") == 2);
  CHECK(ChatdExitCode("--turn-url turn:t.example.org:3478") == 2);
  CHECK(ChatdExitCode("--turn-secret-file /nonexistent/secret") == 2);
  CHECK(ChatdExitCode("--turn-url turn:t.example.org:3478 --turn-secret-file /nonexistent/secret") == 1);
  CHECK(ChatdExitCode("--push nosuch://x") == 1);
  CHECK(ChatdExitCode("--push 'webhook+http://127.0.0.1:9/x?nope=1'") == 1);
}

}  // namespace
}  // namespace chat::test
