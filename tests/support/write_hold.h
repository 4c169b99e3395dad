// WriteHold: a switch that makes writes wait, for tests that need a store or a bucket to be slow at a
// chosen moment (FaultyEngine, the races' HoldEngine, the live registry's in-memory SharedKv). While
// held, every Wait() blocks until Release(); blocked() counts the writes that have waited so far.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace chat::test {

class WriteHold {
 public:
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Called by a write before it does anything: returns at once unless held.
  void Wait() {
    std::unique_lock lock(mu_);
    if (!held_) return;
    ++blocked_;
    ++waiting_;
    cv_.wait(lock, [this] { return !held_; });
    --waiting_;
  }
  // Writes that have begun waiting (ever), and those waiting now.
  int blocked() const { return blocked_; }
  int waiting() const { return waiting_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  std::atomic<int> blocked_{0};
  std::atomic<int> waiting_{0};
};

}  // namespace chat::test
