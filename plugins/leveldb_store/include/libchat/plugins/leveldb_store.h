// The LevelDB engine: libchat's embedded default store (leveldb:///path/to/dir).
#pragma once

#include <memory>
#include <string>

#include "libchat/kv.h"
#include "libchat/registry.h"

namespace chat {

struct LevelDbOptions {
  // Create the database if missing. Default: true.
  bool create_if_missing = true;
  // Block cache size in MiB. Default: 64.
  int cache_mb = 64;
  // Memtable size in MiB before it is flushed to a table file. Default: 16.
  int write_buffer_mb = 16;
  // Bits per key of the bloom filter (speeds dedup and point lookups). 0 disables it. Default: 10.
  int bloom_bits = 10;
};

// Opens (creating if allowed) the LevelDB database in `dir`. Unavailable if it cannot be opened
// (e.g. another process holds its lock), Corruption if it is damaged.
Result<std::unique_ptr<KvEngine>> OpenLevelDbEngine(const std::string& dir, const LevelDbOptions& options = {});

// Registers the "leveldb" engine scheme, which Registry::MakeStore turns into a KvStore:
// leveldb:///DIR?sync=1&group_commit=1&cache_mb=64&write_buffer_mb=16&bloom_bits=10&create=1.
// cache_mb, write_buffer_mb and bloom_bits set LevelDbOptions; create=0 fails on a missing store
// instead of creating it. sync and group_commit belong to the KvStore (see Registry): sync=0
// acknowledges before fsync (survives kill -9, not power loss). Any other key is InvalidArgument.
void RegisterLevelDbStore(Registry& registry);

}  // namespace chat
