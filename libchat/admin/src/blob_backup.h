// The attachment half of POST /v1/backup: the bytes in a file:// blob store's folder
// (blobs/<2 chars>/<id>, uploads in progress under blobs/tmp/) copied beside the store's snapshot.
#pragma once

#include <cstdint>
#include <filesystem>

#include "libchat/result.h"

namespace chat::admin {

// Copies every committed blob file under `from` to the same place under `to` (created 0700; files
// 0600), leaving out uploads in progress (tmp/) and anything that is not a blob. A blob is never
// changed once committed, only removed: each is hard-linked when `to` is on the same file system
// (instant, no space) and copied otherwise, then everything is fsynced. A blob removed while the copy
// runs is skipped. Returns how many files were copied. Unavailable, naming the path, on failure.
Result<std::uint64_t> CopyBlobFolder(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace chat::admin
