// CommitterWatch: a KvEngine wrapper (LevelDB's EnvWrapper) that learns which thread writes — the
// KvStore's committer — and counts the reads made on that thread. Per message the committer runs
// the commit observers (the bus handlers) and the send's completion; Store::AppendAsync says those
// must be quick, so a read on it (such as the MarkRead a send once ran there) is a bug the count shows.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "libchat/kv.h"
#include "libchat/service.h"
#include "libchat/store.h"
#include "test_support.h"

namespace chat::test {

class CommitterWatch final : public KvEngine {
 public:
  explicit CommitterWatch(std::unique_ptr<KvEngine> base) : base_(std::move(base)) {}

  // Forgets the writer and the count (after a set-up that wrote from other threads).
  void Reset() {
    std::lock_guard lock(mu_);
    writer_ = std::thread::id();
    reads_on_writer_ = 0;
  }
  std::thread::id writer() const {
    std::lock_guard lock(mu_);
    return writer_;
  }
  bool OnWriter() const { return std::this_thread::get_id() == writer(); }
  int reads_on_writer() const { return reads_on_writer_.load(); }

  Result<std::string> Get(std::string_view key) override {
    CountRead();
    return base_->Get(key);
  }
  Status Write(const KvBatch& batch, bool sync) override {
    {
      std::lock_guard lock(mu_);
      writer_ = std::this_thread::get_id();
    }
    return base_->Write(batch, sync);
  }
  std::unique_ptr<KvIterator> NewIterator() override {
    CountRead();
    return base_->NewIterator();
  }
  Status Backup(const std::string& dir) override { return base_->Backup(dir); }
  std::string Describe() const override { return "watched(" + base_->Describe() + ")"; }

 private:
  void CountRead() {
    if (OnWriter()) ++reads_on_writer_;
  }

  std::unique_ptr<KvEngine> base_;
  mutable std::mutex mu_;
  std::thread::id writer_;  // Guarded by mu_.
  std::atomic<int> reads_on_writer_{0};
};

// Gives `f` a mem:// KvStore behind a CommitterWatch, and a service over it made like the
// fixture's own. Returns the watch (owned by the store).
inline CommitterWatch* WatchCommitter(Fixture& f) {
  f.service.reset();
  f.store.reset();
  auto engine = std::make_unique<CommitterWatch>(NewMemKvEngine());
  CommitterWatch* watch = engine.get();
  auto store = MakeKvStore(std::move(engine), f.store_options);
  REQUIRE_OK(store);
  f.store = std::move(*store);
  ServiceOptions opts;
  opts.clock = &f.clock;
  opts.password_cost = PasswordCost::kMinimum;
  opts.enforce_rate_limits = false;
  auto service = ChatService::Create(opts, f.store, f.bus, f.blobs);
  REQUIRE_OK(service);
  f.service = std::move(*service);
  return watch;
}

}  // namespace chat::test
