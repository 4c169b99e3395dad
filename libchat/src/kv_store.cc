// KvStore: opening, id counters, shared helpers, MakeKvStore. See kv_store_impl.h for the map of files.
#include <cstdio>

#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat {
namespace detail {


std::string EncodeU64(std::uint64_t v) {
  Writer w;
  w.U64(v);
  return w.Take();
}

std::uint64_t DecodeU64(std::string_view s) {
  Reader r(s);
  return r.U64();
}

Status ScanPrefix(KvEngine& engine, const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) {
  auto it = engine.NewIterator();
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    if (!fn(it->key(), it->value())) break;
  }
  return it->status();
}

Status ForEachPrefix(KvEngine& engine, const std::string& prefix,
                     const std::function<Status(std::string_view, std::string_view)>& fn) {
  auto it = engine.NewIterator();
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    LIBCHAT_RETURN_IF_ERROR(fn(it->key(), it->value()));
  }
  return it->status();
}

KvStore::KvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options)
    : engine_(std::move(engine)),
      options_(std::move(options)),
      commits_(engine_.get(), options_.sync, options_.group_commit, options_.max_group) {
  // An erasure that failed (an I/O error; LevelDB: a read that kept the replaced files too long) is
  // tried again 30 s later. Its markers stay until one succeeds, so a restart meanwhile redoes it too.
  eraser_.Start([this](const std::vector<EraseRange>& due) { return Erase(due); }, 30 * 1000);
}

KvStore::~KvStore() {
  // The committer first: its last completions may schedule erasures and touch chat states.
  commits_.Stop();
  eraser_.Stop();
}

Status KvStore::NotFoundOr(const Status& s, const std::string& what) {
  if (s.IsNotFound()) return Status::NotFound(what);
  return s;
}

void KvStore::Info(const std::string& line) const {
  if (options_.info_log) {
    options_.info_log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

Status KvStore::Open() {
  auto schema = engine_->Get(keys::kSchema);
  if (schema.ok()) {
    int version = std::atoi(schema->c_str());
    if (version > kSchemaVersion) {
      return Status::FailedPrecondition(engine_->Describe() + ": store schema version " + std::to_string(version) +
                                        " is newer than this build's (" + std::to_string(kSchemaVersion) +
                                        "); upgrade libchat");
    }
    if (version < kSchemaVersion) {
      return Status::FailedPrecondition(engine_->Describe() + ": store schema version " + std::to_string(version) +
                                        " is older than this build's (" + std::to_string(kSchemaVersion) +
                                        "); run `chat-migrate up`");
    }
  } else if (schema.error().IsNotFound()) {
    KvBatch b;
    b.Put(std::string(keys::kSchema), std::to_string(kSchemaVersion));
    LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, true));
  } else {
    return schema.error();
  }
  LIBCHAT_ASSIGN_OR_RETURN(std::uint64_t users, VerifiedCounter(keys::kNextUser, keys::UserPrefix(), "user"));
  LIBCHAT_ASSIGN_OR_RETURN(std::uint64_t chats, VerifiedCounter(keys::kNextChat, keys::ChatPrefix(), "chat"));
  LIBCHAT_ASSIGN_OR_RETURN(std::uint64_t devices,
                           VerifiedCounter(keys::kNextDevice, keys::DevicePrefix(), "device"));
  {
    MutexLock lock(&id_mu_);
    next_user_ = users;
    next_chat_ = chats;
    next_device_ = devices;
  }
  return ScheduleLeftoverErasures();
}

Result<std::uint64_t> KvStore::LoadCounter(std::string_view key) {
  auto v = engine_->Get(key);
  if (v.ok()) return DecodeU64(*v);
  if (v.error().IsNotFound()) return std::uint64_t{1};
  return v.error();
}

Result<std::uint64_t> KvStore::VerifiedCounter(std::string_view key, const std::string& prefix, const char* what) {
  LIBCHAT_ASSIGN_OR_RETURN(std::uint64_t next, LoadCounter(key));
  // Ids are 8-byte big-endian after the prefix: the last key under it holds the largest id.
  std::uint64_t largest = 0;
  auto it = engine_->NewIterator();
  it->Seek(keys::PrefixEnd(prefix));
  if (it->Valid()) {
    it->Prev();
  } else {
    it->SeekToLast();
  }
  if (it->Valid() && it->key().substr(0, prefix.size()) == prefix && it->key().size() == prefix.size() + 8) {
    largest = keys::ReadBE(it->key(), prefix.size());
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  if (largest < next) return next;
  // A counter behind the ids it handed out would hand them out again: a new chat overwriting an old
  // one, a new device taking another user's id. Written by an older build that could persist counters
  // out of order; repaired here, once.
  const std::uint64_t repaired = largest + 1;
  KvBatch b;
  b.Put(std::string(key), EncodeU64(repaired));
  LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, true));
  Info(engine_->Describe() + ": repaired the " + what + " id counter: it was " + std::to_string(next) +
       " but " + what + " " + std::to_string(largest) + " exists; now " + std::to_string(repaired));
  return repaired;
}

std::uint64_t KvStore::NextId(std::uint64_t* counter, std::string_view key, Ticket* ticket) {
  MutexLock lock(&id_mu_);
  std::uint64_t id = (*counter)++;
  ticket->counters.emplace_back(std::string(key), *counter);
  return id;
}

StoreStats KvStore::Stats() {
  StoreStats s;
  {
    MutexLock lock(&id_mu_);
    s.users = next_user_ - 1;
    s.chats = next_chat_ - 1;
  }
  s.appends = appends_.load(std::memory_order_relaxed);
  s.commit_groups = commits_.groups();
  return s;
}

std::string KvStore::Describe() const { return engine_->Describe(); }

Status KvStore::Backup(const std::string& dir) {
  // Cursors and device updates are written behind (visible to readers at once, in the engine with a
  // later commit group): what was acknowledged before the backup must be in the engine it copies.
  LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
  return engine_->Backup(dir);
}

}  // namespace detail

Result<std::unique_ptr<Store>> MakeKvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options) {
  if (!engine) return Status::InvalidArgument("MakeKvStore: null engine");
  auto store = std::make_unique<detail::KvStore>(std::move(engine), std::move(options));
  LIBCHAT_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace chat
