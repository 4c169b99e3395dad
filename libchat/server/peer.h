// Peer: what the router needs of a live session. Implemented by WsSession; an interface so that the
// router (and the bus behind it) never sees Beast and can be tested with fakes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "send_queue.h"

namespace chat::detail {

class Peer;

// The event loop a group of peers lives on (chatd: one per network thread). The router hands it an
// event's frame with every recipient on that loop at once: one wake-up of the loop per event instead
// of one per recipient, and, since the loop drains everything that arrived before it woke, a session
// receiving several events writes them in one go.
class DeliveryLane {
 public:
  virtual ~DeliveryLane() = default;
  // Thread-safe, non-blocking. The frame is queued to each peer (QueueHere) on the lane's thread.
  virtual void Deliver(const OutFrame& frame, std::vector<std::shared_ptr<Peer>> peers) = 0;
};

class Peer {
 public:
  virtual ~Peer() = default;
  // Queues a frame for the peer. Thread-safe and non-blocking: implementations post to their lane.
  // A peer whose queue overflows closes itself as a slow consumer.
  virtual void Deliver(OutFrame frame) = 0;
  // The peer's device session was revoked (device removed, password changed, account disabled): it
  // must close unless it authenticated with `keep_token_hash` (if not empty: the device's new token).
  // Thread-safe and non-blocking; commands the peer starts after this returns are refused.
  virtual void Revoke(const std::string& keep_token_hash) = 0;

  // The lane the peer lives on, or null (the router then uses Deliver).
  virtual DeliveryLane* lane() const { return nullptr; }
  // For the lane, on its thread: queue without writing yet. True if the peer now needs a Flush()
  // (the first frame since the last one).
  virtual bool QueueHere(const OutFrame&) { return false; }
  // For the lane, on its thread, after a drain: start writing what QueueHere queued.
  virtual void FlushHere() {}
};

}  // namespace chat::detail
