// Chats, members, the message tail (bodies only on request, and then audited) and inbox statistics.
#include "admin_test_support.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;
using chat::test::TextMessage;

namespace {

struct Room {
  Session alice, bob, carol;
  Chat group;
};

Room MakeRoom(AdminHarness& h, int messages) {
  Room r;
  r.alice = h.fixture().NewUser("alice");
  r.bob = h.fixture().NewUser("bob");
  r.carol = h.fixture().NewUser("carol");
  auto g = h.service().CreateGroup(r.alice.user.id, "team", {r.bob.user.id}, R"({"topic":"x"})");
  REQUIRE_OK(g);
  r.group = *g;
  for (int i = 0; i < messages; ++i) {
    REQUIRE_OK(h.service().Send(TextMessage(r.alice, r.group.id, "c" + std::to_string(i), "secret " + std::to_string(i))));
  }
  return r;
}

}  // namespace

TEST_CASE("admin lists chats in pages and shows one with its members", "[admin][chats]") {
  AdminHarness h;
  Room room = MakeRoom(h, 3);
  auto direct = h.service().CreateDirect(room.bob.user.id, room.carol.user.id);
  REQUIRE_OK(direct);

  auto first = h.Get("/v1/chats?limit=1");
  REQUIRE(first.status == 200);
  REQUIRE(first.json["chats"].size() == 1);
  CHECK(first.json["chats"][0]["name"] == "team");
  CHECK(first.json["chats"][0]["head"] == 4);  // Creation entry and three messages.
  CHECK_FALSE(first.json["chats"][0].contains("metadata"));
  REQUIRE(first.json["next"].is_number());
  auto second = h.Get("/v1/chats?limit=1&after=" + std::to_string(first.json["next"].get<std::uint64_t>()));
  REQUIRE(second.json["chats"].size() == 1);
  CHECK(second.json["chats"][0]["kind"] == "direct");
  CHECK(second.json["next"].is_null());

  auto show = h.Get("/v1/chats/" + std::to_string(room.group.id));
  REQUIRE(show.status == 200);
  CHECK(show.json["members"] == 2);
  CHECK(show.json["head"] == 4);
  CHECK(show.json["metadata"] == R"({"topic":"x"})");
  CHECK(show.json["lastMessageAt"].is_number());

  REQUIRE_OK(h.service().Ack(room.bob.user.id, room.bob.device.id, room.group.id, 3));
  auto members = h.Get("/v1/chats/" + std::to_string(room.group.id) + "/members");
  REQUIRE(members.status == 200);
  REQUIRE(members.json["members"].size() == 2);
  for (const auto& m : members.json["members"]) {
    if (m["username"] == "alice") {
      CHECK(m["role"] == "owner");
    } else {
      CHECK(m["username"] == "bob");
      CHECK(m["role"] == "member");
      CHECK(m["delivered"] == 3);
    }
  }

  CHECK(h.Get("/v1/chats/777").status == 404);
  CHECK(h.Get("/v1/chats/777/members").status == 404);
  CHECK(h.Get("/v1/chats/777/messages").status == 404);
}

TEST_CASE("message tail shows metadata only unless bodies are asked for, and audits that", "[admin][messages]") {
  AdminHarness h;
  Room room = MakeRoom(h, 5);
  const std::string base = "/v1/chats/" + std::to_string(room.group.id) + "/messages";

  auto tail = h.Get(base + "?limit=3");
  REQUIRE(tail.status == 200);
  REQUIRE(tail.json["messages"].size() == 3);
  CHECK(tail.json["messages"][0]["seq"] == 4);  // The newest three, oldest first.
  CHECK(tail.json["messages"][2]["seq"] == 6);
  CHECK(tail.json["messages"][2]["kind"] == "text");
  CHECK(tail.json["messages"][2]["bytes"] == std::string("secret 4").size());
  CHECK(tail.json["messages"][2]["sender"] == room.alice.user.id);
  CHECK_FALSE(tail.json["messages"][2].contains("body"));
  CHECK(tail.body.find("secret") == std::string::npos);
  CHECK(tail.json["bodies"] == false);
  for (const auto& line : h.AuditLines()) CHECK(line.find("message bodies") == std::string::npos);

  auto after = h.Get(base + "?after=5");
  REQUIRE(after.json["messages"].size() == 1);
  CHECK(after.json["messages"][0]["seq"] == 6);
  CHECK(h.Get(base + "?after=6").json["messages"].empty());

  auto bodies = h.Get(base + "?limit=2&bodies=1");
  REQUIRE(bodies.status == 200);
  CHECK(bodies.json["messages"][1]["body"] == "secret 4");
  CHECK(bodies.json["bodies"] == true);
  CHECK(bodies.json["notice"].get<std::string>().find("audit log") != std::string::npos);
  bool audited = false;
  for (const auto& line : h.AuditLines()) {
    if (line.find("message bodies read: chat " + std::to_string(room.group.id) + " seq 5..6") != std::string::npos) {
      audited = true;
    }
  }
  CHECK(audited);

  CHECK(h.Get(base + "?bodies=yes").status == 400);
  CHECK(h.Get(base + "?limit=0").status == 400);
  CHECK(h.Get(base + "?limit=1001").status == 400);
}

TEST_CASE("inbox stats sum, per device, what each chat holds beyond its cursor", "[admin][inbox]") {
  AdminHarness h;
  Room room = MakeRoom(h, 4);  // Head 5.
  auto bob_laptop = h.fixture().NewDevice("bob");
  auto other = h.service().CreateGroup(room.carol.user.id, "other", {room.bob.user.id});
  REQUIRE_OK(other);  // Head 1: bob's devices have one more pending entry there.
  REQUIRE_OK(h.service().Ack(room.bob.user.id, room.bob.device.id, room.group.id, 3));

  auto bob = h.Get("/v1/inbox?user=" + std::to_string(room.bob.user.id));
  REQUIRE(bob.status == 200);
  REQUIRE(bob.json["devices"].size() == 2);
  for (const auto& d : bob.json["devices"]) {
    if (d["deviceId"] == room.bob.device.id) {
      CHECK(d["pending"] == 2 + 1);
    } else {
      CHECK(d["deviceId"] == bob_laptop.device.id);
      CHECK(d["pending"] == 5 + 1);
    }
    CHECK(d["chats"] == 2);
  }
  CHECK(bob.json["totalPending"] == 9);

  // Across users, in pages of users.
  auto page = h.Get("/v1/inbox?limit=2");
  REQUIRE(page.status == 200);
  CHECK(page.json["users"] == 2);
  CHECK(page.json["devices"].size() == 3);  // alice's one and bob's two.
  REQUIRE(page.json["next"].is_number());
  auto rest = h.Get("/v1/inbox?limit=2&after=" + std::to_string(page.json["next"].get<std::uint64_t>()));
  CHECK(rest.json["users"] == 1);
  CHECK(rest.json["next"].is_null());

  CHECK(h.Get("/v1/inbox?user=999").status == 404);
  CHECK(h.Get("/v1/inbox?user=2&limit=5").status == 400);
  CHECK(h.Get("/v1/inbox?user=abc").status == 400);
}
