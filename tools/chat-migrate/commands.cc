#include "commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "dump_digest.h"
#include "fresh_target.h"
#include "libchat/dump.h"
#include "libchat/migrate.h"

namespace chat::migrate {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// Opening a missing directory would create an empty store there, and then report on (or export)
// nothing: a mistyped path must fail instead.
chat::Status RequireExistingStore(const Uri& uri) {
  if (!NamesLocalDirectory(uri)) return chat::Status::Ok();
  std::error_code ec;
  if (!fs::is_directory(uri.path, ec) || fs::is_empty(uri.path, ec)) {
    return chat::Status::NotFound("no store at " + uri.ToString());
  }
  return chat::Status::Ok();
}

// LevelDB lets one process open a store at a time; say who the other one probably is.
chat::Status WithLockHint(chat::Status s) {
  if (s.code() == StatusCode::kUnavailable && s.message().find("LOCK") != std::string::npos) {
    return chat::Status(s.code(), s.message() + " (is chatd, or another chat-migrate, using this store?)");
  }
  return s;
}

template <typename T>
Result<T> Opened(Result<T> made) {
  if (!made.ok()) return WithLockHint(made.error());
  return made;
}

ordered_json StepsJson(const std::vector<MigrationStep>& steps) {
  ordered_json list = ordered_json::array();
  for (const auto& s : steps) list.push_back({{"from", s.from}, {"to", s.to}, {"description", s.description}});
  return list;
}

std::string StepText(const MigrationStep& s) {
  return "  " + std::to_string(s.from) + " -> " + std::to_string(s.to) + ": " + s.description + "\n";
}

ordered_json CountsJson(const DumpCounts& c) {
  return {{"records", c.records},
          {"users", c.users},
          {"devices", c.devices},
          {"chats", c.chats},
          {"participants", c.participants},
          {"messages", c.messages},
          {"device_cursors", c.device_cursors},
          {"receipts", c.receipts},
          {"attachments", c.attachments},
          {"bans", c.bans},
          {"blocks", c.blocks},
          {"spam_flags", c.spam_flags},
          {"spam_reports", c.spam_reports}};
}

std::string CountsText(const DumpCounts& c) {
  return std::to_string(c.records) + " records (" + std::to_string(c.users) + " users, " + std::to_string(c.devices) +
         " devices, " + std::to_string(c.chats) + " chats, " + std::to_string(c.participants) + " participants, " +
         std::to_string(c.messages) + " messages, " + std::to_string(c.device_cursors) + " device cursors, " +
         std::to_string(c.receipts) + " receipts, " + std::to_string(c.attachments) + " attachments, " +
         std::to_string(c.bans) + " bans, " + std::to_string(c.blocks) + " blocks, " + std::to_string(c.spam_flags) +
         " spam flags, " + std::to_string(c.spam_reports) + " spam reports)";
}

// Writes to OUT.partial and renames it on success, so that OUT is never a truncated dump.
Result<DumpCounts> ExportToFile(Store& store, const std::string& out_path) {
  const std::string partial = out_path + ".partial";
  Result<DumpCounts> counts = chat::Status::Internal("not run");
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) return chat::Status::Unavailable("cannot create " + partial);
    counts = ExportDump(store, out);
    out.close();
    if (counts.ok() && !out) counts = chat::Status::Unavailable("writing " + partial + " failed");
  }
  std::error_code ec;
  if (counts.ok()) {
    fs::rename(partial, out_path, ec);
    if (ec) counts = chat::Status::Unavailable("rename " + partial + " to " + out_path + ": " + ec.message());
  }
  if (!counts.ok()) fs::remove(partial, ec);
  return counts;
}

}  // namespace

namespace {

bool IsEngineScheme(const Registry& registry, const Uri& uri) {
  for (const auto& s : registry.KvEngineSchemes()) {
    if (s == uri.scheme) return true;
  }
  return false;
}

Report StatusReport(const std::string& name, const SchemaStatus& s) {
  std::string state;
  Report r;
  if (s.empty()) {
    state = "empty";
    r.text = name + ": empty store; it takes schema version " + std::to_string(s.target) + " when first opened\n";
  } else if (s.newer()) {
    state = "newer";
    r.text = name + ": schema version " + std::to_string(s.current) + " is newer than this build's (" +
             std::to_string(s.target) + "); upgrade libchat\n";
  } else if (s.up_to_date()) {
    state = "up_to_date";
    r.text = name + ": schema version " + std::to_string(s.current) + ", up to date\n";
  } else {
    state = "pending";
    r.text = name + ": schema version " + std::to_string(s.current) + ", this build's is " + std::to_string(s.target) +
             "; `chat-migrate up` applies:\n";
    for (const auto& step : s.pending) r.text += StepText(step);
  }
  r.json = {{"ok", true},
            {"command", "status"},
            {"store", name},
            {"schema_version", s.current},
            {"target_version", s.target},
            {"state", state},
            {"pending", StepsJson(s.pending)}};
  return r;
}

Report MigrateReportOf(const std::string& command, const std::string& name, const MigrateReport& m) {
  Report r;
  if (m.applied.empty()) {
    r.text = name + ": at schema version " + std::to_string(m.to) + ", nothing to do\n";
  } else {
    r.text = name + ": migrated from schema version " + std::to_string(m.from) + " to " + std::to_string(m.to) + "\n";
  }
  r.json = {{"ok", true},         {"command", command},
            {"store", name},      {"from_version", m.from},
            {"to_version", m.to}, {"applied", StepsJson(m.applied)}};
  return r;
}

}  // namespace

