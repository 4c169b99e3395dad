// Router: delivers the Bus's events to the live sessions of their recipients on this node.
//
// It keeps user -> live sessions under a mutex. Each event's wire frame is encoded ONCE (the codec's
// ToWireEvent, then EncodeEvent) into a shared_ptr<const std::string>; the recipients' weak_ptrs are
// copied under the lock, and the shared frame handed to each session after releasing it (Beast's
// chat-multi). Sessions are reached through their network thread's lane, so no thread that delivers
// waits for a socket.
//
// Threads: the bus handler (OnEvent) runs on the publisher's thread, for messages the store's
// committer, which every send in the process shares. It only queues the event; the router's fan-out
// thread encodes and delivers it (receipts: adds them to the coalescing window, which the receipt
// timer sends). Revocations (no frame to encode, and they must not wait behind a backlog) are handled
// at once, on the publisher's thread.
//
// Ordering: the ChatService publishes a chat's events in commit order, and the one fan-out thread
// takes them in the order they were queued, so every session receives a chat's entries in seq order
// (and the events of one publishing thread in publish order). On a bus between nodes, where entries
// of other nodes may come late, out of order or not at all, the fan-out thread first puts each
// watched chat's entries through a ChatSequencer: duplicates are dropped, entries ahead of a gap are
// held, and a gap still open after kGapHold is repaired from the store (EnableBetweenNodes).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "libchat/bus.h"
#include "libchat/types.h"
#include "chat_sequencer.h"
#include "interest.h"
#include "logger.h"
#include "metrics.h"
#include "mutex.h"
#include "peer.h"
#include "receipts.h"

namespace chat::detail {

class Router {
 public:
  // `schedule_receipt_flush` must call FlushReceipts() once, one receipt window from now.
  Router(Metrics& metrics, const Logger& log, std::function<void()> schedule_receipt_flush);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;
  ~Router();

  // What the router needs on a bus between nodes. `repair` must read the entries of the Repair from
  // the store off the fan-out thread and hand them to Repaired(), and return true; false if it could
  // not start (it is asked again later). `membership` is told of a kChatUpdate delivered to users
  // with sessions here, so that the node's interest follows their membership (non-blocking).
  // `device_online` is told of a kDeviceOnline (a device's new session on a node where it had one,
  // this node included), to ring it for the calls held here (non-blocking: it runs in the bus's
  // handler, which may be inside a Publish).
  struct BetweenNodes {
    Interest* interest = nullptr;
    std::function<bool(const ChatSequencer::Repair&)> repair;
    std::function<void(ChatId, Seq, std::vector<UserId>)> membership;
    std::function<void(UserId, DeviceId)> device_online;
  };
  // Turns sequencing on (call before Attach, for a bus whose BetweenNodes() is true).
  void EnableBetweenNodes(BetweenNodes between) { between_ = std::move(between); }
  // This node just started (or stopped) watching `chat`, whose membership entry `seq` it delivered:
  // entries published before every server knew the new interest may be lost, so the chat is read
  // from the store after `seq` now and once more kLossRecheck later (or forgotten if no longer
  // watched). Thread-safe.
  void CheckChat(ChatId chat, Seq seq);
  // The entries read for a repair of `chat` (ok: read; more: cut at the read's limit). Thread-safe;
  // applied on the fan-out thread in queue order.
  void Repaired(const ChatSequencer::Repair& repair, std::vector<std::shared_ptr<const Event>> entries, bool ok,
                bool more);

  // Subscribes to `bus` and starts the fan-out thread. REQUIRES: not attached.
  void Attach(Bus& bus);
  // Unsubscribes and stops the fan-out thread, dropping the events it had not delivered yet (the
  // server detaches once its sessions are closed) but running the AfterQueued closures. When it returns no handler and no delivery is
  // running. Idempotent.
  void Detach();

  // Registers a live, authenticated session of `device`. True if it is the user's first session on
  // this node (the user came online).
  // *device_had_session (if given): whether `device` had a session here already.
  bool Add(UserId user, DeviceId device, const std::shared_ptr<Peer>& peer, bool* device_had_session = nullptr);
  // Unregisters `peer`. True if it was the user's last session on this node (the user went offline).
  bool Remove(UserId user, const Peer* peer);
  bool IsOnline(UserId user) const;
  // True if `device` of `user` has a live session on this node (the push dispatcher's LiveCheck).
  bool IsDeviceLive(UserId user, DeviceId device) const;
  std::size_t SessionCount() const;
  // Every (user, device) with a live session on this node (a device with two sessions once).
  std::vector<std::pair<UserId, DeviceId>> LiveDevices() const;

