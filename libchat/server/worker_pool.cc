#include "worker_pool.h"

#include <utility>


namespace chat::detail {

WorkerPool::WorkerPool(unsigned threads, std::size_t max_queue, std::function<void(std::size_t)> on_depth)
    : max_queue_(max_queue == 0 ? 1 : max_queue), on_depth_(std::move(on_depth)) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::TrySubmit(Job job) {
  std::size_t depth;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
    depth = queue_.size();
  }
  cv_.notify_one();
  if (on_depth_) on_depth_(depth);
  return true;
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::size_t WorkerPool::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool WorkerPool::accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

void WorkerPool::Run() {
  for (;;) {
    Job job;
    std::size_t depth;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before exiting: a queued job may be the cleanup of a closing session (last seen).
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      depth = queue_.size();
    }
    if (on_depth_) on_depth_(depth);
    job();
  }
}

}  // namespace chat::detail
