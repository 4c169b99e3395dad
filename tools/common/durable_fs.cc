#include "durable_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace chat::tools {

namespace fs = std::filesystem;

Status SyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Unavailable("fsync " + path.string() + ": " + std::strerror(err));
  return Status::Ok();
}

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

}  // namespace chat::tools
