// SharedSpam: the spam scores of several chatd nodes as one (docs/scaling.md, "Spam scores").
//
// Each node scores its sends and reports in its own SpamGuard, as one node does (nothing on the
// network on the send path). Every `period_ms` a thread writes the points this node's guard added
// since the last time (per user, decayed to the user's last add) into its own key of a SharedKv
// bucket, "p.<random>"; every node's watch adds the other nodes' points to its guard (SpamGuard::
// ApplyRemote, which never publishes them again). Decay is linear in the points, so the score a node
// sees is the sum over the nodes, short of what the others added in the last period and a NATS hop:
// a sender spreading sends over N nodes is throttled, flagged and suspended at the same total as on
// one node, at most the sends the other N - 1 nodes admit in that window later.
//
// A flag that remote points raise is stored by this node too (Store::PutSpamFlag replaces: two nodes
// storing the same account's flag is one record), from this thread, never from the watch's. An admin's
// clear is written to a key of its own, "c.<user>" (no later batch overwrites it), and every other
// node clears the user as of that time (SpamGuard::Clear(user, at)).
//
// What was written before a node started watching is not applied (a node starts from the stored
// flags only). A batch lost (the engine away, a watcher too slow for the bucket's one value per key)
// is points the other nodes never count: each node still counts its own. A batch that arrives late
// counts, decayed from when its points were added. Thread-safe; the destructor stops the thread.
// Locks: mu_ and the guard's shard mutexes are never held together (no order to keep); the watch's
// thread hands flags to Run under mu_ only after the guard has let go of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libchat/bus.h"
#include "libchat/clock.h"
#include "libchat/shared_kv.h"
#include "mutex.h"
#include "spam_guard.h"

namespace chat::detail {

class SharedSpam {
 public:
  // Starts the watch and the thread, and turns on the guard's TrackAdded. `guard` and `clock` (the
  // guard's) must outlive this. `store_flag` stores a flag that remote points raised; it may block.
  SharedSpam(std::shared_ptr<SharedKv> kv, SpamGuard& guard, Clock* clock,
             std::function<void(const SpamFlag&)> store_flag, std::int64_t period_ms);
  ~SharedSpam();
  SharedSpam(const SharedSpam&) = delete;
  SharedSpam& operator=(const SharedSpam&) = delete;

  // Tells the other nodes that an admin cleared `user` here at `at` (this node's clock). Blocks for a
  // round trip; Unavailable if the engine does not answer (the other nodes keep the score: retry).
  Status PublishClear(UserId user, TimeMs at) EXCLUDES(mu_);

  // Points and clears of other nodes applied so far (for tests and metrics).
  std::uint64_t applied() const { return applied_.load(); }

 private:
  void Run() EXCLUDES(mu_);
  // On the SharedKv's thread: must not block (no store access).
  void OnChange(const SharedKv::Change& change) EXCLUDES(mu_);
  void OnPoints(const std::string& batch) EXCLUDES(mu_);
  void OnClear(UserId user, const std::string& value) EXCLUDES(mu_);
  // Drops the queued flags of `user` (cleared: not to be stored again).
  void ForgetFlagsOf(UserId user) REQUIRES(mu_);

  const std::shared_ptr<SharedKv> kv_;
  SpamGuard& guard_;
  Clock* const clock_;
  const std::function<void(const SpamFlag&)> store_flag_;
  const std::int64_t period_ms_;
  const std::string self_;  // <random>: this process, in its batch key and its clears.
  std::atomic<std::uint64_t> applied_{0};
  // Owned by the watch's thread (OnChange): the watch has delivered the values written before it.
  bool caught_up_ = false;
  Mutex mu_;
  CondVar wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  // Flags that remote points raised, for Run to store (the watch's thread must not block).
  std::vector<SpamFlag> to_store_ GUARDED_BY(mu_);
  Subscription watch_;  // The constructor's, then the thread's (Run); the destructor's after the join.
  std::thread thread_;
};

}  // namespace chat::detail
