// Blocking and bans against a real chatd (127.0.0.1, port 0, LevelDB on disk) with its admin API on
// port 0: blockUser over the wire and the typed refusal of a blocked send; a ban through the admin API
// closes the banned user's live WebSocket at once and refuses login and resume, and unban lets them back.
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "chatd_process.h"
#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;
constexpr const char* kToken = "moderation-admin-token-0123456789";

// chatd with its admin API on 127.0.0.1:0, the token in a file of the test's own folder.
struct ModeratedServer {
  ModeratedServer() {
    const std::string token_file = (token_dir.path() / "admin-token").string();
    std::ofstream(token_file) << kToken << "\n";
    server.emplace(std::vector<std::string>{"--admin-token-file", token_file, "--admin-listen", "127.0.0.1:0"});
    admin_port = server->chatd().AdminPort();
  }
  ChatdProcess& chatd() { return server->chatd(); }

  // POST to the admin API: (status, JSON body).
  std::pair<int, Json> AdminPost(const std::string& path, const std::string& body) {
    httplib::Client http("127.0.0.1", admin_port);
    http.set_bearer_token_auth(kToken);
    auto res = http.Post(path, body, "application/json");
    REQUIRE(res);
    return {res->status, Json::parse(res->body, nullptr, false)};
  }

  TempDir token_dir;
  std::optional<TestServer> server;
  std::uint16_t admin_port = 0;
};

TEST_CASE("blockUser over the wire: a blocked send is permission_denied and appends nothing", "[integration][block]") {
  TestServer server;
  const UserId alice = RegisterUser(server.chatd(), "alice");
  const UserId bob = RegisterUser(server.chatd(), "bob");
  auto a = LoginDevice(server.chatd(), "alice", "phone");
  auto b = LoginDevice(server.chatd(), "bob", "phone");
  auto dm = a.client->CreateDirect(bob);
  REQUIRE_OK(dm);
  REQUIRE_OK(a.client->SendMessage(dm->id, "m1", "hi"));

  auto blocked = b.client->Call("blockUser", Json{{"userId", alice}}.dump());
  REQUIRE(blocked.ok);
  CHECK(Json::parse(blocked.result) == Json{{"userId", alice}, {"blocked", true}});
  CHECK(b.client->Call("blockUser", Json{{"userId", alice}}.dump()).ok);  // Idempotent.
  auto list = b.client->Call("listBlocked");
  REQUIRE(list.ok);
  auto listed = Json::parse(list.result)["blocked"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["userId"] == alice);
  CHECK(listed[0]["since"].get<TimeMs>() > 0);

  auto refused = a.client->Call("sendMessage", Json{{"chatId", dm->id}, {"clientId", "m2"}, {"body", "x"}}.dump());
  CHECK_FALSE(refused.ok);
  CHECK(refused.code == "permission_denied");
  CHECK(refused.message.find("blocked") != std::string::npos);
  CHECK(SyncAll(*b.client, dm->id).size() == 2);  // The chat's creation and m1 only.

  // Presence: alice no longer sees bob.
  auto presence = a.client->Call("getPresence", Json{{"userIds", {bob}}}.dump());
  REQUIRE(presence.ok);
  CHECK(Json::parse(presence.result)["presence"][0]["visible"] == false);

  // Bad input: typed errors, nothing changes.
  auto self = b.client->Call("blockUser", Json{{"userId", bob}}.dump());
  CHECK(self.code == "invalid_argument");
  auto unknown = b.client->Call("blockUser", Json{{"userId", 424242}}.dump());
  CHECK(unknown.code == "not_found");
  auto wrong_type = b.client->Call("blockUser", Json{{"userId", "alice"}}.dump());
  CHECK(wrong_type.code == "bad_request");
  auto missing = b.client->Call("unblockUser", "{}");
  CHECK(missing.code == "bad_request");
  CHECK(Json::parse(b.client->Call("listBlocked").result)["blocked"].size() == 1);

  // Survives a restart (LevelDB), then unblock restores sending.
  server.Restart();
  auto b2 = ResumeDevice(server.chatd(), b.session);
  CHECK(Json::parse(b2.client->Call("listBlocked").result)["blocked"].size() == 1);
  auto a2 = ResumeDevice(server.chatd(), a.session);
  CHECK(a2.client->Call("sendMessage", Json{{"chatId", dm->id}, {"clientId", "m3"}, {"body", "x"}}.dump()).code ==
        "permission_denied");
  auto unblocked = b2.client->Call("unblockUser", Json{{"userId", alice}}.dump());
  REQUIRE(unblocked.ok);
  CHECK(Json::parse(unblocked.result)["blocked"] == false);
  REQUIRE_OK(a2.client->SendMessage(dm->id, "m4", "back"));
}

