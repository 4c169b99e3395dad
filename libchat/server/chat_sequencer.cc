#include "chat_sequencer.h"

#include <algorithm>

namespace chat::detail {

void ChatSequencer::Arrive(EventPtr entry, TimePoint now, std::vector<EventPtr>* out) {
  const Seq seq = entry->message->seq;
  if (chats_.count(entry->chat) == 0) {
    auto f = forgotten_.find(entry->chat);
    if (f != forgotten_.end() && seq <= f->second) {
      // A late copy of what was delivered before the chat was forgotten.
      ++duplicates_;
      return;
    }
  }
  // The first entry seen of a chat is its baseline: what came before reached this node's devices by
  // their sync (they registered, and so made the node watch the chat, before they synced).
  State& s = Track(entry->chat, seq - 1);
  Offer(s, std::move(entry), now, out);
}

ChatSequencer::State& ChatSequencer::Track(ChatId chat, Seq after) {
  auto [it, fresh] = chats_.try_emplace(chat);
  if (fresh) {
    it->second.last = after;
    auto f = forgotten_.find(chat);
    if (f != forgotten_.end()) {
      it->second.last = std::max(after, f->second);
      forgotten_.erase(f);
    }
  }
  return it->second;
}

void ChatSequencer::Offer(State& s, EventPtr entry, TimePoint now, std::vector<EventPtr>* out) {
  const Seq seq = entry->message->seq;
  if (seq <= s.last || s.ahead.count(seq) != 0) {
    ++duplicates_;
    return;
  }
  if (seq == s.last + 1) {
    s.last = seq;
    out->push_back(std::move(entry));
    Drain(s, out);
    return;
  }
  // Ahead of a gap: wait for the missing entries a while (they may be late, from another node).
  s.ahead.emplace(seq, std::move(entry));
  ++held_total_;
  if (!s.repairing && s.due == TimePoint::max()) SetDue(s, now + hold_);
}

void ChatSequencer::Drain(State& s, std::vector<EventPtr>* out) {
  while (!s.ahead.empty() && s.ahead.begin()->first <= s.last + 1) {
    auto node = s.ahead.extract(s.ahead.begin());
    if (node.key() == s.last + 1) {
      s.last = node.key();
      out->push_back(std::move(node.mapped()));
    } else {
      ++duplicates_;
    }
  }
  // No gap left: nothing to repair.
  if (s.ahead.empty()) SetDue(s, TimePoint::max());
}

void ChatSequencer::Repaired(const Repair& repair, const std::vector<EventPtr>& entries, bool ok, bool more,
                             TimePoint now, std::vector<EventPtr>* out) {
  auto it = chats_.find(repair.chat);
  if (it == chats_.end()) return;  // Forgotten meanwhile.
  State& s = it->second;
  s.repairing = false;
  if (!ok) {
    // The store did not answer: try again after another hold (a check with no gap known, which may
    // still find the last entries of a loss, a little later).
    SetDue(s, now + (!s.ahead.empty() || s.recheck ? hold_ : 5 * hold_));
    s.recheck = false;
    return;
  }
  const Seq before = s.last;
  for (const EventPtr& e : entries) Offer(s, e, now, out);
  // Only the repair's own range is known complete: an entry held after the read started may follow a
  // gap committed after it (found in a ci-check run: three seqs skipped, and lost, that way).
  if (!more && repair.before != 0 && s.last + 1 < repair.before) {
    // The store has nothing more below `before`: those seqs are not there (cannot happen with a
    // gapless log; counted rather than waited for forever). Deliver what was held.
    skipped_ += repair.before - 1 - s.last;
    s.last = repair.before - 1;
    Drain(s, out);
  }
  if (s.recheck || (more && s.last > before)) {
    // A read cut at its limit, or a check asked for while this repair ran: read again at once.
    s.recheck = false;
    SetDue(s, now);
  } else if (!s.ahead.empty()) {
    // A gap beyond what was read: give it the hold (it may be late), then repair it.
    SetDue(s, now + hold_);
  } else {
    SetDue(s, TimePoint::max());
  }
}

std::vector<ChatSequencer::Repair> ChatSequencer::Due(TimePoint now) {
  std::vector<Repair> out;
  if (dues_ == 0) return out;
  for (auto& [chat, s] : chats_) {
    if (s.repairing || s.due > now) continue;
    s.repairing = true;
    SetDue(s, TimePoint::max());
    // Up to the first held entry; with nothing held (a recheck), up to the head.
    out.push_back(Repair{chat, s.last, s.ahead.empty() ? 0 : s.ahead.begin()->first});
  }
  return out;
}

std::vector<ChatSequencer::Repair> ChatSequencer::CheckAll() {
  std::vector<Repair> out;
  for (auto& [chat, s] : chats_) {
    if (s.repairing) {
      s.recheck = true;
      continue;
    }
    s.repairing = true;
    SetDue(s, TimePoint::max());
    out.push_back(Repair{chat, s.last, s.ahead.empty() ? 0 : s.ahead.begin()->first});
  }
  return out;
}

std::vector<ChatSequencer::Repair> ChatSequencer::Check(ChatId chat, Seq after) {
  State& s = Track(chat, after);
  if (s.repairing) {
    s.recheck = true;
    return {};
  }
  s.repairing = true;
  SetDue(s, TimePoint::max());
  return {Repair{chat, s.last, s.ahead.empty() ? 0 : s.ahead.begin()->first}};
}

ChatSequencer::TimePoint ChatSequencer::NextDue() const {
  TimePoint next = TimePoint::max();
  if (dues_ == 0) return next;
  for (const auto& [chat, s] : chats_) {
    if (!s.repairing) next = std::min(next, s.due);
  }
  return next;
}

void ChatSequencer::Forget(ChatId chat) {
  auto it = chats_.find(chat);
  if (it == chats_.end()) return;
  SetDue(it->second, TimePoint::max());
  const Seq last = it->second.last;
  chats_.erase(it);
  forgotten_[chat] = last;
  forgotten_order_.emplace_back(chat, last);
  while (forgotten_.size() > kForgottenKept) {
    const auto [oldest, seq] = forgotten_order_.front();
    forgotten_order_.pop_front();
    auto f = forgotten_.find(oldest);
    if (f != forgotten_.end() && f->second == seq) forgotten_.erase(f);
  }
  // Listings of chats tracked again (or forgotten again since) are dropped as the deque turns over;
  // keep it from growing past twice the bound meanwhile.
  if (forgotten_order_.size() > 2 * kForgottenKept) {
    std::deque<std::pair<ChatId, Seq>> live;
    for (const auto& [c, s] : forgotten_order_) {
      auto f = forgotten_.find(c);
      if (f != forgotten_.end() && f->second == s) live.emplace_back(c, s);
    }
    forgotten_order_.swap(live);
  }
}

void ChatSequencer::SetDue(State& s, TimePoint due) {
  const bool had = s.due != TimePoint::max();
  const bool has = due != TimePoint::max();
  s.due = due;
  if (had && !has) --dues_;
  if (!had && has) ++dues_;
}

}  // namespace chat::detail
