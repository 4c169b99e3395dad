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
  // A password in the authority is a secret too; the user name stays, to say who connects.
  auto authority = Uri::Parse("postgres://chatd:hunter2@db1:5432,db2:5432/chat?sslmode=require");
  REQUIRE_OK(authority);
  CHECK(authority->ToString() == "postgres://chatd:***@db1:5432,db2:5432/chat?sslmode=require");
}
