// RecentEntries: per chat, the last entry (and the last kChatUpdate) this node published on the bus
// lately, to publish again after a reconnect.
//
// Core NATS delivers at most once: what a node published just before its server died may have died
// with it (it sat in the server's socket buffer or had not been routed to the other servers yet). The
// other nodes repair a gap from the store when a later entry of the chat reaches them (ChatSequencer);
// but the last entries of a chat have no later one, and their recipients on other nodes would wait
// for the chat's next message. Published again after the reconnect, the last entry either is a
// duplicate (dropped by the receivers' sequencers) or shows them the gap, which they repair from the
// store. The last kChatUpdate goes again too: it is how the node of a member just added learns of the
// chat at all (bus.h, the user's subject).
//
// Kept for `keep` after their publication while connected (as long as a lost connection can go
// unnoticed: a few ping intervals), and not let go while disconnected; at most `max_chats` chats
// (the oldest go first).
//
// Thread-safe: one mutex, a leaf.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "libchat/bus.h"
#include "mutex.h"

namespace chat::detail {

class RecentEntries {
 public:
  using Clock = std::chrono::steady_clock;
  using EventPtr = std::shared_ptr<const Event>;

  RecentEntries(std::chrono::milliseconds keep, std::size_t max_chats) : keep_(keep), max_chats_(max_chats) {}

  // This node published `e`; kept if it is an entry of a chat (kMessage, kMessageDeleted, kChatUpdate
  // with its message).
  void Published(const EventPtr& e, Clock::time_point now) EXCLUDES(mu_);
  // The connection dropped: nothing is let go for its age until Reconnected.
  void Disconnected() EXCLUDES(mu_);
  // The connection is back: what to publish again (per chat the kChatUpdate before the entry, in seq
  // order). They stay kept, for the next reconnect.
  std::vector<EventPtr> Reconnected(Clock::time_point now) EXCLUDES(mu_);

  std::size_t chats() const EXCLUDES(mu_);

 private:
  struct Chat {
    EventPtr entry;   // The latest entry published.
    EventPtr update;  // The latest kChatUpdate published, if any.
    Clock::time_point at;
  };
  // Lets go of chats published to longer than keep_ ago (while connected) and of the oldest beyond
  // max_chats_.
  void PruneLocked(Clock::time_point now) REQUIRES(mu_);

  const std::chrono::milliseconds keep_;
  const std::size_t max_chats_;
  mutable Mutex mu_;
  std::unordered_map<ChatId, Chat> chats_ GUARDED_BY(mu_);
  // One listing per kept chat, roughly oldest first: the time it was listed at (a chat published to
  // again meanwhile is listed anew when its old listing comes up).
  std::deque<std::pair<Clock::time_point, ChatId>> order_ GUARDED_BY(mu_);
  bool connected_ GUARDED_BY(mu_) = true;
};

}  // namespace chat::detail
