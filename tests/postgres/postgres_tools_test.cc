// The tools on a PostgreSQL store, as processes: chat-migrate moving a LevelDB store into a database
// and back (verified, a no-op when rerun), and chatd's readiness while its database goes away and
// comes back.
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "chatd_process.h"
#include "libchat/plugins/postgres_store.h"
#include "migrate_support.h"
#include "pg_cluster.h"
#include "test_support.h"

using namespace chat;
using namespace std::chrono_literals;
using chat::test::PgCluster;
namespace fs = std::filesystem;

namespace {

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Run Migrate(const test::TempDir& dir, const std::string& args) {
  const fs::path out = dir.path() / "stdout.txt";
  const fs::path err = dir.path() / "stderr.txt";
  const std::string cmd = Quote(CHAT_MIGRATE_BIN) + " " + args + " </dev/null >" + Quote(out.string()) + " 2>" +
                          Quote(err.string());
  Run r;
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  r.code = WEXITSTATUS(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  INFO(cmd << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

nlohmann::json LastJsonLine(const std::string& text) {
  const auto end = text.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  const auto start = text.rfind('\n', end);
  return nlohmann::json::parse(text.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

}  // namespace

TEST_CASE("chat-migrate copies a LevelDB store into PostgreSQL and back with the same content, a rerun does nothing",
          "[postgres][migrate]") {
  test::TempDir dir;
  std::string dump;
  test::World world;
  {
    test::Fixture f("leveldb");
    world = test::Populate(f);
    dump = test::ExportString(*f.store);
    f.service.reset();
    f.store.reset();
    fs::copy(f.dir->path() / "store", dir.path() / "store", fs::copy_options::recursive);
  }
  const std::string leveldb = "leveldb://" + (dir.path() / "store").string();
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  const std::string postgres = cluster.Uri(*db);

  auto copy = Migrate(dir, "copy --json --from " + Quote(leveldb) + " --to " + Quote(postgres));
  INFO(copy.err);
  REQUIRE(copy.code == 0);
  auto j = LastJsonLine(copy.out);
  CHECK(j["already_copied"] == false);
  CHECK(j["counts"]["messages"].get<int>() > 5);
  CHECK(j["counts"]["attachments"].get<int>() >= 3);
  // The same records, byte for byte, whichever store exports them.
  CHECK(Migrate(dir, "export --from " + Quote(postgres)).out == dump);
  // Run again: the database already holds exactly this; nothing is written.
  auto again = Migrate(dir, "copy --json --from " + Quote(leveldb) + " --to " + Quote(postgres));
  REQUIRE(again.code == 0);
  CHECK(LastJsonLine(again.out)["already_copied"] == true);
  CHECK(Migrate(dir, "export --from " + Quote(postgres)).out == dump);
  // And back into a new LevelDB store.
  const std::string back = "leveldb://" + (dir.path() / "back").string();
  REQUIRE(Migrate(dir, "copy --from " + Quote(postgres) + " --to " + Quote(back)).code == 0);
  CHECK(Migrate(dir, "export --from " + Quote(back)).out == dump);

  // Onto a database holding something else: refused, and that database is left alone.
  auto other = cluster.NewDatabase();
  REQUIRE_OK(other);
  REQUIRE_OK(cluster.Sql("INSERT INTO users (id, username, display_name, email, password_hash, avatar_url, created_at, "
                         "disabled, last_seen_visibility) VALUES (1, 'zed', '', '', '', '', 0, false, 0)",
                         *other));
  auto onto = Migrate(dir, "copy --from " + Quote(leveldb) + " --to " + Quote(cluster.Uri(*other)));
  CHECK(onto.code == 1);
  CHECK(onto.err.find("copy only into a fresh store") != std::string::npos);

  // The copy is a working store: dedup records, heads and the id counters came with it.
  auto store = Registry::Default().MakeStore(postgres);
  REQUIRE_OK(store);
  std::shared_ptr<Store> shared = std::move(*store);
  ServiceOptions opts;
  opts.password_cost = PasswordCost::kMinimum;
  opts.enforce_rate_limits = false;
  auto svc = ChatService::Create(opts, shared, NewInProcBus());
  REQUIRE_OK(svc);
  SendRequest r;
  r.sender = world.bob.user.id;
  r.device = world.bob.device.id;
  r.chat = world.group;
  r.client_id = "b1";
  r.body = "hello team";
  auto resend = (*svc)->Send(r);
  REQUIRE_OK(resend);
  CHECK(resend->duplicate);
  CHECK(resend->message.id == world.bob_first.id);
  auto head = shared->Head(world.group);
  REQUIRE_OK(head);
  r.client_id = "b-new";
  auto fresh = (*svc)->Send(r);
  REQUIRE_OK(fresh);
  CHECK(fresh->message.seq == *head + 1);
  auto user = (*svc)->Register({"newcomer", "password-newcomer", "", "", ""});
  REQUIRE_OK(user);
  CHECK(user->id > world.carol.user.id);
}

TEST_CASE("chatd on PostgreSQL is not ready while the database is down and serves again when it is back",
          "[postgres][chatd]") {
  auto made = PgCluster::Start({});
  REQUIRE_OK(made);
  PgCluster& cluster = **made;
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  test::TempDir data;
  test::ChatdProcess chatd(data.str(), {"--store", cluster.Uri(*db) + "?pool=4"});
  CHECK(test::HttpGet(chatd.port(), "/readyz") == "200\nready\n");
  test::RegisterUser(chatd, "alice");
  auto alice = test::LoginDevice(chatd, "alice", "phone");
  auto chat = alice.client->CreateGroup("g", {});
  REQUIRE_OK(chat);
  std::vector<AppendResult> acked;
  auto first = alice.client->SendMessage(chat->id, "c1", "before");
  REQUIRE_OK(first);
  acked.push_back(*first);

  cluster.Stop();
  CHECK(test::PgEventually([&] { return test::HttpGet(chatd.port(), "/readyz") == "503\nnot ready\n"; }));
  CHECK(test::HttpGet(chatd.port(), "/healthz") == "200\nok\n");  // Alive, only not ready.
  auto during = alice.client->SendMessage(chat->id, "c2", "during");
  CHECK_CODE(during, StatusCode::kUnavailable);
  CHECK(during.status().retry_after_ms() > 0);

  REQUIRE_OK(cluster.Restart());
  CHECK(test::PgEventually([&] { return test::HttpGet(chatd.port(), "/readyz") == "200\nready\n"; }));
  Result<AppendResult> retried = Status::Unavailable("");
  CHECK(test::PgEventually([&] {
    retried = alice.client->SendMessage(chat->id, "c2", "during");
    return retried.ok();
  }));
  REQUIRE_OK(retried);
  acked.push_back(*retried);
  auto all = test::SyncAll(*alice.client, chat->id);
  REQUIRE(all.size() == 3);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].seq == i + 1);
  for (const auto& a : acked) CHECK(all[a.message.seq - 1].id == a.message.id);
  CHECK(chatd.SignalAndWait(SIGTERM) == 0);
}

TEST_CASE("chat-migrate manages a PostgreSQL store's schema: versions, status, up, a rerun of up, down to 0",
          "[postgres][migrate]") {
  test::TempDir dir;
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase(/*with_schema=*/false);
  REQUIRE_OK(db);
  const std::string store = " --store " + Quote(cluster.Uri(*db));
  auto json = [&](const std::string& args) {
    auto r = Migrate(dir, args + " --json" + store);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return LastJsonLine(r.out);
  };
  auto versions = json("versions");
  CHECK(versions["schema_version"] == 0);
  CHECK(versions["latest_version"] == kPostgresSchemaVersion);
  CHECK(versions["steps"].size() == static_cast<std::size_t>(kPostgresSchemaVersion));
  CHECK(json("status")["state"] == "empty");
  auto up = json("up");
  CHECK(up["to_version"] == kPostgresSchemaVersion);
  CHECK(up["applied"].size() == static_cast<std::size_t>(kPostgresSchemaVersion));
  // Up again: nothing to apply.
  CHECK(json("up")["applied"].empty());
  CHECK(json("status")["schema_version"] == kPostgresSchemaVersion);
  auto down = json("down --to-version 0");
  CHECK(down["to_version"] == 0);
  auto tables = cluster.Sql(
      "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'libchat_schema'", *db);
  REQUIRE_OK(tables);
  CHECK(*tables == "0");
  CHECK(json("status")["state"] == "empty");
  cluster.DropDatabase(*db).IgnoreError();
}
