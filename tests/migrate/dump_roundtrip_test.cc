// Export -> import -> export is exact, across backends, and the imported store behaves as the
// original: dedup, numbering, direct-chat uniqueness, sessions, indexes and retention.
#include <sstream>

#include "migrate_support.h"

using namespace chat;
using chat::test::Fixture;

namespace {

struct Direction {
  std::string from;
  std::string to;
};

// Without fsync: these tests are about content, and each SECTION builds its stores anew.
KvStoreOptions Fast() {
  KvStoreOptions o;
  o.sync = false;
  return o;
}

// A fixture of backend `to` holding what `dump` holds, its clock at `now`. LevelDB is reopened
// from disk, so that nothing is checked that only the import's in-memory state knows.
std::unique_ptr<Fixture> ImportInto(const std::string& to, const std::string& dump, TimeMs now) {
  auto f = std::make_unique<Fixture>(to, Fast());
  f->clock.Set(now);
  std::istringstream in(dump);
  REQUIRE_OK(ImportDump(in, *f->store));
  if (to == "leveldb") f->Reopen();
  return f;
}

}  // namespace

TEST_CASE("an export imported into the other backend exports byte for byte the same", "[migrate][dump]") {
  auto d = GENERATE(Direction{"mem", "leveldb"}, Direction{"leveldb", "mem"});
  INFO(d.from << " -> " << d.to);
  Fixture src(d.from, Fast());
  test::Populate(src);
  const std::string dump = test::ExportString(*src.store);

  auto dst = ImportInto(d.to, dump, src.clock.NowMs());
  CHECK(test::ExportString(*dst->store) == dump);

  // Every kind of record made it into the dump, the tombstone included.
  for (const char* type :
       {"counters", "user", "device", "chat", "participant", "message", "device_cursor", "receipt"}) {
    CHECK(dump.find(std::string("{\"type\":\"") + type + "\"") != std::string::npos);
  }
  CHECK(dump.find("\"deleted\":true") != std::string::npos);
}

