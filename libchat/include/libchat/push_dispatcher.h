// PushDispatcher: turns new messages into push notifications for devices that have no live session,
// off the message path. How it works end to end, and why, is in docs/push.md.
//
//   bus event ──► bounded queue ──► worker: which devices? (store reads) ──► coalescing table
//                                            (one entry per device and chat, due after a window)
//   due entry ──► worker: still offline? still unacknowledged? ──► PushSender::Send (async)
//   completion ──► worker: sent / retry with backoff / remove an invalid token / give up
//
// Nothing about pending notifications is persisted: on start the dispatcher recomputes them from the
// inbox (devices with a push token whose cursor is behind their chat's head, for messages of the
// last PushOptions::recover_window_ms), so a restart loses none and repeats at most that window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libchat/bus.h"
#include "libchat/clock.h"
#include "libchat/push.h"
#include "libchat/registry.h"
#include "libchat/result.h"
#include "libchat/store.h"
#include "libchat/types.h"

namespace chat {

struct PushOptions {
  // Messages for one device in one chat that arrive within this long of the first one become a single
  // notification carrying their count. The notification goes out when the window closes, which also
  // gives a device that is just reconnecting the chance to acknowledge first. Default: 2000 ms.
  TimeMs coalesce_window_ms = 2000;
  // Put the message text in notifications. Off by default because the text then passes through the
  // push provider (Google, Apple, the webhook gateway). Default: false.
  bool previews = false;
  // Longest preview, in bytes; longer text is cut at a UTF-8 character boundary. Default: 200.
  std::size_t max_preview_bytes = 200;
  // Also notify the sender's own other devices of what the sender wrote. Off by default: a user is
  // not alerted to their own words; those devices sync the message when they connect. Default: false.
  bool notify_sender_devices = false;

  // Bus events (and call pushes) waiting for a worker. When full, new events are dropped and counted
  // (PushStats::dropped): nothing is lost but the alert, since the message stays in the inbox and the
  // device syncs it on its next connect. Default: 10000.
  std::size_t queue_capacity = 10000;
  // Notifications scheduled or waiting for a retry, one per (device, chat). When full, new ones are
  // dropped and counted (PushStats::dropped_pending). Default: 100000.
  std::size_t max_pending = 100000;
  // Notifications handed to senders and not yet answered; more wait in the table. Default: 256.
  std::size_t max_in_flight = 256;
  // Threads doing the store reads and the sends. 0: none; whoever owns the dispatcher drives it by
  // calling RunDue() (e.g. from its own timer). Default: 1.
  int worker_threads = 1;

  // Attempts per notification, the first included, when the sender answers with a retryable status
  // (timeouts, 429, 5xx). Default: 8.
  int max_attempts = 8;
  // Backoff before retry n is min(max_backoff_ms, initial_backoff_ms * 2^(n-1)), of which a random
  // half is taken off (jitter) so that a recovering gateway is not hit by every retry at once.
  // Default: 1000 ms and 60000 ms.
  TimeMs initial_backoff_ms = 1000;
  TimeMs max_backoff_ms = 60000;
  // Seed of the jitter. 0: a random seed. Default: 0.
  std::uint64_t jitter_seed = 0;

  // Recompute pending notifications from the store when the dispatcher starts (see the top of this
  // file). Runs on a thread of its own (with worker_threads 0: in the first RunDue()); messages sent
  // while it runs are handled as usual. Default: true.
  bool recover_on_start = true;
  // On start, messages newer than this are considered possibly not yet notified. It should exceed
  // coalesce_window_ms plus the whole retry schedule; a longer window re-notifies more after a
  // restart, a shorter one may miss a notification that was waiting for a retry. Default: 15 minutes.
  TimeMs recover_window_ms = 15 * 60 * 1000;
  // At most this many recent messages are read per (device, chat) when recovering: the count shown
  // is capped there. Default: 100.
  std::size_t recover_max_messages = 100;

