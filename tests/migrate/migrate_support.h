// Shared by the chat-migrate tests: a populated store with every kind of record, dumps as strings,
// and an engine wrapper that lets a test keep an engine after its store is closed.
#pragma once

#include <atomic>
#include <string>

#include "test_support.h"

namespace chat::test {

// What Populate created, for checks after a copy.
struct World {
  Session alice;         // phone, with a push token
  Session alice_laptop;  // second device
  Session bob;
  Session carol;  // removed from the group afterwards
  ChatId group = 0;
  ChatId direct = 0;
  Message bob_first;  // bob's "b1" in the group
  Seq deleted = 0;    // alice's "a1", deleted (tombstone)
};

// Users with several devices and tokens, a group and a direct chat, text/image/unicode messages, a
// reply, a deleted message with its deletion entry, a membership change, device cursors, receipts,
// last-seen times and a privacy setting.
World Populate(Fixture& f);

// ExportDump into a string; fails the test on error.
std::string ExportString(Store& store);

// Forwards every call to an engine it does not own. Counts iterator steps (Seek/Next/Prev) in
// `steps` if given.
class EngineRef final : public KvEngine {
 public:
  explicit EngineRef(KvEngine* base, std::atomic<long>* steps = nullptr) : base_(base), steps_(steps) {}
  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Status Write(const KvBatch& batch, bool sync) override { return base_->Write(batch, sync); }
  std::unique_ptr<KvIterator> NewIterator() override;
  Status Backup(const std::string& dir) override { return base_->Backup(dir); }
  std::string Describe() const override { return base_->Describe(); }

 private:
  KvEngine* base_;
  std::atomic<long>* steps_;
};

// Every key and value of an engine, in order, as one string: for "nothing changed" checks.
std::string EngineSnapshot(KvEngine& engine);

}  // namespace chat::test
