#include "shared_spam.h"

#include <algorithm>
#include <sstream>

#include "crypto.h"

namespace chat::detail {

SharedSpam::SharedSpam(std::shared_ptr<SharedKv> kv, SpamGuard& guard, Clock* clock,
                       std::function<void(const SpamFlag&)> store_flag, std::int64_t period_ms)
    : kv_(std::move(kv)),
      guard_(guard),
      clock_(clock),
      store_flag_(std::move(store_flag)),
      period_ms_(period_ms),
      self_(RandomHex(8)) {
  guard_.TrackAdded();
  watch_ = kv_->Watch([this](const SharedKv::Change& c) { OnChange(c); });
  thread_ = std::thread([this] { Run(); });
}

SharedSpam::~SharedSpam() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
  watch_.Reset();
}

Status SharedSpam::PublishClear(UserId user, TimeMs at) {
  {
    MutexLock lock(&mu_);
    ForgetFlagsOf(user);
  }
  auto put = kv_->Put("c." + std::to_string(user), self_ + " " + std::to_string(at));
  if (!put.ok()) return put.error().WithContext("cleared on this node only; the other nodes were not told");
  return Status::Ok();
}

void SharedSpam::Run() {
  for (;;) {
    std::vector<SpamFlag> flags;
    {
      MutexLock lock(&mu_);
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(period_ms_);
      while (!stop_ && std::chrono::steady_clock::now() < until) wake_.WaitUntil(&mu_, until);
      if (stop_) return;
      flags.swap(to_store_);
    }
    // No watch (the engine did not answer when the constructor asked): asked again each period, or
    // this node would never hear of the others' scores and flags.
    if (!watch_.active()) watch_ = kv_->Watch([this](const SharedKv::Change& c) { OnChange(c); });
    for (const SpamFlag& f : flags) store_flag_(f);
    auto added = guard_.TakeAdded();
    if (added.empty()) continue;
    // "<ms>\n" then "USER POINTS AT\n" per user: the points as of AT, the user's last add here.
    std::string batch = std::to_string(clock_->NowMs()) + "\n";
    for (const SpamGuard::Added& a : added) {
      batch += std::to_string(a.user) + " " + std::to_string(a.points) + " " + std::to_string(a.at) + "\n";
    }
    // Lost if the engine is away: the other nodes never count these points (the header's contract).
    kv_->Put("p." + self_, batch).status().IgnoreError();
  }
}

void SharedSpam::OnChange(const SharedKv::Change& change) {
  if (change.key.empty()) caught_up_ = true;
  // The values written before this node listened: points other nodes counted before this one was up
  // (a node starts from the stored flags only), clears done before it restored the flags.
  if (!caught_up_ || !change.value) return;
  if (change.key.rfind("p.", 0) == 0) {
    if (change.key != "p." + self_) OnPoints(*change.value);
  } else if (change.key.rfind("c.", 0) == 0) {
    UserId user = 0;
    std::istringstream in(change.key.substr(2));
    if (in >> user) OnClear(user, *change.value);
  }
}

void SharedSpam::OnPoints(const std::string& batch) {
  std::istringstream in(batch);
  TimeMs written = 0;
  if (!(in >> written)) return;
  UserId user = 0;
  double points = 0;
  TimeMs at = 0;
  std::vector<SpamFlag> flags;
  while (in >> user >> points >> at) {
    if (auto flag = guard_.ApplyRemote(user, points, at)) flags.push_back(std::move(*flag));
    applied_.fetch_add(1, std::memory_order_relaxed);
  }
  if (flags.empty()) return;
  MutexLock lock(&mu_);
  for (SpamFlag& f : flags) to_store_.push_back(std::move(f));
}

void SharedSpam::OnClear(UserId user, const std::string& value) {
  std::istringstream in(value);
  std::string origin;
  TimeMs at = 0;
  // This node's own clear is done.
  if (!(in >> origin >> at) || origin == self_) return;
  guard_.Clear(user, at);
  applied_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(&mu_);
  ForgetFlagsOf(user);
}

void SharedSpam::ForgetFlagsOf(UserId user) {
  to_store_.erase(std::remove_if(to_store_.begin(), to_store_.end(), [user](const SpamFlag& f) { return f.user == user; }),
                  to_store_.end());
}

}  // namespace chat::detail
