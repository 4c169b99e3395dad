// EraseQueue: the stores' erasers. Work that must run some time after it is asked for (making the
// content a deletion overwrote leave the files: a compaction of key ranges on LevelDB, a VACUUM of
// day partitions on PostgreSQL), done by one thread in batches of whatever is due, and a test hook
// that has everything asked so far done now and waits for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "libchat/status.h"
#include "mutex.h"

namespace chat::detail {

template <typename Item>
class EraseQueue {
 public:
  // Does the work for the items due (at least one, in due order); returns how it went.
  using Erase = std::function<Status(const std::vector<Item>& due)>;

  EraseQueue() = default;
  ~EraseQueue() { Stop(); }
  EraseQueue(const EraseQueue&) = delete;
  EraseQueue& operator=(const EraseQueue&) = delete;

  // Starts the thread. With `retry_ms` > 0 the items of a failed batch are due again that much later;
  // otherwise they are dropped (the store finds them again, e.g. by markers at its next start). The
  // first failure is kept for WaitAll either way.
  void Start(Erase erase, std::int64_t retry_ms) {
    erase_ = std::move(erase);
    retry_ms_ = retry_ms;
    thread_ = std::thread([this] { Run(); });
  }

  // Due `delay_ms` from now.
  void Schedule(Item item, std::int64_t delay_ms) EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      due_.emplace(NowMs() + delay_ms, std::move(item));
      ++requested_;
    }
    cv_.SignalAll();
  }

  // Stops the thread (after the batch it is doing, if any). What is still queued is not done.
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    if (thread_.joinable()) thread_.join();
  }

  // Has every item scheduled so far done now, whatever its due time, and waits for it (tests).
  // The first failure of any batch so far, else OK.
  Status WaitAll() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    const std::uint64_t target = requested_;
    now_ = true;
    cv_.SignalAll();
    while (done_ < target && !stop_) cv_.Wait(&mu_);
    return error_;
  }

 private:
  static std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Run() EXCLUDES(mu_) {
    for (;;) {
      std::vector<Item> due;
      {
        MutexLock lock(&mu_);
        for (;;) {
          if (stop_) return;
          const std::int64_t now = NowMs();
          if (!due_.empty() && (now_ || due_.begin()->first <= now)) break;
          // Until the earliest item is due, or a signal (a new item, WaitAll, Stop).
          if (due_.empty()) {
            cv_.Wait(&mu_);
          } else {
            cv_.WaitFor(&mu_, due_.begin()->first - now);
          }
        }
        const std::int64_t now = NowMs();
        for (auto it = due_.begin(); it != due_.end() && (now_ || it->first <= now);) {
          due.push_back(std::move(it->second));
          it = due_.erase(it);
        }
      }
      const Status s = erase_(due);
      {
        MutexLock lock(&mu_);
        if (!s.ok()) {
          if (error_.ok()) error_ = s;
          if (retry_ms_ > 0) {
            for (auto& item : due) due_.emplace(NowMs() + retry_ms_, std::move(item));
            requested_ += due.size();
          }
        }
        done_ += due.size();
        // A failed batch ends WaitAll's hurry: its retries wait their delay.
        if (due_.empty() || !s.ok()) now_ = false;
      }
      cv_.SignalAll();
    }
  }

  Erase erase_;
  std::int64_t retry_ms_ = 0;
  Mutex mu_;
  CondVar cv_;
  std::multimap<std::int64_t, Item> due_ GUARDED_BY(mu_);  // By steady-clock due time (ms).
  std::uint64_t requested_ GUARDED_BY(mu_) = 0;            // Items scheduled so far (retries included).
  std::uint64_t done_ GUARDED_BY(mu_) = 0;                 // Of those, taken and tried.
  bool now_ GUARDED_BY(mu_) = false;                       // WaitAll asked: everything is due.
  bool stop_ GUARDED_BY(mu_) = false;
  Status error_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace chat::detail
