// KvEngine on LevelDB. LevelDB brings what the KvStore relies on: atomic WriteBatch, synced writes,
// ordered iteration over an implicit snapshot, and an exclusive lock on the directory.
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <thread>

#include "libchat/plugins/leveldb_store.h"
#include "mutex.h"

namespace chat {
namespace {

Status FromLevelDb(const leveldb::Status& s, const std::string& context) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound(context);
  if (s.IsCorruption()) return Status::Corruption(context + ": " + s.ToString());
  if (s.IsInvalidArgument()) return Status::InvalidArgument(context + ": " + s.ToString());
  if (s.IsNotSupportedError()) return Status::NotSupported(context + ": " + s.ToString());
  return Status::Unavailable(context + ": " + s.ToString());  // IO errors: retryable in principle.
}

// LevelDB's own Env creates every file 0644 (less the umask): readable by anyone on the host. This
// one makes each file it creates private (0600) before a byte of data is in it. Files are only
// created through these methods (tables, logs, MANIFEST, CURRENT's temp file, LOCK, the info LOG).
class PrivateFilesEnv final : public leveldb::EnvWrapper {
 public:
  PrivateFilesEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewWritableFile(const std::string& f, leveldb::WritableFile** r) override {
    return Private(f, target()->NewWritableFile(f, r));
  }
  leveldb::Status NewAppendableFile(const std::string& f, leveldb::WritableFile** r) override {
    return Private(f, target()->NewAppendableFile(f, r));
  }
  leveldb::Status LockFile(const std::string& f, leveldb::FileLock** l) override {
    return Private(f, target()->LockFile(f, l));
  }
  leveldb::Status NewLogger(const std::string& f, leveldb::Logger** r) override {
    return Private(f, target()->NewLogger(f, r));
  }
  leveldb::Status CreateDir(const std::string& d) override {
    leveldb::Status s = target()->CreateDir(d);
    if (s.ok()) ::chmod(d.c_str(), 0700);
    return s;
  }

 private:
  static leveldb::Status Private(const std::string& f, leveldb::Status s) {
    if (s.ok() && ::chmod(f.c_str(), 0600) != 0) return leveldb::Status::IOError(f, "chmod 0600 failed");
    return s;
  }
};

// Shared by every database, like Env::Default(); never destroyed, so it outlives them all.
leveldb::Env* PrivateEnv() {
  static auto* env = new PrivateFilesEnv();
  return env;
}

// Creates `dir` and its missing parents, the ones made here 0700 (not 0755 less the umask).
Status MakePrivateDirs(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return Status::Ok();
  if (dir.has_parent_path() && dir.parent_path() != dir) LIBCHAT_RETURN_IF_ERROR(MakePrivateDirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("leveldb://" + dir.string() + ": mkdir: " + std::strerror(errno));
  }
  return Status::Ok();
}

leveldb::Slice ToSlice(std::string_view s) { return leveldb::Slice(s.data(), s.size()); }
std::string_view ToView(const leveldb::Slice& s) { return std::string_view(s.data(), s.size()); }

// Reads in flight (Gets and open iterators), counted by the parity of the epoch they began in.
// LevelDB deletes a table file that a compaction replaced only once no read uses a version of the
// database that lists it, and then only at its next flush or compaction: a read running beside
// CompactRange's compactions keeps the replaced files (with the erased values in them) on disk after
// they end, until LevelDB happens to clean up again (on an idle server: never). So CompactRange, once
// its compactions are done, starts a new epoch, waits for the reads of the earlier ones to end, and
// then has LevelDB delete what they kept. Two atomic counters rather than a mutex: a read costs two
// atomic additions and two loads. Measured with two threads reading cached keys (medians of three):
// a mutex here took 16 % of Get's throughput (771k instead of 920k Gets/s); these, none beyond noise.
//
// A read counts itself in the slot of the epoch it saw, and checks that the epoch did not move
// meanwhile (else it moves to the new slot): a read whose check came before the switch (all
// sequentially consistent) is counted in the old slot, and one whose check came after begins its
// LevelDB read after the switch, on the version the compactions left. One waiter at a time (erase_mu_).
class ReadEpochs {
 public:
  // A read begins; the epoch to pass to End.
  std::uint64_t Begin() {
    for (;;) {
      const std::uint64_t epoch = epoch_.load();
      in_flight_[epoch & 1].fetch_add(1);
      if (epoch_.load() == epoch) return epoch;
      in_flight_[epoch & 1].fetch_sub(1);
    }
  }
  void End(std::uint64_t epoch) { in_flight_[epoch & 1].fetch_sub(1); }

