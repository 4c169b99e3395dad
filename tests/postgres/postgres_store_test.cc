// The PostgreSQL store's own behaviour beyond the shared contract suites (tests/contract): selection
// by URI, the schema tool, retention by whole day partitions, erasure of deleted text, and what a
// caller sees while the database is down. Real servers throughout (tests/support/pg_cluster.h).
#include <libpq-fe.h>

#include <chrono>
#include <thread>

#include "libchat/plugins/postgres_store.h"
#include "pg_cluster.h"
#include "test_support.h"

using namespace chat;
using namespace std::chrono_literals;
using chat::test::Fixture;
using chat::test::PgCluster;

namespace {

std::string Count(const PgCluster& cluster, const std::string& db, const std::string& sql) {
  auto r = cluster.Sql(sql, db);
  REQUIRE_OK(r);
  return *r;
}

}  // namespace

TEST_CASE("a postgres URI selects the store through the registry and never shows its password",
          "[postgres][registry]") {
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  const std::string base = "postgres://postgres:hunter2@127.0.0.1:" + std::to_string(cluster.port()) + "/" + *db;
  auto store = Registry::Default().MakeStore(base + "?pool=2&batch=64&committers=1");
  REQUIRE_OK(store);
  CHECK((*store)->Describe().find("hunter2") == std::string::npos);
  CHECK((*store)->Describe().find("postgres://postgres@127.0.0.1") == 0);
  REQUIRE_OK((*store)->Availability());
  // The store's own keys are checked; every other key is libpq's, which refuses those it does not know.
  CHECK_CODE(Registry::Default().MakeStore(base + "?pool=zero"), StatusCode::kInvalidArgument);
  CHECK_CODE(Registry::Default().MakeStore(base + "?committers=-1"), StatusCode::kInvalidArgument);
  auto unknown = Registry::Default().MakeStore(base + "?no_such_option=1");
  CHECK_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("hunter2") == std::string::npos);
  // Nobody listens there: Unavailable, with a retry hint.
  auto nowhere = Registry::Default().MakeStore("postgres://postgres@127.0.0.1:1/x?connect_timeout=2");
  CHECK_CODE(nowhere, StatusCode::kUnavailable);
  CHECK(nowhere.status().retry_after_ms() > 0);
  store->reset();
  cluster.DropDatabase(*db).IgnoreError();
}

