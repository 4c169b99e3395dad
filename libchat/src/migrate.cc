// Runs schema migrations: works out the path from the store's version to the target and applies it
// one synced batch per step, the new version written in the same batch as the step's changes.
#include "libchat/migrate.h"

#include "keys.h"
#include "migrations.h"

namespace chat {
namespace {

namespace keys = detail::keys;

// The steps leading from `current` to `target`, in order. FailedPrecondition when there is no such
// path (a gap, an ambiguous list, or a step beyond the target).
Result<std::vector<const Migration*>> Plan(const std::vector<Migration>& migrations, int current, int target) {
  for (const auto& m : migrations) {
    if (m.to <= m.from || !m.apply) {
      return Status::InvalidArgument("migration " + std::to_string(m.from) + " -> " + std::to_string(m.to) +
                                     " is malformed (it must go up and have a function)");
    }
  }
  std::vector<const Migration*> plan;
  for (int v = current; v < target;) {
    const Migration* next = nullptr;
    for (const auto& m : migrations) {
      if (m.from != v) continue;
      if (next != nullptr) {
        return Status::InvalidArgument("two migrations start at schema version " + std::to_string(v));
      }
      next = &m;
    }
    if (next == nullptr) {
      return Status::FailedPrecondition("no migration from schema version " + std::to_string(v) + " towards " +
                                        std::to_string(target) + " in this build of libchat");
    }
    if (next->to > target) {
      return Status::FailedPrecondition("migration " + std::to_string(next->from) + " -> " + std::to_string(next->to) +
                                        " goes past the target version " + std::to_string(target));
    }
    plan.push_back(next);
    v = next->to;
  }
  return plan;
}

// The recorded version, telling an empty engine (0) from one that holds data but lost its version.
Result<int> CurrentVersion(KvEngine& engine) {
  LIBCHAT_ASSIGN_OR_RETURN(int version, detail::ReadSchemaVersion(engine));
  if (version != 0) return version;
  auto it = engine.NewIterator();
  it->Seek("");
  LIBCHAT_RETURN_IF_ERROR(it->status());
  if (it->Valid()) return Status::Corruption(engine.Describe() + ": holds records but no schema version");
  return 0;
}

Status Newer(KvEngine& engine, int current, int target) {
  // The same words as KvStore::Open, so that an operator sees one message for one situation.
  return Status::FailedPrecondition(engine.Describe() + ": store schema version " + std::to_string(current) +
                                    " is newer than this build's (" + std::to_string(target) + "); upgrade libchat");
}

}  // namespace

const std::vector<Migration>& BuiltinMigrations() {
  // Never destroyed, like Registry::Default(): safe to use during static destruction.
  static const std::vector<Migration>* migrations = new std::vector<Migration>(detail::MakeBuiltinMigrations());
  return *migrations;
}

Result<SchemaStatus> MigrationStatus(KvEngine& engine, const MigrateOptions& options) {
  SchemaStatus status;
  status.target = options.target;
  LIBCHAT_ASSIGN_OR_RETURN(status.current, CurrentVersion(engine));
  if (status.empty() || status.current >= status.target) return status;
  auto plan = Plan(options.migrations, status.current, options.target);
  if (!plan.ok()) return plan.error().WithContext(engine.Describe());
  for (const Migration* m : *plan) status.pending.push_back(m->step());
  return status;
}

Result<MigrateReport> MigrateUp(KvEngine& engine, const MigrateOptions& options) {
  MigrateReport report;
  LIBCHAT_ASSIGN_OR_RETURN(report.from, CurrentVersion(engine));
  report.to = report.from;
  // An empty store has nothing to convert; KvStore::Open stamps it with its version.
  if (report.from == 0) return report;
  if (report.from > options.target) return Newer(engine, report.from, options.target);
  auto plan = Plan(options.migrations, report.from, options.target);
  if (!plan.ok()) return plan.error().WithContext(engine.Describe());
  for (const Migration* m : *plan) {
    if (options.on_step) options.on_step(m->step());
    const std::string what =
        "migration " + std::to_string(m->from) + " -> " + std::to_string(m->to) + " (" + m->description + ")";
    KvBatch batch;
    Status s = m->apply(engine, &batch);
    if (!s.ok()) return s.WithContext(engine.Describe() + ": " + what);
    batch.Put(std::string(keys::kSchema), detail::SchemaVersionValue(m->to));
    s = engine.Write(batch, /*sync=*/true);
    if (!s.ok()) return s.WithContext(engine.Describe() + ": " + what);
    report.to = m->to;
    report.applied.push_back(m->step());
  }
  return report;
}

}  // namespace chat