  // Waits until every read that began before the call has ended. False if one is still in flight
  // at `deadline` (then a later call waits for it too).
  bool WaitForEarlier(std::chrono::steady_clock::time_point deadline) {
    const std::uint64_t epoch = epoch_.load();
    // Reads of the epoch before, if an earlier wait gave up on them, share the slot the next epoch
    // uses: they end first.
    if (!Drain(in_flight_[(epoch + 1) & 1], deadline)) return false;
    epoch_.store(epoch + 1);
    return Drain(in_flight_[epoch & 1], deadline);
  }

 private:
  // Polls: CompactRange is rare and slow; the reads must not pay for a wake-up.
  static bool Drain(const std::atomic<std::int64_t>& slot, std::chrono::steady_clock::time_point deadline) {
    while (slot.load() != 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<std::int64_t> in_flight_[2] = {0, 0};
};

// One read counted in ReadEpochs for its scope.
class ReadScope {
 public:
  explicit ReadScope(ReadEpochs* epochs) : epochs_(epochs), epoch_(epochs->Begin()) {}
  ~ReadScope() { epochs_->End(epoch_); }
  ReadScope(const ReadScope&) = delete;
  ReadScope& operator=(const ReadScope&) = delete;

 private:
  ReadEpochs* const epochs_;
  const std::uint64_t epoch_;
};

class LevelDbIterator final : public KvIterator {
 public:
  // A read in flight (ReadEpochs) from before LevelDB's iterator exists until after it is gone.
  LevelDbIterator(ReadEpochs* reads, leveldb::DB* db, const leveldb::ReadOptions& options)
      : read_(reads), it_(db->NewIterator(options)) {}
  ~LevelDbIterator() override { it_.reset(); }  // LevelDB's iterator first, then the read ends.
  void Seek(std::string_view target) override { it_->Seek(ToSlice(target)); }
  void SeekToLast() override { it_->SeekToLast(); }
  bool Valid() const override { return it_->Valid(); }
  void Next() override { it_->Next(); }
  void Prev() override { it_->Prev(); }
  std::string_view key() const override { return ToView(it_->key()); }
  std::string_view value() const override { return ToView(it_->value()); }
  Status status() const override { return FromLevelDb(it_->status(), "leveldb iterator"); }

 private:
  ReadScope read_;  // Declared first: begins first, ends last.
  std::unique_ptr<leveldb::Iterator> it_;
};

class LevelDbEngine final : public KvEngine {
 public:
  LevelDbEngine(std::string dir, std::unique_ptr<leveldb::DB> db, std::unique_ptr<leveldb::Cache> cache,
                std::unique_ptr<const leveldb::FilterPolicy> filter)
      : dir_(std::move(dir)), cache_(std::move(cache)), filter_(std::move(filter)), db_(std::move(db)) {}

  ~LevelDbEngine() override { db_.reset(); }  // Close the DB before its cache and filter go.

  Result<std::string> Get(std::string_view key) override {
    std::string value;
    ReadScope read(&reads_);
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), ToSlice(key), &value);
    if (s.IsNotFound()) return Status::NotFound("key");
    if (!s.ok()) return FromLevelDb(s, Describe() + ": get");
    return value;
  }

  Status Write(const KvBatch& batch, bool sync) override {
    leveldb::WriteBatch wb;
    for (const auto& op : batch.ops()) {
      if (op.is_delete) {
        wb.Delete(op.key);
      } else {
        wb.Put(op.key, op.value);
      }
    }
    leveldb::WriteOptions wo;
    wo.sync = sync;
    return FromLevelDb(db_->Write(wo, &wb), Describe() + ": write");
  }

