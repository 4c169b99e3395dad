// The outcome of a run, and its two renderings: a summary for people and one JSON object for
// scripts (the last line of stdout with --json). The exit status is derived from it too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "server_metrics.h"
#include "stats.h"

namespace chat::loadgen {

struct Report {
  Options options;
  std::uint32_t groups = 0;
  std::string fatal;  // Non-empty: the run could not be carried out (setup failed, server unreachable).

  // Setup.
  double setup_s = 0;
  bool sessions_reused = false;
  std::uint64_t signed_in = 0;

  // Load.
  std::uint64_t scheduled = 0;    // Messages whose send time came.
  std::uint64_t sent = 0;         // Written at least once.
  std::uint64_t acked = 0;
  std::uint64_t send_failed = 0;  // Refused for good.
  std::uint64_t unresolved = 0;   // Neither acknowledged nor refused by the end.
  std::uint64_t expected = 0;     // Deliveries: (members - 1) per acknowledged message.
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  std::vector<LostDelivery> lost_sample;  // The first few lost deliveries.
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t unexpected = 0;   // Entries received that no sender had acknowledged (informational).
  std::uint64_t disconnects = 0;  // Connections that ended without the tool asking.
  std::uint64_t failovers = 0;    // Of those, reconnected to the next node of --url (several nodes).
  double send_window_s = 0;       // First to last send written.
  double delivery_window_s = 0;   // First send to last delivery.
  double sends_per_s = 0;       // Sends written per second.
  double acks_per_s = 0;        // Durable sends: acknowledgements per second.
  double deliveries_per_s = 0;
  LatencyHistogram latency_us;
  LatencyHistogram send_ack_us;
  std::map<std::string, std::uint64_t> errors;

  // reconnect-storm / offline-sync: devices that resynced, of how many, and their times.
  std::uint64_t resync_expected = 0;
  std::uint64_t resynced = 0;
  double resync_all_s = 0;  // From the drop (or coming online) until the last device had synced.
  LatencyHistogram resync_us;

  // Server.
  MetricsSnapshot metrics_before;
  MetricsSnapshot metrics_after;
  RssReading rss_before;
  RssReading rss_after;
  std::uint64_t idle_connections = 0;  // idle: connections held when memory was read.

  // The machine during the load phase: the 1-minute load average as it began and ended (-1 unknown),
  // and the background load started on purpose (--background-load): its pid, CPU seconds, ending.
  double loadavg_before = -1;
  double loadavg_after = -1;
  int background_pid = -1;
  double background_cpu_s = 0;
  std::string background_ending;
  // --senders all: the seed the senders were drawn from.
  std::uint64_t senders_seed = 0;

  // The server's CPU during the load phase (from /proc when it runs here; -1 unknown): the sum over
  // the nodes of --url found on this machine (server_processes of them).
  double server_cpu_s = -1;
  std::size_t server_processes = 0;
  // chat-loadgen's own CPU during the load phase.
  double loadgen_cpu_s = 0;
  double load_wall_s = 0;

  // True when the run passed: no fatal error, every message acknowledged, nothing lost, duplicated or
  // out of order, and every device resynced.
  bool Passed() const;
  // Why not, in one line ("" if it passed).
  std::string FailureSummary() const;

  std::string ToJson() const;
  std::string ToText() const;
};

}  // namespace chat::loadgen
