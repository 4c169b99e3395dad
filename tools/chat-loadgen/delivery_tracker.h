// ChatReceipts: what one device has received of one chat during a run, to count every delivery as
// first, duplicate or out of order, and afterwards to find the lost ones.
//
// One byte per seq after `base` (the chat's head when the run started): bit 0 "arrived live", bit 1
// "arrived by sync". The expected deliveries of a run are known only at the end (a message counts once
// its sendMessage was acknowledged), so receipts are kept and checked then (Received).
//
// What counts as what (docs/protocol.md, "Rules for client writers"):
//  * duplicate: a seq delivered live twice on one connection, or twice in one sync (across its pages);
//  * out of order: a seq arriving live below the highest seq already received live on the same
//    connection, or below the previous entry of the same sync;
//  * a seq received both live and by sync is not a duplicate: the protocol tells clients to expect
//    that around a (re)connect and to drop it by seq. Nor is a seq received live again on a later
//    connection: a node the device fails over to may be behind the one that died and send it live
//    once it catches up (seen in the three-node failover test under load).
// Not thread-safe: owned by one simulated device, touched only on its worker thread.
#pragma once

#include <cstdint>
#include <vector>

namespace chat::loadgen {

class ChatReceipts {
 public:
  enum class Outcome {
    kFirst,       // Not received before: a delivery.
    kDuplicate,   // Counted in duplicates().
    kOverlap,     // Received before by the other path (live vs sync): expected, not counted.
    kIgnored,     // At or below base (before the run), or implausibly far above it.
  };

  // Seqs above this distance from base are not tracked (a corrupt seq must not allocate gigabytes).
  static constexpr std::uint64_t kMaxSpan = std::uint64_t{1} << 28;

  explicit ChatReceipts(std::uint64_t base = 0) : base_(base), contiguous_(base) {}

  // A newMessage event on the current connection.
  Outcome OnLive(std::uint64_t seq);
  // An entry of the current sync (see BeginSync).
  Outcome OnSynced(std::uint64_t seq);

  // A new connection: live ordering and live copies start afresh (events of different connections
  // are not ordered, and a later connection may repeat what an earlier one delivered).
  void OnNewConnection();
  // A sync from `after` (exclusive) begins: its entries must come in ascending order above it.
  void BeginSync(std::uint64_t after) { sync_last_ = after; }

  // True if `seq` arrived by either path.
  bool Received(std::uint64_t seq) const;
  // The highest seq such that every seq from base + 1 up to it has arrived: where a sync resumes.
  std::uint64_t contiguous() const { return contiguous_; }
  std::uint64_t base() const { return base_; }
  // Highest seq received so far (base if none).
  std::uint64_t highest() const { return base_ + state_.size(); }

  std::uint64_t duplicates() const { return duplicates_; }
  std::uint64_t reordered() const { return reordered_; }
  // Seqs received at least once.
  std::uint64_t distinct() const { return distinct_; }

 private:
  static constexpr std::uint8_t kLive = 1;
  static constexpr std::uint8_t kSynced = 2;
  static constexpr std::uint8_t kLiveOnThisConnection = 4;

  // The state byte of `seq`, growing the table; nullptr for an untracked seq.
  std::uint8_t* Slot(std::uint64_t seq);
  void MarkNew(std::uint8_t* slot, std::uint8_t how);

  std::uint64_t base_;
  std::uint64_t contiguous_;
  std::vector<std::uint8_t> state_;  // state_[i]: seq base_ + 1 + i.
  std::uint64_t last_live_ = 0;
  std::uint64_t sync_last_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t reordered_ = 0;
  std::uint64_t distinct_ = 0;
};

}  // namespace chat::loadgen
