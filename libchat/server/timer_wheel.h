// TimerWheel: every WebSocket deadline of one lane (the idle ping/close tick and the write timeout of
// each session) on one Asio timer, instead of one or two steady_timers per connection.
//
// Why: an armed steady_timer costs a connection its timer state plus a pending wait operation that
// holds the session's handler (~0.3 KB), and 10,000 idle connections re-arm theirs every half idle
// timeout. Here a session is a 40-byte Node (a vtable pointer and four words); the wheel keeps nodes
// in slots of `tick` and its one timer wakes once per tick while any node is scheduled. A deadline
// fires late by at most one tick (plus the lane's own delay), never early.
//
// Threading: one wheel per lane (io_lane.h), used only on that lane's thread: Schedule, Cancel and
// every OnDeadline run there. A node must not be destroyed while scheduled: its owner cancels it
// first (a session does in Finish, on the lane, and again in its destructor, which runs on the lane
// or after the lane's thread has stopped).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace chat::detail {

class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;

  class Node {
   public:
    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    bool scheduled() const { return wheel_ != nullptr; }

   protected:
    ~Node() = default;

   private:
    friend class TimerWheel;
    // Runs on the lane's thread once the deadline has passed; the node is no longer scheduled (it
    // may schedule itself again).
    virtual void OnDeadline() = 0;

    TimerWheel* wheel_ = nullptr;
    Node* prev_ = nullptr;
    Node* next_ = nullptr;
    std::uint64_t due_tick_ = 0;  // It fires when this tick has begun.
  };

  // `tick`: the resolution (at least 1 ms). The timer runs on `ioc`, which must outlive the wheel or
  // see Stop() first.
  TimerWheel(boost::asio::io_context& ioc, std::chrono::milliseconds tick);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // (Re)schedules `node` to fire at `due` (at the next tick if that has passed). Ignored once stopped.
  void Schedule(Node* node, Clock::time_point due);
  // The earliest time a scheduled `node` fires (its deadline rounded up to a tick).
  Clock::time_point DueOf(const Node& node) const { return epoch_ + tick_ * static_cast<std::int64_t>(node.due_tick_); }
  // Unschedules `node`; nothing if it is not scheduled.
  static void Cancel(Node* node);
  // Unschedules every node and destroys the timer: called once the io_context has stopped for good,
  // before it is destroyed (the wheel lives longer, in its lane).
  void Stop();

  std::size_t size() const { return size_; }
  std::chrono::milliseconds tick() const { return tick_; }

 private:
  static constexpr std::size_t kSlots = 512;

  // Ticks since the epoch at `t`, rounded up (for deadlines) or down (for now).
  std::uint64_t TickAtOrAfter(Clock::time_point t) const;
  std::uint64_t TickAtOrBefore(Clock::time_point t) const;
  void Link(Node* node, Node*& head);
  void Unlink(Node* node);
  void Arm();
  void OnTick();

  struct Timer;
  std::unique_ptr<Timer> timer_;
  const std::chrono::milliseconds tick_;
  const Clock::time_point epoch_;
  std::vector<Node*> slots_;
  static constexpr std::uint64_t kFiring = ~std::uint64_t{0};  // due_tick_ of a node in firing_.
  Node* firing_ = nullptr;       // OnTick's due nodes, not fired yet.
  std::uint64_t next_tick_ = 1;  // The first tick not processed yet.
  std::size_t size_ = 0;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace chat::detail
