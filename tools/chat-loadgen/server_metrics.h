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
