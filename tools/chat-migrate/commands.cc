#include "commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>

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

Result<Report> RunStatus(const Registry& registry, const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(uri));
  LIBCHAT_ASSIGN_OR_RETURN(auto engine, Opened(registry.MakeKvEngine(uri)));
  LIBCHAT_ASSIGN_OR_RETURN(SchemaStatus s, MigrationStatus(*engine));
  const std::string name = uri.ToString();
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

Result<Report> RunUp(const Registry& registry, const Uri& uri, std::ostream& progress) {
  LIBCHAT_RETURN_IF_ERROR(RequireExistingStore(uri));
  LIBCHAT_ASSIGN_OR_RETURN(auto engine, Opened(registry.MakeKvEngine(uri)));
  MigrateOptions options;
  options.on_step = [&](const MigrationStep& s) {
    progress << "applying " << s.from << " -> " << s.to << ": " << s.description << std::endl;
  };
  LIBCHAT_ASSIGN_OR_RETURN(MigrateReport m, MigrateUp(*engine, options));
  const std::string name = uri.ToString();
  Report r;
  if (m.from == 0) {
    r.text = name + ": empty store, nothing to migrate\n";
  } else if (m.applied.empty()) {
    r.text = name + ": already at schema version " + std::to_string(m.to) + ", nothing to do\n";
  } else {
    r.text = name + ": migrated from schema version " + std::to_string(m.from) + " to " + std::to_string(m.to) + "\n";
  }
  r.json = {{"ok", true},         {"command", "up"},
            {"store", name},      {"from_version", m.from},
            {"to_version", m.to}, {"applied", StepsJson(m.applied)}};
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
  LIBCHAT_ASSIGN_OR_RETURN(auto target, FreshTarget::Open(registry, to));
  auto counts = CopyStore(*source, target->store());
  if (!counts.ok()) return counts.error().WithContext("copy " + from.ToString() + " to " + to.ToString());
  LIBCHAT_RETURN_IF_ERROR(target->Commit());
  Report r;
  r.text = "copied " + CountsText(*counts) + " from " + from.ToString() + " to " + to.ToString() + "\n";
  r.json = {{"ok", true},
            {"command", "copy"},
            {"from", from.ToString()},
            {"to", to.ToString()},
            {"counts", CountsJson(*counts)}};
  return r;
}

}  // namespace chat::migrate
