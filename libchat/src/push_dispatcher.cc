// PushDispatcher: bus events in, notifications out, never on the message path.
//
// Threading: the bus handler only appends to a bounded queue. Everything that touches the store or a
// sender runs in Step(), one unit of work at a time, on a worker thread or in RunDue(); the state
// Step() shares (queue, completions, table, counters) lives in Core under one mutex, which is never
// held across a store call or a Send. Senders answer on their own threads; their answers are queued
// as completions for the next Step(), so that a sender's thread never blocks on the store.
#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <variant>

#include "libchat/push_dispatcher.h"
#include "push_recovery.h"
#include "mutex.h"
#include "push_table.h"

namespace chat {
namespace {

using detail::PushEntry;
using detail::PushTable;

struct MessageJob {
  std::shared_ptr<const Event> event;
  TimeMs at = 0;  // When it was queued: windows start then, however long the queue took.
};
struct CallJob {
  CallPush call;
  TimeMs at = 0;
};
using Job = std::variant<MessageJob, CallJob>;

struct Completion {
  PushEntry entry;
  std::string token;  // The token the notification went to (for an invalid-token answer).
  Status status;
};

// Cuts text to at most max bytes without splitting a UTF-8 character.
std::string TruncateUtf8(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

Status CheckOptions(const PushOptions& o) {
  auto bad = [](const char* what) { return Status::InvalidArgument(std::string("push options: ") + what); };
  if (o.coalesce_window_ms < 0) return bad("coalesce_window_ms < 0");
  if (o.queue_capacity == 0) return bad("queue_capacity is 0");
  if (o.max_pending == 0) return bad("max_pending is 0");
  if (o.max_in_flight == 0) return bad("max_in_flight is 0");
  if (o.worker_threads < 0) return bad("worker_threads < 0");
  if (o.max_attempts < 1) return bad("max_attempts < 1");
  if (o.initial_backoff_ms < 1 || o.max_backoff_ms < o.initial_backoff_ms) {
    return bad("need 1 <= initial_backoff_ms <= max_backoff_ms");
  }
  if (o.recover_window_ms < 0) return bad("recover_window_ms < 0");
  if (o.recover_max_messages == 0) return bad("recover_max_messages is 0");
  if (o.clock == nullptr) return bad("clock is null");
  return Status::Ok();
}

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(PushOptions options, std::shared_ptr<Store> store, PushSenders senders, LiveCheck is_live)
      : options_(options),
        clock_(options.clock),
        store_(std::move(store)),
        senders_(std::move(senders)),
        is_live_(std::move(is_live)),
        table_(options.max_pending),
        rng_(options.jitter_seed ? options.jitter_seed : std::random_device{}()),
        recovery_needed_(options.recover_on_start) {}

  // ---- Entry points from other threads (the bus, the server, senders) ----

  void OnEvent(const std::shared_ptr<const Event>& e) {
    // Filter here, cheaply, so that receipts and typing never take queue space.
    if (e->type != EventType::kMessage || !e->message || !detail::IsNotifiable(*e->message)) return;
    detail::MutexLock lock(&mu_);
    if (queue_.size() >= options_.queue_capacity) {
      // Safe to lose: the message is in the inbox and the device syncs it on its next connect; only
      // the alert is lost. Counted so that an operator sees a queue too small for the load.
      ++stats_.dropped;
      return;
    }
    ++stats_.events;
    queue_.push_back(MessageJob{e, clock_->NowMs()});
    work_cv_.Signal();
  }

  Status NotifyCall(const CallPush& call) {
    if (call.callee == 0 || call.call_id.empty()) {
      return Status::InvalidArgument("push call: callee and call_id are required");
    }
    if (call.ring_timeout_ms <= 0) return Status::InvalidArgument("push call: ring_timeout_ms must be > 0");
    detail::MutexLock lock(&mu_);
    if (queue_.size() >= options_.queue_capacity) {
      ++stats_.dropped;
      return Status::ResourceExhausted("push queue full (" + std::to_string(options_.queue_capacity) + ")");
    }
    queue_.push_back(CallJob{call, clock_->NowMs()});
    work_cv_.Signal();
    return Status::Ok();
  }

  void CancelCall(const std::string& call_id) {
    detail::MutexLock lock(&mu_);
    table_.CancelCall(call_id);
    // A push of this call may be with a sender now: remember the call until it would have stopped
    // ringing anyway, so that a failure of that push is not retried. Expired entries go first.
    TimeMs now = clock_->NowMs();
    std::erase_if(canceled_calls_, [now](const auto& kv) { return kv.second < now; });
    canceled_calls_[call_id] = now + kMaxRememberCanceledMs;
  }

  // A sender's answer, on the sender's thread: queued for a Step(), which may block on the store.
  void OnSent(PushEntry entry, std::string token, const Status& status) {
    detail::MutexLock lock(&mu_);
    if (stop_) return;  // Shutting down: the next start's recovery redoes what is unfinished.
    completions_.push_back(Completion{std::move(entry), std::move(token), status});
    work_cv_.Signal();
  }

  PushStats Stats() const {
    detail::MutexLock lock(&mu_);
    PushStats s = stats_;
    s.queue_depth = queue_.size();
    s.pending = table_.size();
    s.in_flight = in_flight_;
    s.recovering = recovering_ || recovery_needed_;
    return s;
  }

  // ---- Work: one Step at a time, on workers or in RunDue ----

  void WorkerLoop() {
    detail::MutexLock lock(&mu_);
    while (!stop_) {
      if (Step()) continue;
      idle_cv_.SignalAll();
      // Sleep until the next notification is due, or until something arrives. Capped, because the
      // clock may be moved (a wall-clock step, a ManualClock) without anyone telling us.
      TimeMs wait = kMaxIdleWaitMs;
      if (auto next = table_.NextDue(in_flight_ < options_.max_in_flight)) {
        wait = std::clamp<TimeMs>(*next - clock_->NowMs(), 1, kMaxIdleWaitMs);
      }
      work_cv_.WaitFor(&mu_, wait);
    }
  }

  void RunDue() {
    detail::MutexLock lock(&mu_);
    for (;;) {
      while (Step()) {
      }
      // Workers may be mid-step (a fan-out not merged yet, a send being prepared): wait for them,
      // then look again, since what they finished may have made more work due.
      while (!((busy_ == 0 && !recovering_ && !recovery_needed_) || stop_)) idle_cv_.Wait(&mu_);
      if (stop_ || !HasWork()) return;
    }
  }

  // Runs start-up recovery to the end (on its own thread, or in the first Step()).
  void RecoverNow() {
    {
      detail::MutexLock lock(&mu_);
      if (!recovery_needed_) return;
      recovery_needed_ = false;
      recovering_ = true;
    }
    TimeMs now = clock_->NowMs();
    auto report = detail::RecoverBacklogs(*store_, options_, now, stopping_, [&](detail::Backlog b) {
      detail::MutexLock lock(&mu_);
      bool created = false;
      for (const Message& m : b.messages) {
        auto r = table_.AddMessage(b.user, b.device, b.chat, m.seq, m.sender, now + options_.coalesce_window_ms);
        if (r == PushTable::AddResult::kFull) {
          ++stats_.dropped_pending;
          break;
        }
        if (r == PushTable::AddResult::kCreated) created = true;
      }
      if (created) {
        ++stats_.recovered;
        ++stats_.scheduled;
      }
      work_cv_.Signal();
    });
    detail::MutexLock lock(&mu_);
    stats_.store_errors += report.store_errors;
    recovering_ = false;
    idle_cv_.SignalAll();
  }

  // Called by ~PushDispatcherImpl once no thread runs Step() any more: senders are destroyed on the
  // caller's thread, never on a sender's own thread by a completion holding the last reference.
  PushSenders TakeSenders() {
    detail::MutexLock lock(&mu_);
    return std::move(senders_);
  }

  void Stop() {
    stopping_ = true;
    detail::MutexLock lock(&mu_);
    stop_ = true;
    work_cv_.SignalAll();
    idle_cv_.SignalAll();
  }

 private:
  static constexpr TimeMs kMaxIdleWaitMs = 1000;
  static constexpr TimeMs kMaxRememberCanceledMs = 10 * 60 * 1000;
  // Queued events handled in a row before a due notification gets its turn.
  static constexpr int kMaxQueueStreak = 256;

  bool HasWork() const REQUIRES(mu_) {
    if (recovery_needed_ || !completions_.empty() || !queue_.empty()) return true;
    auto next = table_.NextDue(in_flight_ < options_.max_in_flight);
    return next && *next <= clock_->NowMs();
  }

  // Does one unit of work, releasing the lock while it reads the store or calls a sender. False if
  // there was nothing to do.
  bool Step() REQUIRES(mu_) {
    if (recovery_needed_ && options_.worker_threads == 0) {
      // With workers, recovery has a thread of its own; without, the owner's RunDue() runs it.
      mu_.Unlock();
      RecoverNow();
      mu_.Lock();
      return true;
    }
    if (!completions_.empty()) {
      Completion c = std::move(completions_.front());
      completions_.pop_front();
      Busy([&] { Complete(std::move(c)); });
      return true;
    }
    // The queue goes first, so that a notification counts every message queued before it was due;
    // but not forever: under a sustained backlog, due notifications still go out.
    const bool due_waiting = queue_streak_ >= kMaxQueueStreak;
    if (!queue_.empty() && !due_waiting) {
      ++queue_streak_;
      Job job = std::move(queue_.front());
      queue_.pop_front();
      const TimeMs at = std::visit([](const auto& j) { return j.at; }, job);
      auto fanning = fanouts_.insert(at);
      Busy([&] {
        if (auto* m = std::get_if<MessageJob>(&job)) {
          FanOutMessage(*m);
        } else {
          FanOutCall(std::get<CallJob>(job));
        }
      });
      fanouts_.erase(fanning);
      work_cv_.SignalAll();  // A notification held back for this fan-out may go now.
      return true;
    }
    // Calls go out even when the in-flight limit is reached: they are few and cannot wait.
    queue_streak_ = 0;
    const TimeMs now = clock_->NowMs();
    auto entry = table_.TakeDue(now, /*messages=*/false);
    if (!entry && in_flight_ < options_.max_in_flight) entry = table_.TakeDue(MessageHorizon(now));
    if (!entry) return !queue_.empty();  // Nothing due after a long streak: back to the queue.
    ++in_flight_;
    Busy([&] { Dispatch(std::move(*entry)); });
    return true;
  }

  // Message notifications due by the returned time may go out. Another thread may be fanning out a
  // message that was queued before a notification became due (RunDue() beside the workers, or a
  // second worker): that notification waits for it, so that it counts every message queued before
  // it was due, rather than going out one short and leaving the straggler a notification of its own.
  TimeMs MessageHorizon(TimeMs now) const REQUIRES(mu_) {
    return fanouts_.empty() ? now : std::min(now, *fanouts_.begin() - 1);
  }

  // Runs `work` as a step in progress (RunDue waits for none), with the lock released for it.
  template <typename F>
  void Busy(F work) REQUIRES(mu_) {
    ++busy_;
    mu_.Unlock();
    work();
    mu_.Lock();
    if (--busy_ == 0) idle_cv_.SignalAll();
  }

  bool Canceled(const std::string& call_id) const {
    detail::MutexLock lock(&mu_);
    return canceled_calls_.count(call_id) > 0;
  }

  bool IsLive(UserId user, DeviceId device) const { return is_live_ && is_live_(user, device); }

  // Which devices a new message concerns: the recipients' devices with a push token and no live
  // session, other than the one it came from. Whether they acknowledged it is checked when the
  // notification is due, which is what counts (and saves a read per device here).
  void FanOutMessage(const MessageJob& job) {
    const Message& m = *job.event->message;
    for (UserId user : job.event->recipients) {
      if (!options_.notify_sender_devices && m.sender != 0 && user == m.sender) continue;
      auto devices = store_->ListDevices(user);
      if (!devices.ok()) {
        // Skipping is safe: the message waits in the inbox; only this alert is lost.
        Count(&PushStats::store_errors);
        continue;
      }
      for (const Device& d : *devices) {
        if (d.push_token.empty() || d.id == m.sender_device || IsLive(user, d.id)) continue;
        detail::MutexLock lock(&mu_);
        switch (table_.AddMessage(user, d.id, m.chat, m.seq, m.sender,
                                  job.at + options_.coalesce_window_ms)) {
          case PushTable::AddResult::kCreated: ++stats_.scheduled; break;
          case PushTable::AddResult::kMerged: ++stats_.coalesced; break;
          case PushTable::AddResult::kFull: ++stats_.dropped_pending; break;
        }
        work_cv_.Signal();
      }
    }
  }

  void FanOutCall(const CallJob& job) {
    const CallPush& c = job.call;
    auto devices = store_->ListDevices(c.callee);
    if (!devices.ok()) {
      Count(&PushStats::store_errors);
      return;
    }
    for (const Device& d : *devices) {
      if (d.push_token.empty() || d.id == c.exclude_device || IsLive(c.callee, d.id)) continue;
      PushEntry e;
      e.user = c.callee;
      e.sender = c.caller;
      e.call_id = c.call_id;
      e.expires_at = job.at + c.ring_timeout_ms;
      e.due = job.at;
      detail::MutexLock lock(&mu_);
      if (canceled_calls_.count(c.call_id)) return;  // Answered before we got to it.
      e.key = {d.id, c.chat, next_call_key_++};
      if (table_.AddCall(std::move(e))) {
        ++stats_.calls;
        ++stats_.scheduled;
      } else {
        ++stats_.dropped_pending;
      }
      work_cv_.Signal();
    }
  }

  // Ends a due notification that is not sent, counting why.
  void Finish(std::uint64_t PushStats::*counter) {
    detail::MutexLock lock(&mu_);
    --in_flight_;
    ++(stats_.*counter);
    work_cv_.Signal();
  }

  void Count(std::uint64_t PushStats::*counter) {
    detail::MutexLock lock(&mu_);
    ++(stats_.*counter);
  }

  // A store read failed while preparing a send: retry like a retryable send failure.
  void RetryOrFail(PushEntry entry, const Status& s) {
    detail::MutexLock lock(&mu_);
    --in_flight_;
    ++stats_.store_errors;
    ++entry.attempts;
    ScheduleRetryLocked(std::move(entry), s);
    work_cv_.Signal();
  }

  // Re-checks a due notification against the store (the device may have connected, acknowledged,
  // changed its token or gone) and hands it to the sender of the device's provider.
  void Dispatch(PushEntry entry) {
    const TimeMs now = clock_->NowMs();
    if (entry.is_call() && now >= entry.expires_at) return Finish(&PushStats::failed);
    if (entry.is_call() && Canceled(entry.call_id)) {
      detail::MutexLock lock(&mu_);
      --in_flight_;
      return;
    }
    if (IsLive(entry.user, entry.key.device)) return Finish(&PushStats::skipped_live);

    PushNotification n;
    n.user = entry.user;
    n.device = entry.key.device;
    n.chat = entry.key.chat;
    n.sender = entry.sender;
    if (entry.is_call()) {
      n.call = true;
      n.call_id = entry.call_id;
      n.expires_at = entry.expires_at;
      n.count = 1;
    } else {
      auto acked = store_->DeviceCursor(entry.key.device, entry.key.chat);
      if (!acked.ok()) return RetryOrFail(std::move(entry), acked.error());
      std::uint64_t count = entry.CountAfter(*acked);
      if (count == 0) return Finish(&PushStats::skipped_acked);
      n.count = static_cast<int>(std::min<std::uint64_t>(count, std::numeric_limits<int>::max()));
      n.last_seq = entry.last_seq();
    }

    auto device = store_->GetDevice(entry.key.device);
    if (!device.ok()) {
      if (device.error().IsNotFound()) return Finish(&PushStats::skipped_gone);
      return RetryOrFail(std::move(entry), device.error());
    }
    if (device->push_token.empty() || device->user != entry.user) return Finish(&PushStats::skipped_gone);
    n.provider = device->push_provider;
    n.token = device->push_token;

    auto chat = store_->GetChat(entry.key.chat);
    if (!chat.ok()) {
      if (chat.error().IsNotFound()) return Finish(&PushStats::skipped_gone);
      return RetryOrFail(std::move(entry), chat.error());
    }
    n.chat_name = chat->name;

    if (options_.previews && !n.call) {
      // Read now, not when the message arrived: a message deleted meanwhile shows no text.
      auto last = store_->GetMessage(n.chat, n.last_seq);
      if (last.ok() && !last->deleted) n.preview = TruncateUtf8(last->body, options_.max_preview_bytes);
    }

    auto it = senders_.find(n.provider);
    if (it == senders_.end()) it = senders_.find("*");
    if (it == senders_.end()) return Finish(&PushStats::no_sender);

    ++entry.attempts;
    std::weak_ptr<Core> weak = weak_from_this();
    std::string token = n.token;
    // The callback may run before Send returns (log://) or on the sender's thread later.
    it->second->Send(n, [weak, entry = std::move(entry), token = std::move(token)](const Status& s) mutable {
      if (auto core = weak.lock()) core->OnSent(std::move(entry), std::move(token), s);
    });
  }

  void Complete(Completion c) {
    if (c.status.ok()) return Finish(&PushStats::sent);
    if (c.status.IsNotFound()) {
      bool removed = RemoveToken(c.entry.key.device, c.token);
      detail::MutexLock lock(&mu_);
      --in_flight_;
      ++stats_.failed;
      if (removed) ++stats_.tokens_removed;
      work_cv_.Signal();
      return;
    }
    detail::MutexLock lock(&mu_);
    --in_flight_;
    ScheduleRetryLocked(std::move(c.entry), c.status);
    work_cv_.Signal();
  }

  // Retries a notification after a retryable failure with backoff, or gives it up.
  void ScheduleRetryLocked(PushEntry entry, const Status& s) REQUIRES(mu_) {
    if (!s.IsRetryable() || entry.attempts >= options_.max_attempts) {
      ++stats_.failed;
      return;
    }
    TimeMs delay = detail::BackoffMs(entry.attempts, options_.initial_backoff_ms, options_.max_backoff_ms, rng_);
    TimeMs due = clock_->NowMs() + delay;
    if (entry.is_call() && (due >= entry.expires_at || canceled_calls_.count(entry.call_id))) {
      // A call push that could only arrive after the ringing stopped is worthless.
      ++stats_.failed;
      return;
    }
    ++stats_.retried;
    table_.Reschedule(std::move(entry), due);
  }

  // Clears the device's token if it still is the one the provider refused (the app may have
  // registered a new one meanwhile). True if cleared.
  bool RemoveToken(DeviceId id, const std::string& token) {
    // On the current record, under the store's lock: the check and the clear are one step.
    bool cleared = false;
    Status s = store_->UpdateDevice(id, [&](Device* d) {
      if (d->push_token != token) return Status::Ok();
      d->push_token.clear();
      d->push_provider.clear();
      cleared = true;
      return Status::Ok();
    });
    if (!s.ok()) {
      // The token stays; the next push to it fails the same way and tries again.
      if (!s.IsNotFound()) Count(&PushStats::store_errors);
      return false;
    }
    return cleared;
  }

  const PushOptions options_;
  Clock* const clock_;
  const std::shared_ptr<Store> store_;
  PushSenders senders_;  // Read without the lock: fixed from Create until TakeSenders.
  const LiveCheck is_live_;
  std::atomic<bool> stopping_{false};  // Read by recovery between users.

  mutable detail::Mutex mu_;
  detail::CondVar work_cv_;  // Work arrived, or a notification may be due.
  detail::CondVar idle_cv_;  // busy_ dropped to 0, or recovery finished.
  std::deque<Job> queue_ GUARDED_BY(mu_);
  std::deque<Completion> completions_ GUARDED_BY(mu_);
  PushTable table_ GUARDED_BY(mu_);
  std::map<std::string, TimeMs> canceled_calls_ GUARDED_BY(mu_);  // call id -> forget after.
  std::mt19937_64 rng_ GUARDED_BY(mu_);
  std::uint64_t next_call_key_ GUARDED_BY(mu_) = 1;
  // When each job being fanned out by some thread now was queued.
  std::multiset<TimeMs> fanouts_ GUARDED_BY(mu_);
  int queue_streak_ GUARDED_BY(mu_) = 0;
  std::size_t busy_ GUARDED_BY(mu_) = 0;
  std::size_t in_flight_ GUARDED_BY(mu_) = 0;
  bool recovery_needed_ GUARDED_BY(mu_);
  bool recovering_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  PushStats stats_ GUARDED_BY(mu_);
};

class PushDispatcherImpl final : public PushDispatcher {
 public:
  PushDispatcherImpl(std::shared_ptr<Core> core, std::shared_ptr<Bus> bus, int threads, bool recover)
      : core_(std::move(core)), bus_(std::move(bus)) {
    // Recovery gets a thread of its own: on a large store it takes a while, and live events must
    // not wait behind it (nor be dropped from a full queue).
    if (recover && threads > 0) recovery_ = std::thread([core = core_] { core->RecoverNow(); });
    for (int i = 0; i < threads; ++i) workers_.emplace_back([core = core_] { core->WorkerLoop(); });
    // Subscribe last: the bus may call the handler at once. The Subscription guarantees no call is
    // in progress once it is reset, so the handler may use the raw pointer.
    subscription_ = bus_->SubscribeLocal([core = core_.get()](const std::shared_ptr<const Event>& e) { core->OnEvent(e); });
  }

