// LogLimiter: keeps repeated lines of one kind from flooding the log (docs/security.md, "Logs").
//
// A client refused again and again (a throttled login, a bad token) would otherwise write a line per
// attempt: megabytes a second from one connection. Each key (e.g. the source address) may write
// `lines_per_key` lines per window, and all keys together `lines_total`; the rest are dropped and
// counted, and the next line the key writes says how many of its lines were dropped.
//
// Thread-safe (one mutex); Admit does not block. Memory: one small entry per key seen in the current
// window, swept when the map doubles, and at most `max_keys`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "libchat/clock.h"
#include "mutex.h"

namespace chat::detail {

struct LogLimiterOptions {
  // Lines one key may write per window. Default: 10.
  std::size_t lines_per_key = 10;
  // Lines all keys together may write per window. Default: 300.
  std::size_t lines_total = 300;
  // Default: 60 s.
  TimeMs window_ms = 60'000;
  // Keys remembered at most; beyond, the map starts over. Default: 10000.
  std::size_t max_keys = 10'000;
};

class LogLimiter {
 public:
  // `clock` is not owned and must outlive this.
  LogLimiter(LogLimiterOptions options, Clock* clock) : options_(options), clock_(clock) {}

  struct Verdict {
    bool log = false;              // Write the line.
    std::uint64_t suppressed = 0;  // With log: lines of this key dropped since its last written one.
  };
  // Whether a line about `key` may be written now.
  Verdict Admit(std::string_view key);
  // Lines dropped since start.
  std::uint64_t suppressed_total() const { return suppressed_total_.load(std::memory_order_relaxed); }

 private:
  struct Window {
    TimeMs start = 0;
    std::size_t lines = 0;
    std::uint64_t suppressed = 0;
  };
  // Starts a new window for `w` if its window has passed.
  void Roll(Window& w, TimeMs now) const REQUIRES(mu_);

  const LogLimiterOptions options_;
  Clock* const clock_;
  Mutex mu_;
  std::unordered_map<std::string, Window> keys_ GUARDED_BY(mu_);
  Window total_ GUARDED_BY(mu_);
  std::size_t sweep_at_ GUARDED_BY(mu_) = 1024;
  std::atomic<std::uint64_t> suppressed_total_{0};
};

}  // namespace chat::detail
