// ReceiptCoalescer: turns the stream of receipt-cursor moves into at most one `receipt` event per chat
// per window (ServerOptions::receipt_interval), so that a group of 100 reading a message does not
// send 100 x 100 frames. Within a window it keeps, per chat, the highest delivered/read cursor of every
// user that moved and the union of recipients; the flush emits them as one event. Cursors only grow,
// so keeping the maximum loses nothing.
//
// Thread-safe. Memory is bounded by the chats with receipts in the current window.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "libchat/bus.h"
#include "libchat/types.h"
#include "mutex.h"

namespace chat::detail {

struct CoalescedReceipts {
  ChatId chat = 0;
  std::vector<UserId> recipients;        // Sorted, unique.
  std::vector<ReceiptCursor> cursors;    // One per user that moved, ascending user id.
};

class ReceiptCoalescer {
 public:
  // `schedule` must arrange for Flush() to be called once, one window from now (the server uses a
  // timer); `emit` receives each chat's coalesced receipts on the flushing thread.
  ReceiptCoalescer(std::function<void()> schedule, std::function<void(const CoalescedReceipts&)> emit)
      : schedule_(std::move(schedule)), emit_(std::move(emit)) {}

  // Records a kReceipt event. The first receipt of a window schedules the flush.
  void Add(const Event& event);
  // Emits everything pending and opens a new window.
  void Flush();

 private:
  struct Pending {
    std::set<UserId> recipients;
    std::map<UserId, ReceiptCursor> cursors;
  };
  std::function<void()> schedule_;
  std::function<void(const CoalescedReceipts&)> emit_;
  Mutex mu_;
  std::map<ChatId, Pending> pending_ GUARDED_BY(mu_);
  bool scheduled_ GUARDED_BY(mu_) = false;
};

}  // namespace chat::detail
