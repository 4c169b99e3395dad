// CommitQueue: group commit for the KvStore. Callers enqueue a batch (under whatever lock orders
// them) and wait; one committer thread merges every waiting batch into one engine write with one
// fsync, then runs each batch's observer in queue order and wakes the callers. Concurrent sends thus
// share an fsync instead of paying one each, and entries become visible to observers in the order
// they were enqueued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "libchat/kv.h"
#include "libchat/store.h"

namespace chat::detail {

class CommitQueue {
 public:
  struct Ticket {
    KvBatch batch;
    // Observed after the write, in queue order (the observer outlives the ticket's wait).
    const CommitObserver* observer = nullptr;
    std::shared_ptr<const Message> entry;
    // Runs on the committer thread once the write succeeded, before the observer.
    std::function<void()> on_durable;
    Status result;
    bool done = false;
  };

  // group=false writes each ticket alone (for the benchmark's comparison).
  CommitQueue(KvEngine* engine, bool sync, bool group, std::size_t max_group);
  ~CommitQueue();  // Commits what is queued, then stops.

  // Queues the ticket; returns at once. REQUIRES: the ticket is not queued already.
  void Enqueue(std::shared_ptr<Ticket> ticket);
  // Blocks until the ticket is written (or failed); returns its result.
  Status Wait(const std::shared_ptr<Ticket>& ticket);
  // Enqueue + Wait.
  Status Commit(std::shared_ptr<Ticket> ticket);

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
