// Schema versions and migrations of the built-in KvStore (chat-migrate status|up).
//
// Every KvStore records the version of its key layout and record encoding under `meta/schema`
// (kSchemaVersion in store.h; stamped when a store is first opened). A build opens only stores of its
// own version: it refuses a newer one ("upgrade libchat") and an older one ("run `chat-migrate up`").
// A migration rewrites a store from one version to the next; MigrateUp applies the pending ones in
// order. They work on the KvEngine below the Store, so they run with the store closed (LevelDB's lock
// keeps chatd out while chat-migrate holds it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "libchat/kv.h"
#include "libchat/result.h"
#include "libchat/store.h"

namespace chat {

// A step as shown to people: what it converts and why.
struct MigrationStep {
  int from = 0;
  int to = 0;
  std::string description;
};

struct Migration {
  int from = 0;             // The version it applies to.
  int to = 0;               // The version it produces (greater than from).
  std::string description;  // One line for `chat-migrate status`.
  // Rewrites records of version `from` into version `to`: reads through `engine` and puts its changes
  // into `batch`, which MigrateUp writes (synced) together with the new version, so a step lands
  // whole or not at all. A step too large for one batch may also write batches of its own; then a
  // crash leaves it half done at the old version, and MigrateUp runs it again.
  // REQUIRES: idempotent. Running it on records already in the new form must change nothing.
  std::function<Status(KvEngine& engine, KvBatch* batch)> apply;

  MigrationStep step() const { return {from, to, description}; }
};

// This build's migrations, ordered by `from`. Empty while kSchemaVersion is 1: the first layout
// needs none. Each schema change adds its step here (libchat/src/migrations.cc).
const std::vector<Migration>& BuiltinMigrations();

struct MigrateOptions {
  // The steps to choose from, ordered by `from`. Default: this build's (BuiltinMigrations()).
  std::vector<Migration> migrations = BuiltinMigrations();
  // The version to reach. Default: kSchemaVersion, the version this build reads and writes.
  int target = kSchemaVersion;
  // Called before each step is applied, e.g. to print progress. Default: none.
  std::function<void(const MigrationStep&)> on_step;
};

struct SchemaStatus {
  // The version recorded in the store; 0 for an empty store (it is stamped when first opened).
  int current = 0;
  int target = 0;
  // What MigrateUp would apply, in order. Empty when up to date, empty or newer.
  std::vector<MigrationStep> pending;

  bool empty() const { return current == 0; }
  bool newer() const { return current > target; }
  bool up_to_date() const { return current == target; }
};

// Where the store stands. Reads only. Corruption if the recorded version is not a number, or if
// the engine holds records but no version. FailedPrecondition if the store is older than the target
// and the migrations do not lead from its version to the target (the message names the gap).
// Blocks on the engine.
Result<SchemaStatus> MigrationStatus(KvEngine& engine, const MigrateOptions& options = {});

struct MigrateReport {
  // The version before; 0 for an empty store (nothing is done to it).
  int from = 0;
  // The version after.
  int to = 0;
  // The steps applied, in order; empty when nothing was pending.
  std::vector<MigrationStep> applied;
};

// Applies the pending steps in order; each one is written with its new version in one synced batch.
// Running it again once up to date does nothing. FailedPrecondition for a store newer than the
// target or with no path to it; a step's own error, prefixed with the step, if one fails (the store
// then stays at the version before that step). REQUIRES: nothing else writes to the engine.
Result<MigrateReport> MigrateUp(KvEngine& engine, const MigrateOptions& options = {});

}  // namespace chat
