// The relational schema of the PostgreSQL store, its versions, and the day partitions of `messages`.
// The tables and why they look as they do: docs/storage.md ("PostgreSQL").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "libchat/migrate.h"
#include "libchat/types.h"
#include "pg_conn.h"

namespace chat::pg {

struct SchemaStep {
  int to = 0;  // Applied up, it produces this version (from to - 1); down, it returns to to - 1.
  std::string description;
  std::string up;    // SQL script, run in one transaction with the version row.
  std::string down;  // Its inverse.
};

// Schema version 2, invitations (pg_admin.cc).
const SchemaStep& InvitesSchemaStep();
// Schema version 3, several nodes as one service: shared attachment bytes and node heartbeats
// (pg_blobs.cc).
const SchemaStep& ClusterSchemaStep();

// Makes sure the database the connection is on holds this build's schema: creates it in an empty
// database when `create` (Migrate serialises concurrent first starts), else FailedPrecondition; a
// database at another version is FailedPrecondition (older: run chat-migrate up; newer: upgrade).
// `description` names the database in errors.
Status EnsureSchema(Conn& conn, bool create, const std::string& description);

// Every step, ascending; step i (from 0) produces version i + 1.
const std::vector<SchemaStep>& SchemaSteps();
int LatestVersion();

// The version recorded in the database; 0 if it holds no libchat schema (the version table is
// missing or empty).
Result<int> CurrentVersion(Conn& conn);
// Moves the schema to `target` one step at a time, each step in its own transaction together with
// its version row, under a transaction-scoped advisory lock (so two processes never both apply a
// step; the second finds it applied). Returns the report of what it did.
Result<MigrateReport> Migrate(Conn& conn, int target, const std::function<void(const MigrationStep&)>& on_step);

// The day (UTC midnight, ms) holding `t`, and the name of its partition: messages_YYYYMMDD.
TimeMs DayStart(TimeMs t);
std::string PartitionName(TimeMs day_start);
// Creates the partition of messages for the day holding `t` unless it exists (serialised between
// processes by an advisory lock). Runs in its own transaction: REQUIRES no transaction open on conn.
Status EnsurePartition(Conn& conn, TimeMs t);

// The partitions of messages: name and day start, ascending by day.
struct Partition {
  std::string name;
  TimeMs day = 0;
};
Result<std::vector<Partition>> ListPartitions(Conn& conn);

}  // namespace chat::pg