  // The bus handler. Queues the event for the fan-out thread; waits only while kMaxQueuedEvents are
  // already waiting for it (the publishers, the store's committer first, then slow down to the pace
  // of delivery rather than memory growing without bound).
  void OnEvent(std::shared_ptr<const Event> event);
  // Runs `fn` once every event queued before this call has been handed to its sessions: at once when
  // nothing is queued or being delivered, else on the fan-out thread right after them (at once, too,
  // once detached). Command answers go through here, so that on the caller's connection an answer
  // follows the events its command committed (a sender gets its newMessage before the sendMessage
  // answer, as when events were delivered on the committer). Thread-safe.
  void AfterQueued(std::function<void()> fn);
  // Emits the coalesced receipts of the current window.
  void FlushReceipts() { receipts_.Flush(); }

  // Far more than a burst of group commits queues (thousands of events), few enough to bound memory.
  static constexpr std::size_t kMaxQueuedEvents = 1 << 16;
  // How long an entry from another node that arrived ahead of a gap waits for the missing ones before
  // they are read from the store: far above the spread of two nodes' publications of one chat.
  static constexpr std::chrono::milliseconds kGapHold{200};
  // After a possible loss, every watched chat is checked against the store at once and again this
  // much later (interest re-sent on a reconnect reaches the other servers a moment after).
  static constexpr std::chrono::milliseconds kLossRecheck{1000};

 private:
  struct Entry {
    DeviceId device = 0;
    const Peer* key = nullptr;
    std::weak_ptr<Peer> peer;
  };
  // What the fan-out thread takes, in order: an event to send, or (event null) a closure to run.
  struct Queued {
    std::shared_ptr<const Event> event;
    std::function<void()> then;
    // kMessage events: when the bus handler queued it (steady ns; on the in-process bus that is the
    // committer, right after the fsync), for the durable_to_fanout stage. 0 otherwise.
    std::int64_t queued_ns = 0;
  };
  // Queues `item`, waiting while the queue is full. False once stopping (nothing queued).
  bool Enqueue(Queued item) EXCLUDES(queue_mu_);
  // The fan-out thread: takes what is queued, in order, and sends each.
  void FanOut();
  // Sequences `event` on a bus between nodes (entries of watched chats), then sends what may go.
  void Route(const std::shared_ptr<const Event>& event);
  // Starts the repairs the sequencer asks for (fan-out thread).
  void StartRepairs(std::vector<ChatSequencer::Repair> repairs);
  // Encodes `event` to its frame and delivers it (fan-out thread).
  void Send(const Event& event);
  // Queues `frame` to every live session of `users`, except `exclude` and, if set, only to `only`.
  void Deliver(std::vector<UserId> users, DeviceId exclude, DeviceId only, const OutFrame& frame) EXCLUDES(mu_);
  void Revoke(UserId user, DeviceId device, const std::string& keep_token_hash) EXCLUDES(mu_);
  void EmitReceipts(const CoalescedReceipts& r);

  Metrics& metrics_;
  const Logger& log_;
  ReceiptCoalescer receipts_;
  mutable Mutex mu_;
  // One node per live session, under its user's key: most users have one session, and a map of
  // vectors cost each of them a vector's allocation besides the node (issue 17: memory per idle
  // connection).
  std::unordered_multimap<UserId, Entry> sessions_ GUARDED_BY(mu_);

  // Events between the bus handler and the fan-out thread.
  Mutex queue_mu_;
  CondVar queued_;  // Signalled when an event is queued or the thread must stop.
  CondVar drained_;  // Signalled when the thread took the queue.
  std::deque<Queued> queue_ GUARDED_BY(queue_mu_);
  bool delivering_ GUARDED_BY(queue_mu_) = false;  // The thread is sending what it took.
  bool stopping_ GUARDED_BY(queue_mu_) = false;
  std::thread fanout_;

  // On a bus between nodes (set before Attach; then read-only). The sequencer and the recheck time
  // are the fan-out thread's own.
  BetweenNodes between_;
  ChatSequencer sequencer_{kGapHold};
  std::chrono::steady_clock::time_point recheck_at_ = std::chrono::steady_clock::time_point::max();
  // The fan-out thread's own: Queued::queued_ns of the event being routed (0: none).
  std::int64_t routing_queued_ns_ = 0;
  // Chats to check once more (CheckChat), and when.
  std::unordered_map<ChatId, std::chrono::steady_clock::time_point> chat_rechecks_;

  Subscription subscription_;
  Subscription loss_subscription_;
};

}  // namespace chat::detail
