// Metrics: the server's counters, gauges and histograms, rendered in the Prometheus text exposition
// format at /metrics. Every name starts with "chat_". Lock-free: updated from any thread with relaxed
// atomics, since a scrape needs no consistency across metrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "command_names.h"
#include "libchat/spam.h"
#include "ops_metrics.h"

namespace chat::detail {

class Counter {
 public:
  void Add(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void Add(std::int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void Set(std::int64_t n) { v_.store(n, std::memory_order_relaxed); }
  std::int64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Latency histogram with fixed buckets from 0.5 ms to 10 s; observations in microseconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBoundsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  void ObserveMicros(std::int64_t us);
  // Appends "# HELP", "# TYPE" and the _bucket/_sum/_count lines.
  void Render(const char* name, const char* help, std::string* out) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> sum_us_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Where a message's time goes on its way through the server, per stage (docs/architecture.md, "The
// path of a message"; docs/operations.md, "Metrics"), rendered as chat_message_stage_seconds{stage}.
// Buckets from 10 us to 10 s in 1-2-5 steps: the stages are short, and their tails are the point.
// Recording is lock-free and cheap enough for every delivery: each thread records into its own
// cache-line-aligned shard (threads are spread over kShards by a thread-local index), two relaxed
// additions per observation; a scrape sums the shards.
class StageHistograms {
 public:
  enum Stage : std::size_t {
    kReadToWorker,     // sendMessage frame read and parsed on the lane -> a worker starts it.
    kWorkerToQueued,   // The worker starts it -> its append is queued for the group commit.
    kQueuedToDurable,  // Queued -> its group's write and fsync done (the send's completion runs).
    kDurableToFanout,  // Its event queued to the router (on the committer) -> encoded, handed to lanes.
    kFanoutToWritten,  // Handed to lanes -> the gathered write carrying it to one recipient completed.
    kStages
  };
  static constexpr std::array<const char*, kStages> kNames = {"read_to_worker", "worker_to_queued",
                                                              "queued_to_durable", "durable_to_fanout",
                                                              "fanout_to_written"};
  static constexpr std::array<std::int64_t, 19> kBoundsNs = {
      10'000,      20'000,      50'000,        100'000,       200'000,       500'000,      1'000'000,
      2'000'000,   5'000'000,   10'000'000,    20'000'000,    50'000'000,    100'000'000,  200'000'000,
      500'000'000, 1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000};

  // Thread-safe, lock-free. A negative duration counts as 0.
  void Observe(Stage stage, std::int64_t ns);
  // Appends the chat_message_stage_seconds family (HELP, TYPE, then each stage's series).
  void Render(std::string* out) const;
  // Observations of `stage` so far (tests).
  std::uint64_t Count(Stage stage) const;

  // steady_clock now, in nanoseconds: the stamps the stages are measured between.
  static std::int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  static constexpr std::size_t kShards = 8;
  static constexpr std::size_t kBuckets = kBoundsNs.size() + 1;  // The last: +Inf.
  struct alignas(64) Shard {
    std::array<std::array<std::atomic<std::uint64_t>, kBuckets>, kStages> counts{};
    std::array<std::atomic<std::uint64_t>, kStages> sum_ns{};
  };
  static std::size_t ShardOfThisThread();
  std::array<Shard, kShards> shards_{};
};

struct Metrics {
  Gauge connections;                // Open connections (HTTP and WebSocket).
  Counter connections_accepted;     // Connections accepted since start.
  Counter connections_refused;      // Refused at accept: max_connections reached.
  Counter connections_refused_per_address;  // Refused at accept: max_connections_per_address reached.
  Counter tls_handshake_failures;   // TLS handshakes that failed or timed out (e.g. plain HTTP on the TLS port).
  Gauge websockets;                 // Open WebSocket sessions.
  Gauge devices_online;             // Authenticated WebSocket sessions.
  Gauge ws_reading;                 // WebSocket sessions with a read in flight (holding a read buffer):
                                    // between requests a plain-TCP session waits for readability instead.
  Counter requests;                 // Commands received.
  Counter request_errors;           // Commands answered with an error.
  Counter messages_in;              // sendMessage accepted (duplicates excluded).
  Counter messages_out;             // newMessage frames written to sockets.
  Counter fanout_deliveries;        // Event frames queued to sessions by the router.
  Counter write_batches;            // Gathered socket writes of WebSocket frames (frames/batch = efficiency).
  Counter send_queue_drops;         // Sessions closed as slow consumers.
  Counter worker_rejected;          // Commands refused because the worker queue was full.
  Gauge worker_queue_depth;         // Commands waiting for a worker.
  Counter hash_rejected;            // Password commands refused because the hash queue was full.
  Gauge hash_queue_depth;           // Password commands waiting for a hash worker.
  Counter registrations_refused;    // register refused by the per-address or global limit.
  Counter log_lines_suppressed;     // Repeated refusal lines not written (LogLimiter).
  Counter receipt_events;           // Coalesced receipt events sent (one per chat per window).
  Counter bus_entries_repaired;     // Entries a bus between nodes missed, read from the store instead.
  Counter bus_duplicates_dropped;   // Entries that arrived at this node twice (or after their repair).
  Counter bus_seqs_skipped;         // Seqs a repair found missing from the store (never expected).
  Counter attachment_uploads;       // Attachment uploads completed (PUT /v1/attachments/{id}).
  Counter attachment_downloads;     // Attachment responses sent in full (GET, 200 or 206).
  Histogram delivery_latency;       // Message accepted (server timestamp) -> newMessage frame written.
  Histogram store_latency;          // Duration of each command's ChatService calls on a worker.

  // Appends the metrics of components that keep their own counters (push dispatcher, calls). Set
  // once before serving. Default: none.
  std::function<void(std::string*)> render_more;
  // Appends the spam counters (the service keeps them). Set once before serving. Default: none.
  std::function<void(std::string*)> render_spam;

  // ---- Operations (ops_metrics.h; docs/operations.md, "Metrics"): process_*, chat_build_info,
  // per-command counts and latencies, send -> fan-out. ----
  // Every protocol command by name (hello and ping included) and result code.
  CommandMetrics commands{[] {
    std::vector<std::string> names = CommandNames();
    names.emplace_back("hello");
    names.emplace_back("ping");
    return names;
  }()};
  // From a sendMessage frame's arrival to the moment its newMessage event has been handed to every
  // live session of the recipients on this node (durable first; the in-process bus fans out before
  // the sender's answer).
  Histogram send_fanout_latency;
  // Per stage of a message's path (StageHistograms above): chat_message_stage_seconds{stage}.
  StageHistograms message_stages;
  // ---- End of the operations block. ----

  std::string Render() const;
};

// Appends one scalar metric ("# HELP", "# TYPE" and the value line). type: "counter" or "gauge".
void AppendScalar(std::string* out, const char* name, const char* type, const char* help, double v);

// Appends the spam counters: chat_spam_{throttled,refused,flagged,reports}_total.
void RenderSpam(const SpamCounters& c, std::string* out);

}  // namespace chat::detail
