// Shared by every test: status assertions, temporary directories, ready-made services.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "libchat/libchat.h"

// Like LevelDB's ASSERT_LEVELDB_OK: fails with the Status text.
#define REQUIRE_OK(expr)                                     \
  do {                                                       \
    auto&& _s = (expr);                                      \
    INFO(::chat::test::Describe(_s));                        \
    REQUIRE(::chat::test::IsOk(_s));                         \
  } while (0)

#define CHECK_CODE(expr, expected_code)                      \
  do {                                                       \
    auto&& _s = (expr);                                      \
    INFO(::chat::test::Describe(_s));                        \
    CHECK(::chat::test::CodeOf(_s) == (expected_code));      \
  } while (0)

namespace chat::test {

inline bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) { return r.ok(); }
inline std::string Describe(const Status& s) { return s.ToString(); }
template <typename T>
std::string Describe(const Result<T>& r) { return r.status().ToString(); }
inline StatusCode CodeOf(const Status& s) { return s.code(); }
template <typename T>
StatusCode CodeOf(const Result<T>& r) { return r.status().code(); }

// A fresh directory under the system temp dir, removed when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

class PgCluster;

// The backends every store contract suite runs on: mem, leveldb, and postgres when this build has
// the plugin (a database of its own per fixture, on the shared throw-away server).
#ifdef LIBCHAT_TEST_POSTGRES
#define LIBCHAT_TEST_BACKENDS "mem", "leveldb", "postgres"
#else
#define LIBCHAT_TEST_BACKENDS "mem", "leveldb"
#endif

// The PostgreSQL server shared by this test process: the ctest fixture's (found through
// LIBCHAT_TEST_PG_STATE), else one started on first use and stopped at exit. REQUIREs that it runs.
// Only in builds with the postgres plugin.
PgCluster& SharedPgCluster();

// A ChatService over a chosen store, with a manual clock and minimum password cost (tests only).
struct Fixture {
  // backend: "mem", "leveldb" (in a temp dir owned by the fixture) or "postgres" (a fresh database
  // on SharedPgCluster(), dropped with the fixture).
  explicit Fixture(const std::string& backend, KvStoreOptions store_options = {});
  ~Fixture();

  // Closes and reopens the store (LevelDB: from disk). Services made before are invalid.
  void Reopen();

  // Registers a user and logs a device in.
  Session NewUser(const std::string& name);
  Session NewDevice(const std::string& name);

  std::string backend;
  KvStoreOptions store_options;
  std::string database;  // postgres: the fixture's database.
  std::string store_uri;  // postgres: the store's URI.
  std::unique_ptr<TempDir> dir;
  ManualClock clock;
  std::shared_ptr<Bus> bus;
  std::shared_ptr<Store> store;
  // Attachment bytes: mem:// for "mem", file:// in the fixture's directory for "leveldb". Kept across
  // Reopen.
  std::shared_ptr<BlobStore> blobs;
  std::unique_ptr<ChatService> service;
};

// Opens a store: "mem", "leveldb" in `where` (a directory), or "postgres" at `where` (a postgres://
// URI). REQUIREs success.
std::unique_ptr<Store> OpenStore(const std::string& backend, const std::string& where, KvStoreOptions options = {});

}  // namespace chat::test
