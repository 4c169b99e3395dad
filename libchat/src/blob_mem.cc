// In-memory blobs: for tests and embedding without disk. Same visibility rules as the file store:
// a blob appears only once committed with a matching checksum.
#include <map>

#include "blob_id.h"
#include "crypto.h"
#include "libchat/blob.h"
#include "mutex.h"

namespace chat {
namespace {

struct Shared {
  detail::Mutex mu;
  std::map<std::string, std::shared_ptr<const std::string>> blobs GUARDED_BY(mu);
};

class MemWriter final : public BlobWriter {
 public:
  MemWriter(std::shared_ptr<Shared> shared, std::string id) : shared_(std::move(shared)), id_(std::move(id)) {}
  Status Write(std::string_view bytes) override {
    if (finished_) return Status::FailedPrecondition("blob " + id_ + " already finished");
    data_.append(bytes);
    return Status::Ok();
  }
  Status Commit(std::string_view expected) override {
    if (finished_) return Status::FailedPrecondition("blob " + id_ + " already finished");
    finished_ = true;
    std::string actual = detail::Sha256Hex(data_);
    if (actual != expected) {
      return Status::InvalidArgument("blob " + id_ + ": checksum mismatch (declared " + std::string(expected) +
                                     ", received " + actual + ")");
    }
    detail::MutexLock lock(&shared_->mu);
    auto [it, inserted] = shared_->blobs.emplace(id_, std::make_shared<const std::string>(std::move(data_)));
    if (!inserted) return Status::AlreadyExists("blob " + id_);
    return Status::Ok();
  }
  void Abort() override {
    finished_ = true;
    data_.clear();
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::string id_;
  std::string data_;
  bool finished_ = false;
};

class MemReader final : public BlobReader {
 public:
  explicit MemReader(std::shared_ptr<const std::string> data) : data_(std::move(data)) {}
  std::uint64_t size() const override { return data_->size(); }
  Result<std::string> ReadAt(std::uint64_t offset, std::size_t n) override {
    if (offset >= data_->size()) return std::string();
    return data_->substr(offset, n);
  }

 private:
  std::shared_ptr<const std::string> data_;
};

class MemBlobStore final : public BlobStore {
 public:
  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& id) override {
    if (!detail::IsValidBlobId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    detail::MutexLock lock(&shared_->mu);
    if (shared_->blobs.count(id)) return Status::AlreadyExists("blob " + id);
    return std::unique_ptr<BlobWriter>(std::make_unique<MemWriter>(shared_, id));
  }
  Result<std::unique_ptr<BlobReader>> Open(const std::string& id) override {
    detail::MutexLock lock(&shared_->mu);
    auto it = shared_->blobs.find(id);
    if (it == shared_->blobs.end()) return Status::NotFound("blob " + id);
    return std::unique_ptr<BlobReader>(std::make_unique<MemReader>(it->second));
  }
  Status Remove(const std::string& id) override {
    detail::MutexLock lock(&shared_->mu);
    if (shared_->blobs.erase(id) == 0) return Status::NotFound("blob " + id);
    return Status::Ok();
  }

 private:
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace

std::unique_ptr<BlobStore> NewMemBlobStore() { return std::make_unique<MemBlobStore>(); }

}  // namespace chat
