// WorkerPool: the threads that run blocking work (ChatService calls, which block on the store) away
// from the network threads. The queue is bounded: when it is full, TrySubmit refuses and the caller
// answers resource_exhausted instead of letting memory grow.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace chat::detail {

class WorkerPool {
 public:
  using Job = std::function<void()>;

  // Starts `threads` threads (at least one). `on_depth` (may be empty) is told the queue depth after
  // each change, for metrics.
  WorkerPool(unsigned threads, std::size_t max_queue, std::function<void(std::size_t)> on_depth = {});
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Shutdown().
  ~WorkerPool();

  // Queues `job`. False, without running it, if the queue is full or the pool is shut down.
  // Thread-safe. Jobs start in FIFO order; jobs on different threads run concurrently.
  [[nodiscard]] bool TrySubmit(Job job);

  // Stops taking jobs, runs every job already queued, and joins the threads. Idempotent.
  // REQUIRES: not called from a worker thread.
  void Shutdown();

  std::size_t depth() const;
  // False once Shutdown() began.
  bool accepting() const;

 private:
  void Run();

  const std::size_t max_queue_;
  std::function<void(std::size_t)> on_depth_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace chat::detail
