// Interest: which chats and users this node watches on a bus between nodes (Bus::BetweenNodes), so
// that the bus brings it the events of exactly those (docs/scaling.md, "Subjects").
//
// A node watches a user while the user has a live session on it, and every chat of such a user. A
// session's registration lists the user's chats in the store and watches them before the session
// reads its next command (its sync), so every entry committed after that sync's read reaches the node
// live; membership changes delivered here add and remove chats as they come. Counted per user (any
// number of sessions) and per chat (any number of local members): each subject is subscribed once.
//
// With the in-process bus every event reaches the node anyway: active() is false and nothing is
// watched or read.
//
// Thread-safe: one mutex, a leaf (no call out while it is held, except the bus's non-blocking
// Watch/Subscription calls).
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "libchat/bus.h"
#include "libchat/store.h"
#include "logger.h"
#include "mutex.h"

namespace chat::detail {

class Interest {
 public:
  Interest(Bus& bus, Store& store, const Logger& log) : bus_(bus), store_(store), log_(log) {}
  Interest(const Interest&) = delete;
  Interest& operator=(const Interest&) = delete;

  bool active() const { return bus_.BetweenNodes(); }

  // A session of `user` registered here: watches the user. Non-blocking (the session's lane);
  // then WatchChatsOf.
  void AddSession(UserId user) EXCLUDES(mu_);
  // Watches every chat `user` is in (one store read), if the user still has a session here, and waits
  // (at most `timeout`) until the bus's server has the interest. Blocks: call from a worker, before
  // the session reads its next command. An error means the node may miss live events of some chat
  // until its next entry or the next possible-loss check; the session works on (its syncs read the
  // store).
  Status WatchChatsOf(UserId user, std::chrono::milliseconds timeout) EXCLUDES(mu_);
  // A session of `user` ended here; the last one stops watching the user and the chats no other local
  // user is in. Non-blocking.
  void RemoveSession(UserId user) EXCLUDES(mu_);
  // `user` (with a session here) is now in `chat` / is no longer. Non-blocking; no-op for a user with
  // no session here.
  void Joined(UserId user, ChatId chat) EXCLUDES(mu_);
  void Left(UserId user, ChatId chat) EXCLUDES(mu_);

  bool Watches(ChatId chat) const EXCLUDES(mu_);
  // The users with a session here who are in `chat` (as far as this node knows).
  std::vector<UserId> UsersOf(ChatId chat) const EXCLUDES(mu_);
  std::size_t chats() const EXCLUDES(mu_);

 private:
  struct UserWatch {
    int sessions = 0;
    Subscription watch;
    std::set<ChatId> chats;
  };
  struct ChatWatch {
    std::set<UserId> users;
    Subscription watch;
  };
  // Adds `chat` to `user`'s watched chats, subscribing it if it is new to the node.
  void AddChatLocked(UserWatch& u, UserId user, ChatId chat) REQUIRES(mu_);
  // Removes it; the subscription of a chat nobody here is in any more goes to `drop` (ended after the
  // lock is released).
  void RemoveChatLocked(UserWatch& u, UserId user, ChatId chat, std::vector<Subscription>* drop) REQUIRES(mu_);

  Bus& bus_;
  Store& store_;
  const Logger& log_;
  mutable Mutex mu_;
  std::map<UserId, UserWatch> users_ GUARDED_BY(mu_);
  std::map<ChatId, ChatWatch> chats_ GUARDED_BY(mu_);
};

}  // namespace chat::detail
