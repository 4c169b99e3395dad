// CommitQueue: group commit for the KvStore. Callers enqueue a batch (under whatever lock orders
// them) and either wait or are called back; one committer thread merges every waiting batch into
// one engine write with one fsync, then runs each batch's observer in queue order and completes the
// tickets. Concurrent sends thus share an fsync instead of paying one each, and entries become
// visible to observers in the order they were enqueued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "libchat/kv.h"
#include "libchat/store.h"

namespace chat::detail {

class CommitQueue {
 public:
  using Completion = std::function<void(const Status&)>;

  struct Ticket {
    KvBatch batch;
    // False for writes whose loss in a power cut is harmless (cursors): they ride along with the
    // next synced group, or are written without fsync when alone.
    bool sync = true;
    // Observed after the write, in queue order.
    CommitObserver observer;
    std::shared_ptr<const Message> entry;
    // Runs on the committer thread once the write succeeded, before the observer.
    std::function<void()> on_durable;
    // Completions run on the committer thread after the write (success or failure). Quick only.
    std::vector<Completion> completions;
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
  Status health();
  std::uint64_t groups() const;
  std::uint64_t entries() const;

 private:
  void Run();

  KvEngine* engine_;
  const bool sync_;
  const bool group_;
  const std::size_t max_group_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Ticket>> queue_;
  bool stop_ = false;
  Status failed_;
  std::uint64_t groups_ = 0;
  std::uint64_t entries_ = 0;
  std::thread thread_;
};

}  // namespace chat::detail