Result<Report> RunStatus(const Registry& registry, const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(uri));
  if (!IsEngineScheme(registry, uri)) {
    // A database with tables of its own: its schema tool reads the version.
    LIBCHAT_ASSIGN_OR_RETURN(SchemaTool tool, registry.MakeSchemaTool(uri));
    LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, tool.status(tool.latest));
    return StatusReport(uri.ToString(), s);
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto engine, Opened(registry.MakeKvEngine(uri)));
  LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, MigrationStatus(*engine));
  return StatusReport(uri.ToString(), s);
}

Result<Report> RunUp(const Registry& registry, const Uri& uri, std::ostream& progress, int target) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(uri));
  auto on_step = [&](const MigrationStep& s) {
    progress << "applying " << s.from << " -> " << s.to << ": " << s.description << std::endl;
  };
  const std::string name = uri.ToString();
  if (!IsEngineScheme(registry, uri)) {
    LIBCHAT_ASSIGN_OR_RETURN(SchemaTool tool, registry.MakeSchemaTool(uri));
    LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, tool.status(tool.latest));
    const int to = target < 0 ? tool.latest : target;
    if (to < s.current) {
      return chat::Status::FailedPrecondition(name + " is at schema version " + std::to_string(s.current) +
                                              "; `up` does not go down to " + std::to_string(to) + " (use `down`)");
    }
    LIBCHAT_ASSIGN_OR_RETURN(MigrateReport m, tool.migrate(to, on_step));
    return MigrateReportOf("up", name, m);
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto engine, Opened(registry.MakeKvEngine(uri)));
  MigrateOptions options;
  options.on_step = on_step;
  if (target >= 0) options.target = target;
  LIBCHAT_ASSIGN_OR_RETURN(MigrateReport m, MigrateUp(*engine, options));
  Report r = MigrateReportOf("up", name, m);
  if (m.from == 0) r.text = name + ": empty store, nothing to migrate\n";
  return r;
}

Result<Report> RunDown(const Registry& registry, const Uri& uri, std::ostream& progress, int target) {
  const std::string name = uri.ToString();
  if (IsEngineScheme(registry, uri)) {
    return chat::Status::NotSupported(name + ": key-value stores migrate up only (restore a backup to go back)");
  }
  LIBCHAT_ASSIGN_OR_RETURN(SchemaTool tool, registry.MakeSchemaTool(uri));
  LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, tool.status(target));
  if (target > s.current) {
    return chat::Status::FailedPrecondition(name + " is at schema version " + std::to_string(s.current) +
                                            "; `down` does not go up to " + std::to_string(target) + " (use `up`)");
  }
  LIBCHAT_ASSIGN_OR_RETURN(MigrateReport m, tool.migrate(target, [&](const MigrationStep& st) {
    progress << "reverting " << st.from << " -> " << st.to << ": " << st.description << std::endl;
  }));
  return MigrateReportOf("down", name, m);
}

Result<Report> RunVersions(const Registry& registry, const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(uri));
  std::vector<MigrationStep> steps;
  int current = 0;
  int latest = 0;
  if (IsEngineScheme(registry, uri)) {
    LIBCHAT_ASSIGN_OR_RETURN(auto engine, Opened(registry.MakeKvEngine(uri)));
    LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, MigrationStatus(*engine));
    for (const auto& m : BuiltinMigrations()) steps.push_back(m.step());
    current = s.current;
    latest = kSchemaVersion;
  } else {
    LIBCHAT_ASSIGN_OR_RETURN(SchemaTool tool, registry.MakeSchemaTool(uri));
    LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, tool.status(tool.latest));
    steps = tool.steps;
    current = s.current;
    latest = tool.latest;
  }
  const std::string name = uri.ToString();
  Report r;
  r.text = name + ": schema version " + std::to_string(current) + "; this build's is " + std::to_string(latest) +
           (steps.empty() ? " (no migrations)\n" : "; its steps:\n");
  for (const auto& st : steps) r.text += StepText(st);
  r.json = {{"ok", true},         {"command", "versions"}, {"store", name},
            {"schema_version", current}, {"latest_version", latest}, {"steps", StepsJson(steps)}};
  return r;
}

