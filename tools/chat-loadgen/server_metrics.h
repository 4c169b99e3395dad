// The server side of a run: chatd's /metrics (Prometheus text format) read before and after, and the
// server's resident memory. chatd exports no RSS metric yet, so when the server is on this machine
// its RSS is read from /proc (the process listening on the port), and the report says where the
// figure came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chat::loadgen {

struct MetricsSnapshot {
  bool ok = false;
  std::string error;                     // Why the scrape failed, when !ok.
  std::map<std::string, double> values;  // Sample name (labels included, as written) -> value.

  // The value of `name`, if present.
  std::optional<double> Get(const std::string& name) const;
};

// GET http://host:port/metrics, blocking for at most `timeout`. Never throws.
MetricsSnapshot ScrapeMetrics(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

// Parses Prometheus text exposition: "name{labels} value [timestamp]" lines; comments skipped.
std::map<std::string, double> ParsePrometheusText(const std::string& text);

// One stage of a message's path through chatd (chat_message_stage_seconds{stage}, docs/operations.md)
// over a run: the histogram's increase between two scrapes, and its percentiles estimated from the
// buckets as Prometheus's histogram_quantile does (linear within a bucket; the buckets are 1-2-5
// steps from 10 us, so a figure is known to within its bucket).
struct StageSummary {
  std::string stage;
  std::uint64_t count = 0;
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
};

// The stages chatd exports, in path order, from the increase between `before` and `after`. Empty
// when the server exports none (an older chatd).
std::vector<StageSummary> MessageStages(const MetricsSnapshot& before, const MetricsSnapshot& after);

// Percentile q (0..1) of a cumulative histogram given as (upper bound, cumulative count) pairs in
// ascending order, the last bound +Inf. 0 when empty.
double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& cumulative);

// The server's resident memory in bytes and where it came from ("metrics:<name>" or "procfs:<pid>").
struct RssReading {
  std::int64_t bytes = -1;  // -1: unknown.
  std::string source;
  int pid = -1;             // The server process, when it runs on this machine and is visible.
};

// Resident memory from a metrics snapshot, if the server exports it (process_resident_memory_bytes or
// a chat_*rss*/chat_*resident* gauge); otherwise, when `host` is this machine, from /proc for the
// process listening on `port`.
RssReading ReadServerRss(const MetricsSnapshot& metrics, const std::string& host, std::uint16_t port);

// The pid of the process that has a TCP socket listening on `port` (IPv4 or IPv6), from /proc/net and
// /proc/*/fd; -1 if not found (or not visible to this user).
int FindListenerPid(std::uint16_t port);
// VmRSS of `pid` in bytes, -1 if unreadable.
std::int64_t ProcessRssBytes(int pid);
// User + system CPU seconds `pid` has used, -1 if unreadable.
double ProcessCpuSeconds(int pid);

}  // namespace chat::loadgen
