// Filesystem steps the store-replacing tools share (chat-migrate import into a staged store,
// chatctl restore of a backup): making a staged folder durable before it is renamed into place.
#pragma once

#include <filesystem>
#include <string>

#include "libchat/status.h"

namespace chat::tools {

// fsync of one file or directory. Unavailable, naming the path, on failure.
Status SyncPath(const std::filesystem::path& path, bool directory);

// Every file and directory below `dir`, then `dir` itself, reaches stable storage: a power cut after
// the staged folder is renamed into place must not expose a store with missing files.
Status SyncTree(const std::filesystem::path& dir);

// Eight random hex digits, for the names of staging folders beside their target.
std::string RandomSuffix();

}  // namespace chat::tools