  // LevelDB's CompactRange first flushes the memtable (the write-ahead log holding the old values is
  // replaced and deleted), then compacts each level that has files in the range into the next, which
  // drops overwritten and deleted versions (no snapshot is held meanwhile: Backup, the only user of
  // snapshots, waits for erase_mu_). One pass is not always enough: a memtable flush writes every
  // version of a key it holds into one file, and may place that file at level 1 or 2 where nothing
  // deeper overlaps it, so no compaction reads it. A deletion marker written inside the range and
  // flushed by a second pass lands above that file, and the second pass's compaction merges it down
  // into it, rewriting it without the old versions. Last, the files replaced are deleted only once
  // the reads that began before are done (ReadEpochs).
  Status CompactRange(std::string_view begin, std::string_view end) override {
    detail::MutexLock erasing(&erase_mu_);
    const leveldb::Slice b = ToSlice(begin);
    const leveldb::Slice e = ToSlice(end);
    db_->CompactRange(&b, &e);
    std::string marker(begin);
    marker.push_back('\0');
    if (end.empty() || std::string_view(marker) < end) {
      leveldb::WriteBatch wb;
      wb.Delete(marker);
      leveldb::Status s = db_->Write(leveldb::WriteOptions(), &wb);
      if (!s.ok()) return FromLevelDb(s, Describe() + ": compact");
      db_->CompactRange(&b, &e);
    }
    return DeleteReplacedFiles();
  }

  std::unique_ptr<KvIterator> NewIterator() override {
    leveldb::ReadOptions ro;
    ro.fill_cache = true;
    return std::make_unique<LevelDbIterator>(&reads_, db_.get(), ro);
  }

  // Copies every entry as of one snapshot into a new database in `dir`: consistent while writers go on.
  Status Backup(const std::string& dir) override {
    // Its snapshot would keep erased values in what CompactRange writes meanwhile.
    detail::MutexLock no_erasing(&erase_mu_);
    std::error_code ec;
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
      return Status::AlreadyExists("backup target " + dir + " is not empty");
    }
    leveldb::Options o;
    o.create_if_missing = true;
    o.error_if_exists = true;
    o.env = PrivateEnv();
    leveldb::DB* raw = nullptr;
    LIBCHAT_RETURN_IF_ERROR(FromLevelDb(leveldb::DB::Open(o, dir, &raw), "open backup " + dir));
    std::unique_ptr<leveldb::DB> out(raw);
    const leveldb::Snapshot* snap = db_->GetSnapshot();
    leveldb::ReadOptions ro;
    ro.snapshot = snap;
    ro.fill_cache = false;  // A full scan would evict the working set.
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
    leveldb::WriteBatch wb;
    Status result;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      wb.Put(it->key(), it->value());
      if (wb.ApproximateSize() > (4 << 20)) {
        result = FromLevelDb(out->Write(leveldb::WriteOptions(), &wb), "write backup " + dir);
        wb.Clear();
        if (!result.ok()) break;
      }
    }
    if (result.ok()) result = FromLevelDb(it->status(), "read for backup");
    if (result.ok()) {
      leveldb::WriteOptions wo;
      wo.sync = true;
      result = FromLevelDb(out->Write(wo, &wb), "write backup " + dir);
    }
    it.reset();
    db_->ReleaseSnapshot(snap);
    return result;
  }

  std::string Describe() const override { return "leveldb://" + dir_; }

 private:
  // After CompactRange's compactions: waits for the reads that began before their end (they may use
  // the files replaced), then flushes the memtable (nearly empty after the compactions), after which
  // LevelDB deletes every file no version in use lists. Always: a read that ended before this call
  // may still have kept a file when the compaction's own clean-up ran. The flush is asked for as the
  // compaction of a range past every key the store writes (its keys are printable), so it compacts
  // nothing else.
  Status DeleteReplacedFiles() REQUIRES(erase_mu_) {
    if (!reads_.WaitForEarlier(std::chrono::steady_clock::now() + kReadWait)) {
      return Status::Unavailable(Describe() + ": compacted, but a read open for over " +
                                 std::to_string(kReadWait.count()) + " s may still use the files replaced");
    }
    const std::string past(16, '\xff');
    const leveldb::Slice p(past);
    db_->CompactRange(&p, &p);
    return Status::Ok();
  }

  static constexpr std::chrono::seconds kReadWait{30};

  std::string dir_;
  ReadEpochs reads_;
  detail::Mutex erase_mu_;  // CompactRange and Backup, one at a time.
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
};

