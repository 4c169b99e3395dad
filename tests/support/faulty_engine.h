// A KvEngine wrapper that forwards every call (LevelDB's EnvWrapper) and fails writes on demand,
// to exercise the store's error paths: a failed group write must fail every append in it and
// every append after it, and nothing acknowledged may be missing.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "libchat/kv.h"
#include "write_hold.h"

namespace chat::test {

class FaultyEngine final : public KvEngine {
 public:
  explicit FaultyEngine(std::unique_ptr<KvEngine> base) : base_(std::move(base)) {}

  // Writes numbered n and later (1-based) fail with Unavailable.
  void FailWritesFrom(int n) { fail_from_ = n; }
  int writes() const { return writes_; }

  // While held, writes block (the store's committer stops in the middle of a group), so that a test
  // can look at the store with writes queued behind.
  void HoldWrites() { hold_.Hold(); }
  void ReleaseWrites() { hold_.Release(); }
  // Writes that have begun blocking on the hold.
  int blocked() const { return hold_.blocked(); }
  // The keys the last write put or deleted, in order.
  std::vector<std::string> last_keys() const {
    std::lock_guard lock(hold_mu_);
    return last_keys_;
  }

  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Status Write(const KvBatch& batch, bool sync) override {
    hold_.Wait();
    {
      std::lock_guard lock(hold_mu_);
      last_keys_.clear();
      for (const KvBatch::Op& op : batch.ops()) last_keys_.push_back(op.key);
    }
    int n = ++writes_;
    if (fail_from_ > 0 && n >= fail_from_) return Status::Unavailable("injected write failure");
    return base_->Write(batch, sync);
  }
  std::unique_ptr<KvIterator> NewIterator() override { return base_->NewIterator(); }
  // With KeepBackupsInMemory(), Backup copies what the engine holds at that moment into backup()
  // instead of the base's Backup (mem:// has no disk form): a test can then open a store on that
  // copy and see what a backup taken then would have held.
  Status Backup(const std::string& dir) override {
    if (!backups_in_memory_) return base_->Backup(dir);
    std::vector<std::pair<std::string, std::string>> copy;
    auto it = base_->NewIterator();
    for (it->Seek(""); it->Valid(); it->Next()) copy.emplace_back(std::string(it->key()), std::string(it->value()));
    if (Status s = it->status(); !s.ok()) return s;
    std::lock_guard lock(hold_mu_);
    backup_ = std::move(copy);
    return Status::Ok();
  }
  void KeepBackupsInMemory() { backups_in_memory_ = true; }
  // The last in-memory backup, as a new mem:// engine.
  std::unique_ptr<KvEngine> RestoreBackup() const {
    auto engine = NewMemKvEngine();
    KvBatch batch;
    {
      std::lock_guard lock(hold_mu_);
      for (const auto& [k, v] : backup_) batch.Put(k, v);
    }
    if (Status s = engine->Write(batch, false); !s.ok()) return nullptr;
    return engine;
  }
  std::string Describe() const override { return "faulty(" + base_->Describe() + ")"; }

 private:
  std::unique_ptr<KvEngine> base_;
  std::atomic<int> fail_from_{0};
  std::atomic<int> writes_{0};
  WriteHold hold_;
  mutable std::mutex hold_mu_;
  std::vector<std::string> last_keys_;  // GUARDED_BY(hold_mu_)
  std::atomic<bool> backups_in_memory_{false};
  std::vector<std::pair<std::string, std::string>> backup_;  // GUARDED_BY(hold_mu_)
};

}  // namespace chat::test
