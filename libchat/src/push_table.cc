#include "push_table.h"

#include <algorithm>

namespace chat::detail {

std::uint64_t PushEntry::CountAfter(Seq acked) const {
  auto first_unacked = seqs.upper_bound(acked);
  std::uint64_t n = static_cast<std::uint64_t>(std::distance(first_unacked, seqs.end()));
  if (!seqs.empty() && acked < *seqs.begin()) n += untracked;
  return n;
}

namespace {

// Adds seq to the entry, keeping at most kMaxTrackedSeqs (the oldest become a count).
void Track(PushEntry& e, Seq seq) {
  if (!e.seqs.insert(seq).second) return;  // The same message seen twice (recovery and the bus).
  if (e.seqs.size() > kMaxTrackedSeqs) {
    e.seqs.erase(e.seqs.begin());
    ++e.untracked;
  }
}

}  // namespace

PushTable::AddResult PushTable::AddMessage(UserId user, DeviceId device, ChatId chat, Seq seq,
                                           UserId sender, TimeMs due) {
  PushKey key{device, chat, 0};
  if (auto it = entries_.find(key); it != entries_.end()) {
    PushEntry& e = it->second;
    if (seq > e.last_seq()) e.sender = sender;
    Track(e, seq);
    return AddResult::kMerged;
  }
  if (entries_.size() >= max_entries_) return AddResult::kFull;
  PushEntry e;
  e.key = key;
  e.user = user;
  e.sender = sender;
  e.due = due;
  Track(e, seq);
  Insert(std::move(e));
  return AddResult::kCreated;
}

bool PushTable::AddCall(PushEntry entry) {
  if (entries_.size() >= max_entries_) return false;
  Insert(std::move(entry));
  return true;
}

void PushTable::Reschedule(PushEntry entry, TimeMs due) {
  entry.due = due;
  auto it = entries_.find(entry.key);
  if (it == entries_.end()) {
    Insert(std::move(entry));
    return;
  }
  // Messages arrived while the failed send was in flight: one notification will carry them all.
  PushEntry& fresh = it->second;
  TimersFor(fresh.key).erase({fresh.due, fresh.key});
  Seq fresh_last = fresh.last_seq();
  for (Seq s : entry.seqs) Track(fresh, s);
  fresh.untracked += entry.untracked;
  if (entry.last_seq() > fresh_last) fresh.sender = entry.sender;
  fresh.attempts = std::max(fresh.attempts, entry.attempts);
  fresh.due = std::max(fresh.due, due);
  TimersFor(fresh.key).insert({fresh.due, fresh.key});
}

void PushTable::Insert(PushEntry entry) {
  TimersFor(entry.key).insert({entry.due, entry.key});
  PushKey key = entry.key;
  entries_.emplace(key, std::move(entry));
}

std::optional<PushEntry> PushTable::TakeDue(TimeMs now, bool messages) {
  for (Timers* timers : {&call_timers_, &message_timers_}) {
    if (timers == &message_timers_ && !messages) break;
    if (timers->empty() || timers->begin()->first > now) continue;
    PushKey key = timers->begin()->second;
    timers->erase(timers->begin());
    auto it = entries_.find(key);
    PushEntry e = std::move(it->second);
    entries_.erase(it);
    return e;
  }
  return std::nullopt;
}

std::optional<TimeMs> PushTable::NextDue(bool messages) const {
  std::optional<TimeMs> next;
  if (!call_timers_.empty()) next = call_timers_.begin()->first;
  if (messages && !message_timers_.empty()) {
    TimeMs m = message_timers_.begin()->first;
    next = next ? std::min(*next, m) : m;
  }
  return next;
}

std::size_t PushTable::CancelCall(const std::string& call_id) {
  std::size_t n = 0;
  for (auto it = call_timers_.begin(); it != call_timers_.end();) {
    auto e = entries_.find(it->second);
    if (e->second.call_id == call_id) {
      entries_.erase(e);
      it = call_timers_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

TimeMs BackoffMs(int failures, TimeMs initial_ms, TimeMs max_ms, std::mt19937_64& rng) {
  TimeMs step = initial_ms;
  // Doubling stops at the cap, which also keeps the shift from overflowing.
  for (int i = 1; i < failures && step < max_ms; ++i) step *= 2;
  step = std::min(step, max_ms);
  TimeMs half = step / 2;
  std::uniform_int_distribution<TimeMs> jitter(0, half);
  return step - jitter(rng);
}

}  // namespace chat::detail
