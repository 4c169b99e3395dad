// SharedKv: a small key-value bucket shared by every node of a deployment, with a revision per key
// for compare-and-set. What the nodes must agree on beyond the store's records lives here: which
// devices are live on which node (presence, pushes, calls), node heartbeats, login-throttle records
// (docs/scaling.md, "Cluster-wide state").
//
// A bus between nodes provides it (Bus::OpenSharedKv; the NATS bus on a JetStream key-value bucket,
// replicated in memory on the NATS servers). Not durable storage: a bucket may lose its content when
// the engine's servers all restart; the nodes rebuild what they need (each re-asserts its live
// devices). Keys are made of letters, digits and - _ = . (tokens separated by '.'); values are bytes.
// Every method is thread-safe; every method but Watch's handler blocks for a round trip to the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/result.h"

namespace chat {

class Subscription;

struct SharedKvOptions {
  // The bucket's name: letters, digits, '-' and '_'. Nodes that open the same name share it.
  // Required.
  std::string name;
  // A key whose last write is older than this disappears (heartbeats). 0: never. It is the
  // bucket's, fixed when the bucket is first created: a node opening an existing bucket keeps the
  // TTL it was created with. Default: 0.
  std::int64_t ttl_ms = 0;
  // How long one request to the engine waits for its answer before it fails with Unavailable; 0: the
  // bus's default (NATS: the URI's kv_timeout_ms, 5 s). For a bucket on a path a client waits on (the
  // login throttle's), shorter than a client's own timeout. In-process buckets answer at once.
  std::int64_t request_timeout_ms = 0;
};

class SharedKv {
 public:
  struct Entry {
    std::string value;
    std::uint64_t revision = 0;  // > 0; grows with every write to the bucket.
  };
  // One write seen by Watch: `value` is nullopt for a deleted key.
  struct Change {
    std::string key;
    std::optional<std::string> value;
    std::uint64_t revision = 0;
  };

  SharedKv() = default;
  SharedKv(const SharedKv&) = delete;
  SharedKv& operator=(const SharedKv&) = delete;
  virtual ~SharedKv() = default;

  // The key's value and revision. NotFound if it has none (never written, deleted, expired);
  // Unavailable if the engine does not answer.
  virtual Result<Entry> Get(const std::string& key) = 0;
  // Writes `value` whatever the key holds. The new revision.
  virtual Result<std::uint64_t> Put(const std::string& key, std::string_view value) = 0;
  // Writes `value` only if the key's revision is still `expected` (0: only if the key has no value).
  // The new revision; FailedPrecondition if another write came first (read again and retry).
  virtual Result<std::uint64_t> Swap(const std::string& key, std::string_view value, std::uint64_t expected) = 0;
  // Deletes the key only if its revision is still `expected`; FailedPrecondition otherwise.
  virtual Status Erase(const std::string& key, std::uint64_t expected) = 0;
  // Every key that has a value now.
  virtual Result<std::vector<std::string>> Keys() = 0;
  // Calls `fn` with every key's current value (deleted keys not included), then `fn` with an empty
  // key once caught up, then with each later write in the bucket's order, until the Subscription is
  // destroyed. `fn` runs on a thread of the SharedKv's and must not block. Across an outage of the
  // engine the watch resumes where it was (NATS: an ordered consumer); a write it could not see (the
  // bucket keeps one value per key) is missed, so a mirror must tolerate staleness or re-read.
  // No watch at all (an empty Subscription) if the engine does not answer now.
  virtual Subscription Watch(std::function<void(const Change&)> fn) = 0;
};

}  // namespace chat
