// Per-worker measurements. Each worker thread owns one WorkerStats: the counters are written by that
// thread alone and read by the coordinator for the live progress line (hence atomics, written with a
// plain load+store since there is a single writer, so counting costs no locked instruction); the
// histograms, error counts and timings are touched only by the worker and read after it has stopped.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "histogram.h"

namespace chat::loadgen {

// A counter with a single writer thread and any number of readers. The store releases and the load
// acquires (both plain moves on x86), so a reader that sees a count also sees what the writer did
// before counting it: that is how workers publish setup results to the coordinator.
class Counter {
 public:
  void Add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_release); }
  std::uint64_t Get() const { return v_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct WorkerStats {
  // Setup.
  Counter connected;      // WebSocket upgrades completed (every connection, reconnects included).
  Counter signed_in;      // Devices that finished register/login or resume (setup phase).
  Counter setup_failed;   // Devices whose setup failed for good.
  // Load.
  Counter sent;           // sendMessage requests written.
  Counter acked;          // sendMessage answered ok (first answer per message).
  Counter send_failed;    // Messages given up on (a non-retryable error).
  Counter delivered;      // First receipts of other members' messages, live or by sync (and of one's own
                          // with --count-own-device).
  Counter duplicates;
  Counter reordered;
  Counter disconnects;    // Connections that ended without the tool asking.
  Counter failovers;      // Of those, with several --url nodes: the next attempt went to another node.
  Counter resynced;       // Devices that completed a resync (reconnect-storm, offline-sync, 1008).
  Counter expected;       // Deliveries expected so far: (members - 1) per acknowledged message (members
                          // with --count-own-device).
  Counter groups_done;    // createChat/getChat calls completed (ok or failed for good).

  // Worker-thread only.
  LatencyHistogram latency_us;   // Scheduled send -> received by a recipient (live only).
  LatencyHistogram send_ack_us;  // Scheduled send -> sendMessage answered ok.
  LatencyHistogram resync_us;    // Drop (or coming online) -> sync complete, per device.
  std::map<std::string, std::uint64_t> errors;  // Error code (or "close_1008", "connect: ...") -> count.
  // steady-clock ns of the last send written, the last acknowledgement and the last first receipt:
  // with the schedule's start they give the achieved rates.
  std::int64_t last_send_ns = 0;
  std::int64_t last_ack_ns = 0;
  std::int64_t last_delivery_ns = 0;

  void Error(const std::string& code) { ++errors[code]; }
};

// Acknowledged messages, one per sendMessage ok: the expected deliveries are derived from them.
struct AckedMessage {
  std::uint64_t chat = 0;
  std::uint64_t seq = 0;
  std::uint32_t sender = 0;  // Client index.
};

// One acknowledged message a client never received: what the report lists of the first few, so that
// a loss can be looked up in the nodes' logs.
struct LostDelivery {
  AckedMessage message;
  std::uint32_t client = 0;  // The recipient's client index.
  std::uint32_t node = 0;    // The --url index the recipient was connected to at the end.
};

}  // namespace chat::loadgen
