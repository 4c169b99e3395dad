// FreshTarget: the store an import or copy writes into, which must start empty and must not appear
// half-written if the import fails.
#pragma once

#include <filesystem>
#include <memory>

#include "libchat/registry.h"

namespace chat::migrate {

// True for URIs that name a directory on this machine (scheme:///abs/path, e.g. leveldb). Such a
// store is created by its engine in that directory; other URIs (mem://, network stores) are not.
bool NamesLocalDirectory(const Uri& uri);

// Opens a store that an import fills.
//  - A local directory target must be absent or an empty directory. The store is built in a hidden
//    sibling directory (".NAME.import-XXXX") and renamed into place by Commit(), after its files are
//    synced; until then, and for good if the import fails, the target stays absent.
//  - Any other target is opened in place and must hold no records (FailedPrecondition otherwise).
//    Nothing can be undone there, so a failed import may leave records behind.
// Destroying an uncommitted FreshTarget closes the store and removes the staging directory.
// Not thread-safe.
class FreshTarget {
 public:
  static Result<std::unique_ptr<FreshTarget>> Open(const Registry& registry, const Uri& target);
  ~FreshTarget();
  FreshTarget(const FreshTarget&) = delete;
  FreshTarget& operator=(const FreshTarget&) = delete;

  Store& store() { return *store_; }
  // Closes the store and makes it durable and visible under the target URI. Call once, after a
  // successful import; the store is unusable afterwards.
  Status Commit();

 private:
  FreshTarget() = default;

  std::unique_ptr<Store> store_;
  std::filesystem::path staging_;  // Empty for in-place targets.
  std::filesystem::path final_;
  bool committed_ = false;
};

}  // namespace chat::migrate
