#include "recent_entries.h"

namespace chat::detail {
namespace {

bool IsEntry(const Event& e) {
  return e.message != nullptr && e.chat != 0 &&
         (e.type == EventType::kMessage || e.type == EventType::kMessageDeleted || e.type == EventType::kChatUpdate);
}

}  // namespace

void RecentEntries::Published(const EventPtr& e, Clock::time_point now) {
  if (!e || !IsEntry(*e)) return;
  MutexLock lock(&mu_);
  auto [it, fresh] = chats_.try_emplace(e->chat);
  Chat& c = it->second;
  // Publications of one chat may come from several threads: keep the highest seq.
  if (!c.entry || c.entry->message->seq < e->message->seq) c.entry = e;
  if (e->type == EventType::kChatUpdate && (!c.update || c.update->message->seq < e->message->seq)) c.update = e;
  c.at = now;
  if (fresh) order_.emplace_back(now, e->chat);
  PruneLocked(now);
}

void RecentEntries::PruneLocked(Clock::time_point now) {
  while (!order_.empty()) {
    const auto [listed, chat] = order_.front();
    const bool over = chats_.size() > max_chats_;
    if (!over && (!connected_ || listed + keep_ > now)) break;
    order_.pop_front();
    auto it = chats_.find(chat);
    if (it == chats_.end()) continue;
    if (!over && it->second.at + keep_ > now) {
      order_.emplace_back(it->second.at, chat);  // Published again since it was listed: still recent.
      continue;
    }
    chats_.erase(it);
  }
}

void RecentEntries::Disconnected() {
  MutexLock lock(&mu_);
  connected_ = false;
}

std::vector<RecentEntries::EventPtr> RecentEntries::Reconnected(Clock::time_point now) {
  MutexLock lock(&mu_);
  connected_ = true;
  std::vector<EventPtr> out;
  out.reserve(chats_.size());
  for (const auto& [chat, c] : chats_) {
    if (c.update && c.update != c.entry) out.push_back(c.update);
    out.push_back(c.entry);
  }
  // Those older than keep_ before the disconnection go now, after this last publication.
  PruneLocked(now);
  return out;
}

std::size_t RecentEntries::chats() const {
  MutexLock lock(&mu_);
  return chats_.size();
}

}  // namespace chat::detail
