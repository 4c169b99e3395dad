// Peer: what the router needs of a live session. Implemented by WsSession; an interface so that the
// router (and the bus behind it) never sees Beast and can be tested with fakes.
#pragma once

#include "send_queue.h"

namespace chat::detail {

class Peer {
 public:
  virtual ~Peer() = default;
  // Queues a frame for the peer. Thread-safe and non-blocking: implementations post to their strand.
  // A peer whose queue overflows closes itself as a slow consumer.
  virtual void Deliver(OutFrame frame) = 0;
  // The peer's device session was revoked (device removed, account disabled): it must close.
  // Thread-safe and non-blocking.
  virtual void Revoke() = 0;
};

}  // namespace chat::detail
