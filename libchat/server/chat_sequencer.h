// ChatSequencer: puts each chat's entries back into seq order before they are delivered, and finds
// the gaps that a bus between nodes leaves (an event lost while reconnecting, dropped for a slow
// subscriber, or overtaken by a later one from another node). The store is the truth: a gap that is
// still open after `hold` is repaired by reading the missing entries from it (the router asks a
// worker, Repair), and a possible loss (the bus reconnected) checks every tracked chat against the
// store's head.
//
// Per chat it keeps the last seq delivered and the entries that arrived ahead of a gap. A chat is
// tracked from the first entry this node sees of it (its baseline: the devices of a session that
// registered before it got the earlier ones by their sync), and forgotten when the node no longer
// watches it. Of a forgotten chat it remembers the last seq delivered (for the last kForgottenKept
// chats): a copy of an entry delivered before arriving late (a kChatUpdate comes by the chat's subject
// and by each member's, and the node may stop watching in between) is dropped, not a new baseline. Entries are kMessage, kMessageDeleted and kChatUpdate events (each with its message);
// the sequencer never sees other events.
//
// Not thread-safe: owned by the router's fan-out thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "libchat/bus.h"

namespace chat::detail {

class ChatSequencer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using EventPtr = std::shared_ptr<const Event>;

  // What to read from the store: the entries of `chat` after `after` and before `before` (0: up to
  // its head).
  struct Repair {
    ChatId chat = 0;
    Seq after = 0;
    Seq before = 0;

    // How many entries to read at most, in reads of at most `page`.
    std::size_t Limit(std::size_t page) const {
      if (before == 0) return page;
      return static_cast<std::size_t>(std::min<Seq>(before - after - 1, page));
    }
    // Whether a read of `limit` that returned `got` entries may have left some of the range unread
    // (Repaired's `more`): it was cut at its limit and the range goes on past it.
    bool More(std::size_t limit, std::size_t got) const {
      return got == limit && limit != 0 && (before == 0 || after + limit < before - 1);
    }
  };

  // `hold`: how long an entry that arrived ahead of a gap waits for the missing ones to arrive on
  // their own (from another node, they may simply be late) before the gap is repaired from the store.
  explicit ChatSequencer(std::chrono::milliseconds hold) : hold_(hold) {}

  // An entry arrived. Appends to `out` what may be delivered now, in seq order: nothing when it is a
  // duplicate (seq already delivered) or arrived ahead of a gap (held).
  void Arrive(EventPtr entry, TimePoint now, std::vector<EventPtr>* out);
  // The entries read from the store for `repair` (ok: the read succeeded; more: it was cut at its
  // limit), in seq order. Appends to `out` what may be delivered now. Seqs of the repair's range
  // (below its `before`) that a complete read did not return are not in the store: skipped, counted in
  // skipped() (cannot happen with a gapless log). A gap beyond the range (an entry held since the
  // read started) is not concluded from this read: it is repaired in turn after the hold.
  void Repaired(const Repair& repair, const std::vector<EventPtr>& entries, bool ok, bool more, TimePoint now,
                std::vector<EventPtr>* out);
  // The repairs to start now: gaps that waited `hold`, each once until its Repaired.
  std::vector<Repair> Due(TimePoint now);
  // A repair "up to the head" for every tracked chat that is not being repaired (after a possible
  // loss); those being repaired are checked again once their repair is done.
  std::vector<Repair> CheckAll();
  // A repair "up to the head" of `chat` (as CheckAll, for one chat; a chat not tracked yet is tracked
  // from `after`): for a chat this node just started to watch, whose entries published before the
  // interest reached every server were lost. Empty if it is being repaired (checked again after).
  std::vector<Repair> Check(ChatId chat, Seq after);
  // When Due will next have something; TimePoint::max() when nothing waits.
  TimePoint NextDue() const;
  // Stops tracking `chat` (no longer watched), dropping what it held and remembering its last seq.
  void Forget(ChatId chat);
  // Whether `chat` is tracked.
  bool Tracks(ChatId chat) const { return chats_.count(chat) != 0; }
  std::size_t tracked() const { return chats_.size(); }
  // Forgotten chats whose last seq is remembered, at most kForgottenKept.
  std::size_t forgotten() const { return forgotten_.size(); }
  static constexpr std::size_t kForgottenKept = 4096;

  std::uint64_t duplicates() const { return duplicates_; }  // Entries dropped as already delivered.
  std::uint64_t held() const { return held_total_; }        // Entries that arrived ahead of a gap.
  std::uint64_t skipped() const { return skipped_; }        // Seqs the store could not supply.

 private:
  struct State {
    Seq last = 0;                      // Last seq delivered.
    std::map<Seq, EventPtr> ahead;     // Arrived ahead of a gap, by seq.
    TimePoint due = TimePoint::max();  // When the open gap is repaired (max: no gap, or repairing).
    bool repairing = false;
    bool recheck = false;              // A CheckAll came while repairing: check the head again after.
  };
  // Delivers `entry` if it is next, else holds or drops it; then whatever it unblocked.
  void Offer(State& s, EventPtr entry, TimePoint now, std::vector<EventPtr>* out);
  // Delivers the held entries that follow `last` without a gap.
  void Drain(State& s, std::vector<EventPtr>* out);
  // The state of `chat`; a chat not tracked yet is tracked after `after`, or after its remembered
  // last seq if that is later.
  State& Track(ChatId chat, Seq after);
  // Sets s.due, keeping dues_ (so that Due and NextDue cost nothing while no gap is open).
  void SetDue(State& s, TimePoint due);

  const std::chrono::milliseconds hold_;
  std::unordered_map<ChatId, State> chats_;
  // Last seq delivered of forgotten chats, and the order they were forgotten in (oldest dropped
  // first; an id may be listed more than once, erased when its newest listing goes).
  std::unordered_map<ChatId, Seq> forgotten_;
  std::deque<std::pair<ChatId, Seq>> forgotten_order_;
  std::size_t dues_ = 0;  // States whose due is set.
  std::uint64_t duplicates_ = 0;
  std::uint64_t held_total_ = 0;
  std::uint64_t skipped_ = 0;
};

}  // namespace chat::detail
