#include "restore.h"

#include <ctime>
#include <filesystem>

#include "durable_fs.h"

namespace chat::ctl {
namespace {

namespace fs = std::filesystem;
using tools::RandomSuffix;
using tools::SyncPath;
using tools::SyncTree;

std::string Timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Removes the staging copy unless it was renamed into place.
struct Staging {
  fs::path path;
  bool keep = false;
  ~Staging() {
    if (!keep && !path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);  // Best effort: a leftover ".NAME.restore-*" can be deleted by hand.
    }
  }
};

// What the existing target holds, learnt with its lock taken (kept in `*lock` until the swap).
struct TargetState {
  bool exists = false;     // A non-empty directory is there.
  bool is_store = false;   // ... and it opens as a store.
  bool has_records = false;
};

Result<TargetState> InspectTarget(const Registry& registry, const Uri& target, const fs::path& dir,
                                  std::unique_ptr<KvEngine>* lock) {
  TargetState state;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return state;
  if (!fs::is_directory(dir, ec)) return Status::FailedPrecondition(dir.string() + " exists and is not a directory");
  if (fs::is_empty(dir, ec)) return state;
  state.exists = true;
  Uri probe = target;
  probe.query = {{"create", "0"}};  // Never create a database inside a directory that holds something else.
  auto engine = registry.MakeKvEngine(probe);
  if (!engine.ok()) {
    const std::string& m = engine.error().message();
    if (m.find("LOCK") != std::string::npos || m.find("lock") != std::string::npos) {
      return Status::FailedPrecondition(target.ToString() + " is in use (is chatd running? stop it first): " + m);
    }
    return state;  // Not a store: only --force replaces it (and keeps it aside).
  }
  state.is_store = true;
  // Records are anything but the metadata every store has (the schema version, the id counters).
  auto it = (*engine)->NewIterator();
  for (it->Seek(""); it->Valid(); it->Next()) {
    if (it->key().substr(0, 5) != "meta/") {
      state.has_records = true;
      break;
    }
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  it.reset();
  *lock = std::move(*engine);
  return state;
}

// Opens the copy as a store (the schema check) and reads every record (each must decode).
Status Verify(const Registry& registry, const Uri& staged, RestoreReport* report) {
  LIBCHAT_ASSIGN_OR_RETURN(auto store, registry.MakeStore(staged));
  return store->Export([report](const StoreRecord& r) {
    if (std::holds_alternative<User>(r.entity)) ++report->users;
    if (std::holds_alternative<ChatRecord>(r.entity)) ++report->chats;
    if (std::holds_alternative<Message>(r.entity)) ++report->messages;
    return Status::Ok();
  });
}

// Puts the attachment files of a backup (`from`) at `target`, as the store is put back: a copy beside
// it, synced, then renamed into place; what was there is kept aside.
Status RestoreBlobs(const fs::path& from, const fs::path& target, RestoreReport* report) {
  std::error_code ec;
  const fs::path parent = target.parent_path();
  fs::create_directories(parent, ec);
  if (ec) return Status::Unavailable("mkdir " + parent.string() + ": " + ec.message());
  Staging staging{parent / ("." + target.filename().string() + ".restore-" + RandomSuffix())};
  fs::copy(from, staging.path, fs::copy_options::recursive, ec);
  if (ec) return Status::Unavailable("copy " + from.string() + " to " + staging.path.string() + ": " + ec.message());
  for (auto it = fs::recursive_directory_iterator(staging.path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) ++report->attachment_files;
  }
  LIBCHAT_RETURN_IF_ERROR(SyncTree(staging.path));
  if (fs::exists(target, ec) && !fs::is_empty(target, ec)) {
    const fs::path aside = parent / (target.filename().string() + ".before-restore-" + Timestamp());
    fs::rename(target, aside, ec);
    if (ec) return Status::Unavailable("rename " + target.string() + " to " + aside.string() + ": " + ec.message());
    report->previous_blobs = aside.string();
  } else if (fs::exists(target, ec)) {
    fs::remove(target, ec);
  }
  fs::rename(staging.path, target, ec);
  if (ec) return Status::Unavailable("rename " + staging.path.string() + " to " + target.string() + ": " + ec.message());
  staging.keep = true;
  report->blobs = target.string();
  return SyncPath(parent, true);
}

}  // namespace

Result<RestoreReport> Restore(const Registry& registry, const std::string& backup_dir, const std::string& store_uri,
                              bool force, const std::string& blob_dir) {
  LIBCHAT_ASSIGN_OR_RETURN(Uri target, Uri::Parse(store_uri));
  if (target.scheme != "leveldb" || !target.host.empty() || target.path.empty()) {
    return Status::InvalidArgument(store_uri +
                                   ": restore writes a LevelDB store on this machine (leveldb:///DIR); for another "
                                   "backend, use chat-migrate copy --from leveldb://BACKUP_DIR --to URI");
  }
  std::error_code ec;
  fs::path final_path = fs::path(target.path).lexically_normal();
  if (!final_path.has_filename()) final_path = final_path.parent_path();  // "/a/b/" -> "/a/b"
  const fs::path dir = fs::absolute(backup_dir, ec).lexically_normal();
  if (ec || !fs::is_directory(dir, ec) || fs::is_empty(dir, ec)) {
    return Status::NotFound("no backup at " + backup_dir);
  }
  // A backup with attachments: DIR/backup.json, DIR/store, DIR/blobs. Else DIR is the store itself.
  fs::path from = dir;
  fs::path blobs_from;
  if (fs::is_regular_file(dir / "backup.json", ec)) {
    from = dir / "store";
    if (!fs::is_directory(from, ec)) return Status::NotFound("the backup at " + backup_dir + " holds no store/");
    if (fs::is_directory(dir / "blobs", ec)) blobs_from = dir / "blobs";
  }
  if (from == final_path) return Status::InvalidArgument("the backup and the target are the same directory");

  RestoreReport report;
  report.store = target.ToString();
  report.from = from.string();

  // Taken first and held until the swap: a running chatd shows here, and none can start meanwhile.
  std::unique_ptr<KvEngine> lock;
  LIBCHAT_ASSIGN_OR_RETURN(TargetState state, InspectTarget(registry, target, final_path, &lock));
  if (state.exists && !force && (state.has_records || !state.is_store)) {
    return Status::FailedPrecondition(
        final_path.string() + (state.is_store ? " holds a store with records" : " is not empty and holds no store") +
        "; pass --force to replace it (it is kept as " + final_path.filename().string() + ".before-restore-TIME)");
  }

  const fs::path parent = final_path.parent_path();
  fs::create_directories(parent, ec);
  if (ec) return Status::Unavailable("mkdir " + parent.string() + ": " + ec.message());
  // A sibling, so that the final rename stays within one file system and is atomic.
  Staging staging{parent / ("." + final_path.filename().string() + ".restore-" + RandomSuffix())};
  fs::copy(from, staging.path, fs::copy_options::recursive, ec);
  if (ec) return Status::Unavailable("copy " + from.string() + " to " + staging.path.string() + ": " + ec.message());
  Uri staged = target;
  staged.path = staging.path.string();
  staged.query.clear();
  Status verified = Verify(registry, staged, &report);
  if (!verified.ok()) return verified.WithContext("the backup in " + from.string() + " does not read back");
  LIBCHAT_RETURN_IF_ERROR(SyncTree(staging.path));

  // The swap. The target's lock is released only now; the old store moves aside, the copy moves in.
  lock.reset();
  if (state.exists) {
    const fs::path aside = parent / (final_path.filename().string() + ".before-restore-" + Timestamp());
    fs::rename(final_path, aside, ec);
    if (ec) return Status::Unavailable("rename " + final_path.string() + " to " + aside.string() + ": " + ec.message());
    report.previous = aside.string();
  } else if (fs::exists(final_path, ec)) {
    fs::remove(final_path, ec);  // An empty directory: rename(2) below replaces it anyway.
  }
  fs::rename(staging.path, final_path, ec);
  if (ec) {
    const std::string error = ec.message();
    // Put the old store back where it was, so that a failed restore leaves the target as it found it.
    if (!report.previous.empty()) fs::rename(report.previous, final_path, ec);
    return Status::Unavailable("rename " + staging.path.string() + " to " + final_path.string() + ": " + error);
  }
  staging.keep = true;
  LIBCHAT_RETURN_IF_ERROR(SyncPath(parent, true));  // Makes the renames themselves durable.
  if (!blobs_from.empty()) {
    const fs::path blobs_to = blob_dir.empty() ? parent / "blobs" : fs::absolute(blob_dir, ec).lexically_normal();
    LIBCHAT_RETURN_IF_ERROR(RestoreBlobs(blobs_from, blobs_to, &report)
                                .WithContext("the store was restored, the attachment files were not"));
  }
  return report;
}

}  // namespace chat::ctl
