// Bans through the admin API: ban with a reason (shown on every user answer, recorded in the audit
// log), the typed refusals of bad input, the list of bans, unban; enable does not lift a ban.
#include "admin_test_support.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;

TEST_CASE("admin bans a user with a reason, lists the ban, and unbans them", "[admin][ban]") {
  AdminHarness h;
  auto alice = h.fixture().NewUser("alice");
  auto bob = h.fixture().NewUser("bob");
  const std::string path = "/v1/users/" + std::to_string(alice.user.id);

  auto shown = h.Get(path);
  REQUIRE(shown.status == 200);
  CHECK(shown.json["banned"] == false);
  CHECK(shown.json["bannedAt"].is_null());

  const TimeMs now = h.fixture().clock.NowMs();
  auto r = h.Post(path + "/ban", Json{{"reason", "spam links"}});
  REQUIRE(r.status == 200);
  CHECK(r.json["banned"] == true);
  CHECK(r.json["bannedAt"] == now);
  CHECK(r.json["banReason"] == "spam links");
  CHECK(r.json["disabled"] == true);
  CHECK(h.WaitForAudit("banned user " + std::to_string(alice.user.id) + " (alice): spam links"));
  CHECK_CODE(h.service().Resume(alice.token), StatusCode::kPermissionDenied);
  CHECK(h.Get("/v1/users?limit=10").json["users"][0]["banned"] == true);

  auto bans = h.Get("/v1/bans");
  REQUIRE(bans.status == 200);
  REQUIRE(bans.json["bans"].size() == 1);
  CHECK(bans.json["bans"][0]["userId"] == alice.user.id);
  CHECK(bans.json["bans"][0]["username"] == "alice");
  CHECK(bans.json["next"].is_null());

  // Only unban lifts a ban.
  auto enable = h.Post(path + "/enable", "");
  CHECK(enable.status == 409);
  CHECK(enable.ErrorCode() == "failed_precondition");

  auto u = h.Post(path + "/unban", "");
  REQUIRE(u.status == 200);
  CHECK(u.json["banned"] == false);
  CHECK(u.json["disabled"] == false);
  CHECK(h.Get("/v1/bans").json["bans"].empty());
  REQUIRE_OK(h.service().Login("alice", "password-alice", {"phone", "p"}));
  // Unbanning somebody not banned changes nothing.
  auto again = h.Post("/v1/users/" + std::to_string(bob.user.id) + "/unban", "");
  CHECK(again.status == 200);
  CHECK(again.json["banned"] == false);
}

TEST_CASE("admin ban refuses bad input with typed errors and changes nothing", "[admin][ban]") {
  AdminHarness h;
  auto alice = h.fixture().NewUser("alice");
  const std::string path = "/v1/users/" + std::to_string(alice.user.id) + "/ban";
  CHECK(h.Post(path, "").status == 400);                          // No reason.
  CHECK(h.Post(path, Json{{"reason", 5}}).status == 400);          // Not a string.
  CHECK(h.Post(path, Json{{"reason", "x"}, {"extra", 1}}).status == 400);
  auto empty = h.Post(path, Json{{"reason", ""}});
  CHECK(empty.status == 422);
  CHECK(empty.ErrorCode() == "invalid_argument");
  CHECK(h.Post(path, Json{{"reason", std::string(1001, 'x')}}).status == 422);
  auto unknown = h.Post("/v1/users/424242/ban", Json{{"reason", "spam"}});
  CHECK(unknown.status == 404);
  CHECK(unknown.ErrorCode() == "not_found");
  CHECK(h.Post("/v1/users/424242/unban", "").status == 404);
  CHECK_FALSE(h.service().GetUser(alice.user.id)->disabled);
  CHECK_FALSE(h.service().GetBan(alice.user.id)->has_value());
  REQUIRE_OK(h.service().Resume(alice.token));
}
