// A KvEngine wrapper that forwards every call (LevelDB's EnvWrapper) and fails writes on demand,
// to exercise the store's error paths: a failed group write must fail every append in it and
// every append after it, and nothing acknowledged may be missing.
#pragma once

#include <atomic>

#include "libchat/kv.h"

namespace chat::test {

class FaultyEngine final : public KvEngine {
 public:
  explicit FaultyEngine(std::unique_ptr<KvEngine> base) : base_(std::move(base)) {}

  // Writes numbered n and later (1-based) fail with Unavailable.
  void FailWritesFrom(int n) { fail_from_ = n; }
  int writes() const { return writes_; }

  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Status Write(const KvBatch& batch, bool sync) override {
    int n = ++writes_;
    if (fail_from_ > 0 && n >= fail_from_) return Status::Unavailable("injected write failure");
    return base_->Write(batch, sync);
  }
  std::unique_ptr<KvIterator> NewIterator() override { return base_->NewIterator(); }
  Status Backup(const std::string& dir) override { return base_->Backup(dir); }
  std::string Describe() const override { return "faulty(" + base_->Describe() + ")"; }

 private:
  std::unique_ptr<KvEngine> base_;
  std::atomic<int> fail_from_{0};
  std::atomic<int> writes_{0};
};

}  // namespace chat::test
