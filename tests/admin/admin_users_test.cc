// Accounts through the admin API: list, show, create, disable, enable, devices, revoke.
#include "admin_test_support.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;

TEST_CASE("admin creates users and refuses bad or taken ones with typed errors", "[admin][users]") {
  AdminHarness h;
  auto r = h.Post("/v1/users", Json{{"username", "Alice"}, {"password", "password-123"}, {"email", "a@example.org"}});
  REQUIRE(r.status == 201);
  CHECK(r.json["username"] == "alice");
  CHECK(r.json["displayName"] == "alice");
  CHECK(r.json["email"] == "a@example.org");
  CHECK(r.json["disabled"] == false);
  CHECK_FALSE(r.json.contains("passwordHash"));
  CHECK(r.body.find("argon2") == std::string::npos);
  // The password works for a login.
  REQUIRE_OK(h.service().Login("alice", "password-123", {"phone", "p"}));

  auto taken = h.Post("/v1/users", Json{{"username", "alice"}, {"password", "password-123"}});
  CHECK(taken.status == 409);
  CHECK(taken.ErrorCode() == "already_exists");

  auto bad_name = h.Post("/v1/users", Json{{"username", "a b"}, {"password", "password-123"}});
  CHECK(bad_name.status == 422);
  CHECK(bad_name.ErrorCode() == "invalid_argument");
  auto short_password = h.Post("/v1/users", Json{{"username", "bob"}, {"password", "short"}});
  CHECK(short_password.status == 422);
  CHECK(h.service().FindUser("bob").status().IsNotFound());
}

TEST_CASE("admin lists users in pages and shows one by id or by name", "[admin][users]") {
  AdminHarness h;
  for (const char* name : {"usr1", "usr2", "usr3", "usr4", "usr5"}) h.fixture().NewUser(name);
  std::vector<std::string> names;
  std::string path = "/v1/users?limit=2";
  for (int pages = 0; pages < 10; ++pages) {
    auto r = h.Get(path);
    REQUIRE(r.status == 200);
    for (const auto& u : r.json["users"]) names.push_back(u["username"]);
    if (r.json["next"].is_null()) break;
    path = "/v1/users?limit=2&after=" + std::to_string(r.json["next"].get<std::uint64_t>());
  }
  CHECK(names == std::vector<std::string>{"usr1", "usr2", "usr3", "usr4", "usr5"});

  const UserId id = h.service().FindUser("usr3")->id;
  auto by_id = h.Get("/v1/users/" + std::to_string(id));
  REQUIRE(by_id.status == 200);
  CHECK(by_id.json["username"] == "usr3");
  CHECK(by_id.json["devices"] == 1);
  CHECK(by_id.json["chats"] == 0);
  auto by_name = h.Get("/v1/users/by-name/USR3");
  REQUIRE(by_name.status == 200);
  CHECK(by_name.json["id"] == id);

  CHECK(h.Get("/v1/users/424242").status == 404);
  CHECK(h.Get("/v1/users/424242").ErrorCode() == "not_found");
  CHECK(h.Get("/v1/users/by-name/nobody").status == 404);
  CHECK(h.Get("/v1/users/by-name/x").status == 422);  // Not a possible username.
}

TEST_CASE("admin disables a user, which revokes their sessions, and enables them again", "[admin][users]") {
  AdminHarness h;
  auto alice = h.fixture().NewUser("alice");
  const std::string id = std::to_string(alice.user.id);
  REQUIRE_OK(h.service().Resume(alice.token));

  auto off = h.Post("/v1/users/" + id + "/disable", "");
  REQUIRE(off.status == 200);
  CHECK(off.json["disabled"] == true);
  CHECK_FALSE(h.service().Resume(alice.token).ok());
  CHECK_CODE(h.service().Login("alice", "password-alice", {"phone", "p"}), StatusCode::kPermissionDenied);
  auto devices = h.Get("/v1/users/" + id + "/devices");
  REQUIRE(devices.json["devices"].size() == 1);
  CHECK(devices.json["devices"][0]["hasSession"] == false);

  auto on = h.Post("/v1/users/" + id + "/enable", "{}");
  REQUIRE(on.status == 200);
  CHECK(on.json["disabled"] == false);
  REQUIRE_OK(h.service().Login("alice", "password-alice", {"phone", "p"}));

  CHECK(h.Post("/v1/users/999/disable", "").status == 404);
  CHECK(h.Post("/v1/users/" + id + "/disable", R"({"really":true})").status == 400);
}

TEST_CASE("admin lists a user's devices and revokes one session or all of them", "[admin][users]") {
  AdminHarness h;
  auto phone = h.fixture().NewUser("alice");
  auto laptop = h.fixture().NewDevice("alice");
  auto tablet = h.fixture().NewDevice("alice");
  auto bob = h.fixture().NewUser("bob");
  const std::string base = "/v1/users/" + std::to_string(phone.user.id);

  auto list = h.Get(base + "/devices");
  REQUIRE(list.status == 200);
  REQUIRE(list.json["devices"].size() == 3);
  CHECK(list.json["devices"][0]["kind"] == "phone");
  CHECK(list.json["devices"][0]["hasSession"] == true);
  CHECK(list.body.find(phone.token) == std::string::npos);

  // Input errors first: nothing may be revoked by them.
  CHECK(h.Post(base + "/revoke", "{}").status == 400);
  CHECK(h.Post(base + "/revoke", Json{{"deviceId", laptop.device.id}, {"all", true}}).status == 400);
  CHECK(h.Post(base + "/revoke", Json{{"deviceId", "7"}}).status == 400);
  auto foreign = h.Post(base + "/revoke", Json{{"deviceId", bob.device.id}});
  CHECK(foreign.status == 404);
  REQUIRE_OK(h.service().Resume(bob.token));
  CHECK(h.Get(base + "/devices").json["devices"].size() == 3);

  auto one = h.Post(base + "/revoke", Json{{"deviceId", laptop.device.id}});
  REQUIRE(one.status == 200);
  CHECK(one.json["revoked"] == Json::array({laptop.device.id}));
  CHECK_FALSE(h.service().Resume(laptop.token).ok());
  REQUIRE_OK(h.service().Resume(phone.token));

  auto all = h.Post(base + "/revoke", Json{{"all", true}});
  REQUIRE(all.status == 200);
  CHECK(all.json["revoked"].size() == 2);
  CHECK_FALSE(h.service().Resume(phone.token).ok());
  CHECK_FALSE(h.service().Resume(tablet.token).ok());
  CHECK(h.Get(base + "/devices").json["devices"].empty());
  REQUIRE_OK(h.service().Resume(bob.token));

  CHECK(h.Get("/v1/users/999/devices").status == 404);
  CHECK(h.Post("/v1/users/999/revoke", Json{{"all", true}}).status == 404);
}
