// RetentionScheduler: runs ChatService::RunRetention on a thread of its own, every `interval`, so that
// messages, idle cursors and orphaned attachments are deleted once retention no longer keeps them
// without an operator having to ask (chatd starts one; an embedder may too, or call RunRetention from
// its own scheduler).
//
// Each round deletes in batches of `batch` items and runs batches back to back while the sweep says
// there is more, pausing `pause_between_batches` between them so that a large backlog (the first run
// on an old store) does not monopolise the store's committer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "libchat/service.h"

namespace chat {

struct RetentionSchedule {
  // Time between rounds. Default: 10 minutes.
  std::chrono::milliseconds interval{10 * 60 * 1000};
  // Items deleted per RunRetention call. Default: 10000.
  std::size_t batch = 10000;
  // Pause between the batches of one round. Default: 50 ms.
  std::chrono::milliseconds pause_between_batches{50};
  // Told the totals of each round that deleted something or failed (e.g. to log them). May be empty.
  std::function<void(const Result<RetentionReport>& round)> on_round;
};

struct RetentionTotals {
  std::uint64_t rounds = 0;
  std::uint64_t messages_deleted = 0;
  std::uint64_t cursors_deleted = 0;
  std::uint64_t attachments_deleted = 0;
  std::uint64_t errors = 0;
};

class RetentionScheduler {
 public:
  // Starts the thread; the first round runs one interval from now. `service` must outlive the
  // scheduler. InvalidArgument for a zero interval or batch.
  static Result<std::unique_ptr<RetentionScheduler>> Start(ChatService& service, RetentionSchedule schedule);

  RetentionScheduler(const RetentionScheduler&) = delete;
  RetentionScheduler& operator=(const RetentionScheduler&) = delete;
  // Stops the thread, finishing the batch in progress.
  virtual ~RetentionScheduler() = default;

  // Runs a round now (on the scheduler's thread) instead of at the next interval.
  virtual void RunSoon() = 0;
  virtual RetentionTotals Totals() const = 0;

 protected:
  RetentionScheduler() = default;
};

}  // namespace chat
