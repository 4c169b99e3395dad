// The push dispatcher's coalescing table: the notifications scheduled and waiting for a retry, one
// per (device, chat) for messages and one per device for each call, ordered by due time. A plain data
// structure: not thread-safe (the dispatcher holds its lock around every call) and no I/O, so that
// coalescing and backoff are tested without threads.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "libchat/types.h"

namespace chat::detail {

struct PushKey {
  DeviceId device = 0;
  ChatId chat = 0;
  std::uint64_t call = 0;  // 0 for message notifications; a number unique per call push otherwise.
  auto operator<=>(const PushKey&) const = default;
};

struct PushEntry {
  PushKey key;
  UserId user = 0;
  // Message notifications: the sequence numbers the notification stands for, the newest
  // kMaxTrackedSeqs of them; `untracked` counts older ones beyond that (a long burst).
  std::set<Seq> seqs;
  std::uint64_t untracked = 0;
  UserId sender = 0;  // Sender of the newest message, or the caller.
  // Call notifications.
  std::string call_id;
  TimeMs expires_at = 0;
  TimeMs due = 0;
  int attempts = 0;  // Sends tried so far.

  bool is_call() const { return key.call != 0; }
  Seq last_seq() const { return seqs.empty() ? 0 : *seqs.rbegin(); }
  // Messages still unacknowledged by a device whose cursor is `acked`. Older untracked messages
  // count unless the cursor is past the oldest tracked one (they are all older than it).
  std::uint64_t CountAfter(Seq acked) const;
};

// Beyond this many messages in one notification only the count grows (bounds an entry's memory).
constexpr std::size_t kMaxTrackedSeqs = 1000;

class PushTable {
 public:
  enum class AddResult { kCreated, kMerged, kFull };

  explicit PushTable(std::size_t max_entries) : max_entries_(max_entries) {}

  // Adds message `seq` to the notification scheduled for (device, chat): folded into it if one is
  // scheduled (its due time stays), else a new one due at `due`. kFull if a new one would exceed
  // max_entries.
  AddResult AddMessage(UserId user, DeviceId device, ChatId chat, Seq seq, UserId sender, TimeMs due);
  // Schedules a call notification (entry.key.call != 0, unique) at entry.due. False if full.
  bool AddCall(PushEntry entry);
  // Puts back a notification whose send failed, due at `due`. If messages created a new one for the
  // same key meanwhile, the two merge: the later due time and the higher attempt count win. Never
  // refused: such an entry was admitted before, and the in-flight limit bounds how many come back.
  void Reschedule(PushEntry entry, TimeMs due);

  // Removes and returns the notification due by `now` that goes first: calls before messages, then
  // the earliest due. With messages=false only calls are considered.
  std::optional<PushEntry> TakeDue(TimeMs now, bool messages = true);
  // The earliest due time of any notification (with messages=false, of any call).
  std::optional<TimeMs> NextDue(bool messages = true) const;
  // Drops the scheduled notifications of a call; returns how many.
  std::size_t CancelCall(const std::string& call_id);

  std::size_t size() const { return entries_.size(); }

 private:
  void Insert(PushEntry entry);
  using Timers = std::set<std::pair<TimeMs, PushKey>>;
  Timers& TimersFor(const PushKey& key) { return key.call ? call_timers_ : message_timers_; }

  std::size_t max_entries_;
  std::map<PushKey, PushEntry> entries_;
  Timers call_timers_;
  Timers message_timers_;
};

// The delay before retry number `failures` (1 for the first retry): the exponential step
// min(max_ms, initial_ms * 2^(failures-1)), less a random part of up to half of it ("equal jitter":
// retries of many notifications spread out, yet each waits at least half the step).
TimeMs BackoffMs(int failures, TimeMs initial_ms, TimeMs max_ms, std::mt19937_64& rng);

}  // namespace chat::detail