namespace {

// The checks of one direction, each SECTION on a fresh copy (Catch runs the function once per SECTION).
void CheckImportedBehaves(const Direction& d) {
  Fixture src(d.from, Fast());
  const test::World w = test::Populate(src);
  auto dst = ImportInto(d.to, test::ExportString(*src.store), src.clock.NowMs());
  ChatService& svc = *dst->service;

  SECTION("resending an old client id returns the original message") {
    SendRequest again{w.bob.user.id, w.bob.device.id, w.group, "b1", MessageKind::kText, "hello team", {}, 0};
    auto sent = svc.Send(again);
    REQUIRE_OK(sent);
    CHECK(sent->duplicate);
    CHECK(sent->message.seq == w.bob_first.seq);
    CHECK(sent->message.id == w.bob_first.id);
  }
  SECTION("numbering continues after the head") {
    auto head = src.store->Head(w.group);
    REQUIRE_OK(head);
    SendRequest next{w.bob.user.id, w.bob.device.id, w.group, "b-new", MessageKind::kText, "next", {}, 0};
    auto sent = svc.Send(next);
    REQUIRE_OK(sent);
    CHECK_FALSE(sent->duplicate);
    CHECK(sent->message.seq == *head + 1);
    auto user = svc.Register({"dave", "password-dave", "", "", ""});
    REQUIRE_OK(user);
    CHECK(user->id == w.carol.user.id + 1);
  }
  SECTION("the direct chat stays unique and usernames stay taken") {
    auto direct = svc.CreateDirect(w.bob.user.id, w.alice.user.id);
    REQUIRE_OK(direct);
    CHECK(direct->id == w.direct);
    CHECK_CODE(svc.Register({"alice", "password-x", "", "", ""}), StatusCode::kAlreadyExists);
  }
  SECTION("a session token still resumes, and password login still works") {
    auto resumed = svc.Resume(w.alice.token);
    REQUIRE_OK(resumed);
    CHECK(resumed->device.id == w.alice.device.id);
    CHECK(resumed->device.push_token == "https://push.example/alice");
    auto login = svc.Login("bob", "password-bob", {"laptop", "new"});
    REQUIRE_OK(login);
    CHECK(login->device.id > w.alice_laptop.device.id);
  }
  SECTION("the per-user indexes are rebuilt") {
    auto chats = svc.ListChats(w.bob.user.id);
    REQUIRE_OK(chats);
    CHECK(chats->size() == 2);
    auto devices = svc.ListDevices(w.alice.user.id);
    REQUIRE_OK(devices);
    CHECK(devices->size() == 2);
    auto carol_chats = svc.ListChats(w.carol.user.id);
    REQUIRE_OK(carol_chats);
    CHECK(carol_chats->empty());  // Removed from the group; never in the direct chat.
    auto pending_src = src.service->Pending(w.bob.user.id, w.bob.device.id);
    auto pending_dst = svc.Pending(w.bob.user.id, w.bob.device.id);
    REQUIRE_OK(pending_src);
    REQUIRE_OK(pending_dst);
    REQUIRE(pending_dst->size() == pending_src->size());
    for (std::size_t i = 0; i < pending_src->size(); ++i) {
      CHECK((*pending_dst)[i].acked == (*pending_src)[i].acked);
      CHECK((*pending_dst)[i].head == (*pending_src)[i].head);
    }
  }
  SECTION("retention sweeps the same messages and cursors") {
    // Past every chat's retention and the cursor TTL: the expiry and activity indexes decide.
    for (Fixture* f : {&src, dst.get()}) f->clock.Advance(400 * kMsPerDay);
    auto swept_src = src.service->RunRetention();
    auto swept_dst = svc.RunRetention();
    REQUIRE_OK(swept_src);
    REQUIRE_OK(swept_dst);
    CHECK(swept_dst->messages_deleted == swept_src->messages_deleted);
    CHECK(swept_dst->cursors_deleted == swept_src->cursors_deleted);
    CHECK(swept_src->messages_deleted > 0);
    CHECK(test::ExportString(*dst->store) == test::ExportString(*src.store));
  }
}

}  // namespace

TEST_CASE("a store imported from mem into leveldb behaves as the original", "[migrate][dump]") {
  CheckImportedBehaves({"mem", "leveldb"});
}

TEST_CASE("a store imported from leveldb into mem behaves as the original", "[migrate][dump]") {
  CheckImportedBehaves({"leveldb", "mem"});
}

TEST_CASE("text that is not UTF-8 round-trips as base64", "[migrate][dump]") {
  Fixture src("mem");
  User u;
  u.username = "bytes";
  u.display_name = std::string("caf\xe9 \xff\x00!", 8);  // Latin-1 and a NUL: not UTF-8.
  REQUIRE_OK(src.store->CreateUser(u));
  const std::string dump = test::ExportString(*src.store);
  CHECK(dump.find("\"display_name_b64\":") != std::string::npos);
  Fixture dst("leveldb");
  std::istringstream in(dump);
  REQUIRE_OK(ImportDump(in, *dst.store));
  auto back = dst.store->FindUserByName("bytes");
  REQUIRE_OK(back);
  CHECK(back->display_name == u.display_name);
  CHECK(test::ExportString(*dst.store) == dump);
}

TEST_CASE("copy goes through the dump codec between backends", "[migrate][dump]") {
  Fixture src("leveldb");
  test::Populate(src);
  Fixture dst("mem");
  auto counts = CopyStore(*src.store, *dst.store);
  REQUIRE_OK(counts);
  CHECK(counts->users == 3);
  CHECK(counts->devices == 4);
  CHECK(counts->chats == 2);
  CHECK(counts->messages > 5);
  CHECK(test::ExportString(*dst.store) == test::ExportString(*src.store));
  // A second copy into the same store collides with the first at once.
  auto again = CopyStore(*src.store, *dst.store);
  CHECK_CODE(again, StatusCode::kAlreadyExists);
  CHECK(again.status().message().find("line 3: ") == 0);
}
