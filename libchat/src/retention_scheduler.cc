#include <condition_variable>
#include <mutex>
#include <thread>

#include "libchat/retention.h"

namespace chat {
namespace {

class RetentionSchedulerImpl final : public RetentionScheduler {
 public:
  RetentionSchedulerImpl(ChatService& service, RetentionSchedule schedule)
      : service_(service), schedule_(std::move(schedule)), thread_([this] { Loop(); }) {}

  ~RetentionSchedulerImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void RunSoon() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      soon_ = true;
    }
    cv_.notify_all();
  }

  RetentionTotals Totals() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return totals_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait_for(lock, schedule_.interval, [this] { return stop_ || soon_; });
      if (stop_) return;
      soon_ = false;
      lock.unlock();
      Round();
      lock.lock();
    }
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
      if (!batch->more) break;
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, schedule_.pause_between_batches, [this] { return stop_; })) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
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
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  bool soon_ = false;  // GUARDED_BY(mu_)
  RetentionTotals totals_;  // GUARDED_BY(mu_)
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