  // Not owned; must outlive the dispatcher. Default: the system clock.
  Clock* clock = SystemClock();
};

// Counters since Create, and the current sizes. Every notification that reaches its due time ends in
// exactly one of sent, failed, skipped_live, skipped_acked, skipped_gone, no_sender (a call push may
// also be canceled by CancelCall).
struct PushStats {
  std::uint64_t events = 0;           // Message events taken into the queue.
  std::uint64_t dropped = 0;          // Events and call pushes dropped because the queue was full.
  std::uint64_t scheduled = 0;        // Notifications created (one per device and chat and window).
  std::uint64_t coalesced = 0;        // Messages folded into a notification already scheduled.
  std::uint64_t dropped_pending = 0;  // Notifications not created because the table was full.
  std::uint64_t sent = 0;             // Accepted by the provider.
  std::uint64_t failed = 0;           // Given up: refused, invalid token, or out of attempts.
  std::uint64_t retried = 0;          // Retries scheduled after a retryable failure.
  std::uint64_t tokens_removed = 0;   // Tokens the provider reported invalid, cleared from the device.
  std::uint64_t skipped_live = 0;     // Due, but the device had a live session by then.
  std::uint64_t skipped_acked = 0;    // Due, but the device had acknowledged every message by then.
  std::uint64_t skipped_gone = 0;     // Due, but the device, its token or the chat was gone by then.
  std::uint64_t no_sender = 0;        // Due, but no sender serves the device's push provider.
  std::uint64_t calls = 0;            // Call notifications created.
  std::uint64_t recovered = 0;        // Notifications recreated from the store on start.
  std::uint64_t store_errors = 0;     // Store reads that failed (the device was skipped or retried).
  std::size_t queue_depth = 0;        // Events waiting in the queue now.
  std::size_t pending = 0;            // Notifications scheduled or waiting for a retry now.
  std::size_t in_flight = 0;          // Notifications with a sender now.
  bool recovering = false;            // Start-up recovery has not finished yet.
};

// A call ringing a user: NotifyCall pushes it at once, at high priority, to each of the user's
// devices that has a push token and no live session.
struct CallPush {
  UserId callee = 0;
  ChatId chat = 0;
  UserId caller = 0;
  std::string call_id;          // Required: lets the app match the push to the call, and CancelCall.
  DeviceId exclude_device = 0;  // A device not to ring (e.g. the caller's own). 0: none.
  // The call stops ringing after this long: retries stop and providers drop an undelivered push.
  // Default: 45000 ms.
  TimeMs ring_timeout_ms = 45000;
};

// Provider name (Device::push_provider: "webhook", "fcm", "apns") -> the sender serving it. The key
// "*" serves every provider without a sender of its own (e.g. a webhook gateway that forwards to FCM
// and APNs itself).
using PushSenders = std::map<std::string, std::shared_ptr<PushSender>>;

// True if the device has a live session that will deliver the message. Called from worker threads:
// must be thread-safe and quick (no store access).
using LiveCheck = std::function<bool(UserId user, DeviceId device)>;

// Owns its worker threads; shares the store, bus and senders. Thread-safe: every method may be called
// from any thread. Destroying it unsubscribes from the bus and joins the workers; notifications not
// yet sent then are recomputed by the next dispatcher's recovery.
class PushDispatcher {
 public:
  // Subscribes to `bus` and starts the workers. `is_live` may be null (every device counts as
  // offline). InvalidArgument for inconsistent options, no senders or a null sender.
  static Result<std::unique_ptr<PushDispatcher>> Create(PushOptions options, std::shared_ptr<Store> store,
                                                       std::shared_ptr<Bus> bus, PushSenders senders,
                                                       LiveCheck is_live);

  PushDispatcher() = default;
  PushDispatcher(const PushDispatcher&) = delete;
  PushDispatcher& operator=(const PushDispatcher&) = delete;
  virtual ~PushDispatcher() = default;

  // Queues a call push for call.callee's offline devices; never coalesced, high priority, retried
  // until the ring timeout. Returns at once: InvalidArgument without a callee or call_id,
  // ResourceExhausted if the queue is full.
  virtual Status NotifyCall(const CallPush& call) = 0;
  // Stops retrying the pushes of a call that was answered or ended. Pushes already with a sender go
  // on; the app learns the call's state when it connects.
  virtual void CancelCall(const std::string& call_id) = 0;

  // Does, in the calling thread, what the workers do as time passes: finishes recovery, takes every
  // queued event and answered send, and hands every notification due by the clock's current time to
  // its sender. Returns once nothing more is due and no worker is in the middle of a step; sends
  // started may still be in flight. Blocks on the store. For an owner that runs no workers, and for
  // tests that move a ManualClock.
  virtual void RunDue() = 0;

  virtual PushStats Stats() const = 0;
};

// Builds the senders named by chatd-style specs, each "PROVIDER=URI" or just "URI" (which serves
// every provider, "*"), e.g. {"fcm=fcm://my-project?credentials=/etc/chatd/fcm.json",
// "apns=apns://?key_file=/etc/chatd/apns.p8&key_id=K&team_id=T&topic=com.example.chat"}.
// InvalidArgument for a malformed spec or a provider named twice; the registry's errors otherwise
// (NotSupported for an unknown scheme). Senders are created, and their keys loaded, now.
Result<PushSenders> MakePushSenders(const Registry& registry, const std::vector<std::string>& specs);

}  // namespace chat
