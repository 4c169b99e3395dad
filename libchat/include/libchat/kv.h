// KvEngine: an ordered key-value engine with atomic batches. libchat's built-in Store (see
// MakeKvStore in store.h) keeps the whole chat domain in one; an engine adapts a storage library to it.
// Built in: an in-memory engine (mem://). Plugins: LevelDB (leveldb://DIR).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/result.h"
#include "libchat/status.h"

namespace chat {

// A set of puts and deletes applied atomically, in order.
class KvBatch {
 public:
  struct Op {
    bool is_delete = false;
    std::string key;
    std::string value;
  };
  void Put(std::string key, std::string value) { ops_.push_back({false, std::move(key), std::move(value)}); }
  void Delete(std::string key) { ops_.push_back({true, std::move(key), {}}); }
  void Append(const KvBatch& other) { ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end()); }
  void Clear() { ops_.clear(); }
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

// Iterates keys in byte-wise order. Not thread-safe; one per thread.
class KvIterator {
 public:
  virtual ~KvIterator() = default;
  // Positions at the first key >= target.
  virtual void Seek(std::string_view target) = 0;
  // Positions at the last key of the engine.
  virtual void SeekToLast() = 0;
  virtual bool Valid() const = 0;
  // REQUIRES: Valid()
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Non-OK if iteration stopped on an error rather than at the end.
  virtual Status status() const = 0;
};

class KvEngine {
 public:
  KvEngine() = default;
  KvEngine(const KvEngine&) = delete;
  KvEngine& operator=(const KvEngine&) = delete;
  virtual ~KvEngine() = default;

  // The value of `key`, or NotFound. Thread-safe.
  virtual Result<std::string> Get(std::string_view key) = 0;
  // Applies every op of `batch` or none. With sync, returns only once the batch is on stable storage
  // (survives a power loss); without, once it survives a crash of this process. Thread-safe.
  virtual Status Write(const KvBatch& batch, bool sync) = 0;
  // An iterator over the engine. Every entry it yields was committed; whether a scan sees writes made
  // while it runs depends on the engine (LevelDB: no, it reads a snapshot; mem: it may). Thread-safe;
  // the iterator itself is for one thread and must not outlive the engine.
  virtual std::unique_ptr<KvIterator> NewIterator() = 0;
  // Writes a consistent copy of the whole engine into the empty or missing directory `dir`, while
  // writers continue. NotSupported for engines without a disk form.
  virtual Status Backup(const std::string& dir) = 0;
  // Rewrites the engine's files holding keys in [begin, end) so that values overwritten or deleted
  // there (and the write-ahead log that still holds them) are physically gone when it returns. Blocks
  // for the I/O; concurrent reads and writes go on. The default does nothing (OK): an engine without
  // files has nothing to erase.
  virtual Status CompactRange(std::string_view begin, std::string_view end);
  // A human-readable name, e.g. "leveldb:///var/lib/chatd/store".
  virtual std::string Describe() const = 0;
};

// An engine that keeps everything in memory: for tests and for embedding without disk. Thread-safe.
std::unique_ptr<KvEngine> NewMemKvEngine();

}  // namespace chat
