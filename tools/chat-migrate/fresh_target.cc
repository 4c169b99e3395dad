#include "fresh_target.h"

#include "durable_fs.h"

namespace chat::migrate {
namespace {

namespace fs = std::filesystem;
using tools::RandomSuffix;
using tools::SyncPath;
using tools::SyncTree;

// Fails on the first record other than the id counters (which even a fresh store has).
Status RequireEmpty(Store& store) {
  const Status not_empty =
      Status::FailedPrecondition(store.Describe() + " already holds records; import only into a fresh store");
  return store.Export(
      [&](const StoreRecord& r) { return std::holds_alternative<IdCounters>(r.entity) ? Status::Ok() : not_empty; });
}

}  // namespace

bool NamesLocalDirectory(const Uri& uri) { return uri.host.empty() && !uri.path.empty(); }

Result<std::unique_ptr<FreshTarget>> FreshTarget::Open(const Registry& registry, const Uri& target) {
  std::unique_ptr<FreshTarget> t(new FreshTarget());
  if (!NamesLocalDirectory(target)) {
    LIBCHAT_ASSIGN_OR_RETURN(t->store_, registry.MakeStore(target));
    LIBCHAT_RETURN_IF_ERROR(RequireEmpty(*t->store_));
    return t;
  }
  fs::path final_path = fs::path(target.path).lexically_normal();
  if (!final_path.has_filename()) final_path = final_path.parent_path();  // "/a/b/" -> "/a/b"
  std::error_code ec;
  if (fs::exists(final_path, ec) && !(fs::is_directory(final_path, ec) && fs::is_empty(final_path, ec))) {
    return Status::FailedPrecondition(target.ToString() +
                                      " already exists and is not empty; import only into a "
                                      "fresh store (a new path, or remove the old store first)");
  }
  const fs::path parent = final_path.parent_path();
  fs::create_directories(parent, ec);
  if (ec) return Status::Unavailable("mkdir " + parent.string() + ": " + ec.message());
  // A sibling, so that the final rename stays within one file system and is atomic.
  fs::path staging = parent / ("." + final_path.filename().string() + ".import-" + RandomSuffix());
  Uri staged = target;
  staged.path = staging.string();
  t->final_ = final_path;
  t->staging_ = staging;  // From here on the destructor cleans up.
  auto store = registry.MakeStore(staged);
  if (!store.ok()) return store.error();
  t->store_ = std::move(*store);
  return t;
}

FreshTarget::~FreshTarget() {
  store_.reset();
  if (!committed_ && !staging_.empty()) {
    std::error_code ec;
    fs::remove_all(staging_, ec);  // Best effort: a leftover ".NAME.import-*" can be deleted by hand.
  }
}

Status FreshTarget::Commit() {
  store_.reset();  // Closes the engine: every file is complete before it is synced.
  if (staging_.empty()) {
    committed_ = true;
    return Status::Ok();
  }
  LIBCHAT_RETURN_IF_ERROR(SyncTree(staging_));
  // rename(2) replaces an empty directory atomically, and fails if one appeared with content since.
  std::error_code ec;
  fs::rename(staging_, final_, ec);
  if (ec) return Status::Unavailable("rename " + staging_.string() + " to " + final_.string() + ": " + ec.message());
  committed_ = true;
  return SyncPath(final_.parent_path(), true);  // Makes the rename itself durable.
}

}  // namespace chat::migrate
