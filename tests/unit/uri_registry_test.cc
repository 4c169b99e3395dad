#include "test_support.h"

using namespace chat;

TEST_CASE("URIs parse into scheme, host, path and query", "[unit][uri]") {
  auto u = Uri::Parse("LevelDB:///var/lib/chat%20d?sync=0&cache_mb=8");
  REQUIRE_OK(u);
  CHECK(u->scheme == "leveldb");
  CHECK(u->host.empty());
  CHECK(u->path == "/var/lib/chat d");
  CHECK(u->Get("sync") == "0");
  CHECK(u->Get("missing", "dflt") == "dflt");
  CHECK_CODE(Uri::Parse("no-scheme"), StatusCode::kInvalidArgument);
  CHECK_CODE(Uri::Parse("x://a?b=%zz"), StatusCode::kInvalidArgument);
  auto secret = Uri::Parse("redis://h/0?password=hunter2&prefix=p");
  REQUIRE_OK(secret);
  CHECK(secret->ToString().find("hunter2") == std::string::npos);
  CHECK(secret->ToString().find("prefix=p") != std::string::npos);
  CHECK_CODE(secret->CheckKeys({"prefix"}), StatusCode::kInvalidArgument);
}

TEST_CASE("a registry without plugins builds the built-in backends and refuses the rest", "[unit][registry]") {
  Registry r;
  REQUIRE_OK(r.MakeStore("mem://"));
  REQUIRE_OK(r.MakeBus("inproc://"));
  REQUIRE_OK(r.MakePush("log://"));
  REQUIRE_OK(r.MakeBlob("mem://"));
  auto unknown = r.MakeStore("leveldb:///nowhere");
  CHECK_CODE(unknown, StatusCode::kNotSupported);
  CHECK(unknown.status().message().find("mem://") != std::string::npos);
  CHECK_CODE(r.MakeStore("mem://?bogus=1"), StatusCode::kInvalidArgument);
}
