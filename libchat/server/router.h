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
// (and the events of one publishing thread in publish order).
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "libchat/bus.h"
#include "libchat/types.h"
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

  // Subscribes to `bus` and starts the fan-out thread. REQUIRES: not attached.
  void Attach(Bus& bus);
  // Unsubscribes and stops the fan-out thread, dropping the events it had not delivered yet (the
  // server detaches once its sessions are closed) but running the AfterQueued closures. When it returns no handler and no delivery is
  // running. Idempotent.
  void Detach();

  // Registers a live, authenticated session of `device`. True if it is the user's first session on
  // this node (the user came online).
  bool Add(UserId user, DeviceId device, const std::shared_ptr<Peer>& peer);
  // Unregisters `peer`. True if it was the user's last session on this node (the user went offline).
  bool Remove(UserId user, const Peer* peer);
  bool IsOnline(UserId user) const;
  // True if `device` of `user` has a live session on this node (the push dispatcher's LiveCheck).
  bool IsDeviceLive(UserId user, DeviceId device) const;
  std::size_t SessionCount() const;

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
  };
  // Queues `item`, waiting while the queue is full. False once stopping (nothing queued).
  bool Enqueue(Queued item) EXCLUDES(queue_mu_);
  // The fan-out thread: takes what is queued, in order, and sends each.
  void FanOut();
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
  std::unordered_map<UserId, std::vector<Entry>> sessions_ GUARDED_BY(mu_);
  std::size_t session_count_ GUARDED_BY(mu_) = 0;

  // Events between the bus handler and the fan-out thread.
  Mutex queue_mu_;
  CondVar queued_;  // Signalled when an event is queued or the thread must stop.
  CondVar drained_;  // Signalled when the thread took the queue.
  std::deque<Queued> queue_ GUARDED_BY(queue_mu_);
  bool delivering_ GUARDED_BY(queue_mu_) = false;  // The thread is sending what it took.
  bool stopping_ GUARDED_BY(queue_mu_) = false;
  std::thread fanout_;

  Subscription subscription_;
};

}  // namespace chat::detail
