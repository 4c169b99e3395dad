// SharedRates: the rate limits of several chatd nodes as one (docs/scaling.md, "Rate limits").
//
// Each node keeps its token buckets in memory, as one node does (a charge stays a few arithmetic
// operations under a mutex: nothing on the network on the hot path). Every `period_ms` a thread
// writes what this node's buckets took since the last time into its own key of a SharedKv bucket,
// and every node's watch applies the other nodes' spends to its own buckets (TokenBuckets::
// ApplyRemote), which may go into debt. A client spreading its requests over N nodes is therefore
// admitted at the limit's rate over time, not N times it; what it can take beyond that is bounded
// by what the other nodes admit before they hear of each other: at most (N - 1) x (burst + rate x
// (period + a NATS round trip)) per bucket, once, and nothing in the long run (debt repays it).
//
// A batch lost (the engine away, a watcher too slow for the bucket's one value per key) is
// over-admission of that batch, never a refusal. Thread-safe; the destructor stops the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "libchat/bus.h"
#include "libchat/shared_kv.h"
#include "mutex.h"
#include "token_buckets.h"

namespace chat::detail {

class SharedRates {
 public:
  // Starts the watch and the thread. `buckets` must outlive this and have TrackSpent on.
  SharedRates(std::shared_ptr<SharedKv> kv, TokenBuckets& buckets, std::int64_t period_ms);
  ~SharedRates();
  SharedRates(const SharedRates&) = delete;
  SharedRates& operator=(const SharedRates&) = delete;

  // Spends of other nodes applied so far (for tests and metrics).
  std::uint64_t applied() const { return applied_.load(); }

 private:
  void Run();
  void OnChange(const SharedKv::Change& change);

  const std::shared_ptr<SharedKv> kv_;
  TokenBuckets& buckets_;
  const std::int64_t period_ms_;
  const std::string self_key_;  // "s.<random>": this process's batches.
  std::atomic<std::uint64_t> applied_{0};
  Mutex mu_;
  CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  Subscription watch_;  // The constructor's, then the thread's (Run); the destructor's after the join.
  std::thread thread_;
};

}  // namespace chat::detail
