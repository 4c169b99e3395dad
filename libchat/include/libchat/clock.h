// Clock: the one source of time in libchat, injected so that retention, expiry and rate limits are
// tested without sleeping (LevelDB's Env, RocksDB's MockSystemClock).
#pragma once

#include <atomic>

#include "libchat/types.h"

namespace chat {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the epoch. Thread-safe.
  virtual TimeMs NowMs() const = 0;
};

// The system's real-time clock. A process-wide instance; never null.
Clock* SystemClock();

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs NowMs() const override { return now_.load(); }
  void Set(TimeMs t) { now_.store(t); }
  void Advance(TimeMs delta) { now_.fetch_add(delta); }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace chat