Result<Report> RunExport(const Registry& registry, const Uri& from, const std::string& out_path) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(from));
  LIBCHAT_ASSIGN_OR_RETURN(auto store, Opened(registry.MakeStore(from)));
  Result<DumpCounts> counts = out_path.empty() ? ExportDump(*store, std::cout) : ExportToFile(*store, out_path);
  if (!counts.ok()) return counts.error().WithContext("export from " + from.ToString());
  Report r;
  r.text = "exported " + CountsText(*counts) + " from " + from.ToString() + "\n";
  r.json = {{"ok", true}, {"command", "export"}, {"from", from.ToString()}, {"counts", CountsJson(*counts)}};
  return r;
}

Result<Report> RunImport(const Registry& registry, const Uri& to, const std::string& in_path) {
  std::ifstream file;
  if (!in_path.empty()) {
    file.open(in_path, std::ios::binary);
    if (!file) return chat::Status::NotFound("cannot open " + in_path);
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto target, FreshTarget::Open(registry, to));
  auto counts = ImportDump(in_path.empty() ? std::cin : file, target->store());
  if (!counts.ok()) {
    return counts.error().WithContext("import into " + to.ToString() + " from " +
                                      (in_path.empty() ? "stdin" : in_path));
  }
  LIBCHAT_RETURN_IF_ERROR(target->Commit());
  Report r;
  r.text = "imported " + CountsText(*counts) + " into " + to.ToString() + "\n";
  r.json = {{"ok", true}, {"command", "import"}, {"to", to.ToString()}, {"counts", CountsJson(*counts)}};
  return r;
}

Result<Report> RunCopy(const Registry& registry, const Uri& from, const Uri& to) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(from));
  LIBCHAT_ASSIGN_OR_RETURN(auto source, Opened(registry.MakeStore(from)));
  const std::string from_name = from.ToString();
  const std::string to_name = to.ToString();
  // What the source holds, as a digest of its dump: a copy is verified against it, and a rerun into
  // a store that already holds exactly this content does nothing (a database target cannot be
  // staged and renamed into place like a directory, so this is what makes a rerun safe).
  LIBCHAT_ASSIGN_OR_RETURN(Digest want, DumpDigest(*source));
  if (!NamesLocalDirectory(to)) {
    LIBCHAT_ASSIGN_OR_RETURN(auto existing, Opened(registry.MakeStore(to)));
    LIBCHAT_ASSIGN_OR_RETURN(Digest have, DumpDigest(*existing));
    if (have.counts.records > have.counts.counters) {
      if (have.sha256 != want.sha256) {
        return chat::Status::FailedPrecondition(to_name + " already holds other records (" + CountsText(have.counts) +
                                                "); copy only into a fresh store");
      }
      Report r;
      r.text = to_name + " already holds exactly what " + from_name + " holds (" + CountsText(have.counts) +
               ", sha256 " + want.sha256 + "): nothing to do\n";
      r.json = {{"ok", true},           {"command", "copy"},           {"from", from_name},
                {"to", to_name},        {"counts", CountsJson(have.counts)}, {"sha256", want.sha256},
                {"already_copied", true}};
      return r;
    }
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto target, FreshTarget::Open(registry, to));
  auto counts = CopyStore(*source, target->store());
  if (!counts.ok()) return counts.error().WithContext("copy " + from_name + " to " + to_name);
  // Verified before it becomes visible: the target's own export must be the source's, byte for byte.
  LIBCHAT_ASSIGN_OR_RETURN(Digest got, DumpDigest(target->store()));
  if (got.sha256 != want.sha256) {
    return chat::Status::Corruption("copy " + from_name + " to " + to_name + ": the copy's export differs from the "
                                    "source's (" + CountsText(got.counts) + " against " + CountsText(want.counts) + ")");
  }
  LIBCHAT_RETURN_IF_ERROR(target->Commit());
  Report r;
  r.text = "copied " + CountsText(*counts) + " from " + from_name + " to " + to_name + "; verified (sha256 " +
           want.sha256 + ")\n";
  r.json = {{"ok", true},     {"command", "copy"},          {"from", from_name},
            {"to", to_name},  {"counts", CountsJson(*counts)}, {"sha256", want.sha256},
            {"already_copied", false}};
  return r;
}

}  // namespace chat::migrate