TEST_CASE("presence events about a user do not reach those they block, and do reach the others",
          "[integration][block]") {
  TestServer server;
  const UserId alice = RegisterUser(server.chatd(), "alice");
  const UserId bob = RegisterUser(server.chatd(), "bob");
  RegisterUser(server.chatd(), "carol");
  auto a = LoginDevice(server.chatd(), "alice", "phone");
  auto c = LoginDevice(server.chatd(), "carol", "phone");
  {
    auto b = LoginDevice(server.chatd(), "bob", "phone");
    REQUIRE_OK(a.client->CreateDirect(bob));
    REQUIRE_OK(c.client->CreateDirect(bob));
    REQUIRE(b.client->Call("blockUser", Json{{"userId", alice}}.dump()).ok);
    b.client->Close();
  }
  auto about_bob = [bob](const ClientEvent& e) { return e.name == "presence" && e.user == bob; };
  // Bob going offline was told to carol only.
  REQUIRE(c.client->WaitForEvent(about_bob, kWait).has_value());
  a.client->TakeEvents();
  c.client->TakeEvents();

  auto b = LoginDevice(server.chatd(), "bob", "laptop");  // Online again: announced.
  auto online = c.client->WaitForEvent(about_bob, kWait);
  REQUIRE(online.has_value());
  CHECK(Json::parse(online->data)["online"] == true);
  // The same publication reached alice's session by now if it was routed there at all.
  CHECK_FALSE(a.client->WaitForEvent(about_bob, std::chrono::milliseconds(300)).has_value());
}

TEST_CASE("an admin ban closes the user's live WebSocket at once and refuses login and resume, and unban lets them back",
          "[integration][ban]") {
  ModeratedServer s;
  const UserId alice = RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  auto a = LoginDevice(s.chatd(), "alice", "phone");
  auto b = LoginDevice(s.chatd(), "bob", "phone");
  auto dm = a.client->CreateDirect(bob);
  REQUIRE_OK(dm);

  // Bad input first: nothing changes.
  CHECK(s.AdminPost("/v1/users/" + std::to_string(alice) + "/ban", "{}").first == 400);
  CHECK(s.AdminPost("/v1/users/" + std::to_string(alice) + "/ban", R"({"reason": 5})").first == 400);
  CHECK(s.AdminPost("/v1/users/" + std::to_string(alice) + "/ban", R"({"reason": ""})").first == 422);
  CHECK(s.AdminPost("/v1/users/424242/ban", R"({"reason": "spam"})").first == 404);
  REQUIRE_OK(a.client->SendMessage(dm->id, "still-here", "hi"));

  const auto t0 = std::chrono::steady_clock::now();
  auto [status, user] = s.AdminPost("/v1/users/" + std::to_string(alice) + "/ban", R"({"reason": "spam links"})");
  REQUIRE(status == 200);
  CHECK(user["banned"] == true);
  CHECK(user["banReason"] == "spam links");
  CHECK(user["disabled"] == true);
  auto closed = a.client->WaitForClose(kWait);
  REQUIRE(closed.has_value());
  CHECK(closed->code == 4001);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  INFO("closed " << took.count() << " ms after the ban request was sent");
  CHECK(took < std::chrono::seconds(2));
  CHECK(b.client->connected());  // Only the banned user's connections.

  auto again = s.chatd().Connect();
  auto login = again->Login("alice", PasswordOf("alice"), "phone");
  CHECK_CODE(login, StatusCode::kPermissionDenied);
  CHECK(login.status().message().find("banned") != std::string::npos);
  auto resume = again->Resume(a.session.token);
  CHECK_CODE(resume, StatusCode::kPermissionDenied);
  CHECK(resume.status().message().find("banned") != std::string::npos);

  auto [unban_status, unbanned] = s.AdminPost("/v1/users/" + std::to_string(alice) + "/unban", "");
  REQUIRE(unban_status == 200);
  CHECK(unbanned["banned"] == false);
  CHECK(unbanned["disabled"] == false);
  auto back = s.chatd().Connect();
  REQUIRE_OK(back->Login("alice", PasswordOf("alice"), "laptop"));
  REQUIRE_OK(back->SendMessage(dm->id, "after-unban", "hello again"));
  CHECK(WaitForMessage(*b.client, dm->id, 3).has_value());
}

}  // namespace
}  // namespace chat::test