  ~PushDispatcherImpl() override {
    subscription_.Reset();
    core_->Stop();
    if (recovery_.joinable()) recovery_.join();
    for (auto& t : workers_) t.join();
    // Destroys the senders here (their destructors answer what is in flight; Core ignores it now).
    core_->TakeSenders().clear();
  }

  Status NotifyCall(const CallPush& call) override { return core_->NotifyCall(call); }
  void CancelCall(const std::string& call_id) override { core_->CancelCall(call_id); }
  void RunDue() override { core_->RunDue(); }
  PushStats Stats() const override { return core_->Stats(); }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Bus> bus_;
  std::thread recovery_;
  std::vector<std::thread> workers_;
  Subscription subscription_;
};

}  // namespace

Result<std::unique_ptr<PushDispatcher>> PushDispatcher::Create(PushOptions options, std::shared_ptr<Store> store,
                                                              std::shared_ptr<Bus> bus, PushSenders senders,
                                                              LiveCheck is_live) {
  LIBCHAT_RETURN_IF_ERROR(CheckOptions(options));
  if (!store || !bus) return Status::InvalidArgument("push dispatcher: store and bus are required");
  if (senders.empty()) return Status::InvalidArgument("push dispatcher: no push senders configured");
  for (const auto& [provider, sender] : senders) {
    if (!sender) return Status::InvalidArgument("push dispatcher: null sender for provider '" + provider + "'");
  }
  auto core = std::make_shared<Core>(options, std::move(store), std::move(senders), std::move(is_live));
  return std::unique_ptr<PushDispatcher>(std::make_unique<PushDispatcherImpl>(
      std::move(core), std::move(bus), options.worker_threads, options.recover_on_start));
}

}  // namespace chat
