// Shared by every test: status assertions, temporary directories, ready-made services.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "build_paths.h"
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

// The whole content of a file ("" if it cannot be read).
std::string ReadFile(const std::filesystem::path& path);
// Writes `content` to `path`, replacing it. REQUIREs success.
void WriteFile(const std::filesystem::path& path, std::string_view content);

// Polls `condition` every `poll` until it holds or `timeout` passes; returns its last value. For states
// another thread or process reaches (a sender's answer, a server's readiness), without fixed sleeps.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(2));

// A text message from the device of `s` (builders for the requests tests send most).
SendRequest TextMessage(const Session& s, ChatId chat, const std::string& client_id, const std::string& body = "hi");

// The registry tests open backends with. Unit tests (label unit) get one with the built-in backends
// only (mem://, inproc://, log://, file://); the others get Registry::Default(), with every plugin of
// the build (leveldb://, the curl push senders). Defined by the libchat_test_registry_* object
// libraries that libchat_add_test links.
Registry& TestRegistry();

// Store backends on a server, named like "mem" and "leveldb": "postgres" in the tests that link every
// plugin, in builds with the PostgreSQL plugin; none in unit tests. Each ServerStore is a fresh,
// empty store of its own (a database on the run's throw-away server), removed by ReleaseServerStore.
// Defined with TestRegistry().
struct ServerStore {
  std::string uri;       // The store's URI.
  std::string database;  // The database it lives in, for tests that look at it with SQL.
};
std::vector<std::string> ServerStoreBackends();
ServerStore NewServerStore(const std::string& backend);  // REQUIREs success.
void ReleaseServerStore(const std::string& backend, const ServerStore& store);

// A store URI with its placeholders filled in: "{tmp}" becomes `dir` (a fresh directory), "{unique}"
// a random token (for a shared server: a database or key prefix of its own per test).
std::string ExpandUri(const std::string& uri, const std::string& dir);

// A ChatService over a chosen store, with a manual clock and minimum password cost (tests only).
struct Fixture {
  // backend: "mem" (mem://), "leveldb" (leveldb:// in a temp dir owned by the fixture), one of
  // ServerStoreBackends() ("postgres": a fresh database, dropped with the fixture), or any store URI
  // that TestRegistry() knows, with the placeholders of ExpandUri ({tmp} is the fixture's dir).
  explicit Fixture(const std::string& backend, KvStoreOptions store_options = {});
  ~Fixture();

  // Closes and reopens the store (LevelDB: from disk; mem:// starts empty). Services made before are
  // invalid.
  void Reopen();
  // Whether the store keeps its data across Reopen (false for mem://).
  bool durable() const;

  // Registers a user and logs a device in.
  Session NewUser(const std::string& name);
  Session NewDevice(const std::string& name);

  std::string backend;
  std::string store_uri;  // As opened ({tmp} filled in).
  std::string database;   // A server backend's database ("postgres"), else "".
  KvStoreOptions store_options;
  std::unique_ptr<TempDir> dir;
  ManualClock clock;
  std::shared_ptr<Bus> bus;
  std::shared_ptr<Store> store;
  // Attachment bytes: mem:// for "mem", file:// in the fixture's directory for "leveldb" and the
  // server backends. Kept across Reopen.
  std::shared_ptr<BlobStore> blobs;
  std::unique_ptr<ChatService> service;
};

// Opens a store: "mem", "leveldb" (in `dir`) or a store URI (see Fixture). Engine schemes get the
// built-in KvStore with `options`. REQUIREs success.
std::unique_ptr<Store> OpenStore(const std::string& backend, const std::string& dir, KvStoreOptions options = {});

}  // namespace chat::test
