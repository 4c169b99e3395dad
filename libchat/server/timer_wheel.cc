#include "timer_wheel.h"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>

namespace chat::detail {

struct TimerWheel::Timer {
  explicit Timer(boost::asio::io_context& ioc) : timer(ioc) {}
  boost::asio::steady_timer timer;
};

TimerWheel::TimerWheel(boost::asio::io_context& ioc, std::chrono::milliseconds tick)
    : timer_(std::make_unique<Timer>(ioc)),
      tick_(std::max(tick, std::chrono::milliseconds(1))),
      epoch_(Clock::now()),
      slots_(kSlots, nullptr) {}

TimerWheel::~TimerWheel() {
  // Nodes still scheduled are only unlinked. The timer must be gone already (Stop) if its
  // io_context is.
  for (Node*& head : slots_) {
    while (head != nullptr) Unlink(head);
  }
  while (firing_ != nullptr) Unlink(firing_);
}

std::uint64_t TimerWheel::TickAtOrAfter(Clock::time_point t) const {
  if (t <= epoch_) return 0;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count();
  const auto tick_us = std::chrono::duration_cast<std::chrono::microseconds>(tick_).count();
  return static_cast<std::uint64_t>((us + tick_us - 1) / tick_us);
}

std::uint64_t TimerWheel::TickAtOrBefore(Clock::time_point t) const {
  if (t <= epoch_) return 0;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count();
  const auto tick_us = std::chrono::duration_cast<std::chrono::microseconds>(tick_).count();
  return static_cast<std::uint64_t>(us / tick_us);
}

void TimerWheel::Schedule(Node* node, Clock::time_point due) {
  if (stopped_) return;
  if (node->wheel_ != nullptr) Unlink(node);
  // A tick already processed would never be looked at again: a deadline that has passed goes to
  // the next one.
  node->due_tick_ = std::max(TickAtOrAfter(due), next_tick_);
  Link(node, slots_[node->due_tick_ % kSlots]);
  Arm();
}

void TimerWheel::Cancel(Node* node) {
  if (node->wheel_ != nullptr) node->wheel_->Unlink(node);
}

void TimerWheel::Link(Node* node, Node*& head) {
  node->wheel_ = this;
  node->prev_ = nullptr;
  node->next_ = head;
  if (head != nullptr) head->prev_ = node;
  head = node;
  ++size_;
}

void TimerWheel::Unlink(Node* node) {
  if (node->prev_ != nullptr) {
    node->prev_->next_ = node->next_;
  } else if (node->due_tick_ == kFiring) {
    firing_ = node->next_;
  } else {
    slots_[node->due_tick_ % kSlots] = node->next_;
  }
  if (node->next_ != nullptr) node->next_->prev_ = node->prev_;
  node->wheel_ = nullptr;
  node->prev_ = node->next_ = nullptr;
  --size_;
}

void TimerWheel::Stop() {
  stopped_ = true;
  for (Node*& head : slots_) {
    while (head != nullptr) Unlink(head);
  }
  while (firing_ != nullptr) Unlink(firing_);
  timer_.reset();
}

void TimerWheel::Arm() {
  if (armed_ || size_ == 0 || stopped_) return;
  armed_ = true;
  // The timer wakes once per tick while anything is scheduled; an empty wheel costs nothing.
  timer_->timer.expires_at(epoch_ + tick_ * static_cast<std::int64_t>(next_tick_));
  timer_->timer.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (ec || stopped_) return;
    OnTick();
  });
}

void TimerWheel::OnTick() {
  const std::uint64_t now_tick = TickAtOrBefore(Clock::now());
  if (now_tick >= next_tick_) {
    // Every tick that has begun since the last run (a busy thread wakes late), at most one round
    // of slots; nodes of a later round in the same slot wait for theirs. The due nodes move to the
    // firing list first, then fire one by one: a handler may cancel (a session that ends) or
    // reschedule any node, its own included, and a node taken off the list does not fire.
    const std::uint64_t last = std::min(now_tick, next_tick_ + kSlots - 1);
    for (std::uint64_t t = next_tick_; t <= last; ++t) {
      for (Node* n = slots_[t % kSlots]; n != nullptr;) {
        Node* next = n->next_;
        if (n->due_tick_ <= now_tick) {
          Unlink(n);
          n->due_tick_ = kFiring;
          Link(n, firing_);
        }
        n = next;
      }
    }
    next_tick_ = now_tick + 1;
    while (firing_ != nullptr) {
      Node* n = firing_;
      Unlink(n);
      n->OnDeadline();
    }
  }
  Arm();
}

}  // namespace chat::detail
