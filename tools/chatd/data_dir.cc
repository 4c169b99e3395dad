#include "data_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace chat::tools {
namespace fs = std::filesystem;
namespace {

// "0755": the permission bits as `ls -l` users read them.
std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Adds a line to *out if `path` grants group or others anything, or (unless `follow`: the data dir
// and its store/ and blobs/ may be links an operator made to another disk) is a symbolic link.
void CheckOne(const fs::path& path, bool follow, std::vector<std::string>* out) {
  struct stat st {};
  const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) return;  // Gone meanwhile, or unreadable: nothing to say.
  if (S_ISLNK(st.st_mode)) {
    out->push_back(path.string() + " is a symbolic link");
    return;
  }
  if ((st.st_mode & 077) != 0) out->push_back(path.string() + " is " + Octal(st.st_mode));
}

// Checks `root` and what is below it: every entry, or (`dirs_only`) the folders.
void CheckTree(const fs::path& root, bool dirs_only, std::vector<std::string>* out) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return;
  CheckOne(root, /*follow=*/true, out);
  // Not followed through symbolic links: the walk stays inside the data folder.
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const bool dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (dirs_only && !dir && !it->is_symlink(ec)) continue;
    CheckOne(it->path(), /*follow=*/false, out);
  }
}

}  // namespace

Status MakePrivateDataDir(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::Ok();
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    // Parents outside the data folder are not chatd's to make private; only the folder itself.
    fs::create_directories(dir.parent_path(), ec);
    if (ec) return Status::Unavailable("data dir " + dir.string() + ": " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("data dir " + dir.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::vector<std::string> LooseDataPermissions(const fs::path& data_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(data_dir, ec)) return out;
  CheckOne(data_dir, /*follow=*/true, &out);
  CheckTree(data_dir / "store", /*dirs_only=*/false, &out);
  CheckTree(data_dir / "blobs", /*dirs_only=*/true, &out);
  return out;
}

}  // namespace chat::tools