Result<int> IntOption(const Uri& uri, const std::string& key, int fallback, int lo, int hi) {
  std::string v = uri.Get(key);
  if (v.empty()) return fallback;
  try {
    std::size_t used = 0;
    int n = std::stoi(v, &used);
    if (used != v.size() || n < lo || n > hi) throw std::out_of_range(key);
    return n;
  } catch (const std::exception&) {
    return Status::InvalidArgument(key + "=" + v + ": expected a whole number from " + std::to_string(lo) + " to " +
                                   std::to_string(hi));
  }
}

}  // namespace

Result<std::unique_ptr<KvEngine>> OpenLevelDbEngine(const std::string& dir, const LevelDbOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("leveldb:// needs a directory, e.g. leveldb:///var/lib/chatd/store");
  std::unique_ptr<leveldb::Cache> cache(leveldb::NewLRUCache(static_cast<std::size_t>(options.cache_mb) << 20));
  std::unique_ptr<const leveldb::FilterPolicy> filter(
      options.bloom_bits > 0 ? leveldb::NewBloomFilterPolicy(options.bloom_bits) : nullptr);
  leveldb::Options o;
  o.create_if_missing = options.create_if_missing;
  o.block_cache = cache.get();
  o.filter_policy = filter.get();
  o.write_buffer_size = static_cast<std::size_t>(options.write_buffer_mb) << 20;
  o.max_file_size = 8 << 20;
  // Files 0600 and a new folder 0700: a store holds every message (docs/security.md).
  o.env = PrivateEnv();
  if (options.create_if_missing) LIBCHAT_RETURN_IF_ERROR(MakePrivateDirs(dir));
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(o, dir, &raw);
  if (!s.ok()) return FromLevelDb(s, "leveldb://" + dir + ": open");
  return std::unique_ptr<KvEngine>(std::make_unique<LevelDbEngine>(dir, std::unique_ptr<leveldb::DB>(raw),
                                                                   std::move(cache), std::move(filter)));
}

void RegisterLevelDbStore(Registry& registry) {
  // An engine scheme: the registry adds the KvStore (and its sync/group_commit keys) on top, and
  // chat-migrate can open the engine alone.
  registry.RegisterKvEngine("leveldb", [](const Uri& uri) -> Result<std::unique_ptr<KvEngine>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({"cache_mb", "write_buffer_mb", "bloom_bits", "create"}));
    if (!uri.host.empty()) {
      return Status::InvalidArgument("leveldb:// takes a local path: leveldb:///abs/dir (three slashes)");
    }
    LevelDbOptions lo;
    LIBCHAT_ASSIGN_OR_RETURN(lo.cache_mb, IntOption(uri, "cache_mb", lo.cache_mb, 1, 65536));
    LIBCHAT_ASSIGN_OR_RETURN(lo.write_buffer_mb, IntOption(uri, "write_buffer_mb", lo.write_buffer_mb, 1, 4096));
    LIBCHAT_ASSIGN_OR_RETURN(lo.bloom_bits, IntOption(uri, "bloom_bits", lo.bloom_bits, 0, 64));
    LIBCHAT_ASSIGN_OR_RETURN(int create, IntOption(uri, "create", 1, 0, 1));
    lo.create_if_missing = create == 1;
    return OpenLevelDbEngine(uri.path, lo);
  });
}

}  // namespace chat
