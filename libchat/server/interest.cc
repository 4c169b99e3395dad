#include "interest.h"

namespace chat::detail {

void Interest::AddSession(UserId user) {
  if (!active()) return;
  MutexLock lock(&mu_);
  UserWatch& u = users_[user];
  if (u.sessions++ == 0) u.watch = bus_.WatchUser(user);
}

Status Interest::WatchChatsOf(UserId user, std::chrono::milliseconds timeout) {
  if (!active()) return Status::Ok();
  // Every session reads the list again (idempotent), so that a second session registering while the
  // first one's chats are still being watched also finds them watched before it syncs.
  auto chats = store_.ListUserChats(user);
  if (!chats.ok()) {
    log_.Warn("interest: chats of user ", user, ": ", chats.error().ToString());
    return chats.error();
  }
  {
    MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return Status::Ok();  // The session ended meanwhile.
    for (const Participant& p : *chats) AddChatLocked(it->second, user, p.chat);
  }
  if (timeout.count() <= 0) return Status::Unavailable("interest of user " + std::to_string(user) + ": no time left");
  return bus_.FlushInterest(static_cast<int>(timeout.count()));
}

void Interest::RemoveSession(UserId user) {
  if (!active()) return;
  std::vector<Subscription> drop;
  {
    MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it == users_.end() || --it->second.sessions > 0) return;
    const std::set<ChatId> chats = it->second.chats;
    for (ChatId chat : chats) RemoveChatLocked(it->second, user, chat, &drop);
    drop.push_back(std::move(it->second.watch));
    users_.erase(it);
  }
  // `drop` ends the subscriptions here, after the lock.
}

void Interest::Joined(UserId user, ChatId chat) {
  if (!active()) return;
  MutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it != users_.end()) AddChatLocked(it->second, user, chat);
}

void Interest::Left(UserId user, ChatId chat) {
  if (!active()) return;
  std::vector<Subscription> drop;
  MutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it != users_.end()) RemoveChatLocked(it->second, user, chat, &drop);
}

void Interest::AddChatLocked(UserWatch& u, UserId user, ChatId chat) {
  if (!u.chats.insert(chat).second) return;
  ChatWatch& c = chats_[chat];
  if (c.users.empty()) c.watch = bus_.WatchChat(chat);
  c.users.insert(user);
}

void Interest::RemoveChatLocked(UserWatch& u, UserId user, ChatId chat, std::vector<Subscription>* drop) {
  if (u.chats.erase(chat) == 0) return;
  auto it = chats_.find(chat);
  if (it == chats_.end()) return;
  it->second.users.erase(user);
  if (!it->second.users.empty()) return;
  drop->push_back(std::move(it->second.watch));
  chats_.erase(it);
}

bool Interest::Watches(ChatId chat) const {
  MutexLock lock(&mu_);
  return chats_.count(chat) != 0;
}

std::vector<UserId> Interest::UsersOf(ChatId chat) const {
  MutexLock lock(&mu_);
  auto it = chats_.find(chat);
  if (it == chats_.end()) return {};
  return {it->second.users.begin(), it->second.users.end()};
}

std::size_t Interest::chats() const {
  MutexLock lock(&mu_);
  return chats_.size();
}

}  // namespace chat::detail
