// chatctl restore: puts a backup (a directory written by Store::Backup through `chatctl backup`) back
// as a store, with chatd stopped.
#pragma once

#include <cstdint>
#include <string>

#include "libchat/registry.h"

namespace chat::ctl {

struct RestoreReport {
  std::string store;     // The restored store's URI.
  std::string from;      // The backup directory.
  std::string previous;  // Where the store it replaced was kept; empty if there was none.
  std::uint64_t users = 0;
  std::uint64_t chats = 0;
  std::uint64_t messages = 0;
  std::string blobs;            // Where the attachment files went; empty if the backup holds none.
  std::string previous_blobs;   // Where the attachment folder they replaced was kept; may be empty.
  std::uint64_t attachment_files = 0;
};

// Restores the backup in `backup_dir` as the store `store_uri` (leveldb:///DIR: a backup is a LevelDB
// database, so the target is one too). The backup is copied file by file into a hidden sibling of the
// target, opened with this build's schema check and read record by record, synced, and renamed into
// place; the backup itself is never opened, so it stays as it was.
//
// The target must not be in use: its lock is taken first and held until the swap, so a running
// chatd makes this fail (FailedPrecondition) and chatd cannot start on it meanwhile. A target holding
// records, or a non-empty directory that is not a store, is replaced only with `force`; it is then
// renamed to NAME.before-restore-TIME beside it (reported in `previous`), never deleted.
// InvalidArgument for a target that is not a local leveldb:// directory; NotFound for a missing
// backup; the store's error (e.g. FailedPrecondition for another schema version, Corruption) if the
// backup does not read back. On failure the target is as it was.
//
// A backup made by `chatctl backup` since attachments are included holds DIR/store (the store),
// DIR/blobs (the attachment files) and DIR/backup.json; an older one is the store alone. The
// attachment files go to `blob_dir` (default: "blobs" beside the target store, where chatd keeps them
// under --data-dir), the same way: copied beside it, synced, renamed into place, any folder already
// there kept as NAME.before-restore-TIME.
Result<RestoreReport> Restore(const Registry& registry, const std::string& backup_dir, const std::string& store_uri,
                              bool force, const std::string& blob_dir = "");

}  // namespace chat::ctl
