// Registry: maps a URI scheme to the factory of a backend (after RocksDB's ObjectRegistry). Backends
// register explicitly (RegisterBuiltinPlugins), never through static initialisers, which the linker
// drops from static libraries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libchat/blob.h"
#include "libchat/bus.h"
#include "libchat/kv.h"
#include "libchat/migrate.h"
#include "libchat/push.h"
#include "libchat/store.h"
#include "libchat/uri.h"

namespace chat {

// Stores come in two kinds. A scheme registered with RegisterStore builds a whole Store. A scheme
// registered with RegisterKvEngine builds only an ordered key-value engine; MakeStore then wraps it in
// the built-in KvStore (MakeKvStore), and tools that work below the Store (chat-migrate) can open the
// engine itself with MakeKvEngine, without the Store's schema check. For engine schemes the query keys
// `sync` and `group_commit` (0 or 1, default 1; see KvStoreOptions) belong to the KvStore: the registry
// parses and removes them, and the engine factory sees only its own keys.
//
// The schema versions of a store that is not a KvStore (a database with its own tables), for
// chat-migrate status|up|down|versions. Each function opens what it needs and closes it again.
struct SchemaTool {
  // The steps this build knows, ascending; step i leads from version i to i + 1.
  std::vector<MigrationStep> steps;
  // The version this build reads and writes.
  int latest = 0;
  // The store's version and what reaching `target` would apply (up, or down when below it).
  std::function<Result<SchemaStatus>(int target)> status;
  // Moves the store to `target`, one atomic step at a time, calling on_step before each.
  std::function<Result<MigrateReport>(int target, const std::function<void(const MigrationStep&)>& on_step)> migrate;
};

// Thread-safe: registration and creation may run concurrently.
class Registry {
 public:
  using StoreFactory = std::function<Result<std::unique_ptr<Store>>(const Uri&)>;
  // Receives the URI without the KvStore's keys (sync, group_commit). Should return InvalidArgument
  // for a query key it does not know.
  using KvEngineFactory = std::function<Result<std::unique_ptr<KvEngine>>(const Uri&)>;
  using BusFactory = std::function<Result<std::unique_ptr<Bus>>(const Uri&)>;
  using PushFactory = std::function<Result<std::unique_ptr<PushSender>>(const Uri&)>;
  using BlobFactory = std::function<Result<std::unique_ptr<BlobStore>>(const Uri&)>;
  // Validates the URI (InvalidArgument for an unknown key) and returns the scheme's schema tool.
  using SchemaToolFactory = std::function<Result<SchemaTool>(const Uri&)>;

  // A registry holding the built-in backends (mem://, inproc://, log://, file://) and every plugin
  // this build was configured with. The same instance on every call. Thread-safe.
  // Defined by libchat::plugins: link it to use this (a core-only embedder constructs a Registry).
  static Registry& Default();
  // An empty registry with only the built-in backends (no plugins).
  Registry();

  // Registering a scheme again replaces its factory. A scheme with both a store and an engine factory
  // builds stores with the store factory.
  void RegisterStore(const std::string& scheme, StoreFactory f);
  void RegisterKvEngine(const std::string& scheme, KvEngineFactory f);
  void RegisterBus(const std::string& scheme, BusFactory f);
  void RegisterPush(const std::string& scheme, PushFactory f);
  void RegisterBlob(const std::string& scheme, BlobFactory f);
  void RegisterSchemaTool(const std::string& scheme, SchemaToolFactory f);

  // Create a backend from its URI. NotSupported (listing the known schemes) for an unknown scheme;
  // InvalidArgument for a malformed URI or an unknown query key; the backend's error if it fails to open.
  Result<std::unique_ptr<Store>> MakeStore(const std::string& uri) const;
  Result<std::unique_ptr<Store>> MakeStore(const Uri& uri) const;
  // Opens the engine of an engine scheme as is: no schema check, nothing written. Accepts (and
  // validates, then ignores) the KvStore's keys, so that one URI names a store for chatd and for
  // chat-migrate alike. NotSupported for a scheme with no engine factory (e.g. a Store-only plugin).
  Result<std::unique_ptr<KvEngine>> MakeKvEngine(const std::string& uri) const;
  Result<std::unique_ptr<KvEngine>> MakeKvEngine(const Uri& uri) const;
  Result<std::unique_ptr<Bus>> MakeBus(const std::string& uri) const;
  Result<std::unique_ptr<PushSender>> MakePush(const std::string& uri) const;
  Result<std::unique_ptr<BlobStore>> MakeBlob(const std::string& uri) const;
  // The schema tool of a store scheme that manages its own schema (e.g. postgres). NotSupported for
  // a scheme without one (engine schemes use MakeKvEngine and MigrateUp instead).
  Result<SchemaTool> MakeSchemaTool(const Uri& uri) const;

  // Schemes MakeStore accepts (store and engine schemes), sorted.
  std::vector<std::string> StoreSchemes() const;
  // Schemes MakeKvEngine accepts, sorted.
  std::vector<std::string> KvEngineSchemes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, StoreFactory> stores_;
  std::map<std::string, KvEngineFactory> engines_;
  std::map<std::string, BusFactory> buses_;
  std::map<std::string, PushFactory> pushes_;
  std::map<std::string, BlobFactory> blobs_;
  std::map<std::string, SchemaToolFactory> schema_tools_;
};

// Registers every plugin enabled at build time (generated: builtin_plugins.cc in libchat::plugins).
// Called by Registry::Default() when libchat::plugins is linked.
void RegisterBuiltinPlugins(Registry& registry);

}  // namespace chat
