#include "blob_backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace chat::admin {
namespace {

namespace fs = std::filesystem;

Status Fsync(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::Unavailable("fsync " + path.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

// A blob file's name: [A-Za-z0-9_-]{1,64} (blob ids).
bool IsBlobName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

Result<std::uint64_t> CopyBlobFolder(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  std::uint64_t copied = 0;
  fs::create_directory(to, ec);
  if (ec) return Status::Unavailable("mkdir " + to.string() + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_all, ec);
  if (!fs::is_directory(from, ec)) return copied;  // Nothing was ever uploaded.
  for (const auto& shard : fs::directory_iterator(from, ec)) {
    const std::string shard_name = shard.path().filename().string();
    // Only the two-character shard folders: tmp/ holds uploads in progress.
    if (shard_name.size() != 2 || !shard.is_directory(ec)) continue;
    const fs::path target_shard = to / shard_name;
    fs::create_directory(target_shard, ec);
    if (ec) return Status::Unavailable("mkdir " + target_shard.string() + ": " + ec.message());
    fs::permissions(target_shard, fs::perms::owner_all, ec);
    for (const auto& file : fs::directory_iterator(shard.path(), ec)) {
      const std::string name = file.path().filename().string();
      if (!IsBlobName(name) || !file.is_regular_file(ec)) continue;
      const fs::path target = target_shard / name;
      fs::create_hard_link(file.path(), target, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(file.path(), target, fs::copy_options::overwrite_existing, ec);
        if (ec == std::errc::no_such_file_or_directory) continue;  // Removed meanwhile (collected).
        if (ec) return Status::Unavailable("copy " + file.path().string() + ": " + ec.message());
        fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write, ec);
        LIBCHAT_RETURN_IF_ERROR(Fsync(target, false));
      }
      ++copied;
    }
    if (ec) return Status::Unavailable("read " + shard.path().string() + ": " + ec.message());
    LIBCHAT_RETURN_IF_ERROR(Fsync(target_shard, true));
  }
  if (ec) return Status::Unavailable("read " + from.string() + ": " + ec.message());
  LIBCHAT_RETURN_IF_ERROR(Fsync(to, true));
  return copied;
}

}  // namespace chat::admin
