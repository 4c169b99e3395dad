// CommitQueue: group commit for the KvStore. Callers enqueue a batch (under whatever lock orders
// them) and either wait or are called back; one committer thread merges every waiting batch into
// one engine write with one fsync, then runs each batch's observer in queue order and completes the
// tickets. Concurrent sends thus share an fsync instead of paying one each, and entries become
// visible to observers in the order they were enqueued.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "libchat/kv.h"
#include "libchat/store.h"
#include "mutex.h"

namespace chat::detail {

class CommitQueue {
 public:
  using Completion = std::function<void(const Status&)>;

  struct Ticket {
    KvBatch batch;
    // Id counters (key, next value) this batch allocated from. The committer writes each counter as
    // the largest value it has seen for that key, in the merged write: tickets are queued in no
    // particular order with respect to their allocations, and a counter written from a ticket's own
    // value could go backwards (and hand out an id twice after a restart).
    std::vector<std::pair<std::string, std::uint64_t>> counters;
    // False for writes whose loss in a power cut is harmless (cursors): they ride along with the
    // next synced group, or are written without fsync when alone.
    bool sync = true;
    // Observed after the write, in queue order, with the members the entry was appended among.
    CommitObserver observer;
    std::shared_ptr<const Message> entry;
    MemberList members;
    MemberList previous_members;
    // Runs on the committer thread once the write succeeded, before the observer.
    std::function<void()> on_durable;
    // Completions run on the committer thread after the write (success or failure). Quick only.
    std::vector<Completion> completions;
    // Set by the committer under the queue's lock; read through Wait/OnComplete.
    Status result;
    bool done = false;
  };

  // group=false writes each ticket alone (for the benchmark's comparison).
  CommitQueue(KvEngine* engine, bool sync, bool group, std::size_t max_group);
  ~CommitQueue();  // Stop().
  // Commits what is queued (running its completions), then stops the committer. Idempotent. Owners
  // call it before destroying what completions refer to.
  void Stop();

  // Queues the ticket; returns at once. REQUIRES: the ticket is not queued already.
  void Enqueue(std::shared_ptr<Ticket> ticket);
  // Blocks until the ticket is written (or failed); returns its result.
  Status Wait(const std::shared_ptr<Ticket>& ticket);
  // Enqueue + Wait.
  Status Commit(std::shared_ptr<Ticket> ticket);
  // Calls `c` when the ticket completes: from the committer thread, or at once (on this thread) if
  // it already has.
  void OnComplete(const std::shared_ptr<Ticket>& ticket, Completion c);

  // Once a write fails, every later one fails too: in-memory sequence state ran ahead of the disk,
  // so accepting more would leave gaps (LevelDB's bg_error_ does the same).
  Status health() EXCLUDES(mu_);
  std::uint64_t groups() const EXCLUDES(mu_);
  std::uint64_t entries() const EXCLUDES(mu_);

 private:
  void Run();
  // Adds to `merged` the counters of `group` that rise above what was written before. Committer only.
  void MergeCounters(const std::vector<std::shared_ptr<Ticket>>& group, KvBatch* merged);

  KvEngine* engine_;
  const bool sync_;
  const bool group_;
  const std::size_t max_group_;

  // Lock order: the queue's lock is the last one taken; nothing is called while holding it.
  mutable Mutex mu_;
  CondVar work_cv_;
  CondVar done_cv_;
  std::deque<std::shared_ptr<Ticket>> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  Status failed_ GUARDED_BY(mu_);
  std::uint64_t groups_ GUARDED_BY(mu_) = 0;
  std::uint64_t entries_ GUARDED_BY(mu_) = 0;
  // The committer thread's own: the highest value written for each counter key.
  std::map<std::string, std::uint64_t, std::less<>> counters_written_;
  std::thread thread_;
};

}  // namespace chat::detail
