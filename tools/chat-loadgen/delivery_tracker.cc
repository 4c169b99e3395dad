#include "delivery_tracker.h"

namespace chat::loadgen {

std::uint8_t* ChatReceipts::Slot(std::uint64_t seq) {
  if (seq <= base_ || seq - base_ > kMaxSpan) return nullptr;
  const std::uint64_t i = seq - base_ - 1;
  if (i >= state_.size()) state_.resize(i + 1, 0);
  return &state_[i];
}

void ChatReceipts::MarkNew(std::uint8_t* slot, std::uint8_t how) {
  *slot = how;
  ++distinct_;
  // Advance the gap-free prefix over everything that has now arrived.
  while (contiguous_ - base_ < state_.size() && state_[contiguous_ - base_] != 0) ++contiguous_;
}

void ChatReceipts::OnNewConnection() {
  last_live_ = 0;
  for (std::uint8_t& slot : state_) slot &= static_cast<std::uint8_t>(~kLiveOnThisConnection);
}

ChatReceipts::Outcome ChatReceipts::OnLive(std::uint64_t seq) {
  std::uint8_t* slot = Slot(seq);
  if (slot == nullptr) return Outcome::kIgnored;
  if (*slot & kLiveOnThisConnection) {
    ++duplicates_;
    return Outcome::kDuplicate;
  }
  if (*slot != 0) {
    *slot |= kLive | kLiveOnThisConnection;
    return Outcome::kOverlap;
  }
  if (seq < last_live_) ++reordered_;
  if (seq > last_live_) last_live_ = seq;
  MarkNew(slot, kLive | kLiveOnThisConnection);
  return Outcome::kFirst;
}

ChatReceipts::Outcome ChatReceipts::OnSynced(std::uint64_t seq) {
  std::uint8_t* slot = Slot(seq);
  if (slot == nullptr) return Outcome::kIgnored;
  if (seq <= sync_last_) {
    // The sync went backwards: the same entry twice, or entries out of order.
    if (*slot & kSynced) {
      ++duplicates_;
      return Outcome::kDuplicate;
    }
    ++reordered_;
  } else {
    sync_last_ = seq;
  }
  if (*slot != 0) {
    *slot |= kSynced;
    return Outcome::kOverlap;
  }
  MarkNew(slot, kSynced);
  return Outcome::kFirst;
}

bool ChatReceipts::Received(std::uint64_t seq) const {
  if (seq <= base_) return false;
  const std::uint64_t i = seq - base_ - 1;
  return i < state_.size() && state_[i] != 0;
}

}  // namespace chat::loadgen
