// Recomputes, from the store, the notifications that may have been pending when chatd stopped: the
// dispatcher keeps none on disk. See PushOptions::recover_window_ms and docs/push.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "libchat/push_dispatcher.h"
#include "libchat/store.h"

namespace chat::detail {

// True for the entries a device is notified of: what people write (text and media) and call records
// (a missed call), neither deleted. Membership and deletion entries sync silently.
bool IsNotifiable(const Message& m);

// One device behind in one chat: the notifiable messages of the window it has not acknowledged.
struct Backlog {
  UserId user = 0;
  DeviceId device = 0;
  ChatId chat = 0;
  std::vector<Message> messages;  // Ascending seq; at most options.recover_max_messages.
};

struct RecoveryReport {
  std::uint64_t backlogs = 0;      // Calls made to `found`.
  std::uint64_t store_errors = 0;  // Reads that failed; each skipped one user, device or chat.
};

// Walks every user with a device holding a push token and calls `found` for each (device, chat)
// whose cursor is behind the chat's head by messages newer than now - options.recover_window_ms
// (never earlier than the user joined; own messages only if options.notify_sender_devices).
// Blocks on the store: one page of users, then per device one read of its pending chats and per
// chat behind one participant and one message read. Returns early once `stop` becomes true.
RecoveryReport RecoverBacklogs(Store& store, const PushOptions& options, TimeMs now,
                               const std::atomic<bool>& stop, const std::function<void(Backlog)>& found);

}  // namespace chat::detail
