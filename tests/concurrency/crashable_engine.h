// Engines for the history checker's restarts (LevelDB's fault_injection_test in spirit):
//  - SharedEngine lets one engine outlive the stores opened over it (a mem:// "disk" across restarts);
//  - CrashableEngine fails writes from a chosen point on (as a full disk or a dying device does) and,
//    on Crash(), drops every write not yet synced, as a power cut does. Synced writes stay. Its
//    backups are copies in memory.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "libchat/kv.h"

namespace chat::check {

// Forwards to an engine it shares.
class SharedEngine : public KvEngine {
 public:
  explicit SharedEngine(std::shared_ptr<KvEngine> base) : base_(std::move(base)) {}
  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Status Write(const KvBatch& batch, bool sync) override { return base_->Write(batch, sync); }
  std::unique_ptr<KvIterator> NewIterator() override { return base_->NewIterator(); }
  Status Backup(const std::string& dir) override { return base_->Backup(dir); }
  Status CompactRange(std::string_view begin, std::string_view end) override { return base_->CompactRange(begin, end); }
  std::string Describe() const override { return base_->Describe(); }

 private:
  std::shared_ptr<KvEngine> base_;
};

class CrashableEngine final : public KvEngine {
 public:
  explicit CrashableEngine(std::unique_ptr<KvEngine> base) : base_(std::move(base)) {}

  // Writes after the next `n` fail (Unavailable) and change nothing. Negative: never.
  void FailAfter(int n) { fail_after_.store(n); }
  int failed_writes() const { return failed_.load(); }

  // Drops every write made without sync since the last synced one (newest first), and writes work
  // again. REQUIRES: no concurrent calls (the store over this engine is closed).
  void Crash() {
    std::lock_guard lock(mu_);
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      KvBatch b;
      if (it->second) {
        b.Put(it->first, *it->second);
      } else {
        b.Delete(it->first);
      }
      base_->Write(b, true).IgnoreError();
    }
    undo_.clear();
    fail_after_.store(-1);
  }

  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Status Write(const KvBatch& batch, bool sync) override {
    std::lock_guard lock(mu_);
    const int left = fail_after_.load();
    if (left == 0) {
      ++failed_;
      return Status::Unavailable("injected write failure");
    }
    if (left > 0) fail_after_.store(left - 1);
    if (sync) {
      // A synced write makes everything before it durable too (a write-ahead log is synced whole).
      undo_.clear();
    } else {
      for (const auto& op : batch.ops()) {
        auto old = base_->Get(op.key);
        undo_.emplace_back(op.key, old.ok() ? std::optional<std::string>(*old) : std::nullopt);
      }
    }
    return base_->Write(batch, sync);
  }
  std::unique_ptr<KvIterator> NewIterator() override { return base_->NewIterator(); }
  // Copies what the engine holds into memory, kept under the name `dir` (TakeBackup hands it over),
  // under the write lock: one consistent moment, as LevelDB's checkpoint is. The checker then opens
  // a store on the copy and looks for what was acknowledged before the backup began.
  Status Backup(const std::string& dir) override {
    std::lock_guard lock(mu_);
    Content copy;
    auto it = base_->NewIterator();
    for (it->Seek(""); it->Valid(); it->Next()) copy.emplace_back(std::string(it->key()), std::string(it->value()));
    if (Status s = it->status(); !s.ok()) return s;
    backups_[dir] = std::move(copy);
    return Status::Ok();
  }
  using Content = std::vector<std::pair<std::string, std::string>>;
  Content TakeBackup(const std::string& dir) {
    std::lock_guard lock(mu_);
    auto it = backups_.find(dir);
    if (it == backups_.end()) return {};
    Content out = std::move(it->second);
    backups_.erase(it);
    return out;
  }
  Status CompactRange(std::string_view begin, std::string_view end) override { return base_->CompactRange(begin, end); }
  std::string Describe() const override { return "crashable(" + base_->Describe() + ")"; }

 private:
  std::unique_ptr<KvEngine> base_;
  std::mutex mu_;
  std::map<std::string, Content> backups_;  // Guarded by mu_.
  std::vector<std::pair<std::string, std::optional<std::string>>> undo_;  // Unsynced writes' old values.
  std::atomic<int> fail_after_{-1};
  std::atomic<int> failed_{0};
};

}  // namespace chat::check