TEST_CASE("schema versions go up and down one transaction per step, and a store refuses another version",
          "[postgres][schema]") {
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase(/*with_schema=*/false);
  REQUIRE_OK(db);
  const std::string uri = cluster.Uri(*db);
  auto parsed = Uri::Parse(uri);
  REQUIRE_OK(parsed);
  auto tool = Registry::Default().MakeSchemaTool(*parsed);
  REQUIRE_OK(tool);
  CHECK(tool->latest == kPostgresSchemaVersion);
  auto empty = tool->status(tool->latest);
  REQUIRE_OK(empty);
  CHECK(empty->current == 0);
  CHECK(empty->pending.size() == static_cast<std::size_t>(kPostgresSchemaVersion));
  // An empty database with create=0: the store asks for `chat-migrate up` instead of creating it.
  CHECK_CODE(Registry::Default().MakeStore(uri + "?create=0"), StatusCode::kFailedPrecondition);

  std::vector<int> seen;
  auto up = tool->migrate(tool->latest, [&](const MigrationStep& s) { seen.push_back(s.to); });
  REQUIRE_OK(up);
  CHECK(up->from == 0);
  CHECK(up->to == kPostgresSchemaVersion);
  CHECK(seen.size() == up->applied.size());
  REQUIRE_OK(Registry::Default().MakeStore(uri + "?create=0"));
  // Up again: nothing to do.
  auto again = tool->migrate(tool->latest, {});
  REQUIRE_OK(again);
  CHECK(again->applied.empty());

  // Down to 0 drops every table; the store then is an empty database again.
  auto down = tool->migrate(0, {});
  REQUIRE_OK(down);
  CHECK(down->to == 0);
  CHECK(Count(cluster, *db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'libchat_schema'") ==
        "0");
  // A version from a newer build: refused, naming what to do.
  REQUIRE_OK(tool->migrate(tool->latest, {}));
  REQUIRE_OK(cluster.Sql("INSERT INTO libchat_schema (version, description) VALUES (99, 'future')", *db));
  auto newer = Registry::Default().MakeStore(uri);
  CHECK_CODE(newer, StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("upgrade libchat") != std::string::npos);
  cluster.DropDatabase(*db).IgnoreError();
}

// Regression: the schema of a fresh database was created one committed step at a time, so a node
// starting beside the creating one could read an intermediate version and refuse to start ("store
// schema version 2 is older than this build's (3)"; seen with scripts/run-cluster.sh's three nodes).
TEST_CASE("several stores opening a fresh database at once all open it, on the whole schema",
          "[postgres][schema][regress]") {
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase(/*with_schema=*/false);
  REQUIRE_OK(db);
  const std::string uri = cluster.Uri(*db) + "?pool=1";
  // Staggered over the creation (a few hundred ms): later openers find the schema being made.
  constexpr int kOpeners = 8;
  std::vector<Status> opened(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      std::this_thread::sleep_for(i * 25ms);
      opened[static_cast<std::size_t>(i)] = Registry::Default().MakeStore(uri).status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : opened) CHECK(s.ok());
  CHECK(Count(cluster, *db, "SELECT max(version) FROM libchat_schema") == std::to_string(kPostgresSchemaVersion));
  cluster.DropDatabase(*db).IgnoreError();
}

TEST_CASE("retention drops an expired day partition whole and deletes a shorter retention row by row",
          "[postgres][retention]") {
  Fixture f("postgres");
  auto& cluster = test::SharedPgCluster();
  auto alice = f.NewUser("alice");
  // The clock starts at midnight plus an hour, so that each day's sends land in that day.
  f.clock.Set(1'700'006'400'000 + 3'600'000);
  auto short_chat = f.service->CreateGroup(alice.user.id, "short", {}, "", 0, kMsPerDay);
  auto long_chat = f.service->CreateGroup(alice.user.id, "long", {});
  REQUIRE_OK(short_chat);
  REQUIRE_OK(long_chat);
  std::vector<std::string> days;
  for (int day = 0; day < 3; ++day) {
    for (int i = 0; i < 20; ++i) {
      const std::string id = std::to_string(day) + "-" + std::to_string(i);
      REQUIRE_OK(f.service->Send(test::TextMessage(alice, short_chat->id, "s" + id)));
      REQUIRE_OK(f.service->Send(test::TextMessage(alice, long_chat->id, "l" + id)));
    }
    days.push_back("messages_2023111" + std::to_string(5 + day));
    f.clock.Advance(kMsPerDay);
  }
  for (const auto& p : days) CHECK(Count(cluster, f.database, "SELECT count(*) FROM " + p) != "0");

  // Day 3: the short chat's first two days expired; their partitions still hold the long chat's
  // entries, so those rows go one by one, and no partition is dropped.
  auto first = f.service->RunRetention();
  REQUIRE_OK(first);
  CHECK(first->messages_deleted >= 40);
  for (const auto& p : days) CHECK(Count(cluster, f.database, "SELECT to_regclass('" + p + "') IS NOT NULL") == "t");
  CHECK(Count(cluster, f.database, "SELECT count(*) FROM " + days[0] + " WHERE chat_id = " +
                                       std::to_string(short_chat->id)) == "0");

  // 31 days after day 0: its entries (and day 1's) have all expired. Their partitions are dropped
  // whole, the later ones stay; every count is exact.
  f.clock.Set(1'700'006'400'000 + 3'600'000 + 31 * kMsPerDay + 2 * 3'600'000);
  auto preview = f.service->PreviewRetention();
  REQUIRE_OK(preview);
  auto sweep = f.service->RunRetention();
  REQUIRE_OK(sweep);
  CHECK(sweep->messages_deleted == preview->messages_deleted);
  CHECK(sweep->messages_deleted >= 20);
  CHECK_FALSE(sweep->more);
  CHECK(Count(cluster, f.database, "SELECT to_regclass('" + days[0] + "') IS NULL") == "t");
  CHECK(Count(cluster, f.database, "SELECT to_regclass('" + days[2] + "') IS NOT NULL") == "t");
  // Dedup rows left with their messages: an expired client id is free again.
  CHECK(Count(cluster, f.database, "SELECT count(*) FROM dedup WHERE expires_at <= " +
                                       std::to_string(f.clock.NowMs())) == "0");
  auto fresh = f.service->Send(test::TextMessage(alice, long_chat->id, "l0-0"));
  REQUIRE_OK(fresh);
  CHECK_FALSE(fresh->duplicate);
  // A send into a day whose partition was dropped makes it again (an old timestamp, e.g. a clock
  // that went back) instead of failing.
  f.clock.Set(1'700'006'400'000 + 3'600'000);
  REQUIRE_OK(f.service->Send(test::TextMessage(alice, long_chat->id, "back-in-time")));
}

// A store with one message holding `secret` (and `keepers` more after it in the same chat), and the
// queries that find the secret's bytes in its day partition with pageinspect.
struct SecretInPartition {
  SecretInPartition(const std::string& secret, int keepers) : cluster(test::SharedPgCluster()) {
    REQUIRE_OK(cluster.Sql("CREATE EXTENSION IF NOT EXISTS pageinspect", f.database));
    alice = f.NewUser("alice");
    auto group = f.service->CreateGroup(alice.user.id, "g", {});
    REQUIRE_OK(group);
    chat = group->id;
    auto sent = f.service->Send(test::TextMessage(alice, chat, "s", secret));
    REQUIRE_OK(sent);
    seq = sent->message.seq;
    for (int i = 0; i < keepers; ++i) REQUIRE_OK(f.service->Send(test::TextMessage(alice, chat, "k" + std::to_string(i), "keep")));
    const std::string partition = Count(cluster, f.database,
                                        "SELECT tableoid::regclass::text FROM messages WHERE chat_id = " +
                                            std::to_string(chat) + " AND seq = " + std::to_string(seq));
    // The row versions of the partition that hold the text, and its pages whose bytes still do
    // (anywhere: a removed version's bytes in a page's free space count too).
    const std::string pages = "generate_series(0, pg_relation_size('" + partition + "') / 8192 - 1) b";
    const std::string text = "convert_to('" + secret + "', 'UTF8')";
    versions_with_text = "SELECT count(*) FROM " + pages + ", heap_page_items(get_raw_page('" + partition +
                         "', b::int)) WHERE position(" + text + " IN t_data) > 0";
    pages_with_text = "SELECT count(*) FROM " + pages + " WHERE position(" + text + " IN get_raw_page('" +
                      partition + "', b::int)) > 0";
  }
  std::string Versions() { return Count(cluster, f.database, versions_with_text); }
  std::string Pages() { return Count(cluster, f.database, pages_with_text); }
  void Delete() { REQUIRE_OK(f.service->DeleteMessage(alice.user.id, alice.device.id, chat, seq)); }

  Fixture f{"postgres"};
  PgCluster& cluster;
  Session alice;
  ChatId chat = 0;
  Seq seq = 0;
  std::string versions_with_text, pages_with_text;
};

TEST_CASE("a deleted message's text is gone from every row version of its partition once the eraser ran",
          "[postgres][erasure]") {
  SecretInPartition m("the launch code is 0000", 5);
  CHECK(m.Versions() == "1");
  m.Delete();
  // The tombstone is a new row version; the old one holds the text until VACUUM removes it, which
  // the eraser runs erase_delay_ms after the deletion (0 in the fixture). A snapshot another session
  // still holds keeps it, and the eraser vacuums again (the next test).
  CHECK(test::PgEventually([&] { return m.Versions() == "0"; }));
  // VACUUM compacts the page: the tombstone, written next to the old version, moves over it.
  CHECK(m.Pages() == "0");
  auto stored = m.f.store->GetMessage(m.chat, m.seq);
  REQUIRE_OK(stored);
  CHECK(stored->deleted);
  CHECK(stored->body.empty());
}

// Failed before the eraser checked its work: a transaction that began before the deletion (here a
// held snapshot; in a loaded run, another connection's) keeps the old version through the one VACUUM,
// and nothing vacuumed the partition again.
TEST_CASE("a deleted message's text still goes once a snapshot that kept it through the eraser's VACUUM ends",
          "[postgres][erasure]") {
  SecretInPartition m("kept by a snapshot 4711", 0);
  auto& cluster = m.cluster;
  auto& f = m.f;
  // Another session of the same database holds a snapshot taken before the deletion.
  PGconn* holder = PQconnectdb(cluster.Conninfo(f.database).c_str());
  REQUIRE(PQstatus(holder) == CONNECTION_OK);
  auto exec = [&](const char* sql) {
    PGresult* r = PQexec(holder, sql);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
  };
  REQUIRE(exec("BEGIN ISOLATION LEVEL REPEATABLE READ"));
  REQUIRE(exec("SELECT count(*) FROM chats"));
  m.Delete();
  // The eraser vacuums at once (erase_delay_ms 0 in the fixture), and must keep the old version.
  std::this_thread::sleep_for(1500ms);
  CHECK(m.Versions() == "1");
  REQUIRE(exec("COMMIT"));
  PQfinish(holder);
  // It vacuums the partition again (1 s, then 2 s, ... later) and the text goes.
  CHECK(test::PgEventually([&] { return m.Versions() == "0"; }));
}

TEST_CASE("two stores on one database answer each other's resends with the original and refuse a member the other removed",
          "[postgres][dedup][membership]") {
  // A store answers RecentSent and RecentMembers from what its own process saw (no round trip per
  // send); what it did not see is decided by the database when the entry is written.
  Fixture f("postgres");
  auto& cluster = test::SharedPgCluster();
  auto open_other = [&] {
    auto store = Registry::Default().MakeStore(cluster.Uri(f.database));
    REQUIRE_OK(store);
    ServiceOptions opts;
    opts.password_cost = PasswordCost::kMinimum;
    opts.enforce_rate_limits = false;
    opts.spam.enabled = false;
    auto svc = ChatService::Create(opts, std::shared_ptr<Store>(std::move(*store)), NewInProcBus());
    REQUIRE_OK(svc);
    return std::move(*svc);
  };
  auto other = open_other();
  auto alice = f.NewUser("alice");
  auto carol = f.NewUser("carol");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);

  // Sent here; resent through the other store, which never saw it: the original, once.
  auto sent = f.service->Send(test::TextMessage(alice, chat->id, "m1", "first"));
  REQUIRE_OK(sent);
  auto resent = other->Send(test::TextMessage(alice, chat->id, "m1", "first again"));
  REQUIRE_OK(resent);
  CHECK(resent->duplicate);
  CHECK(resent->message.seq == sent->message.seq);
  CHECK(resent->message.id == sent->message.id);
  CHECK(resent->message.body == "first");
  // The seq the resend was given in memory there was given back: the next entry takes it.
  auto fresh = other->Send(test::TextMessage(alice, chat->id, "m2"));
  REQUIRE_OK(fresh);
  CHECK_FALSE(fresh->duplicate);
  CHECK(fresh->message.seq == sent->message.seq + 1);
  // In another chat: refused, as any reuse of a client id there.
  auto chat2 = f.service->CreateGroup(alice.user.id, "g2", {});
  REQUIRE_OK(chat2);
  CHECK_CODE(other->Send(test::TextMessage(alice, chat2->id, "m1")), StatusCode::kInvalidArgument);
  // Known here: the stored message as it is now, not as it was sent.
  REQUIRE_OK(f.service->DeleteMessage(alice.user.id, alice.device.id, chat->id, sent->message.seq));
  auto after_delete = f.service->Send(test::TextMessage(alice, chat->id, "m1", "first"));
  REQUIRE_OK(after_delete);
  CHECK(after_delete->duplicate);
  CHECK(after_delete->message.deleted);
  CHECK(after_delete->message.body.empty());

  // Carol added through this store: the other store's members are older, and its check asks again.
  REQUIRE_OK(other->Send(test::TextMessage(alice, chat->id, "warm")));  // The other store holds the chat's members.
  ParticipantChange add;
  add.add.push_back(carol.user.id);
  REQUIRE_OK(f.service->ModifyParticipants(alice.user.id, chat->id, add));
  auto by_carol = other->Send(test::TextMessage(carol, chat->id, "c1"));
  REQUIRE_OK(by_carol);
  // Removed through this store: the other store still lists her, but the entry is checked where it
  // is written, under the chat row's lock, against the members there.
  ParticipantChange remove;
  remove.remove.push_back(carol.user.id);
  REQUIRE_OK(f.service->ModifyParticipants(alice.user.id, chat->id, remove));
  auto head = f.store->Head(chat->id);
  REQUIRE_OK(head);
  CHECK_CODE(other->Send(test::TextMessage(carol, chat->id, "c2")), StatusCode::kPermissionDenied);
  auto head_after = f.store->Head(chat->id);
  REQUIRE_OK(head_after);
  CHECK(*head_after == *head);
  // Her resend of what she sent as a member still gets its original, through either store.
  auto carol_resent = other->Send(test::TextMessage(carol, chat->id, "c1"));
  REQUIRE_OK(carol_resent);
  CHECK(carol_resent->duplicate);
  CHECK(carol_resent->message.seq == by_carol->message.seq);
  auto third = open_other();
  auto carol_third = third->Send(test::TextMessage(carol, chat->id, "c1"));
  REQUIRE_OK(carol_third);
  CHECK(carol_third->duplicate);
  CHECK(carol_third->message.seq == by_carol->message.seq);
}

