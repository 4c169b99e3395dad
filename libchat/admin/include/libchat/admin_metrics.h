// The key figures an operator looks at first, read from the chat server's /metrics text (Prometheus
// exposition format, `chat_` names; docs/operations.md). Shared by GET /v1/stats and `chatctl stats`.
#pragma once

#include <optional>
#include <string_view>

namespace chat {

// Each figure is absent when the text does not carry its metric (e.g. an older chatd).
struct ServerFigures {
  std::optional<double> connections;       // chat_connections
  std::optional<double> devices_online;    // chat_devices_online
  std::optional<double> messages_in;       // chat_messages_in_total
  std::optional<double> messages_out;      // chat_messages_out_total
  std::optional<double> deliveries;        // chat_fanout_deliveries_total
  std::optional<double> queue_drops;       // chat_send_queue_drops_total
  std::optional<double> worker_rejected;   // chat_worker_rejected_total
  // 99th percentile of chat_delivery_latency_seconds and chat_store_latency_seconds since start, in
  // seconds, interpolated within the histogram bucket as Prometheus' histogram_quantile does.
  // Absent when nothing was observed yet.
  std::optional<double> delivery_p99_seconds;
  std::optional<double> store_p99_seconds;
  // Resident memory: process_resident_memory_bytes (the Prometheus client convention) or
  // chat_process_resident_memory_bytes.
  std::optional<double> rss_bytes;
};

// Reads the figures from `text`. Lines it does not understand are skipped: never fails.
ServerFigures SummarizeMetrics(std::string_view text);

}  // namespace chat
