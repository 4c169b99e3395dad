// Operations metrics (docs/operations.md, "Metrics"): what an operator watches besides the chat
// figures of metrics.h. The process (process_*, the names every Prometheus client library uses), the
// build (chat_build_info), every protocol command by name and result code, and the end-to-end
// latency from a sendMessage frame's arrival to its fan-out. Lock-free on the hot paths.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace chat::detail {

// A latency histogram with the buckets of metrics.h's Histogram (0.5 ms to 10 s), rendered as one
// labelled series of a family whose HELP and TYPE lines the caller writes once.
class LatencySeries {
 public:
  void ObserveMicros(std::int64_t us);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Appends NAME_bucket{LABELS,le=...}, NAME_sum{LABELS} and NAME_count{LABELS}. `labels` is
  // `key="value",...` without braces (may be empty).
  void Render(const char* name, std::string_view labels, std::string* out) const;

 private:
  static constexpr std::array<double, 14> kBoundsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> sum_us_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Commands answered, by command name and result code, with their latency: from the moment a worker
// starts the command to its outcome (queue waits excluded, as chat_store_latency_seconds).
// Rendered as chat_command_requests_total{command,code} and
// chat_command_latency_seconds{command,code}; only pairs that occurred appear. Thread-safe.
class CommandMetrics {
 public:
  // `commands`: every name the protocol knows. Another name counts as command="other"; a code
  // outside the known set (StatusCodeName's and the protocol's own) as code="other".
  explicit CommandMetrics(const std::vector<std::string>& commands);
  void Observe(std::string_view command, std::string_view code, std::int64_t micros);
  void Render(std::string* out) const;

 private:
  std::size_t CommandIndex(std::string_view command) const;
  static std::size_t CodeIndex(std::string_view code);

  std::vector<std::string> commands_;  // Index -> name; the last is "other".
  std::unordered_map<std::string_view, std::size_t> index_;
  std::unique_ptr<LatencySeries[]> series_;  // commands_.size() x kCodes.
};

// Appends the process_* metrics of this process (Linux /proc): resident and virtual memory, CPU
// seconds, open and maximum file descriptors, and the start time; then chat_build_info.
// A figure the system does not give is left out.
void RenderProcessMetrics(std::string* out);

}  // namespace chat::detail
