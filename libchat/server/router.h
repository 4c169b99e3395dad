// Router: delivers the Bus's events to the live sessions of their recipients on this node.
//
// It keeps user -> live sessions under a mutex. For each event it serialises the wire frame ONCE into a
// shared_ptr<const std::string>, copies the recipients' weak_ptrs under the lock, and hands the shared
// frame to each session after releasing it (Beast's chat-multi). Sessions post to their own strand, so
// the bus thread never waits for a socket.
//
// Ordering: the ChatService publishes a chat's events in commit order, and the router forwards each
// synchronously on the publishing thread, so every session's strand receives a chat's entries in seq
// order.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "libchat/bus.h"
#include "libchat/types.h"
#include "logger.h"
#include "metrics.h"
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

  // Subscribes to `bus`. REQUIRES: not attached.
  void Attach(Bus& bus);
  // Unsubscribes; when it returns no event handler is running. Idempotent.
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

  // The bus handler: converts the event to its wire frame and delivers it.
  void OnEvent(const Event& event);
  // Emits the coalesced receipts of the current window.
  void FlushReceipts() { receipts_.Flush(); }

 private:
  struct Entry {
    DeviceId device = 0;
    const Peer* key = nullptr;
    std::weak_ptr<Peer> peer;
  };
  // Queues `frame` to every live session of `users`, except `exclude` and, if set, only to `only`.
  void Deliver(std::vector<UserId> users, DeviceId exclude, DeviceId only, const OutFrame& frame);
  void Revoke(UserId user, DeviceId device, const std::string& keep_token_hash);
  void EmitReceipts(const CoalescedReceipts& r);

  Metrics& metrics_;
  const Logger& log_;
  ReceiptCoalescer receipts_;
  mutable std::mutex mu_;
  std::unordered_map<UserId, std::vector<Entry>> sessions_;  // GUARDED_BY(mu_)
  std::size_t session_count_ = 0;                            // GUARDED_BY(mu_)
  Subscription subscription_;
};

}  // namespace chat::detail
