// The randomised history checker (history.h) as part of the suite: short seeded runs on both engines,
// with restarts and crashes. The long run is the chat-history-check program (--seconds).
#include <catch2/catch.hpp>

#include "history.h"
#include "test_support.h"
#ifdef LIBCHAT_TEST_POSTGRES
#include "pg_cluster.h"
#endif

namespace {

chat::check::HistoryReport Run(const std::string& backend, std::uint64_t seed, const std::string& store_uri = "") {
  chat::check::HistoryOptions o;
  o.backend = backend;
  o.store_uri = store_uri;
  o.seed = seed;
  o.threads = 8;
  o.ops_per_thread = 200;
  o.phases = 4;
  auto report = RunHistoryCheck(o);
  INFO(report.Summary());
  CHECK(report.violations.empty());
  // The run exercised what it checks: sends were acknowledged and events seen.
  CHECK(report.messages_acked > 50);
  CHECK(report.events > 50);
  CHECK(report.crashes == (backend == "postgres" ? 0 : 2));
  if (backend != "postgres") CHECK(report.backups > 0);
  if (backend == "leveldb") CHECK(report.erasures_checked > 10);  // Deleted texts were looked for on disk.
  return report;
}

}  // namespace

TEST_CASE("history checker: random concurrent operations keep every invariant on the in-memory store",
          "[concurrency]") {
  Run("mem", 20261206);
}

TEST_CASE("history checker: random concurrent operations keep every invariant on LevelDB with crashes",
          "[concurrency]") {
  Run("leveldb", 7);
}

#ifdef LIBCHAT_TEST_POSTGRES
TEST_CASE("history checker: random concurrent operations keep every invariant on PostgreSQL across restarts",
          "[concurrency][postgres]") {
  auto& cluster = chat::test::SharedPgCluster();
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  Run("postgres", 13, cluster.Uri(*db) + "?pool=8&erase_delay_ms=0");
  cluster.DropDatabase(*db).IgnoreError();
}
#endif
