// The registry of this build (Registry::Default(): built-ins and every plugin): schemes, unknown
// schemes and unknown query keys, and a LevelDB store opened by URI in a temp dir.
#include "test_support.h"

using namespace chat;

TEST_CASE("the registry builds backends by scheme and refuses unknown ones at once", "[contract][registry]") {
  Registry& r = Registry::Default();
  REQUIRE_OK(r.MakeStore("mem://"));
  REQUIRE_OK(r.MakeBus("inproc://"));
  REQUIRE_OK(r.MakePush("log://"));
  REQUIRE_OK(r.MakeBlob("mem://"));
  auto unknown = r.MakeStore("cassandra://db/chat");
  CHECK_CODE(unknown, StatusCode::kNotSupported);
  CHECK(unknown.status().message().find("leveldb://") != std::string::npos);
  CHECK(unknown.status().message().find("mem://") != std::string::npos);
  CHECK_CODE(r.MakeStore("mem://?bogus=1"), StatusCode::kInvalidArgument);
  test::TempDir dir;
  CHECK_CODE(r.MakeStore("leveldb://" + dir.str() + "/s?cache_mb=lots"), StatusCode::kInvalidArgument);
  REQUIRE_OK(r.MakeStore("leveldb://" + dir.str() + "/s?sync=1&cache_mb=8"));
}
