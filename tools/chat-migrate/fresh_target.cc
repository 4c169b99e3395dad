#include "fresh_target.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace chat::migrate {
namespace {

namespace fs = std::filesystem;

Status SyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open " + path.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Unavailable("fsync " + path.string() + ": " + std::strerror(err));
  return Status::Ok();
}

// The import wrote without syncing (a bulk load). Before the store becomes visible under its real
// name, every file and the directory itself must be on stable storage, or a power cut after the
// rename could expose a store with missing records.
Status SyncTree(const fs::path& dir) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) LIBCHAT_RETURN_IF_ERROR(SyncPath(it->path(), false));
    if (it->is_directory(ec)) LIBCHAT_RETURN_IF_ERROR(SyncPath(it->path(), true));
  }
  if (ec) return Status::Unavailable("list " + dir.string() + ": " + ec.message());
  return SyncPath(dir, true);
}

std::string RandomSuffix() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(kHex[rd() % 16]);
  return s;
}

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
