#include "receipts.h"

#include <algorithm>

namespace chat::detail {

void ReceiptCoalescer::Add(const Event& event) {
  bool schedule = false;
  {
    MutexLock lock(&mu_);
    Pending& p = pending_[event.chat];
    p.recipients.insert(event.recipients.begin(), event.recipients.end());
    ReceiptCursor& c = p.cursors[event.user];
    c.chat = event.chat;
    c.user = event.user;
    // Events of one user may be published by different workers and arrive out of order; the cursors
    // only grow, so the maximum is the latest.
    c.delivered = std::max(c.delivered, event.delivered);
    c.read = std::max(c.read, event.read);
    if (!scheduled_) scheduled_ = schedule = true;
  }
  // Outside the lock: the scheduler may run Flush() synchronously (tests do).
  if (schedule) schedule_();
}

void ReceiptCoalescer::Flush() {
  std::map<ChatId, Pending> batch;
  {
    MutexLock lock(&mu_);
    batch.swap(pending_);
    scheduled_ = false;
  }
  for (auto& [chat, p] : batch) {
    CoalescedReceipts out;
    out.chat = chat;
    out.recipients.assign(p.recipients.begin(), p.recipients.end());
    out.cursors.reserve(p.cursors.size());
    for (auto& [user, cursor] : p.cursors) out.cursors.push_back(cursor);
    emit_(out);
  }
}

}  // namespace chat::detail
