// chatd's data folder: created private, and checked at every start (docs/security.md, "Data at
// rest"; docs/operations.md, --data-permissions).
//
// Whoever can read the data folder reads every message, attachment and account: the folder and
// everything chatd keeps in it must be its user's alone. chatd makes what it creates 0700/0600 (a
// umask of 077, and the store and blob store create their files private whatever the umask), and
// refuses to start on a folder that grants anything to group or others, unless told to only warn.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "libchat/status.h"

namespace chat::tools {

// Creates `dir` (and missing parents) as 0700 if it does not exist. Unavailable, naming the path, on
// failure.
Status MakePrivateDataDir(const std::filesystem::path& dir);

// What in `data_dir` grants access to group or others, one line each ("DIR/store/000005.ldb is
// 0644"): the folder itself, its store/ subtree (folders and files), and the folders of its blobs/
// subtree (a blob file is out of reach behind a 0700 folder; walking millions of them would slow
// every start). Paths that do not exist are skipped. Symbolic links are reported as such: they may
// point anywhere.
std::vector<std::string> LooseDataPermissions(const std::filesystem::path& data_dir);

}  // namespace chat::tools
