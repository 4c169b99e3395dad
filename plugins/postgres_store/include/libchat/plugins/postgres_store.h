// The PostgreSQL store: the chat domain in relational tables of one PostgreSQL (15+) database, shared
// by any number of chatd processes (postgres://user@host:port/db?...). Schema, partitions and
// retention are described in docs/storage.md ("PostgreSQL"); running the database in
// docs/operations.md.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/clock.h"
#include "libchat/migrate.h"
#include "libchat/registry.h"
#include "libchat/store.h"

namespace chat {

struct PostgresStoreOptions {
  // Connections to the database, at most; each append transaction and each other call holds one
  // while it runs. URI key `pool`. Default: 8.
  std::size_t pool_size = 8;
  // Threads that commit appends, each holding one of the pool's connections while it commits; the
  // other connections serve reads (a send's dedup and membership checks) and other writes. A commit
  // carries the queued batches of up to 64 chats, so a few committers keep the WAL flushes full.
  // URI key `committers`. Default (0): a quarter of `pool_size`, at least 1.
  std::size_t committers = 0;
  // Most appends one transaction carries (appends to one chat share a transaction and a WAL flush).
  // URI key `batch`. Default: 1024.
  std::size_t max_batch = 1024;
  // Create the schema in an empty database (as LevelDB creates a missing store). With false an empty
  // database is FailedPrecondition: run `chat-migrate up` first. URI key `create` (0 or 1).
  // Default: true.
  bool create = true;
  // The row versions of deleted messages are vacuumed from their day partition at most this long
  // after the deletion (docs/storage.md, "Erasure"). URI key `erase_delay_ms`. Default: 60 s.
  TimeMs erase_delay_ms = 60 * 1000;
  // A day partition whose every message has expired is dropped whole by SweepExpired, counting its
  // rows in the report. One with more rows than the sweep's remaining budget is dropped all the same
  // once it holds at least this many (deleting them row by row would cost what the partitions are
  // there to save); smaller ones are deleted row by row within the budget. URI key `drop_rows`.
  // Default: 10000.
  std::size_t drop_partition_rows = 10000;
  // Chats whose head and members are kept in memory (validated against the database on use).
  // Default: 65536.
  std::size_t max_cached_chats = 65536;
  // Time of removals and of partition maintenance. Not owned. Default: the system clock.
  Clock* clock = SystemClock();
  // One line per event an operator should know (the database going away and coming back). Default
  // (empty): standard error.
  std::function<void(std::string_view)> info_log;
};

// Opens the store on the database `conninfo` names (a libpq connection string or
// postgresql:// URI). Creates the schema in an empty database (options.create); FailedPrecondition
// for a database at another schema version (older: run `chat-migrate up`; newer: upgrade libchat).
// Unavailable if the database cannot be reached.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, PostgresStoreOptions options = {});

// The schema of a PostgreSQL store, managed by chat-migrate (status, up, down, versions). Each step
// runs in one transaction with its version row, under an advisory lock, so concurrent chatd starts
// and migrations never interleave.
constexpr int kPostgresSchemaVersion = 3;
// Every step this build knows, ascending (step i goes from version i to i + 1).
std::vector<MigrationStep> PostgresSchemaSteps();
// The database's version (0: empty) and what reaching `target` would apply.
Result<SchemaStatus> PostgresSchemaStatus(const std::string& conninfo, int target = kPostgresSchemaVersion);
// Applies steps up (or, below the current version, down) to `target`; on_step sees each first.
// FailedPrecondition for a target this build does not know. `down` to 0 drops every table.
Result<MigrateReport> PostgresMigrate(const std::string& conninfo, int target,
                                      const std::function<void(const MigrationStep&)>& on_step = {});

// The libpq connection string for a postgres:// URI: the URI's own keys (pool, batch, committers,
// create, erase_delay_ms, drop_rows) removed and set in `options`; every other key passed to libpq, which
// rejects those it does not know. InvalidArgument for a malformed value.
Result<std::string> PostgresConninfo(const Uri& uri, PostgresStoreOptions* options);

// Registers the "postgres" and "postgresql" store schemes (and their schema tool for chat-migrate):
// postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2[:PORT2]...]/DB?pool=8&batch=1024&sslmode=...
// and the same schemes as blob stores (attachment bytes in tables blobs and blob_chunks of the
// database, shared by every node: chatd --blob-store postgres://...; keys pool, default 4, and create).
void RegisterPostgresStore(Registry& registry);

// ---- Nodes (chatctl nodes; docs/scaling.md, "Nodes and heartbeats") ----

// One chatd node as its last heartbeat described it (table `nodes`).
struct NodeHeartbeat {
  std::string node_id;
  std::string listen;   // The clients' HOST:PORT.
  std::string admin;    // The admin API's HOST:PORT ("" without one).
  std::string version;  // libchat's version.
  TimeMs started_at = 0;
  TimeMs heartbeat_at = 0;  // The database's clock when it was written (one clock for every node).
  std::uint64_t connections = 0;  // Open WebSocket connections then.
  bool stopped = false;           // The node said goodbye when it shut down.
  TimeMs age_ms = 0;              // List only: how long ago heartbeat_at was, by the database's clock.
};

// The heartbeats of a deployment's nodes in its PostgreSQL database. Thread-safe.
class NodeRegistry {
 public:
  virtual ~NodeRegistry() = default;
  // Writes (inserts or replaces) this node's row; heartbeat_at is set to the database's now.
  virtual Status Beat(const NodeHeartbeat& node) = 0;
  // Every node that ever beat here (stopped and silent ones too), by node id.
  virtual Result<std::vector<NodeHeartbeat>> List() = 0;
  // Forgets nodes whose last heartbeat is older than `age_ms` (a node renamed or retired).
  virtual Result<std::uint64_t> Forget(TimeMs age_ms) = 0;
};

// The registry on the database a postgres:// URI names (its own keys are ignored; one connection).
// Unavailable if the database cannot be reached; FailedPrecondition if its schema is not this build's.
Result<std::unique_ptr<NodeRegistry>> OpenNodeRegistry(const std::string& postgres_uri);

}  // namespace chat
