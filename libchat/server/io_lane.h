// IoLane: the DeliveryLane of one network thread's io_context.
//
// Deliver() appends (frame, recipients) to an inbox under a mutex and posts one drain to the
// io_context if none is pending. The drain runs on the network thread: it queues every frame to its
// recipients, then asks each touched session once to write, so a session that received five events
// since the last drain sends them in one gathered write.
//
// The drain calls session methods directly rather than through each session's strand. That is safe
// because chatd runs each io_context on exactly one thread (server.cc), and every session's strand is
// on its lane's io_context: nothing else of the session can run at the same time.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "beast.h"
#include "peer.h"

namespace chat::detail {

class IoLane final : public DeliveryLane {
 public:
  explicit IoLane(net::io_context& ioc) : ioc_(ioc) {}

  net::io_context& context() const { return ioc_; }

  // Drops what was never drained, once the io_context has stopped: the batches hold sessions, which
  // must be destroyed while their io_context still exists (and they hold the state that owns us).
  void Discard() {
    std::vector<Batch> dropped;
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(inbox_);
    drain_posted_ = false;
  }

  void Deliver(const OutFrame& frame, std::vector<std::shared_ptr<Peer>> peers) override {
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      inbox_.push_back(Batch{frame, std::move(peers)});
      post = !drain_posted_;
      drain_posted_ = true;
    }
    if (post) net::post(ioc_, [this] { Drain(); });
  }

 private:
  struct Batch {
    OutFrame frame;
    std::vector<std::shared_ptr<Peer>> peers;
  };

  void Drain() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      draining_.swap(inbox_);
      drain_posted_ = false;
    }
    for (const Batch& b : draining_) {
      for (const auto& p : b.peers) {
        if (p->QueueHere(b.frame)) touched_.push_back(p.get());
      }
    }
    for (Peer* p : touched_) p->FlushHere();
    touched_.clear();
    // The batches hold the peers alive until here.
    draining_.clear();
  }

  net::io_context& ioc_;
  std::mutex mu_;
  std::vector<Batch> inbox_;  // GUARDED_BY(mu_)
  bool drain_posted_ = false;  // GUARDED_BY(mu_)
  // Used by Drain only, on the lane's thread; kept to reuse their capacity.
  std::vector<Batch> draining_;
  std::vector<Peer*> touched_;
};

}  // namespace chat::detail
