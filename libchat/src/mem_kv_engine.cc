// The in-memory engine: a std::map under a shared mutex.
#include <map>

#include "libchat/kv.h"
#include "mutex.h"

namespace chat {
namespace {

using Map = std::map<std::string, std::string, std::less<>>;

class MemKvEngine;

// Holds a copy of the current entry and re-seeks under the lock at every step, so that writers are
// never blocked by a long scan and never copy the map. Each entry read was committed; a scan that
// runs concurrently with writes may see some of them (the KvStore needs no more than that).
class MemIterator final : public KvIterator {
 public:
  MemIterator(detail::SharedMutex* mu, const Map* map) : mu_(mu), map_(map) {}

  void Seek(std::string_view target) override {
    detail::ReaderLock lock(mu_);
    Load(map_->lower_bound(target));
  }
  void SeekToLast() override {
    detail::ReaderLock lock(mu_);
    Load(map_->empty() ? map_->end() : std::prev(map_->end()));
  }
  bool Valid() const override { return valid_; }
  void Next() override {
    detail::ReaderLock lock(mu_);
    Load(map_->upper_bound(key_));
  }
  void Prev() override {
    detail::ReaderLock lock(mu_);
    auto it = map_->lower_bound(key_);
    Load(it == map_->begin() ? map_->end() : std::prev(it));
  }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  Status status() const override { return Status::Ok(); }

 private:
  void Load(Map::const_iterator it) REQUIRES_SHARED(*mu_) {
    valid_ = it != map_->end();
    if (valid_) {
      key_ = it->first;
      value_ = it->second;
    }
  }

  detail::SharedMutex* const mu_;
  const Map* const map_ PT_GUARDED_BY(*mu_);
  bool valid_ = false;
  std::string key_;
  std::string value_;
};

class MemKvEngine final : public KvEngine {
 public:
  Result<std::string> Get(std::string_view key) override {
    detail::ReaderLock lock(&mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return Status::NotFound("key");
    return it->second;
  }

  Status Write(const KvBatch& batch, bool /*sync*/) override {
    detail::WriterLock lock(&mu_);
    for (const auto& op : batch.ops()) {
      if (op.is_delete) {
        map_.erase(op.key);
      } else {
        map_.insert_or_assign(op.key, op.value);
      }
    }
    return Status::Ok();
  }

  std::unique_ptr<KvIterator> NewIterator() override { return std::make_unique<MemIterator>(&mu_, &map_); }

  Status Backup(const std::string& dir) override {
    return Status::NotSupported("mem:// has no disk form to back up to " + dir);
  }

  std::string Describe() const override { return "mem://"; }

 private:
  detail::SharedMutex mu_;
  Map map_ GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<KvEngine> NewMemKvEngine() { return std::make_unique<MemKvEngine>(); }

}  // namespace chat

namespace chat {
Status KvEngine::CompactRange(std::string_view /*begin*/, std::string_view /*end*/) { return Status::Ok(); }
}  // namespace chat
