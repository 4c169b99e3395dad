// chatd with --push pointed at a recording webhook gateway on 127.0.0.1: a device that registered a
// token and has no live session is pushed a new message and rung for a call; a live device is not.
// A token cleared with setPushToken "" "" is pushed no more. Real chatd process, real sockets, the
// real curl sender; waits have deadlines, not fixed sleeps.
#include <nlohmann/json.hpp>

#include "gateway.h"
#include "test_server.h"

namespace chat::test {
namespace {

using json = nlohmann::json;

void RegisterToken(Client& c, const std::string& token) {
  const Reply r = c.Call("setPushToken", json{{"provider", "fcm"}, {"token", token}}.dump());
  INFO(r.raw);
  REQUIRE(r.ok);
}

std::vector<json> PushesTo(const RecordingGateway& g, const std::string& token, const std::string& type) {
  std::vector<json> out;
  for (const RecordedRequest& r : g.Requests("/push")) {
    json body = r.Json();
    if (body.value("token", "") == token && body.value("type", "") == type) out.push_back(std::move(body));
  }
  return out;
}

TEST_CASE("chatd --push pushes an offline device's message and call to the gateway, not a live device, not a cleared token",
          "[integration][push][calls]") {
  RecordingGateway gateway;
  TestServer s({"--push", "webhook+http://127.0.0.1:" + std::to_string(gateway.port()) + "/push"});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  const UserId carol = RegisterUser(s.chatd(), "carol");
  const UserId dave = RegisterUser(s.chatd(), "dave");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  RegisterToken(*c.client, "tok-carol");
  Session bob_session;
  for (const std::string name : {"bob", "dave"}) {
    // bob and dave register a token, then go offline.
    LiveDevice d = LoginDevice(s.chatd(), name, name);
    RegisterToken(*d.client, "tok-" + name);
    d.client->Close();
    if (name == "bob") bob_session = d.session;
  }
  auto chat = a.client->CreateGroup("plans", {bob, carol, dave});
  REQUIRE_OK(chat);

  auto sent = a.client->SendMessage(chat->id, "m1", "dinner at 8?");
  REQUIRE_OK(sent);
  REQUIRE(Eventually([&] { return !PushesTo(gateway, "tok-bob", "message").empty(); }));
  const json message_push = PushesTo(gateway, "tok-bob", "message").at(0);
  CHECK(message_push.at("chat") == chat->id);
  CHECK(message_push.at("count") == 1);
  CHECK(message_push.at("last_seq") == sent->message.seq);
  CHECK_FALSE(message_push.contains("preview"));  // Previews are off unless --push-previews.

  const Reply invite = a.client->Call(
      "callInvite", json{{"chatId", chat->id}, {"media", "audio"}, {"sdp", "v=0\r\ns=-\r\n"}}.dump());
  INFO(invite.raw);
  REQUIRE(invite.ok);
  const std::string call_id = json::parse(invite.result).at("callId");
  REQUIRE(Eventually([&] { return !PushesTo(gateway, "tok-bob", "call").empty(); }));
  const json call_push = PushesTo(gateway, "tok-bob", "call").at(0);
  CHECK(call_push.at("call_id") == call_id);
  CHECK(call_push.at("priority") == "high");
  CHECK(call_push.at("sender") == a.user());
  CHECK(call_push.at("expires_at").get<TimeMs>() > 0);
  // carol's live device rings over its session instead.
  REQUIRE(c.client->WaitForEvent([](const ClientEvent& e) { return e.name == "callRing"; }, kWait));
  REQUIRE(a.client->Call("callHangup", json{{"callId", call_id}}.dump()).ok);

  REQUIRE(Eventually([&] { return MetricValue(s.port(), "chat_push_sent_total") >= 2; }));
  CHECK(MetricValue(s.port(), "chat_push_calls_total") >= 1);
  CHECK(MetricValue(s.port(), "chat_push_queue_depth") >= 0);
  // Everything for carol went over her session; she was never pushed.
  CHECK(PushesTo(gateway, "tok-carol", "message").empty());
  CHECK(PushesTo(gateway, "tok-carol", "call").empty());

  // bob clears his token (empty provider and token): he is pushed no more, while dave still is.
  {
    LiveDevice b = ResumeDevice(s.chatd(), bob_session);
    const Reply cleared = b.client->Call("setPushToken", json{{"provider", ""}, {"token", ""}}.dump());
    INFO(cleared.raw);
    REQUIRE(cleared.ok);
    b.client->Close();
  }
  auto second = a.client->SendMessage(chat->id, "m2", "or at 9?");
  REQUIRE_OK(second);
  auto pushed_at_second = [&](const std::string& token) {
    for (const json& p : PushesTo(gateway, token, "message")) {
      if (p.at("last_seq") == second->message.seq) return true;
    }
    return false;
  };
  // Both fall due in the same pass of the dispatcher, so bob's would be sent alongside dave's; a
  // late request would only let this check pass wrongly, never fail it spuriously.
  REQUIRE(Eventually([&] { return pushed_at_second("tok-dave"); }));
  CHECK_FALSE(pushed_at_second("tok-bob"));
}

}  // namespace
}  // namespace chat::test
