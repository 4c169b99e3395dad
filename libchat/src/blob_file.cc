// Blobs as files under a directory: DIR/tmp/<id>.<random> while written, then checksum verified,
// fsynced and renamed to DIR/<first two chars of id>/<id>, and the directory fsynced. A crash at any
// point leaves either no blob or the whole blob; stale temp files are removed when the store opens.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "blob_id.h"
#include "crypto.h"
#include "libchat/blob.h"

namespace chat {
namespace {

namespace fs = std::filesystem;

Status Errno(const std::string& what) { return Status::Unavailable(what + ": " + std::strerror(errno)); }

bool ValidId(const std::string& id) { return detail::IsValidBlobId(id); }

Status SyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("open " + dir.string());
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Errno("fsync " + dir.string());
}

// Creates `dir` (its parent must exist) as 0700 whatever the umask; OK if it exists.
Status MakePrivateDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return Errno("mkdir " + dir.string());
}

class FileWriter final : public BlobWriter {
 public:
  FileWriter(int fd, fs::path tmp, fs::path final_path) : fd_(fd), tmp_(std::move(tmp)), final_(std::move(final_path)) {}
  ~FileWriter() override { Abort(); }

  Status Write(std::string_view bytes) override {
    if (fd_ < 0) return Status::FailedPrecondition("blob writer already finished");
    hash_.Update(bytes);
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write " + tmp_.string());
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return Status::Ok();
  }

  Status Commit(std::string_view expected) override {
    if (fd_ < 0) return Status::FailedPrecondition("blob writer already finished");
    std::string actual = hash_.HexDigest();
    if (actual != expected) {
      Abort();
      return Status::InvalidArgument("checksum mismatch (declared " + std::string(expected) + ", received " + actual + ")");
    }
    if (::fsync(fd_) != 0) {
      Status s = Errno("fsync " + tmp_.string());
      Abort();
      return s;
    }
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    if (Status s = MakePrivateDir(final_.parent_path()); !s.ok()) return s;
    if (fs::exists(final_)) {
      fs::remove(tmp_, ec);
      return Status::AlreadyExists("blob " + final_.filename().string());
    }
    fs::rename(tmp_, final_, ec);
    if (ec) return Status::Unavailable("rename to " + final_.string() + ": " + ec.message());
    return SyncDir(final_.parent_path());
  }

  void Abort() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
      std::error_code ec;
      fs::remove(tmp_, ec);
    }
  }

 private:
  int fd_;
  fs::path tmp_;
  fs::path final_;
  detail::Sha256 hash_;
};

class FileReader final : public BlobReader {
 public:
  FileReader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  ~FileReader() override { ::close(fd_); }
  std::uint64_t size() const override { return size_; }
  Result<std::string> ReadAt(std::uint64_t offset, std::size_t n) override {
    if (offset >= size_) return std::string();
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size_ - offset));
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("read blob");
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_;
  std::uint64_t size_;
};

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(fs::path dir) : dir_(std::move(dir)) {}

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& id) override {
    if (!ValidId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    fs::path final_path = PathOf(id);
    if (fs::exists(final_path)) return Status::AlreadyExists("blob " + id);
    fs::path tmp = dir_ / "tmp" / (id + "." + detail::RandomHex(8));
    // Private to chatd's user whatever the umask: attachments are the users' files.
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create " + tmp.string());
    return std::unique_ptr<BlobWriter>(std::make_unique<FileWriter>(fd, tmp, final_path));
  }

  Result<std::unique_ptr<BlobReader>> Open(const std::string& id) override {
    if (!ValidId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    fs::path p = PathOf(id);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound("blob " + id);
      return Errno("open " + p.string());
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      Status s = Errno("stat " + p.string());
      ::close(fd);
      return s;
    }
    return std::unique_ptr<BlobReader>(std::make_unique<FileReader>(fd, static_cast<std::uint64_t>(st.st_size)));
  }

  Status Remove(const std::string& id) override {
    if (!ValidId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    std::error_code ec;
    if (!fs::remove(PathOf(id), ec)) {
      if (ec) return Status::Unavailable("remove blob " + id + ": " + ec.message());
      return Status::NotFound("blob " + id);
    }
    return Status::Ok();
  }

 private:
  fs::path PathOf(const std::string& id) const { return dir_ / id.substr(0, 2) / id; }
  fs::path dir_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> NewFileBlobStore(const std::string& dir) {
  std::error_code ec;
  fs::path root(dir);
  // Folders made here are 0700 (existing ones are left as they are; chatd checks them at start).
  if (!fs::exists(root, ec)) {
    fs::create_directories(root.parent_path(), ec);
    if (ec) return Status::Unavailable("file://" + dir + ": mkdir: " + ec.message());
    if (Status s = MakePrivateDir(root); !s.ok()) return s;
  }
  if (Status s = MakePrivateDir(root / "tmp"); !s.ok()) return s;
  // Temp files left by a crash were never visible; remove them.
  for (const auto& entry : fs::directory_iterator(root / "tmp", ec)) fs::remove(entry.path(), ec);
  return std::unique_ptr<BlobStore>(std::make_unique<FileBlobStore>(root));
}

}  // namespace chat
