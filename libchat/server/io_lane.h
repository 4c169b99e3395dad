// IoLane: one network thread: its io_context, and the DeliveryLane through which the router hands
// it events.
//
// Ownership (the invariant the rest relies on): a lane's io_context is run by exactly one thread
// (Server::Start starts one per lane and nothing else runs it), and every connection lives on one
// lane from accept to close: its socket, handlers, timers, and the posts other threads make to it
// all use the lane's executor directly. So the lane's thread is the one owner of every connection on
// it: everything a connection does runs there, one handler at a time, and connections need no
// strand (they have none; nothing is bypassed). RunningHere() says whether the caller is that
// thread; the drain below checks it in debug builds.
//
// Deliver() appends (frame, recipients) to an inbox under a mutex and posts one drain to the
// io_context if none is pending. The drain runs on the lane's thread: it queues every frame to its
// recipients, then asks each touched session once to write, so a session that received five events
// since the last drain sends them in one gathered write. It calls the sessions directly: they are
// this thread's.
//
// The lane also keeps its connections' deadlines (idle ticks, write timeouts) on one TimerWheel
// (timer_wheel.h): one Asio timer per lane instead of one or two per connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cassert>
#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "mutex.h"
#include "peer.h"
#include "timer_wheel.h"

namespace chat::detail {

class IoLane final : public DeliveryLane {
 public:
  // `tick`: the resolution of the lane's timer wheel (how late a connection's deadline may fire).
  IoLane(boost::asio::io_context& ioc, std::chrono::milliseconds tick) : ioc_(ioc), wheel_(ioc, tick) {}

  boost::asio::io_context& context() const { return ioc_; }
  // The lane's deadlines. Its thread only.
  TimerWheel& wheel() { return wheel_; }
  boost::asio::io_context::executor_type executor() const { return ioc_.get_executor(); }

  // Runs the io_context on the calling thread, which becomes the lane's one thread, until it is
  // stopped. `on_exception` is told of an exception a handler let out (the loop goes on). Called
  // once, by the thread Server::Start makes for the lane.
  template <class OnException>
  void Run(OnException on_exception) {
    thread_.store(std::this_thread::get_id());
    // Handlers do not throw by design; if one does, report it and keep serving the others.
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        on_exception(e.what());
      }
    }
  }

  // True on the lane's thread (and before it started, for set-up).
  bool RunningHere() const {
    const std::thread::id id = thread_.load();
    return id == std::thread::id() || id == std::this_thread::get_id();
  }

  // Drops what was never drained, once the io_context has stopped: the batches hold sessions, which
  // must be destroyed while their io_context still exists (and they hold the state that owns us).
  // Also stops the timer wheel, whose timer must go before the io_context (the lane outlives it).
  void Discard() {
    wheel_.Stop();
    std::vector<Batch> dropped;
    MutexLock lock(&mu_);
    dropped.swap(inbox_);
    drain_posted_ = false;
  }

  void Deliver(const OutFrame& frame, std::vector<std::shared_ptr<Peer>> peers) override {
    bool post = false;
    {
      MutexLock lock(&mu_);
      inbox_.push_back(Batch{frame, std::move(peers)});
      post = !drain_posted_;
      drain_posted_ = true;
    }
    if (post) boost::asio::post(ioc_, [this] { Drain(); });
  }

 private:
  struct Batch {
    OutFrame frame;
    std::vector<std::shared_ptr<Peer>> peers;
  };

  void Drain() {
    assert(RunningHere());
    {
      MutexLock lock(&mu_);
      draining_.swap(inbox_);
      drain_posted_ = false;
    }
    // Direct calls, no post: every peer here lives on this lane, whose one thread this is.
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

  boost::asio::io_context& ioc_;
  TimerWheel wheel_;
  std::atomic<std::thread::id> thread_{};
  Mutex mu_;
  std::vector<Batch> inbox_ GUARDED_BY(mu_);
  bool drain_posted_ GUARDED_BY(mu_) = false;
  // Used by Drain only, on the lane's thread; kept to reuse their capacity.
  std::vector<Batch> draining_;
  std::vector<Peer*> touched_;
};

}  // namespace chat::detail
