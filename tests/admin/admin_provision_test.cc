// Bulk provisioning for load generators: one Argon2id hash per call, idempotent by username, fast.
#include <chrono>
#include <set>

#include "admin_test_support.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;

namespace {

Json Request(const std::string& prefix, int count) {
  return {{"prefix", prefix}, {"count", count}, {"password", "loadgen-password"}, {"deviceKind", "loadgen"}};
}

}  // namespace

TEST_CASE("provisioning 1000 users is fast, hashes the password once and is idempotent", "[admin][provision]") {
  AdminHarness h;
  const auto start = std::chrono::steady_clock::now();
  auto first = h.Post("/v1/provision", Request("lg", 1000));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(first.status == 200);
  INFO("1000 users in " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
  CHECK(elapsed < std::chrono::seconds(5));
  CHECK(first.json["created"] == 1000);
  CHECK(first.json["reused"] == 0);
  const Json& users = first.json["users"];
  REQUIRE(users.size() == 1000);
  CHECK(users[0]["username"] == "lg-0");
  CHECK(users[999]["username"] == "lg-999");

  // One Argon2id hash for all: libsodium salts every hash, so equal strings mean it was computed once.
  std::set<std::string> hashes;
  for (const auto& u : users) {
    auto user = h.store().GetUser(u["userId"].get<UserId>());
    REQUIRE_OK(user);
    hashes.insert(user->password_hash);
  }
  CHECK(hashes.size() == 1);
  // And it is a real hash of the password.
  REQUIRE_OK(h.service().VerifyPassword("lg-517", "loadgen-password"));
  // Every token opens its session.
  for (std::size_t i = 0; i < users.size(); i += 97) {
    auto s = h.service().Resume(users[i]["token"].get<std::string>());
    REQUIRE_OK(s);
    CHECK(s->user.username == users[i]["username"]);
    CHECK(s->device.kind == "loadgen");
  }

  // Again: the same users, a fresh session each, the old ones revoked, still one device apiece.
  auto second = h.Post("/v1/provision", Request("lg", 1000));
  REQUIRE(second.status == 200);
  CHECK(second.json["created"] == 0);
  CHECK(second.json["reused"] == 1000);
  for (std::size_t i = 0; i < 1000; i += 111) {
    CHECK(second.json["users"][i]["userId"] == users[i]["userId"]);
    CHECK_FALSE(h.service().Resume(users[i]["token"].get<std::string>()).ok());
    REQUIRE_OK(h.service().Resume(second.json["users"][i]["token"].get<std::string>()));
    auto devices = h.service().ListDevices(users[i]["userId"].get<UserId>());
    REQUIRE_OK(devices);
    CHECK(devices->size() == 1);
  }
  // Growing the set reuses the first ones and creates the rest.
  auto grown = h.Post("/v1/provision", Request("lg", 1010));
  REQUIRE(grown.status == 200);
  CHECK(grown.json["created"] == 10);
}

TEST_CASE("provisioning keeps a user's other devices and reuses a user created by hand", "[admin][provision]") {
  AdminHarness h;
  auto own = h.fixture().NewUser("lg-1");  // A phone of its own, not of the provisioned kind.
  auto r = h.Post("/v1/provision", Request("lg", 3));
  REQUIRE(r.status == 200);
  CHECK(r.json["created"] == 2);
  CHECK(r.json["users"][1]["userId"] == own.user.id);
  REQUIRE_OK(h.service().Resume(own.token));
  CHECK(h.service().ListDevices(own.user.id)->size() == 2);
}

TEST_CASE("provisioning refuses bad input before creating anything", "[admin][provision]") {
  AdminHarness h;
  struct Case {
    Json body;
    int status;
  };
  const Case cases[] = {
      {{{"prefix", "lg"}, {"count", 0}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", "lg"}, {"count", 200000}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", "lg"}, {"count", -3}, {"password", "loadgen-password"}}, 400},
      {{{"prefix", "lg"}, {"count", 2.5}, {"password", "loadgen-password"}}, 400},
      {{{"prefix", "lg"}, {"count", "10"}, {"password", "loadgen-password"}}, 400},
      {{{"prefix", "LG"}, {"count", 10}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", "-lg"}, {"count", 10}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", "l g"}, {"count", 10}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", std::string(30, 'a')}, {"count", 100}, {"password", "loadgen-password"}}, 422},
      {{{"prefix", "lg"}, {"count", 10}, {"password", "short"}}, 422},
      {{{"prefix", "lg"}, {"count", 10}, {"password", "loadgen-password"}, {"deviceKind", ""}}, 422},
      {{{"prefix", "lg"}, {"count", 10}, {"password", "loadgen-password"}, {"deviceKind", "a/b"}}, 422},
      {{{"prefix", "lg"}, {"count", 10}}, 400},
      {{{"prefix", "lg"}, {"count", 10}, {"password", "loadgen-password"}, {"devices", 2}}, 400},
  };
  for (const auto& c : cases) {
    INFO(c.body.dump());
    auto r = h.Post("/v1/provision", c.body);
    CHECK(r.status == c.status);
    CHECK_FALSE(r.ErrorCode().empty());
  }
  CHECK(h.store().ListUsers(0, 10)->empty());
}

TEST_CASE("provisioning a disabled user stops with a typed error naming it, a retry after enabling completes",
          "[admin][provision]") {
  AdminHarness h("leveldb");
  auto first = h.Post("/v1/provision", Request("lg", 20));
  REQUIRE(first.status == 200);
  const UserId five = first.json["users"][5]["userId"];
  REQUIRE_OK(h.service().SetDisabled(five, true));
  auto refused = h.Post("/v1/provision", Request("lg", 20));
  CHECK(refused.status == 403);
  CHECK(refused.ErrorCode() == "permission_denied");
  CHECK(refused.json["error"]["message"].get<std::string>().find("lg-5") != std::string::npos);
  REQUIRE_OK(h.service().SetDisabled(five, false));
  auto retried = h.Post("/v1/provision", Request("lg", 20));
  REQUIRE(retried.status == 200);
  CHECK(retried.json["reused"] == 20);
}
