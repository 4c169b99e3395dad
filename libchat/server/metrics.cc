#include "metrics.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdio>

namespace chat::detail {

void AppendScalar(std::string* out, const char* name, const char* type, const char* help, double v) {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
  out->append(line);
}

void Histogram::ObserveMicros(std::int64_t us) {
  if (us < 0) us = 0;  // Wall-clock steps backwards must not corrupt the sum.
  const double s = static_cast<double>(us) / 1e6;
  std::size_t i = 0;
  while (i < kBoundsSeconds.size() && s > kBoundsSeconds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Render(const char* name, const char* help, std::string* out) const {
  char line[256];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  out->append(line);
  // Prometheus buckets are cumulative.
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name, kBoundsSeconds[i],
                  static_cast<unsigned long long>(cumulative));
    out->append(line);
  }
  cumulative += buckets_.back().load(std::memory_order_relaxed);
  std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                static_cast<unsigned long long>(cumulative), name,
                static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6, name,
                static_cast<unsigned long long>(count_.load(std::memory_order_relaxed)));
  out->append(line);
}

std::size_t StageHistograms::ShardOfThisThread() {
  // Threads take shards in turn as they first record: the few that record (lanes, workers, the
  // committer, the fan-out thread) each get their own line of counters while there are enough.
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

void StageHistograms::Observe(Stage stage, std::int64_t ns) {
  if (ns < 0) ns = 0;
  std::size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
  Shard& s = shards_[ShardOfThisThread()];
  s.counts[stage][i].fetch_add(1, std::memory_order_relaxed);
  s.sum_ns[stage].fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

std::uint64_t StageHistograms::Count(Stage stage) const {
  std::uint64_t n = 0;
  for (const Shard& s : shards_) {
    for (const auto& c : s.counts[stage]) n += c.load(std::memory_order_relaxed);
  }
  return n;
}

void StageHistograms::Render(std::string* out) const {
  out->append(
      "# HELP chat_message_stage_seconds Where a message's time goes in the server, by stage: read_to_worker, "
      "worker_to_queued, queued_to_durable (group commit and fsync), durable_to_fanout (router queue and "
      "encoding), fanout_to_written (per recipient: lane, send queue, socket write).\n"
      "# TYPE chat_message_stage_seconds histogram\n");
  char line[256];
  for (std::size_t stage = 0; stage < kStages; ++stage) {
    std::array<std::uint64_t, kBuckets> counts{};
    std::uint64_t sum_ns = 0;
    for (const Shard& s : shards_) {
      for (std::size_t b = 0; b < kBuckets; ++b) counts[b] += s.counts[stage][b].load(std::memory_order_relaxed);
      sum_ns += s.sum_ns[stage].load(std::memory_order_relaxed);
    }
    // Prometheus buckets are cumulative.
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBoundsNs.size(); ++b) {
      cumulative += counts[b];
      std::snprintf(line, sizeof line, "chat_message_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n",
                    kNames[stage], static_cast<double>(kBoundsNs[b]) / 1e9,
                    static_cast<unsigned long long>(cumulative));
      out->append(line);
    }
    cumulative += counts.back();
    std::snprintf(line, sizeof line,
                  "chat_message_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n"
                  "chat_message_stage_seconds_sum{stage=\"%s\"} %.9f\n"
                  "chat_message_stage_seconds_count{stage=\"%s\"} %llu\n",
                  kNames[stage], static_cast<unsigned long long>(cumulative), kNames[stage],
                  static_cast<double>(sum_ns) / 1e9, kNames[stage], static_cast<unsigned long long>(cumulative));
    out->append(line);
  }
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(4096);
  auto d = [](auto v) { return static_cast<double>(v); };
  AppendScalar(&out, "chat_connections", "gauge", "Open connections (HTTP and WebSocket).", d(connections.Get()));
  AppendScalar(&out, "chat_connections_accepted_total", "counter", "Connections accepted since start.",
               d(connections_accepted.Get()));
  AppendScalar(&out, "chat_connections_refused_total", "counter",
               "Connections refused because max_connections was reached.", d(connections_refused.Get()));
  AppendScalar(&out, "chat_connections_refused_per_address_total", "counter",
               "Connections refused because their source address had max_connections_per_address open.",
               d(connections_refused_per_address.Get()));
  AppendScalar(&out, "chat_tls_handshake_failures_total", "counter",
               "TLS handshakes that failed or timed out (e.g. a plain-HTTP client on the TLS port).",
               d(tls_handshake_failures.Get()));
  AppendScalar(&out, "chat_websockets", "gauge", "Open WebSocket sessions.", d(websockets.Get()));
  AppendScalar(&out, "chat_ws_reading_sessions", "gauge",
               "WebSocket sessions in the middle of reading a request (holding a read buffer); idle plain-TCP "
               "sessions wait for readability without one.",
               d(ws_reading.Get()));
  AppendScalar(&out, "chat_devices_online", "gauge", "Authenticated WebSocket sessions (devices online).",
               d(devices_online.Get()));
  AppendScalar(&out, "chat_requests_total", "counter", "Protocol commands received.", d(requests.Get()));
  AppendScalar(&out, "chat_request_errors_total", "counter", "Protocol commands answered with an error.",
               d(request_errors.Get()));
  AppendScalar(&out, "chat_messages_in_total", "counter", "Messages accepted by sendMessage (duplicates excluded).",
               d(messages_in.Get()));
  AppendScalar(&out, "chat_messages_out_total", "counter", "newMessage events written to devices.",
               d(messages_out.Get()));
  AppendScalar(&out, "chat_fanout_deliveries_total", "counter", "Event frames queued to live sessions.",
               d(fanout_deliveries.Get()));
  AppendScalar(&out, "chat_ws_write_batches_total", "counter",
               "Gathered socket writes of WebSocket frames; frames written / batches = frames per syscall.",
               d(write_batches.Get()));
  AppendScalar(&out, "chat_send_queue_drops_total", "counter",
               "Sessions disconnected as slow consumers (send queue full).", d(send_queue_drops.Get()));
  AppendScalar(&out, "chat_worker_rejected_total", "counter", "Commands refused because the worker queue was full.",
               d(worker_rejected.Get()));
  AppendScalar(&out, "chat_worker_queue_depth", "gauge", "Commands waiting for a worker thread.",
               d(worker_queue_depth.Get()));
  AppendScalar(&out, "chat_hash_rejected_total", "counter",
               "Password commands refused because the hash queue was full.", d(hash_rejected.Get()));
  AppendScalar(&out, "chat_hash_queue_depth", "gauge", "Password commands waiting for a hash worker.",
               d(hash_queue_depth.Get()));
  AppendScalar(&out, "chat_registrations_refused_total", "counter",
               "register refused by the per-address or global registration limit.",
               d(registrations_refused.Get()));
  AppendScalar(&out, "chat_log_lines_suppressed_total", "counter",
               "Repeated refusal log lines not written.", d(log_lines_suppressed.Get()));
  AppendScalar(&out, "chat_receipt_events_total", "counter", "Coalesced receipt events sent.",
               d(receipt_events.Get()));
  AppendScalar(&out, "chat_bus_entries_repaired_total", "counter",
               "Entries the bus between nodes did not bring (lost, or late beyond the hold), read from the store.",
               d(bus_entries_repaired.Get()));
  AppendScalar(&out, "chat_bus_duplicates_dropped_total", "counter",
               "Entries that reached this node twice (e.g. late, after their repair) and were dropped.",
               d(bus_duplicates_dropped.Get()));
  AppendScalar(&out, "chat_bus_seqs_skipped_total", "counter",
               "Seqs a gap repair did not find in the store (the log is gapless: stays 0).",
               d(bus_seqs_skipped.Get()));
  AppendScalar(&out, "chat_attachment_uploads_total", "counter", "Attachment uploads completed.",
               d(attachment_uploads.Get()));
  AppendScalar(&out, "chat_attachment_downloads_total", "counter", "Attachment downloads sent in full.",
               d(attachment_downloads.Get()));
#if defined(__GLIBC__)
  // What the allocator has handed out and not had back: unlike the RSS, it does not count pages that
  // freed memory still holds, so it tells growth (per connection, per chat) from fragmentation.
  const struct mallinfo2 heap = mallinfo2();
  AppendScalar(&out, "chat_heap_in_use_bytes", "gauge", "Bytes allocated with malloc and not freed (glibc).",
               d(heap.uordblks + heap.hblkhd));
#endif
  delivery_latency.Render("chat_delivery_latency_seconds",
                          "From a message's acceptance to its newMessage frame being written to a device.", &out);
  store_latency.Render("chat_store_latency_seconds", "Duration of the store/service work of one command.", &out);
  if (render_more) render_more(&out);
  // ---- Operations block (ops_metrics.h).
  send_fanout_latency.Render("chat_send_fanout_latency_seconds",
                             "From a sendMessage frame's arrival to its newMessage event handed to the live sessions "
                             "of every recipient on this node.",
                             &out);
  message_stages.Render(&out);
  commands.Render(&out);
  RenderProcessMetrics(&out);
  // ---- End of the operations block.
  if (render_spam) render_spam(&out);
  return out;
}

void RenderSpam(const SpamCounters& c, std::string* out) {
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  AppendScalar(out, "chat_spam_throttled_total", "counter", "Sends refused because the sender is throttled for spam.",
               d(c.throttled));
  AppendScalar(out, "chat_spam_refused_total", "counter", "Sends refused because sending is suspended for spam.",
               d(c.refused));
  AppendScalar(out, "chat_spam_flagged_total", "counter", "Accounts flagged for admins by their spam score.",
               d(c.flagged));
  AppendScalar(out, "chat_spam_reports_total", "counter", "Messages reported as spam (repeats excluded).",
               d(c.reports));
}

}  // namespace chat::detail
