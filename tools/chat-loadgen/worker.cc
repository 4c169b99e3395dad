#include "worker.h"

#include <boost/asio/post.hpp>

#include "run_shared.h"

namespace chat::loadgen {

namespace net = boost::asio;

Worker::Worker(RunShared& shared, unsigned id)
    : shared_(shared),
      id_(id),
      threads_(shared.options.threads),
      work_(net::make_work_guard(ioc_)),
      deferred_timer_(ioc_),
      send_timer_(ioc_) {}

Worker::~Worker() {
  Stop();
  clients_.clear();
}

void Worker::CreateClients() {
  for (std::uint32_t c = id_; c < shared_.options.clients; c += threads_) {
    clients_.push_back(std::make_unique<SimClient>(*this, c));
  }
}

void Worker::Start() {
  thread_ = std::thread([this] { ioc_.run(); });
}

void Worker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    // Close the connections on the worker's own thread, then let the loop end.
    std::promise<void> closed;
    net::post(ioc_, [this, &closed] {
      for (auto& c : clients_) c->Close();
      deferred_timer_.cancel();
      send_timer_.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
    ioc_.stop();
    thread_.join();
  }
}

// ---- Setup ----

void Worker::StartSetup(std::function<bool(std::uint32_t)> include, std::uint32_t window) {
  net::post(ioc_, [this, include = std::move(include), window] {
    setup_window_ = std::max<std::uint32_t>(1, window);
    for (auto& c : clients_) {
      if (include(c->index())) setup_queue_.push_back(c.get());
    }
    PumpSetup();
  });
}

void Worker::PumpSetup() {
  // A bounded number of devices sign in at once: chatd's worker queue is bounded too, and a storm
  // of Argon2id logins would only be answered with resource_exhausted.
  while (setup_active_ < setup_window_ && !setup_queue_.empty()) {
    SimClient* c = setup_queue_.front();
    setup_queue_.pop_front();
    ++setup_active_;
    c->StartSetup();
  }
}

void Worker::SetupFinished(SimClient&, bool) {
  if (setup_active_ > 0) --setup_active_;
  PumpSetup();
}

void Worker::CreateGroup(std::uint32_t owner, std::uint32_t group) {
  net::post(ioc_, [this, owner, group] { Local(owner)->CreateGroup(group); });
}

void Worker::FetchHead(std::uint32_t owner, std::uint32_t group) {
  net::post(ioc_, [this, owner, group] { Local(owner)->FetchHead(group); });
}

// ---- Deferred work ----

void Worker::After(std::int64_t delay_ns, std::function<void()> f) {
  deferred_.push(Deferred{Now() + delay_ns, deferred_order_++, std::move(f)});
  ArmDeferred();
}

void Worker::ArmDeferred() {
  if (deferred_.empty() || stopped_) return;
  const std::int64_t due = deferred_.top().due_ns;
  // Already waiting for something due no later.
  if (deferred_armed_ns_ != 0 && deferred_armed_ns_ <= due) return;
  deferred_armed_ns_ = due;
  deferred_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
  deferred_timer_.async_wait([this](boost::system::error_code ec) {
    // Cancelled by a re-arm for an earlier time: that wait handles it.
    if (ec) return;
    OnDeferredTimer();
  });
}

void Worker::OnDeferredTimer() {
  deferred_armed_ns_ = 0;
  const std::int64_t now = Now();
  while (!deferred_.empty() && deferred_.top().due_ns <= now) {
    // Move out before popping: the task may defer more work.
    std::function<void()> f = std::move(const_cast<Deferred&>(deferred_.top()).f);
    deferred_.pop();
    f();
  }
  ArmDeferred();
}

// ---- Sends ----

void Worker::StartLoad(std::shared_ptr<const SendPlan> plan) {
  net::post(ioc_, [this, plan = std::move(plan)] {
    for (auto& c : clients_) c->PrepareRun();
    plan_ = plan;
    own_positions_.clear();
    for (std::size_t p = 0; p < plan_->senders.size(); ++p) {
      if (shared_.WorkerOf(plan_->senders[p]) == id_) own_positions_.push_back(static_cast<std::uint32_t>(p));
    }
    round_ = 0;
    pos_ = 0;
    next_k_ = 0;
    if (own_positions_.empty() || plan_->total == 0) return;
    OnSendTimer();
  });
}

std::uint64_t Worker::NextOwnMessage() {
  if (plan_->random) {
    // Every worker draws the same sender for message k; it sends those whose sender lives here.
    while (next_k_ < plan_->total && shared_.WorkerOf(plan_->SenderOf(next_k_)) != id_) ++next_k_;
    return next_k_;
  }
  return round_ * plan_->senders.size() + own_positions_[pos_];
}

void Worker::AdvanceOwnMessage() {
  if (plan_->random) {
    ++next_k_;
    return;
  }
  if (++pos_ == own_positions_.size()) {
    pos_ = 0;
    ++round_;
  }
}

void Worker::OnSendTimer() {
  if (stopped_) return;
  const std::int64_t now = Now();
  // Open loop: every message whose time has come goes now, however late the loop is, and keeps its
  // scheduled time for the latency. Nothing here waits for an answer.
  for (;;) {
    const std::uint64_t k = NextOwnMessage();
    if (k >= plan_->total) return;  // Schedule complete.
    const std::int64_t due = plan_->DueNs(k);
    if (due > now) {
      send_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(due)));
      send_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) OnSendTimer();
      });
      return;
    }
    Local(plan_->SenderOf(k))->Schedule(due);
    scheduled_count_.Add();
    AdvanceOwnMessage();
  }
}

// ---- Modes and results ----

void Worker::Storm() {
  net::post(ioc_, [this] {
    for (auto& c : clients_) c->Drop();
  });
}

void Worker::BringOnline(std::function<bool(std::uint32_t)> include) {
  net::post(ioc_, [this, include = std::move(include)] {
    for (auto& c : clients_) {
      if (include(c->index())) c->ComeOnline();
    }
  });
}

void Worker::TakeOffline(std::function<bool(std::uint32_t)> include) {
  net::post(ioc_, [this, include = std::move(include)] {
    for (auto& c : clients_) {
      if (include(c->index())) c->GoOffline();
    }
  });
}

void Worker::CloseAll() {
  net::post(ioc_, [this] {
    send_timer_.cancel();
    for (auto& c : clients_) c->Close();
  });
}

std::future<std::size_t> Worker::CountUnresolved() {
  auto p = std::make_shared<std::promise<std::size_t>>();
  auto f = p->get_future();
  net::post(ioc_, [this, p] {
    std::size_t n = 0;
    for (auto& c : clients_) n += c->unresolved_sends();
    p->set_value(n);
  });
  return f;
}

std::future<std::vector<AckedMessage>> Worker::Acked() {
  auto p = std::make_shared<std::promise<std::vector<AckedMessage>>>();
  auto f = p->get_future();
  net::post(ioc_, [this, p] { p->set_value(acked_); });
  return f;
}

std::future<SimClient::Verdict> Worker::Verify(std::shared_ptr<const std::vector<std::vector<AckedMessage>>> acked) {
  auto p = std::make_shared<std::promise<SimClient::Verdict>>();
  auto f = p->get_future();
  net::post(ioc_, [this, p, acked] {
    SimClient::Verdict total;
    for (auto& c : clients_) total.Add(c->Verify(*acked));
    p->set_value(total);
  });
  return f;
}

}  // namespace chat::loadgen