TEST_CASE("while the database is down calls fail as unavailable with a retry hint, and work again after",
          "[postgres][failure]") {
  auto made = PgCluster::Start({});
  REQUIRE_OK(made);
  PgCluster& cluster = **made;
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  auto store_made = Registry::Default().MakeStore(cluster.Uri(*db) + "?pool=2");
  REQUIRE_OK(store_made);
  std::shared_ptr<Store> store = std::move(*store_made);
  ServiceOptions opts;
  opts.password_cost = PasswordCost::kMinimum;
  opts.enforce_rate_limits = false;
  auto service = ChatService::Create(opts, store, NewInProcBus());
  REQUIRE_OK(service);
  REQUIRE_OK((*service)->Register({"alice", "password-alice", "", "", ""}));
  auto alice = (*service)->Login("alice", "password-alice", {"phone", "p"});
  REQUIRE_OK(alice);
  auto chat = (*service)->CreateGroup(alice->user.id, "g", {});
  REQUIRE_OK(chat);
  std::vector<AppendResult> acked;
  auto first = (*service)->Send(test::TextMessage(*alice, chat->id, "before"));
  REQUIRE_OK(first);
  acked.push_back(*first);

  cluster.Stop();
  // Sends and reads fail fast and retryably; nothing crashes.
  auto during = (*service)->Send(test::TextMessage(*alice, chat->id, "during"));
  CHECK_CODE(during, StatusCode::kUnavailable);
  CHECK(during.status().retry_after_ms() > 0);
  CHECK_CODE(store->GetChat(chat->id), StatusCode::kUnavailable);
  CHECK(test::PgEventually([&] { return store->Availability().code() == StatusCode::kUnavailable; }));

  REQUIRE_OK(cluster.Restart());
  CHECK(test::PgEventually([&] { return store->Availability().ok(); }));
  // The same client id again: stored once, whatever the failed attempt did.
  Result<AppendResult> retried = Status::Unavailable("");
  CHECK(test::PgEventually([&] {
    retried = (*service)->Send(test::TextMessage(*alice, chat->id, "during"));
    return retried.ok();
  }));
  REQUIRE_OK(retried);
  acked.push_back(*retried);
  auto after = (*service)->Send(test::TextMessage(*alice, chat->id, "after"));
  REQUIRE_OK(after);
  acked.push_back(*after);
  auto log = store->ReadMessages(chat->id, 0, 100);
  REQUIRE_OK(log);
  REQUIRE(log->size() == 4);  // The creation entry and three messages, gapless.
  for (std::size_t i = 0; i < log->size(); ++i) CHECK((*log)[i].seq == i + 1);
  for (const auto& a : acked) CHECK((*log)[a.message.seq - 1].id == a.message.id);
}
