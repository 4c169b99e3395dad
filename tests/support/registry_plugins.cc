// TestRegistry() for contract, integration and the other tests: every plugin of this build. With the
// PostgreSQL plugin, also the "postgres" server store backend: a database of its own per fixture on
// SharedPgCluster().
#include "test_support.h"

#ifdef LIBCHAT_TEST_POSTGRES
#include <cstdlib>
#include <mutex>

#include "pg_cluster.h"
#endif

namespace chat::test {

Registry& TestRegistry() { return Registry::Default(); }

#ifdef LIBCHAT_TEST_POSTGRES
PgCluster& SharedPgCluster() {
  static std::mutex mu;
  static std::unique_ptr<PgCluster> cluster;
  std::lock_guard lock(mu);
  if (!cluster) {
    Result<std::unique_ptr<PgCluster>> made = Status::NotFound("");
    const char* state = std::getenv("LIBCHAT_TEST_PG_STATE");
    if (state != nullptr && std::filesystem::exists(state)) {
      made = PgCluster::Attach(state);
    } else {
      made = PgCluster::Start({});
    }
    REQUIRE_OK(made);
    cluster = std::move(*made);
  }
  return *cluster;
}

std::vector<std::string> ServerStoreBackends() { return {"postgres"}; }

ServerStore NewServerStore(const std::string& backend) {
  REQUIRE(backend == "postgres");
  auto db = SharedPgCluster().NewDatabase();
  REQUIRE_OK(db);
  // Deletions are vacuumed at once, as the KvStore fixtures' erasure runs at once on demand.
  return {SharedPgCluster().Uri(*db) + "?pool=4&erase_delay_ms=0", *db};
}

void ReleaseServerStore(const std::string&, const ServerStore& store) {
  SharedPgCluster().DropDatabase(store.database).IgnoreError();
}
#else
std::vector<std::string> ServerStoreBackends() { return {}; }

ServerStore NewServerStore(const std::string& backend) {
  FAIL("no server store backend '" << backend << "' in this build");
  return {};
}

void ReleaseServerStore(const std::string&, const ServerStore&) {}
#endif

}  // namespace chat::test
