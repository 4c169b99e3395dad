// Engine schemes in the registry: MakeStore wraps them in a KvStore, MakeKvEngine opens them bare.
#include "migrate_support.h"

using namespace chat;

TEST_CASE("engine schemes give stores and bare engines from one URI", "[migrate][registry]") {
  Registry& r = Registry::Default();
  test::TempDir dir;
  const std::string uri = "leveldb://" + dir.str() + "/s?sync=1&group_commit=0&cache_mb=8";
  {
    auto store = r.MakeStore(uri);
    REQUIRE_OK(store);
    REQUIRE_OK((*store)->CreateUser(User{0, "ann", "", "", "", "", 0, false, LastSeenVisibility::kEveryone}));
  }
  auto engine = r.MakeKvEngine(uri);  // The KvStore's keys are accepted, and no schema check runs.
  REQUIRE_OK(engine);
  auto schema = (*engine)->Get("meta/schema");
  REQUIRE_OK(schema);
  CHECK(*schema == std::to_string(kSchemaVersion));

  REQUIRE_OK(r.MakeKvEngine("mem://"));
  REQUIRE_OK(r.MakeStore("mem://?sync=0"));
  CHECK_CODE(r.MakeStore("mem://?sync=yes"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakeKvEngine("mem://?group_commit=2"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakeKvEngine("mem://?cache_mb=8"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakeStore("leveldb://" + dir.str() + "/t?bogus=1"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakeKvEngine("leveldb://" + dir.str() + "/missing?create=0"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakeKvEngine("cassandra://x"), StatusCode::kNotSupported);
  const auto schemes = r.StoreSchemes();
  CHECK(std::count(schemes.begin(), schemes.end(), "leveldb") == 1);
  CHECK(std::count(schemes.begin(), schemes.end(), "mem") == 1);
}

TEST_CASE("a store-only scheme has no engine, and an engine scheme gets the KvStore", "[migrate][registry]") {
  Registry r;
  r.RegisterStore("wrapped", [](const Uri&) { return MakeKvStore(NewMemKvEngine()); });
  REQUIRE_OK(r.MakeStore("wrapped://"));
  CHECK_CODE(r.MakeKvEngine("wrapped://"), StatusCode::kNotSupported);

  KvEngine* seen = nullptr;
  auto shared = NewMemKvEngine();
  r.RegisterKvEngine("custom", [&](const Uri& uri) -> Result<std::unique_ptr<KvEngine>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({"depth"}));  // The KvStore's keys never reach the engine.
    seen = shared.get();
    return std::unique_ptr<KvEngine>(std::make_unique<test::EngineRef>(shared.get()));
  });
  auto store = r.MakeStore("custom://?depth=3&sync=0&group_commit=1");
  REQUIRE_OK(store);
  CHECK(seen == shared.get());
  auto schema = shared->Get("meta/schema");
  REQUIRE_OK(schema);  // Opened as a KvStore: stamped with the schema version.
  CHECK_CODE(r.MakeStore("custom://?color=red"), StatusCode::kInvalidArgument);
}
