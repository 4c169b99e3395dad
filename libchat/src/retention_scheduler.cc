#include <chrono>
#include <thread>

#include "libchat/retention.h"
#include "mutex.h"

namespace chat {
namespace {

class RetentionSchedulerImpl final : public RetentionScheduler {
 public:
  RetentionSchedulerImpl(ChatService& service, RetentionSchedule schedule)
      : service_(service), schedule_(std::move(schedule)), thread_([this] { Loop(); }) {}

  ~RetentionSchedulerImpl() override {
    {
      detail::MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }

  void RunSoon() override {
    {
      detail::MutexLock lock(&mu_);
      soon_ = true;
    }
    cv_.SignalAll();
  }

  RetentionTotals Totals() const override {
    detail::MutexLock lock(&mu_);
    return totals_;
  }

 private:
  void Loop() {
    for (;;) {
      {
        detail::MutexLock lock(&mu_);
        const auto deadline = std::chrono::steady_clock::now() + schedule_.interval;
        while (!stop_ && !soon_ && cv_.WaitUntil(&mu_, deadline)) {
        }
        if (stop_) return;
        soon_ = false;
      }
      Round();
    }
  }

  // Waits for the pause between batches; false if stopping.
  bool Pause() {
    detail::MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + schedule_.pause_between_batches;
    while (!stop_ && cv_.WaitUntil(&mu_, deadline)) {
    }
    return !stop_;
  }

  // Batches until the sweep has nothing more (or we are stopping); the round's totals go to
  // on_round when something was deleted or a batch failed.
  void Round() {
    RetentionReport round;
    Result<RetentionReport> outcome = round;
    for (;;) {
      auto batch = service_.RunRetention(schedule_.batch);
      if (!batch.ok()) {
        outcome = batch.error();
        break;
      }
      round.messages_deleted += batch->messages_deleted;
      round.cursors_deleted += batch->cursors_deleted;
      round.attachments_deleted += batch->attachments_deleted;
      outcome = round;
      if (!batch->more || !Pause()) break;
    }
    {
      detail::MutexLock lock(&mu_);
      ++totals_.rounds;
      totals_.messages_deleted += round.messages_deleted;
      totals_.cursors_deleted += round.cursors_deleted;
      totals_.attachments_deleted += round.attachments_deleted;
      if (!outcome.ok()) ++totals_.errors;
    }
    const bool deleted = round.messages_deleted + round.cursors_deleted + round.attachments_deleted > 0;
    if (schedule_.on_round && (deleted || !outcome.ok())) schedule_.on_round(outcome);
  }

  ChatService& service_;
  const RetentionSchedule schedule_;
  mutable detail::Mutex mu_;
  detail::CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool soon_ GUARDED_BY(mu_) = false;
  RetentionTotals totals_ GUARDED_BY(mu_);
  std::thread thread_;  // Last: started once everything it uses exists.
};

}  // namespace

Result<std::unique_ptr<RetentionScheduler>> RetentionScheduler::Start(ChatService& service,
                                                                      RetentionSchedule schedule) {
  if (schedule.interval.count() <= 0) return Status::InvalidArgument("retention interval must be positive");
  if (schedule.batch == 0) return Status::InvalidArgument("retention batch must be at least 1");
  return std::unique_ptr<RetentionScheduler>(new RetentionSchedulerImpl(service, std::move(schedule)));
}

}  // namespace chat
