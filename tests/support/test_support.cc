#include "test_support.h"

#include <random>

#include "libchat/plugins/leveldb_store.h"
#ifdef LIBCHAT_TEST_POSTGRES
#include <cstdlib>
#include <mutex>

#include "pg_cluster.h"
#endif

namespace chat::test {

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (;;) {
    path_ = base / ("libchat-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::error_code ec;
    if (std::filesystem::create_directory(path_, ec)) break;
  }
  // Private, as chatd wants its data folder (it refuses one that others can read).
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

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
#endif

std::unique_ptr<Store> OpenStore(const std::string& backend, const std::string& dir, KvStoreOptions options) {
  std::unique_ptr<KvEngine> engine;
  if (backend == "postgres") {
    auto s = Registry::Default().MakeStore(dir);
    REQUIRE_OK(s);
    return std::move(*s);
  }
  if (backend == "mem") {
    engine = NewMemKvEngine();
  } else {
    auto e = OpenLevelDbEngine(dir);
    REQUIRE_OK(e);
    engine = std::move(*e);
  }
  auto s = MakeKvStore(std::move(engine), options);
  REQUIRE_OK(s);
  return std::move(*s);
}

Fixture::Fixture(const std::string& b, KvStoreOptions o) : backend(b), store_options(o) {
  if (backend != "mem") dir = std::make_unique<TempDir>();
#ifdef LIBCHAT_TEST_POSTGRES
  if (backend == "postgres") {
    auto db = SharedPgCluster().NewDatabase();
    REQUIRE_OK(db);
    database = *db;
    // Deletions are vacuumed at once, as the KvStore fixtures' erasure runs at once on demand.
    store_uri = SharedPgCluster().Uri(database) + "?pool=4&erase_delay_ms=0";
  }
#endif
  if (dir) {
    auto b = NewFileBlobStore((dir->path() / "blobs").string());
    REQUIRE_OK(b);
    blobs = std::move(*b);
  } else {
    blobs = NewMemBlobStore();
  }
  Reopen();
}

Fixture::~Fixture() {
  service.reset();
  store.reset();
#ifdef LIBCHAT_TEST_POSTGRES
  if (!database.empty()) SharedPgCluster().DropDatabase(database).IgnoreError();
#endif
}

void Fixture::Reopen() {
  service.reset();
  store.reset();
  bus = NewInProcBus();
  store = OpenStore(backend, !store_uri.empty() ? store_uri : dir ? (dir->path() / "store").string() : "",
                    store_options);
  ServiceOptions opts;
  opts.clock = &clock;
  opts.password_cost = PasswordCost::kMinimum;
  // Tests of other features send faster than people do; the limits have their own tests.
  opts.enforce_rate_limits = false;
  auto s = ChatService::Create(opts, store, bus, blobs);
  REQUIRE_OK(s);
  service = std::move(*s);
}

Session Fixture::NewUser(const std::string& name) {
  auto u = service->Register({name, "password-" + name, "", "", ""});
  REQUIRE_OK(u);
  return NewDevice(name);
}

Session Fixture::NewDevice(const std::string& name) {
  auto s = service->Login(name, "password-" + name, {"phone", "test"});
  REQUIRE_OK(s);
  return std::move(*s);
}

}  // namespace chat::test
